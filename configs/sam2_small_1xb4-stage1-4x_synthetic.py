# The longer synthetic schedule, stage 1: the CPU demo's stage 1 with four
# times the iterations (2800; ~30 min on the 2-core CPU, minutes on a GPU).
# Everything else is configs/sam2_small_1xb4-stage1_synthetic.py.
#   python tools/train.py configs/sam2_small_1xb4-stage1-4x_synthetic.py
#   python tools/export_sam2.py \
#       work_dirs/sam2_small_1xb4-stage1-4x_synthetic/iter_2800.pth \
#       work_dirs/sam2_small_1xb4-stage1-4x_synthetic/sam2_stage1.pt
_base_ = ['./sam2_small_1xb4-stage1_synthetic.py']
max_iters = 2800
warmup_iters = 50
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=1e-5, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=700, max_keep_ckpts=1))
