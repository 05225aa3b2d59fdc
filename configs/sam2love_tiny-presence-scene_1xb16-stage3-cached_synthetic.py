# Stage 3 of the CPU demo, beyond the paper: the presence check of the
# whole frame (`presence.source='scene'`) learnt alone on a trained
# stage-2 SAM2-LOVE (`load_from`); every other module is frozen and in
# eval mode (`train_only`), so its masks are those of the model without
# the switch, bit for bit. The check lists every object of frame 0 (each
# stride-16 cell prompts the decoder; each clip listed once while
# training) and asks whether any fits the expression and the sound before
# fusion (the neck's `presence_query`; docs/presence.md), each object read
# at frame 0's features and SAM2's two high-resolution levels
# (`fine_regions`: its objects are a few stride-16 cells). Null references
# made at training time: another clip's expression and silence, not
# another clip's sound (the check did not learn to hear the mismatch from
# them: AUC 0.44-0.46, docs/presence.md); null_weight from null_share().
#   python tools/train.py \
#       configs/sam2love_tiny-presence-scene_1xb16-stage3-cached_synthetic.py \
#       --cfg-options load_from=STAGE2_CHECKPOINT
_base_ = ['./sam2love_tiny-presence-negatives_1xb16-stage2-cached_synthetic.py']
load_from = 'work_dirs/sam2love_tiny_1xb16-stage2-cached_synthetic/iter_1200.pth'
model = dict(
    train_only=('decode_head.presence_scene', ),
    neck=dict(presence_query=True),
    decode_head=dict(presence=dict(source='scene', fine_regions=True)))
train_dataloader = dict(dataset=dict(null_negatives=dict(
    kinds=('expression', 'silence'))))
# a check learnt from scratch on a frozen model: a larger step than stage 2's
optim_wrapper = dict(optimizer=dict(lr=3e-3))
