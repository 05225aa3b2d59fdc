# The embedded synthetic Ref-AVS (tools/make_synthetic_refavs.py): same
# layout and dataset class as the release, small frames for CPU runs.
_base_ = ['./refavs.py']

data_root = 'data/refavs_synthetic'
img_scale = (128, 128)
mask_scale = (128, 128)

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=16000),
    dict(type='LoadClipMasks'),
    dict(type='ResizeClip', scale=img_scale, mask_scale=mask_scale),
    dict(type='PackClipInputs'),
]
# Masks are loaded after the resize, so that gt_sem_seg keeps the original
# frame size (mmseg's convention for test pipelines).
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=16000),
    dict(type='ResizeClip', scale=img_scale, mask_scale=mask_scale),
    dict(type='LoadClipMasks', eval_size=(256, 256)),
    dict(type='PackClipInputs'),
]
train_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
