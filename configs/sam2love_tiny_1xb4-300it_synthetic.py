# The tiny random-init SAM2-LOVE on the embedded synthetic Ref-AVS, with the
# paper's optimiser: a CPU smoke run of the whole training / testing path.
# Generate the data first:
#   python tools/make_synthetic_refavs.py --out data/refavs_synthetic
_base_ = [
    './_base_/models/sam2love_tiny.py',
    './_base_/datasets/refavs_synthetic.py',
    './_base_/default_runtime.py', './_base_/schedules/schedule_20k_paper.py'
]
max_iters = 300
warmup_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3), accumulative_counts=1)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
train_dataloader = dict(batch_size=4, num_workers=2)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, max_keep_ckpts=2))
randomness = dict(seed=0)
val_evaluator = dict(type='RefAVSMetric')
test_evaluator = dict(type='RefAVSMetric')
