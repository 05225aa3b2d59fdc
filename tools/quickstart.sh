#!/usr/bin/env bash
# The quick start, end to end on the embedded synthetic Ref-AVS:
#   1. set up .venv, generate the data set and validate it;
#   2. stage 1: train a small SAM2 to track prompted objects and to read
#      sparse prompts (a stand-in for SAM2's own pre-training, which cannot
#      be downloaded here), then score it with the ground-truth frame-0 mask
#      as prompt (the ceiling of stage 2) and with every object's frame-0
#      mask (what a model that ignores the sentence and the sound gets);
#   3. stage 2: cache the frozen parts' features once, train SAM2-LOVE from
#      the cache with the demo's recipe (the paper's + a referent alignment
#      of the fused token, which points at frame 0's features) and with the
#      paper's loss alone, test both on
#      test_s, test_u and test_n, and swap expressions / audio between
#      samples (does it read them?); --ablations also trains it without audio and without text,
#      --presence also learns the presence switch alone on it (stage 3, null
#      references; its threshold and AUCs go into results.json): the check
#      of the one object SAM2 keeps on frame 0 ('verify'), or with
#      --presence-source scene the check of every object on frame 0, then
#      whether the sound is made on screen (stage 4) and whether what the
#      expression names is on frame 0 (stage 5);
#   4. print the table and write it as OUT/results.json;
#   5. run tools/demo.py on a test clip written as an mp4 with sound.
# --reuse-stage1 keeps a stage 1 already trained in OUT/stage1 (its
# last_checkpoint and sam2_stage1.pt, and its test scores when there)
# instead of training and testing it again.
# Uses the GPU when there is one (mmengine's default device), else the CPU
# with one thread per process (OMP_NUM_THREADS=1): stage 1 as two
# data-parallel processes of 2 clips (tools/dist_train.sh, the config's
# batch of 4), stage 2's two models side by side, and the tests beside
# each other, so that both cores of a 2-core machine work throughout.
#   bash tools/quickstart.sh [--clips N] [--seed S] [--null-prob P]
#                            [--skip-data] [--reuse-stage1] [--ablations]
#                            [--presence] [--presence-source verify|scene]
#                            [--out DIR] [--data DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CLIPS=400
SEED=0
MAKE_DATA=1
REUSE_STAGE1=0
ABLATIONS=0
PRESENCE=0
PRESENCE_SOURCE=verify
NULL_OPTS=()
OUT=work_dirs/quickstart
DATA=data/refavs_synthetic
while [ $# -gt 0 ]; do
  case $1 in
    --clips) CLIPS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --skip-data) MAKE_DATA=0; shift ;;
    --reuse-stage1) REUSE_STAGE1=1; shift ;;
    --ablations) ABLATIONS=1; shift ;;
    --presence) PRESENCE=1; shift ;;
    --presence-source) PRESENCE_SOURCE=$2; shift 2 ;;
    --null-prob) NULL_OPTS=(--null-prob "$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case $PRESENCE_SOURCE in
  scene|verify) ;;
  *) echo "--presence-source must be scene or verify, got $PRESENCE_SOURCE" >&2
     exit 2 ;;
