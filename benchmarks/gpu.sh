#!/usr/bin/env bash
# benchmarks/gpu.sh: every GPU figure of reparam in one short run on a CUDA machine.
#
#   benchmarks/gpu.sh [--out DIR] [--epochs N] [--budget SECONDS] [--dry-run]
#
# Runs, each step under its own timeout and none past the total budget (default 480 s):
#   machine      benchmarks/machine_info.py --device cuda            -> machine.json
#   tests        python -m pytest -m cuda tests/cuda                 -> cuda-tests.xml
#   iwae-train   reparam train iwae, k = 50, batch 20, the burda schedule's first N epochs
#                (default 3), on binarized MNIST ($REPARAM_DATA; the embedded digits when it
#                is not there)                                        -> iwae-k50/
#   iwae-eval    reparam eval iwae-k50 --k 5000 on the whole test set -> iwae-k50/eval-*.json
#   estimators, iwae_step, bnn_step, latent, sinkhorn, ...: each benchmark's GPU configuration
#                                                                     -> NAME.json, NAME.md
# and writes summary.md (the machine, every step's status and time, the tables) and
# steps.json. Logs go to DIR/logs/. DIR defaults to benchmarks/results/gpu-DATE-GPU/, which
# git does not ignore: commit it, the GPU named by the folder and by machine.json.
#
# Without a CUDA device it stops at once with one error line (exit status 2); --dry-run
# prints the commands without running them (no GPU needed). Exit status 1 if a step failed
# or ran out of time.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if command -v reparam >/dev/null 2>&1; then REPARAM="reparam"; else REPARAM="$PY -m reparam"; fi
OUT=""
EPOCHS=3
BUDGET=480
DRY_RUN=0

usage() { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; }
fail() { echo "error: $*" >&2; exit 2; }
whole() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || fail "--out needs a folder"; OUT="$2"; shift 2 ;;
    --epochs) whole "${2:-}" || fail "--epochs must be a whole number > 0; got '${2:-}'"; EPOCHS="$2"; shift 2 ;;
    --budget) whole "${2:-}" || fail "--budget must be a whole number of seconds > 0; got '${2:-}'"; BUDGET="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) fail "unknown option '$1' (see benchmarks/gpu.sh --help)" ;;
  esac
done

if [ -z "${REPARAM_DATA:-}" ] && [ -d ../shared/data ]; then
  export REPARAM_DATA="$(cd ../shared/data && pwd)"
fi
if ls "${REPARAM_DATA:-/nonexistent}"/binarized_mnist/binarized_mnist_train.amat* >/dev/null 2>&1; then
  DATASET="binarized-mnist"
else
  DATASET="digits"  # embedded: binarized MNIST is not in $REPARAM_DATA
fi

if [ "$DRY_RUN" = 1 ]; then
  GPU="GPU"
else
  if ! GPU="$("$PY" - 2>&1 <<'EOF'
import re, sys
try:
    import torch
except Exception as error:
    sys.exit(f"cannot import torch ({error})")
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
print(re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-"))
EOF
)"; then
    fail "no CUDA device: ${GPU##*$'\n'}. benchmarks/gpu.sh needs a machine with a GPU (--dry-run prints its commands)"
  fi
fi
OUT="${OUT:-benchmarks/results/gpu-$(date -u +%Y%m%d-%H%M)-$GPU}"
RUN="$OUT/iwae-k50"

# name | budget (s) | command
STEPS=(
  "machine|20|$PY benchmarks/machine_info.py --device cuda > $OUT/machine.json.part && mv $OUT/machine.json.part $OUT/machine.json"
  "tests|100|$PY -m pytest -q -p no:cacheprovider -m cuda tests/cuda --junitxml $OUT/cuda-tests.xml"
  "iwae-train|70|$REPARAM train iwae --dataset $DATASET --k 50 --batch-size 20 --schedule burda --epochs $EPOCHS --device cuda --out $RUN --overwrite"
  "iwae-eval|35|$REPARAM eval $RUN --k 5000 --chunk 1000 --batch-size 500 --device cuda"
  "estimators|30|$PY benchmarks/estimators.py --device cuda --out $OUT"
  "iwae_step|35|$PY benchmarks/iwae_step.py --device cuda --min-run-time 1 --out $OUT"
  "bnn_step|30|$PY benchmarks/bnn_step.py --sizes 784 1200 1200 10 --batch-size 256 --device cuda --out $OUT"
  "latent|35|$PY benchmarks/latent.py --device cuda --repeats 3 --out $OUT"
  "bounds|10|$PY benchmarks/bounds.py --device cuda --out $OUT"
  "discrete_estimators|10|$PY benchmarks/discrete_estimators.py --device cuda --repeats 5 --out $OUT"
  "gumbel_vs_marginal|5|$PY benchmarks/gumbel_vs_marginal.py --device cuda --repeats 3 --out $OUT"
  "table1_replicas|10|$PY benchmarks/table1_replicas.py --device cuda --repeats 5 --out $OUT"
  "exp_underflow|5|$PY benchmarks/exp_underflow.py --device cuda --repeats 5 --out $OUT"
  "sinkhorn|25|$PY benchmarks/sinkhorn.py --device cuda --sizes 1000,4000 --no-numpy --out $OUT"
  "sequence_models|20|$PY benchmarks/sequence_models.py --device cuda --repeats 3 --out $OUT"
  "speech|20|$PY benchmarks/speech.py --device cuda --repeats 3 --out $OUT"
  "tts|20|$PY benchmarks/tts.py --device cuda --quick --out $OUT"
)

if [ "$DRY_RUN" = 1 ]; then
  echo "# benchmarks/gpu.sh --dry-run: the commands, with their timeouts (total budget ${BUDGET} s)"
  echo "# REPARAM_DATA=${REPARAM_DATA:-unset}; IWAE data: $DATASET; results: $OUT/"
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name budget command <<<"$step"
    printf 'timeout %4s  %s\n' "$budget" "$command"
  done
  echo "# then summary.md and steps.json in $OUT/"
  exit 0
fi

mkdir -p "$OUT/logs" || fail "cannot create $OUT"
DEADLINE=$((SECONDS + BUDGET - 10))  # 10 s kept for the summary
: >"$OUT/logs/steps.tsv"
status=0
index=0
for step in "${STEPS[@]}"; do
  IFS='|' read -r name budget command <<<"$step"
  index=$((index + 1))
  left=$((DEADLINE - SECONDS))
  limit=$((budget < left ? budget : left))
  started=$SECONDS
  if [ "$limit" -lt 5 ]; then
    result="skipped: no time left"; rc=-1; status=1
  elif [ "$name" = "iwae-eval" ] && [ ! -f "$RUN/best.pt" ]; then
    result="skipped: the training wrote no best.pt"; rc=-1; status=1
  else
    timeout --kill-after=5 "$limit" bash -c "$command" >"$OUT/logs/$name.log" 2>&1
    rc=$?
    case "$rc" in
      0) result="ok" ;;
      124|137) result="timed out after ${limit} s"; status=1 ;;
      *) result="failed (exit status $rc)"; status=1 ;;
    esac
  fi
  took=$((SECONDS - started))
  printf '[%d/%d] %-10s %s in %d s (timeout %d s)\n' "$index" "${#STEPS[@]}" "$name" "$result" "$took" "$limit"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$result" "$rc" "$took" "$limit" "$command" >>"$OUT/logs/steps.tsv"
done

"$PY" benchmarks/gpu_summary.py "$OUT" --run "$RUN" --dataset "$DATASET" --epochs "$EPOCHS" || status=1
exit "$status"
