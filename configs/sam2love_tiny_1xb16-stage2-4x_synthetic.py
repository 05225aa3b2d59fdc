# The longer synthetic schedule, stage 2: the CPU demo's stage 2 with four
# times the iterations (4800; 56 min on the 2-core CPU beside another run,
# from its feature cache: python tools/extract_features.py THIS_CONFIG) on
# top of the 4x stage 1 (configs/sam2_small_1xb4-stage1-4x_synthetic.py,
# exported to sam2_stage1.pt). Everything else is
# configs/sam2love_tiny_1xb16-stage2_synthetic.py. On the 1x stage 1 of the
# 400-clip demo data it overfits: test_s J&F 42.5 vs 47.5 at 1x
# (docs/token_path.md).
_base_ = ['./sam2love_tiny_1xb16-stage2_synthetic.py']
stage1_sam2 = 'work_dirs/sam2_small_1xb4-stage1-4x_synthetic/sam2_stage1.pt'
model = dict(decode_head=dict(checkpoint=stage1_sam2))
max_iters = 4800
warmup_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
feature_cache = 'work_dirs/feature_cache/sam2love_tiny_1xb16-stage2-4x_synthetic'
train_dataloader = dict(dataset=dict(feature_cache=feature_cache))
