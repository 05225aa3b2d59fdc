# The no-audio ablation of the CPU demo's stage 2, trained from the frozen-
# feature cache of sam2love_tiny_1xb16-stage2-cached_synthetic.py (the
# frozen parts are the same, so one cache serves both).
_base_ = ['./sam2love_tiny-no-audio_1xb16-stage2_synthetic.py']
feature_cache = 'work_dirs/feature_cache/sam2love_tiny_1xb16-stage2_synthetic'
train_dataloader = dict(dataset=dict(feature_cache=feature_cache))
