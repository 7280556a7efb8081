#!/usr/bin/env bash
# The GPU checks in one run, for a bare GPU machine without network (issue 13).
#
#   make gpu-wheels                          # here: wheels/ (diffusers, DeepCache, our package, ...: ~40 MB)
#   bash bench/gpu_check.sh OUT              # there, from the repository root, with wheels/ carried along
#   bash bench/gpu_check.sh --dry-run OUT    # anywhere: checks arguments and wheels, writes the plan to OUT
#
# Options: --wheels DIR (default: wheels/ at the repository root), --python PY (default: python3), --dry-run.
# The machine must have torch with CUDA and transformers: they are never reinstalled (every pip call is
# --no-index --no-deps, from the carried wheels only). Each step has its own timeout in seconds (override
# with the variable named) so the run stays under 8 minutes; a failing step is recorded and the next one
# runs; the exit status is 1 if any step failed (2 for bad arguments). 450 s of steps + 5 s kill grace each:
#   install       40  GPU_CHECK_INSTALL_S  the carried wheels, then our package (editable, else its wheel)
#   environment   10  GPU_CHECK_ENV_S      nvidia-smi, torch/CUDA versions; fails if torch sees no GPU
#   gpu_tests     90  GPU_CHECK_TESTS_S    pytest -m gpu on the test files that hold gpu tests
#   bench_gpu    190  GPU_CHECK_BENCH_S    bench/bench_gpu.py: diffusers eager, DeepCache package, ours compiled
#   bench_worker 120  GPU_CHECK_WORKER_S   bench/bench_worker_gpu.py: the worker end to end through HTTP
# OUT receives 8 files at most (what a device run brings back): summary.txt, one log per step, and
# bench_gpu.json and bench_worker_gpu.json.
set -uo pipefail

usage() {
  echo "usage: bash bench/gpu_check.sh [--dry-run] [--wheels DIR] [--python PY] OUT_DIR"
}

DRY_RUN=0
WHEELS=""
PY="python3"
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --wheels) [ $# -ge 2 ] || { usage >&2; exit 2; }; WHEELS=$2; shift ;;
    --wheels=*) WHEELS=${1#--wheels=} ;;
    --python) [ $# -ge 2 ] || { usage >&2; exit 2; }; PY=$2; shift ;;
    --python=*) PY=${1#--python=} ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu_check: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$OUT" ] || { echo "gpu_check: one output folder only" >&2; usage >&2; exit 2; }; OUT=$1 ;;
  esac
  shift
done
[ -n "$OUT" ] || { echo "gpu_check: the output folder is missing" >&2; usage >&2; exit 2; }

# Paths given relative to where we were called from; the steps run from the repository root.
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$WHEELS" ]; then WHEELS=$(cd "$WHEELS" 2>/dev/null && pwd || echo "$WHEELS"); else WHEELS="$ROOT/wheels"; fi
cd "$ROOT" || exit 2
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 PYTHONUNBUFFERED=1

SUMMARY="$OUT/summary.txt"
FAILED=()
{
  echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) $([ "$DRY_RUN" = 1 ] && echo '(dry run)')"
  echo "repository: $ROOT"
  echo "wheels: $WHEELS"
  echo "python: $PY"
} > "$SUMMARY"

# Wheels that must be there: what the GPU machine lacks for the tests and benches to import at all.
missing=()
for name in diffusers DeepCache dreamcache qdrant_client qdrant_edge_py fastapi uvicorn pydantic pydantic_settings boto3; do
  compgen -G "$WHEELS/${name}-*.whl" >/dev/null || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "wheels: MISSING in $WHEELS: ${missing[*]} (run \`make gpu-wheels\` and carry wheels/)" >> "$SUMMARY"
  FAILED+=("wheels")
else
  echo "wheels: $(ls "$WHEELS"/*.whl | wc -l) files, $(du -sh "$WHEELS" | cut -f1)" >> "$SUMMARY"
fi

GPU_TEST_FILES=$(grep -l "pytest.mark.gpu" tests/test_*.py | tr '\n' ' ')

# step NAME LIMIT_S COMMAND: run COMMAND (one bash string) under its time limit, log to OUT/NAME.log.
step() {
  local name=$1 limit=$2 command=$3
  local log="$OUT/$name.log"
  echo "\$ $command" > "$log"
  if [ "$DRY_RUN" = 1 ]; then
    echo "step $name (timeout ${limit} s): would run: $command" >> "$SUMMARY"
    return 0
  fi
  local started=$SECONDS rc
  timeout -k 5 "$limit" bash -c "$command" >> "$log" 2>&1
  rc=$?
  local took=$((SECONDS - started)) status="ok"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="TIMED OUT"; elif [ "$rc" != 0 ]; then status="FAILED (exit $rc)"; fi
  echo "step $name: $status in ${took} s (timeout ${limit} s), log $name.log" >> "$SUMMARY"
  [ "$status" = ok ] || FAILED+=("$name")
  return 0
}

PIP="$PY -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-compile"
step install "${GPU_CHECK_INSTALL_S:-40}" \
  "$PIP \$(ls '$WHEELS'/*.whl | grep -v '/dreamcache-') && { $PIP --no-build-isolation -e . || $PIP '$WHEELS'/dreamcache-*.whl; } && $PY -m pip list 2>/dev/null | grep -iE '^(torch|transformers|diffusers|deepcache|dreamcache) '"
step environment "${GPU_CHECK_ENV_S:-10}" \
  "nvidia-smi -L; $PY -c 'import sys, torch; print(sys.version); print(torch.__version__, torch.version.cuda); assert torch.cuda.is_available(), \"torch sees no CUDA device\"; print(torch.cuda.get_device_name())'"
step gpu_tests "${GPU_CHECK_TESTS_S:-90}" \
  "$PY -m pytest -q -m gpu -p no:cacheprovider $GPU_TEST_FILES"
step bench_gpu "${GPU_CHECK_BENCH_S:-190}" \
  "$PY bench/bench_gpu.py --json '$OUT/bench_gpu.json'"
step bench_worker "${GPU_CHECK_WORKER_S:-120}" \
  "$PY bench/bench_worker_gpu.py --json '$OUT/bench_worker_gpu.json'"

if [ ${#FAILED[@]} -gt 0 ]; then
  echo "result: FAILED: ${FAILED[*]}" >> "$SUMMARY"
  cat "$SUMMARY"
  exit 1
fi
echo "result: ok" >> "$SUMMARY"
cat "$SUMMARY"
exit 0
