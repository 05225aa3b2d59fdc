#!/usr/bin/env bash
# Stage 2 of the quick start with this project's vision encoder: cache the
# frozen parts' features, train from the cache, test on test_s, test_u and
# test_n, then print the results beside the quick start's rows. Run
# tools/quickstart.sh first: its data, stage-1 SAM2 and test runs are read,
# nothing of it is retrained. One process, OMP_NUM_THREADS=1 on a CPU.
#   bash projects/mmseg_vision_encoder/run_synthetic.sh [--out DIR] [--quickstart DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=work_dirs/projects/mmseg_vision_encoder
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
CFG=projects/mmseg_vision_encoder/configs/sam2love_mit-tiny_1xb16-stage2-cached_synthetic.py
OPTS=("model.decode_head.checkpoint=$QS/stage1/sam2_stage1.pt"
      "train_dataloader.dataset.feature_cache=$OUT/feature_cache")
START=$(date +%s)
$PY tools/extract_features.py "$CFG" --out "$OUT/feature_cache" --cfg-options "${OPTS[@]}"
EXTRACTED=$(date +%s)
$PY tools/train.py "$CFG" --work-dir "$OUT" --cfg-options "${OPTS[@]}"
TRAINED=$(date +%s)
$PY tools/test.py "$CFG" "$(cat "$OUT/last_checkpoint")" --work-dir "$OUT/test" \
  --cfg-options test_dataloader.batch_size=8 test_evaluator.per_kind=True \
  "${OPTS[@]}" "test_dataloader.dataset.split=['test_s','test_u','test_n']"
END=$(date +%s)
printf '{"extract_s": %d, "train_s": %d, "test_s": %d}\n' $((EXTRACTED - START)) \
  $((TRAINED - EXTRACTED)) $((END - TRAINED)) | tee "$OUT/wall_time.json"
$PY tools/analysis_tools/refavs_table.py \
  "every object: stage 1, all objects' frame-0 mask=$QS/stage1/test_every_object" \
  "SAM2-LOVE (Hugging Face ViT)=$QS/stage2/test" \
  "SAM2-LOVE, MixVisionTransformer (this project)=$OUT/test" \
  --markdown --json "$OUT/results.json"
