# Stage 3 on the release, beyond the paper: the presence check
# (`presence.source='verify'`: frame 0's decoded mask, its outline and the
# features under it, against the expression and the sound before fusion)
# learnt alone on a trained SAM2-LOVE (`load_from`, e.g. the last
# checkpoint of sam2love_refavs.py); every other module frozen and in eval
# mode (`train_only`), so the masks stay those of that model and J&F moves
# only where a clip is emptied. Null rows made at training time as in
# sam2love_presence-negatives_refavs.py (every kind, match='word'), besides
# the release's. Not measured on the release here (no data on this
# machine); the CPU demo's figures are in docs/presence.md. Calibrate the
# threshold on val: tools/analysis_tools/presence_scores.py CONFIG CKPT
# --split val --max-ordinary-loss 0.02.
#   tools/dist_train.sh configs/sam2love_presence-verify_refavs.py 2 \
#       --cfg-options load_from=STAGE2_CHECKPOINT
_base_ = ['./sam2love_presence-negatives_refavs.py']
load_from = 'work_dirs/sam2love_refavs/iter_20000.pth'
model = dict(
    train_only=('decode_head.presence_verify', ),
    neck=dict(presence_query=True),
    decode_head=dict(presence=dict(source='verify')))
# a small module learnt from scratch: the demo's rate, ~2.4 epochs
max_iters = 4000
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=200),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=200, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
