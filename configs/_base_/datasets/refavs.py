# Ref-AVS (RefAVSBench release layout); see sam2love.datasets.RefAVSDataset.
# Any split of any tree is one override away, e.g.
#   --cfg-options test_dataloader.dataset.split=test_u
dataset_type = 'RefAVSDataset'
data_root = 'data/refavs'
num_frames = 10  # 1 frame per second of a 10 s clip
img_scale = (1024, 1024)  # (W, H): SAM2's input size
mask_scale = (256, 256)  # training masks; evaluation is always 256x256
audio_sample_rate = 16000  # VGGish

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=audio_sample_rate),
    dict(type='LoadClipMasks'),
    dict(type='ResizeClip', scale=img_scale, mask_scale=mask_scale),
    dict(type='PackClipInputs'),
]
# Masks are loaded after the resize, so that gt_sem_seg keeps the original
# frame size (mmseg's convention for test pipelines).
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipAudio', sample_rate=audio_sample_rate),
    dict(type='ResizeClip', scale=img_scale, mask_scale=mask_scale),
    # gt_eval_masks: the benchmark's 3-channel / bilinear 256 / grey > 0 rule
    dict(type='LoadClipMasks', eval_size=(256, 256)),
    dict(type='PackClipInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_frames=num_frames,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        num_frames=num_frames,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test_s',
        num_frames=num_frames,
        test_mode=True,
        pipeline=test_pipeline))
