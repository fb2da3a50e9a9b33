#!/usr/bin/env bash
# The numbers of the README's "Which method" table: every method and baseline on the real news in
# ../shared/data/gnad-events (CC BY-NC-SA, never copied here), on 2 CPU cores.
#   bash scripts/real_news.sh            (needs make import-model; about an hour on 2 cores)
# 1. 5-fold cross-validation on the 514 real articles (events; then the 9-class topic task);
# 2. trained on the embedded corpus, tested on the real articles as an external set.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
BIN=.venv/bin
SIX='[summit,negotiation,sanctions,military_action,terror_attack,protest]'

$BIN/ereignis-data data=gnad_events data.name=gnad_events_cv data.split.mode=kfold
$BIN/ereignis-cv data.name=gnad_events_cv experiment=e5_frozen "cv.headline_labels=$SIX"
$BIN/ereignis-cv data.name=gnad_events_cv experiment=e5_frozen "cv.headline_labels=$SIX" \
  encoding.long_articles=truncate experiment_name=gnad_events_cv_e5_frozen_truncate

$BIN/ereignis-data data=gnad_topics labels=gnad_topics data.name=gnad_topics_cv data.split.mode=kfold
$BIN/ereignis-cv data=gnad_topics data.name=gnad_topics_cv experiment=e5_frozen

$BIN/ereignis-data
$BIN/ereignis-data data=gnad_events
$BIN/ereignis-train experiment=e5_frozen
$BIN/ereignis-eval run_dir="$($BIN/ereignis-runs newest events_de_e5_frozen)" \
  +eval.external.gnad_events=data/processed/gnad_events
