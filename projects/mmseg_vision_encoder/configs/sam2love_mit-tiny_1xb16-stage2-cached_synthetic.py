# SAM2-LOVE with an MMSegmentation MixVisionTransformer (SegFormer's
# encoder) as the frozen vision encoder of TriModalBackbone, in place of
# the Hugging Face ViT: stage 2 of the quick start otherwise unchanged
# (same audio and text encoders, fusion neck, stage-1 SAM2, recipe, cached
# frozen features). Extracted, trained and tested on the quick start's
# synthetic Ref-AVS by projects/mmseg_vision_encoder/run_synthetic.sh.
_base_ = ['../../../configs/sam2love_tiny_1xb16-stage2-cached_synthetic.py']
custom_imports = dict(
    imports=['sam2love', 'projects.mmseg_vision_encoder.mmseg_vision_encoder'],
    allow_failed_imports=False)

# An mmseg-format checkpoint of this MixVisionTransformer (a backbone's
# state dict, or a whole segmentor's with prefix='backbone.'), e.g.
#   --cfg-options model.backbone.vision.backbone.init_cfg.checkpoint=PATH
# None: random init, as the quick start's ViT (no weights can be
# downloaded here).
mit_checkpoint = None
model = dict(
    backbone=dict(
        vision=dict(
            _delete_=True,
            type='MMSegVisionEncoder',
            image_size=64,
            out_index=-1,  # stride 16: 4 x 4 tokens, as the tiny ViT's
            backbone=dict(
                type='MixVisionTransformer',
                in_channels=3,
                embed_dims=16,
                num_stages=3,
                num_layers=[1, 1, 1],
                num_heads=[1, 2, 2],
                patch_sizes=[7, 3, 3],
                strides=[4, 2, 2],
                sr_ratios=[4, 2, 1],
                out_indices=(2, ),
                mlp_ratio=4,
                init_cfg=dict(type='Pretrained',
                              checkpoint=mit_checkpoint)))),
    neck=dict(vision_dim=32))  # embed_dims * num_heads[-1]
feature_cache = 'work_dirs/feature_cache/sam2love_mit-tiny_1xb16-stage2_synthetic'
train_dataloader = dict(dataset=dict(feature_cache=feature_cache))
