# The paper's loss alone for ten times the demo's stage-2 iterations
# (12000 of 16, from the same feature cache and stage 1): does the paper's
# recipe alone refer on the synthetic data given enough iterations? The
# tiny model is loading- and launch-bound on a GPU: 0.115-0.15 s an
# iteration on an H200 (23-30 min), 0.24-0.33 s on one core of the 2-core
# CPU beside other runs (87 min there).
#   python tools/train.py THIS_CONFIG --cfg-options \
#       model.decode_head.checkpoint=OUT/stage1/sam2_stage1.pt \
#       train_dataloader.dataset.feature_cache=OUT/feature_cache
# Seed 0 (docs/token_path.md, "The paper's loss alone, ten times longer"):
# test_s J&F 40.8 (1200 iterations: 42.9, every object 43.4), its token
# not read (modality_swap changed 0.00003 / 0.00007).
_base_ = ['./sam2love_tiny-paper-loss_1xb16-stage2-cached_synthetic.py']
max_iters = 12000
warmup_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 val_begin=max_iters + 1)
# a checkpoint every 2000 iterations: a run stopped early keeps its last
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=2000, max_keep_ckpts=1))
