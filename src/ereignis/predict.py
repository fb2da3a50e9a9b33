"""`ereignis-predict`: label new articles with a trained run, under the run's decision rule.

Input: a folder of `.txt` articles or a JSONL of {"id", "text"} (labels, if present, are ignored).
Output JSONL, one row per article: {"id", "labels", "scores": {label: calibrated probability},
"evidence": {label: {"window", "sentence"}}, "run", "decision": {"fitted_on", "override"}}.

With `prevalence=true` (the run must have been evaluated) also `<output>.prevalence.json`: how many
of the articles report each event, as raw predicted counts and as counts corrected for the error
rates measured on the run's test split, with bootstrap intervals (`ereignis.evaluation.prevalence`);
raw counts are biased whenever a label's false positives and false negatives do not cancel.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ereignis.data import read_records
from ereignis.inference import Classifier, as_article
from ereignis.io import atomic_write_json, atomic_write_jsonl


def predict(cfg: DictConfig) -> Path:
    classifier = Classifier.load(cfg.run_dir, quantize=cfg.quantize, backend=cfg.backend, bfloat16=cfg.bfloat16,
                                 long_articles=cfg.long_articles,
                                 stride=cfg.window_stride,
                                 max_windows=cfg.max_windows, pooling=cfg.window_pooling)
    classifier.decision = classifier.decision.with_threshold(cfg.threshold)
    records = read_records(cfg.input, known_labels=None, require_labels=False)
    # raw texts are parsed into title, lead, key points and body, as the data stage does
    articles = [as_article(record.text) for record in records]
    scored = classifier.score(articles, cfg.batch_size)
    results = classifier.rows(scored, articles, cfg.batch_size)
    provenance = {"run": str(Path(cfg.run_dir).resolve()),
                  "decision": {"fitted_on": classifier.decision.fitted_on, "override": classifier.decision.override}}
    if cfg.prevalence:
        from ereignis.evaluation.prevalence import prevalence_for_run

        atomic_write_json(Path(f"{cfg.output}.prevalence.json"),
                          prevalence_for_run(cfg.run_dir, scored.decisions, scored.scores, seed=0))
    return atomic_write_jsonl(cfg.output, [{"id": record.id, **result, **provenance}
                                           for record, result in zip(records, results, strict=True)])
