#!/usr/bin/env bash
# Train and test this project's baseline on the quick start's synthetic
# Ref-AVS, then print its results beside the quick start's rows (run
# tools/quickstart.sh first: its data, its every-object and SAM2-LOVE test
# runs are read, nothing of it is retrained). One process, OMP_NUM_THREADS=1
# on a CPU, as the quick start.
#   bash projects/fused_token_seghead/run_synthetic.sh [--out DIR] [--quickstart DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=work_dirs/projects/fused_token_seghead
QS=work_dirs/quickstart
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --quickstart) QS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# the project's package is imported as projects.<name>.<package>
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
PY=.venv/bin/python
CFG=projects/fused_token_seghead/configs/segformer-fused-token_mit-tiny_1xb8-600it_synthetic.py
START=$(date +%s)
$PY tools/train.py "$CFG" --work-dir "$OUT"
TRAINED=$(date +%s)
$PY tools/test.py "$CFG" "$(cat "$OUT/last_checkpoint")" --work-dir "$OUT/test" \
  --cfg-options test_dataloader.batch_size=8 test_evaluator.per_kind=True \
  "test_dataloader.dataset.split=['test_s','test_u','test_n']"
END=$(date +%s)
printf '{"train_s": %d, "test_s": %d}\n' $((TRAINED - START)) $((END - TRAINED)) \
  | tee "$OUT/wall_time.json"
$PY tools/analysis_tools/refavs_table.py \
  "every object: stage 1, all objects' frame-0 mask=$QS/stage1/test_every_object" \
  "SAM2-LOVE=$QS/stage2/test" \
  "Segformer + fused token (this project)=$OUT/test" \
  --markdown --json "$OUT/results.json"
