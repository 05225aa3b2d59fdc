# The paper's optimisation: AdamW, lr 1e-4, weight decay 0, 100 warm-up
# steps then decay (DeepSpeed's WarmupDecayLR: linear to 0 at the end),
# gradient accumulation 2. Schedulers here step per iteration, and an
# optimizer step takes `accumulative_counts` iterations, so 100 warm-up
# steps are 200 iterations. The paper does not give its length: 20k
# iterations (10k optimizer steps, ~11 epochs of Ref-AVS train at a total
# batch of 8 x 2) is our choice.
accumulative_counts = 2
warmup_iters = 100 * accumulative_counts
max_iters = 20000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.0),
    accumulative_counts=accumulative_counts)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
