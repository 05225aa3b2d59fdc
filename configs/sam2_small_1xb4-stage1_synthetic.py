# Stage 1 of the CPU demo: train the small (~3 M-parameter) random-init SAM2
# to track mask-prompted objects on the synthetic Ref-AVS (a stand-in for
# SAM2's own video pre-training). Frame 0's ground-truth mask is the prompt,
# the other frames are tracked from the memory bank and supervised.
# Testing prompts frame 0 with the ground truth too: its J&F is the ceiling
# of stage 2. Hand the weights to stage 2 with
#   python tools/export_sam2.py WORK_DIR/iter_N.pth WORK_DIR/sam2_stage1.pt
# Generate the data first:
#   python tools/make_synthetic_refavs.py --out data/refavs_synthetic
_base_ = [
    './_base_/datasets/refavs_synthetic.py', './_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['sam2love', 'sam2love.models.segmentors.sam2_tracker_pretrainer'],
    allow_failed_imports=False)

model = dict(
    type='SAM2TrackerPretrainer',
    data_preprocessor=dict(type='ClipDataPreprocessor'),
    sam2_config='sam2.1_hiera_t',
    sam2_overrides='small',
    image_size=128,
    frozen=(),  # train every part
    num_train_frames=4,  # 4-frame windows: ~2x the iterations of 8 frames
    mask_candidate='chosen',  # 'min' (SAM2's) learned no identity here
    # queries start by reading the same place in the memory frames; without
    # it the from-scratch SAM2 never used its memory (tracked frames were
    # exactly independent of the prompt: it segmented every salient object)
    local_memory_init=20.0,
    # a linear read-out of the memory-conditioned features of the tracked
    # frames, trained to give their masks: a direct gradient into the
    # memory path. Without it the small tracker went memory-blind (it
    # segmented every salient object, ceiling ~45 J&F) on some data seeds,
    # and on more of them with clicked frames (docs/token_path.md)
    memory_readout_weight=1.0,
    # clicked frames beside the tracked clip: the decoder learns to read
    # sparse prompt tokens, so that stage 2's fused token is read (an
    # identity token at frame-0 IoU 0.64 after 100 iterations)
    click_loss_weight=1.0,
    # each clip's object found again in a later frame by its look alone (a
    # softmax over that frame's cells): tracking alone left the image
    # features telling objects apart by colour only, the space stage 2's
    # token is aligned to (docs/token_path.md)
    appearance_loss_weight=1.0,
    loss_mask=dict(type='BCEDiceLoss', bce_weight=1.0, dice_weight=1.0),
    loss_iou_weight=1.0,
    loss_obj_weight=1.0,
    memory_dtype='bfloat16',
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# Measured on the 2-core CPU with OMP_NUM_THREADS=1, nothing else running
# (the quick start, seed 0): ~0.87 s / iteration of 4 four-frame clips with
# the auxiliary losses above, 700 iterations in 10 min (+ ~10 s start-up).
# With two threads on a busy 2-core machine an iteration took 2-13 s.
# Results: see the README's quick-start table (the stage-1 ceiling row).
max_iters = 700
warmup_iters = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.01),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=1e-5, by_epoch=False, begin=warmup_iters, end=max_iters),
]
# mmengine validates after the last iteration whatever val_interval says;
# val_begin past the end skips it (tools/test.py gives the numbers)
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters, val_begin=max_iters + 1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
train_dataloader = dict(batch_size=4, num_workers=1)
test_dataloader = dict(
    dataset=dict(split=['test_s', 'test_u']), num_workers=1)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='ClipVisualizationHook', draw=False))
randomness = dict(seed=0)
# the mask prompt leaves parts of SAM2 out of the graph (point embeddings,
# the single-mask token), and null clips change what is used
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
val_evaluator = dict(type='RefAVSMetric')
test_evaluator = dict(type='RefAVSMetric')
