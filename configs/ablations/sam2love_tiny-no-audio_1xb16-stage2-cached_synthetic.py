# The no-audio ablation of the CPU demo's stage 2, trained from the frozen-
# feature cache (its own: without one modality the neck draws fewer random
# numbers, so the random-init frozen encoders differ from the full
# model's and its cache is refused).
_base_ = ['./sam2love_tiny-no-audio_1xb16-stage2_synthetic.py']
feature_cache = 'work_dirs/feature_cache/sam2love_tiny-no-audio_1xb16-stage2_synthetic'
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(feature_cache=feature_cache))
