#!/usr/bin/env bash
# CI: the package as a user gets it. Build the wheel, install it into a fresh virtual env (the CPU build of
# torch first, as `make install` does), then, from a folder outside the checkout, run every entry point's
# `--cfg job` and the pipeline on a copy of the embedded corpus with the tiny model (offline).
#   .ci/wheel_check.sh            PYTHON=python3.12 .ci/wheel_check.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
TORCH=${TORCH:-torch==2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# from a copy of the checkout's files (tracked, or new and not ignored): a build leaves build/ behind
mkdir "$work/source"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' file; do [ ! -e "$file" ] || cp --parents "$file" "$work/source"; done)
"$PYTHON" -m pip wheel -q --no-deps --wheel-dir "$work/dist" "$work/source"
wheel=$(ls "$work"/dist/ereignis-*.whl)
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"

"$PYTHON" -m venv "$work/venv"
bin=$work/venv/bin
started=$(date +%s)
"$bin/python" -m pip install -q "$TORCH"
"$bin/python" -m pip install -q "$wheel"
echo "install into a fresh venv (torch, then the wheel and its dependencies): $(( $(date +%s) - started )) s"

cd "$work"  # nothing of the checkout is importable from here: only the installed package runs
export HF_HUB_OFFLINE=1
scripts=$("$bin/python" -c 'from importlib.metadata import distribution
print(" ".join(sorted(e.name for e in distribution("ereignis").entry_points if e.group == "console_scripts")))')
for script in $scripts; do
  if [ "$script" = ereignis-runs ]; then "$bin/$script" --help >/dev/null; else "$bin/$script" --cfg job >/dev/null; fi
  echo "ok: $script"
done

cp -r "$repo/data/events_de" corpus
"$bin/ereignis-data" data=custom data.input="$work/corpus" data.name=wheel paths.root_dir="$work"
"$bin/ereignis-train" debug=fast data=custom data.name=wheel paths.root_dir="$work"
run=$("$bin/ereignis-runs" --experiments-dir "$work/experiments" newest debug)
"$bin/ereignis-eval" run_dir="$run" paths.root_dir="$work"
"$bin/ereignis-card" run_dir="$run" paths.root_dir="$work"
"$bin/ereignis-predict" run_dir="$run" input="$work/corpus" output="$work/predictions.jsonl" paths.root_dir="$work"
test -s "$run/model/README.md" && test -s "$work/predictions.jsonl"
echo "wheel check passed: $run"
