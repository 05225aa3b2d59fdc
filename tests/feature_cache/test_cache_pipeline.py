"""sam2love.feature_cache.pipeline: random augmentation and steps of
unknown effect refused, the frozen input steps of train and test agree,
arguments that change nothing do not invalidate a cache."""
import copy
import os.path as osp

import pytest
from feature_cache_helpers import train_dataset

from sam2love.apis import extract_feature_cache
from sam2love.datasets import RefAVSDataset
from sam2love.feature_cache import (
    FeatureCacheError,
    cached_pipeline,
    frozen_input_steps,
    random_steps,
)


@pytest.mark.parametrize('step', [
    dict(type='RandomFlip', prob=0.5),
    dict(type='mmseg.RandomResize', scale=(128, 128)),
    dict(type='PhotoMetricDistortion', brightness_prob=0.3),
    dict(type='RandomApply', transforms=[dict(type='ResizeClip', scale=96)]),
    dict(type='Compose', transforms=[dict(type='RandomCrop')]),
])
def test_random_augmentations_are_refused(base, step):
    cfg = copy.deepcopy(base['cfg'].train_dataloader.dataset)
    cfg.pipeline.insert(3, step)
    assert random_steps(cfg.pipeline)
    with pytest.raises(FeatureCacheError, match='random augmentation'):
        RefAVSDataset(**{k: v for k, v in cfg.items() if k != 'type'},
                      feature_cache=base['cache'])
    # nor are they baked into a cache
    with pytest.raises(FeatureCacheError, match='random augmentation'):
        extract_feature_cache(base['model'], dict(train=cfg),
                              str(base['base'] / 'never'), progress=False)
    assert not osp.exists(base['base'] / 'never')


def test_steps_of_unknown_effect_are_refused(base):
    pipeline = copy.deepcopy(base['cfg'].train_dataloader.dataset.pipeline)
    pipeline.insert(3, dict(type='Normalize', mean=[0, 0, 0]))
    with pytest.raises(FeatureCacheError, match='step 3 Normalize is not '
                       'supported'):
        cached_pipeline(pipeline, base['cache'])


def test_mask_scale_and_check_count_do_not_invalidate(base):
    pipeline = copy.deepcopy(base['cfg'].train_dataloader.dataset.pipeline)
    pipeline[3].mask_scale = (64, 64)
    pipeline[0].check_count = False
    pipeline[1] = dict(type='LoadClipAudio')  # the default sample rate
    dataset = train_dataset(base['cfg'], base['cache'], pipeline=pipeline)
    assert dataset[0]['data_samples'].gt_sem_seg.data.shape == (1, 64, 64)


def test_train_and_test_pipelines_shape_the_same_frozen_inputs(base):
    cfg = base['cfg']
    train = frozen_input_steps(cfg.train_dataloader.dataset.pipeline)
    test = frozen_input_steps(cfg.test_dataloader.dataset.pipeline)
    assert train == test == [
        dict(type='LoadClipFrames'),
        dict(type='LoadClipAudio', sample_rate=16000),
        dict(type='ResizeClip', scale=[128, 128])]
