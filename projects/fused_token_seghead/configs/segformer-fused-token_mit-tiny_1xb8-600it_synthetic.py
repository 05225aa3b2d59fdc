# The image-level baseline of the Ref-AVS paper's table ("AVS / Ref-VOS
# methods + text / + audio"): an MMSegmentation Segformer (MixVisionTransformer
# + SegformerHead, trained) segments every frame, read out by SAM2-LOVE's
# fused token (the tiny quick-start encoders and FusionTokenNeck); no SAM2,
# no tracking, no stage 1. Trained and tested on the quick start's synthetic
# Ref-AVS by projects/fused_token_seghead/run_synthetic.sh (PYTHONPATH=. for
# tools/train.py: the package is imported as projects.<name>.<package>).
_base_ = [
    '../../../configs/_base_/models/sam2love_tiny.py',
    '../../../configs/_base_/datasets/refavs_synthetic.py',
    '../../../configs/_base_/default_runtime.py',
    '../../../configs/_base_/schedules/schedule_20k_paper.py',
]
custom_imports = dict(
    imports=['sam2love', 'projects.fused_token_seghead.fused_token_seghead'],
    allow_failed_imports=False)

embed_dim = 32  # the fused token's width (FusionTokenNeck.embed_dim)
pixel_dim = 16  # K: the pixel embedding the token reads out
# The same TriModalBackbone and FusionTokenNeck as the quick start's
# SAM2-LOVE (built first, from the same seed: the same frozen encoders);
# SAM2's head is replaced by a Segformer read out by the token.
model = dict(
    type='FusedTokenSegmentor',
    decode_head=dict(
        _delete_=True,
        type='FusedTokenMaskHead',
        token_dim=embed_dim,
        image_size=128,
        train_frames=3,
        image_backbone=dict(
            type='MixVisionTransformer',
            in_channels=3,
            embed_dims=16,
            num_stages=4,
            num_layers=[1, 1, 1, 1],
            num_heads=[1, 2, 4, 8],
            patch_sizes=[7, 3, 3, 3],
            sr_ratios=[8, 4, 2, 1],
            out_indices=(0, 1, 2, 3),
            mlp_ratio=4),
        decode_head=dict(
            type='SegformerHead',
            in_channels=[16, 32, 64, 128],
            in_index=[0, 1, 2, 3],
            channels=32,
            dropout_ratio=0.0,
            num_classes=pixel_dim,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)))

# The quick start's stage-2 budget is 1200 iterations of 16 clips from a
# feature cache; a trained image model needs the frames, so 600 of 8 here.
max_iters = 600
warmup_iters = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3), accumulative_counts=1)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters,
                 val_begin=max_iters + 1)
train_dataloader = dict(batch_size=8, num_workers=1)
test_dataloader = dict(
    dataset=dict(split=['test_s', 'test_u']), num_workers=1)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(type='ClipVisualizationHook', draw=False))
randomness = dict(seed=0)
val_evaluator = dict(type='RefAVSMetric')
test_evaluator = dict(type='RefAVSMetric')
