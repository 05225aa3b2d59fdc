# Stage 2 of the CPU demo trained from a frozen-feature cache: the same
# model, recipe and weights as sam2love_tiny_1xb16-stage2_synthetic.py, but
# the frozen parts (VGGish, ViT, text encoder, SAM2's image encoder) ran
# once, in tools/extract_features.py, and training reads their outputs
# (and frame 0's mask) instead of decoding frames and audio:
#   python tools/extract_features.py \
#       configs/sam2love_tiny_1xb16-stage2-cached_synthetic.py
#   python tools/train.py configs/sam2love_tiny_1xb16-stage2-cached_synthetic.py
# (the first writes to the feature_cache below; --dtype fp16 halves it).
# The switch is the dataset's `feature_cache`; with it, training refuses a
# cache made for other frozen weights / configs, another metadata.csv,
# split or frame / audio pipeline, or a pipeline with random augmentation,
# naming the entry that differs. Testing runs the full model on the frames
# (tools/test.py with this config tracks whole clips as before).
_base_ = ['./sam2love_tiny_1xb16-stage2_synthetic.py']
feature_cache = 'work_dirs/feature_cache/sam2love_tiny_1xb16-stage2_synthetic'
# a cached batch loads in ~0.04 s (data_time): a loading worker would only
# take a core from training (10 % slower with two trainings on 2 cores)
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(feature_cache=feature_cache))