esac
START=$(date +%s)
bash tools/setup_env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
PY=.venv/bin/python
# data-parallel processes for stage 1: 2 on a CPU-only machine with 2 or
# more cores, else 1 (a GPU machine trains it in one process)
# (not `nproc`: it counts OMP_NUM_THREADS)
CPU_PROCS=$($PY -c 'import os, torch
print(1 if torch.cuda.is_available() else min(2, len(os.sched_getaffinity(0))))')
# the data set of this run, for every config
DATA_OPTS=("train_dataloader.dataset.data_root=$DATA"
           "val_dataloader.dataset.data_root=$DATA"
           "test_dataloader.dataset.data_root=$DATA")
STAGE1=configs/sam2_small_1xb4-stage1_synthetic.py
STAGE2=configs/sam2love_tiny_1xb16-stage2-cached_synthetic.py
W1=$OUT/stage1
W2=$OUT/stage2
CACHE=$OUT/feature_cache
S1PT=$W1/sam2_stage1.pt
# stage 2 reads this run's stage 1 and feature cache
S2OPTS=("model.decode_head.checkpoint=$S1PT"
        "train_dataloader.dataset.feature_cache=$CACHE" "${DATA_OPTS[@]}")
ALL_SPLITS="test_dataloader.dataset.split=['test_s','test_u','test_n']"
mkdir -p "$OUT"

run_test() {  # CONFIG CKPT WORK_DIR [cfg options]: batches of 8 clips
  $PY tools/test.py "$1" "$2" --work-dir "$3" \
    --cfg-options test_dataloader.batch_size=8 test_evaluator.per_kind=True \
    "${DATA_OPTS[@]}" "${@:4}"
}
elapsed() { echo "[quickstart] $1 done at $(( $(date +%s) - START )) s"; }

if [ "$MAKE_DATA" = 1 ]; then
  echo '== 1. generate the synthetic Ref-AVS and validate it'
  $PY tools/make_synthetic_refavs.py --out "$DATA" --clips "$CLIPS" \
    --seed "$SEED" "${NULL_OPTS[@]}" --overwrite --nproc 2
  $PY tools/check_refavs.py "$DATA" --nproc 2
  elapsed 'data'
fi

echo '== 2. stage 1: SAM2 learns to track and to read sparse prompts'
reused() {  # DIR: --reuse-stage1 and DIR holds a finished run of it
  [ "$REUSE_STAGE1" = 1 ] && [ -n "$(ls "$1"/*/*.json 2>/dev/null)" ]
}
if [ "$REUSE_STAGE1" = 1 ] && [ -f "$W1/last_checkpoint" ] && [ -f "$S1PT" ]; then
  echo "reusing stage 1 of $W1 (--reuse-stage1)"
else
  REUSE_STAGE1=0
  if [ "$CPU_PROCS" -ge 2 ]; then
    # two processes of 2 clips: the config's batch of 4 per iteration
    PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') \
      bash tools/dist_train.sh "$STAGE1" 2 --work-dir "$W1" \
      --cfg-options train_dataloader.batch_size=2 "${DATA_OPTS[@]}"
  else
    $PY tools/train.py "$STAGE1" --work-dir "$W1" \
      --cfg-options "${DATA_OPTS[@]}"
  fi
fi
CKPT1=$(cat "$W1/last_checkpoint")  # written by mmengine's CheckpointHook
[ "$REUSE_STAGE1" = 1 ] || $PY tools/export_sam2.py "$CKPT1" "$S1PT"
# the two tests of stage 1 and stage 2's feature cache, side by side
PIDS=()
reused "$W1/test" || { run_test "$STAGE1" "$CKPT1" "$W1/test" & PIDS+=($!); }
reused "$W1/test_every_object" || { run_test "$STAGE1" "$CKPT1" \
  "$W1/test_every_object" model.test_prompt=all_objects "$ALL_SPLITS" &
  PIDS+=($!); }
$PY tools/extract_features.py "$STAGE2" --out "$CACHE" \
  --cfg-options "${S2OPTS[@]}"
for PID in "${PIDS[@]}"; do wait "$PID"; done
elapsed 'stage 1'

echo '== 3. stage 2: SAM2-LOVE on top of it, trained from cached features'
train_only() {  # CONFIG WORK_DIR
  $PY tools/train.py "$1" --work-dir "$2" --cfg-options "${S2OPTS[@]}"
}
test_stage2() {  # CONFIG WORK_DIR: its last checkpoint on every test split
  run_test "$1" "$(cat "$2/last_checkpoint")" "$2/test" "${S2OPTS[@]}" \
    "$ALL_SPLITS"
}
train_stage2() {  # CONFIG WORK_DIR: train and test
  train_only "$1" "$2" && test_stage2 "$1" "$2"
}
# the demo's recipe (the paper's + the referent alignment and pointer) and
# the paper's loss alone, side by side on the same stage 1 and cache (one
# thread each)
PAPER=configs/ablations/sam2love_tiny-paper-loss_1xb16-stage2-cached_synthetic.py
W2P=$OUT/stage2_paper-loss
train_stage2 "$PAPER" "$W2P" & PAPER_PID=$!
train_only "$STAGE2" "$W2"
CKPT2=$(cat "$W2/last_checkpoint")
# the demo's test and its swap test side by side
test_stage2 "$STAGE2" "$W2" & DEMO_TEST_PID=$!
$PY tools/analysis_tools/modality_swap.py "$STAGE2" "$CKPT2" --split test_s \
  --out "$W2/modality_swap.json" --cfg-options "${S2OPTS[@]}"
wait $DEMO_TEST_PID
wait $PAPER_PID
EXTRAS=()
ROWS=("stage 1: SAM2, GT mask on frame 0 (ceiling)=$W1/test"
      "every object: stage 1, all objects' mask on frame 0=$W1/test_every_object"
      "SAM2-LOVE (paper's loss + referent alignment)=$W2/test"
      "SAM2-LOVE, paper's loss alone=$W2P/test")
if [ "$ABLATIONS" = 1 ]; then
  for ABL in no-audio no-text; do
    # a neck without one modality draws fewer random numbers, so its
    # random-init frozen encoders differ: each ablation has its own cache
    CFG=configs/ablations/sam2love_tiny-${ABL}_1xb16-stage2-cached_synthetic.py
    ABL_OPTS=("${S2OPTS[@]}"
              "train_dataloader.dataset.feature_cache=${CACHE}_$ABL")
    $PY tools/extract_features.py "$CFG" --out "${CACHE}_$ABL" \
      --cfg-options "${ABL_OPTS[@]}"
    $PY tools/train.py "$CFG" --work-dir "$OUT/stage2_$ABL" \
      --cfg-options "${ABL_OPTS[@]}"
    run_test "$CFG" "$(cat "$OUT/stage2_$ABL/last_checkpoint")" \
      "$OUT/stage2_$ABL/test" "${ABL_OPTS[@]}" "$ALL_SPLITS"
    ROWS+=("SAM2-LOVE, $ABL=$OUT/stage2_$ABL/test")
  done
fi
if [ "$PRESENCE" = 1 ]; then
  # stage 3: the presence check learnt alone on the stage-2 model (its
  # masks unchanged), with null rows made at training time (the config's
  # null_negatives: docs/presence.md); null rows weigh #ordinary / #null
  # rows drawn in the presence BCE; the switch draws no random number
  # before the frozen encoders, so the same cache serves
  PCFG=configs/sam2love_tiny-presence-${PRESENCE_SOURCE}_1xb16-stage3-cached_synthetic.py
  NULL_WEIGHT=$($PY - "$DATA" "$PCFG" <<'EOF'
import sys
from mmengine.config import Config
from sam2love.datasets import read_metadata
from sam2love.datasets.null_negatives import null_share
made = Config.fromfile(sys.argv[2]).train_dataloader.dataset.null_negatives
share = null_share(read_metadata(f'{sys.argv[1]}/metadata.csv'), 'train',
                   made.prob, made.kinds, made.match)
print(round((1 - share) / share, 2))
EOF
)
  echo "presence: null_weight $NULL_WEIGHT"
  S2OPTS+=("model.decode_head.presence.null_weight=$NULL_WEIGHT"
           "load_from=$CKPT2")
  W3=$OUT/stage3_presence
  train_stage2 "$PCFG" "$W3"
  CKPT3=$(cat "$W3/last_checkpoint")
  # the largest threshold up to 0.5 that finds at most 2 % of the ordinary
  # val rows absent
  $PY tools/analysis_tools/presence_scores.py "$PCFG" "$CKPT3" --split val \
    --max-ordinary-loss 0.02 --out "$W3/val_presence.json" \
    --cfg-options "${S2OPTS[@]}"
  THRESHOLD=$($PY -c "import json, sys; print(json.load(open(sys.argv[1]))['calibrated']['threshold'])" "$W3/val_presence.json")
  run_test "$PCFG" "$CKPT3" "$W3/test_calibrated" "${S2OPTS[@]}" \
    "$ALL_SPLITS" "model.decode_head.presence.threshold=$THRESHOLD"
  $PY tools/analysis_tools/presence_scores.py "$PCFG" "$CKPT3" \
    --out "$W3/test_presence.json" --cfg-options "${S2OPTS[@]}"
  ROWS+=("SAM2-LOVE + presence (threshold 0.5)=$W3/test"
         "SAM2-LOVE + presence (threshold $THRESHOLD from val)=$W3/test_calibrated")
  # results.json: the threshold and its rule, and the ROC AUC per null type
  EXTRAS+=(--extra "presence_calibration=$W3/val_presence.json"
           --extra "presence_test=$W3/test_presence.json")
  if [ "$PRESENCE_SOURCE" = scene ]; then
    # stage 4: is the sound made on screen? learnt alone on stage 3 from
    # frames and each clip's own sound (not the cache, which holds
    # neither); where it is not, the scene check hears silence. The
    # threshold stays stage 3's: the sound check has its own (sync 0.5),
    # and a val clip it silences wrongly would pull a threshold
    # recalibrated on val to 0 (docs/presence.md)
    SCFG=configs/sam2love_tiny-presence-scene-sound_1xb16-stage4_synthetic.py
    S4OPTS=("model.decode_head.checkpoint=$S1PT" "${DATA_OPTS[@]}"
            "model.decode_head.presence.null_weight=$NULL_WEIGHT"
            "load_from=$CKPT3")
    W4=$OUT/stage4_sound
    $PY tools/train.py "$SCFG" --work-dir "$W4" --cfg-options "${S4OPTS[@]}"
    CKPT4=$(cat "$W4/last_checkpoint")
    run_test "$SCFG" "$CKPT4" "$W4/test_calibrated" "${S4OPTS[@]}" \
      "$ALL_SPLITS" "model.decode_head.presence.threshold=$THRESHOLD"
    $PY tools/analysis_tools/presence_scores.py "$SCFG" "$CKPT4" \
      --thresholds "$THRESHOLD" --out "$W4/test_presence.json" \
      --cfg-options "${S4OPTS[@]}"
    ROWS+=("SAM2-LOVE + presence + sound check (sync 0.5; threshold $THRESHOLD from val)=$W4/test_calibrated")
    EXTRAS+=(--extra "sound_check_test=$W4/test_presence.json")
    # stage 5: is what the expression names on screen (an object's colour
    # and silhouette, on some frame)? learnt alone on stage 4 from frames
    # and the maps of each clip's referred objects; beside it, is what is
    # heard an object on screen (each loud second named with the same
    # words; it keeps the sound of a clip whose sync missed it, fixed 0.5,
    # and takes that of a clip named nowhere on screen, fixed 0.1);
    # a row is found absent where the head's check or this one says so,
    # this one under its own threshold from val (the one that best
    # separates val's ordinary rows from their clips scored with lent
    # expressions naming nothing they show). With the absent
    # referents this check's, the head's threshold has only to tell
    # whether the sound asked for is there: it is recalibrated on val as
    # the one that best separates the ordinary rows from those asking for
    # a sound scored with silence (docs/presence.md)
    NCFG=configs/sam2love_tiny-presence-scene-sound-names_1xb16-stage5_synthetic.py
    S5OPTS=("model.decode_head.checkpoint=$S1PT" "${DATA_OPTS[@]}"
            "model.decode_head.presence.null_weight=$NULL_WEIGHT")
    W5=$OUT/stage5_names
    $PY tools/train.py "$NCFG" --work-dir "$W5" \
      --cfg-options "${S5OPTS[@]}" "load_from=$CKPT4" \
      "model.decode_head.presence.threshold=$THRESHOLD"
    CKPT5=$(cat "$W5/last_checkpoint")
    $PY tools/analysis_tools/presence_scores.py "$NCFG" "$CKPT5" --split val \
      --separate-silence --names-separate-absent \
      --out "$W5/val_presence.json" --cfg-options "${S5OPTS[@]}"
    read -r HEAD_THRESHOLD NAMES_THRESHOLD < <($PY -c "import json, sys; f = json.load(open(sys.argv[1])); print(f['calibrated']['threshold'], f['names_calibrated']['threshold'])" "$W5/val_presence.json")
    S5OPTS+=("model.decode_head.presence.threshold=$HEAD_THRESHOLD"
             "model.name_check.threshold=$NAMES_THRESHOLD")
    run_test "$NCFG" "$CKPT5" "$W5/test_calibrated" "${S5OPTS[@]}" \
      "$ALL_SPLITS"
    $PY tools/analysis_tools/presence_scores.py "$NCFG" "$CKPT5" \
      --thresholds "$HEAD_THRESHOLD" --names-threshold "$NAMES_THRESHOLD" \
      --out "$W5/test_presence.json" --cfg-options "${S5OPTS[@]}"
    ROWS+=("SAM2-LOVE + presence + sound check + names and heard checks (thresholds $HEAD_THRESHOLD, $NAMES_THRESHOLD from val)=$W5/test_calibrated")
    EXTRAS+=(--extra "names_check_calibration=$W5/val_presence.json"
             --extra "names_check_test=$W5/test_presence.json")
  fi
fi
elapsed 'stage 2'

echo '== 4. results on the synthetic test splits (x100)'
$PY tools/analysis_tools/refavs_table.py "${ROWS[@]}" \
  --extra "modality_swap=$W2/modality_swap.json" "${EXTRAS[@]}" \
  --json "$OUT/results.json"

echo '== 5. the demo on a test clip written as an mp4 with sound'
DEMO=$OUT/demo
CLIP=$($PY - "$DATA" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(f'{sys.argv[1]}/metadata.csv'))
        if r['split'] == 'test_s']
print(rows[0]['uid'].rsplit('_', 2)[0])
EOF
)
mkdir -p "$DEMO"
$PY tools/clip_to_video.py "$DATA/media/$CLIP" "$DEMO/$CLIP.mp4" --fps 5 \
  > "$DEMO/expressions.txt"
mapfile -t TEXTS < <($PY - "$DATA" "$CLIP" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(f'{sys.argv[1]}/metadata.csv'))
        if r['uid'].rsplit('_', 2)[0] == sys.argv[2]]
for r in rows[:2]:
    print(r['exp'])
EOF
)
$PY tools/demo.py "$DEMO/$CLIP.mp4" --text "${TEXTS[0]}" --text "${TEXTS[1]}" \
  --config "$STAGE2" --checkpoint "$CKPT2" --out "$DEMO"
elapsed 'quick start'
echo "results: $OUT/results.json"
echo "overlay video: $DEMO/overlay.mp4, contact sheet: $DEMO/contact_sheet.png"
echo "web demo: SAM2LOVE_EXTRAS=web bash tools/setup_env.sh && $PY tools/web_demo.py --config $STAGE2 --checkpoint $CKPT2 --port 7860, then open http://127.0.0.1:7860"
