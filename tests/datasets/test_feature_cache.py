"""The feature cache's store and pipeline: layout, stale data refused,
random augmentation refused, resuming, sharding over processes."""
import copy
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from feature_cache_helpers import build_model, extract, tiny_cfg, train_dataset
from inference_helpers import make_tiny_tree

from sam2love.apis import extract_feature_cache, split_dataset_cfgs
from sam2love.datasets import RefAVSDataset
from sam2love.datasets.feature_cache import (
    FeatureCacheWriter,
    SplitPlan,
    cached_pipeline,
    frozen_input_steps,
    random_steps,
)
from sam2love.utils.fingerprint import FeatureCacheError


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    """A tiny tree, its config and model, and an fp32 cache of train."""
    base = tmp_path_factory.mktemp('feature_cache')
    root = make_tiny_tree(str(base / 'tree'))
    cfg = tiny_cfg(root)
    model = build_model(cfg)
    cache = str(base / 'cache')
    manifest = extract(model, cfg, cache)
    return dict(base=base, root=root, cfg=cfg, model=model, cache=cache,
                manifest=manifest)


def arrays(cache: str, split: str = 'train') -> dict:
    """Every stored array of a split, by shard and name."""
    out = {}
    folder = osp.join(cache, split)
    for shard in sorted(os.listdir(folder)):
        if shard.startswith('shard-'):
            for name in sorted(os.listdir(osp.join(folder, shard))):
                if name.endswith('.npy'):
                    out[shard, name] = np.load(osp.join(folder, shard, name))
    return out


# ------------------------------------------------------------ layout
def test_clip_features_are_stored_once_per_clip(base):
    entry = base['manifest']['splits']['train']
    dataset = train_dataset(base['cfg'])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert entry['complete'] and entry['num_rows'] == len(infos)
    assert entry['num_clips'] == len({i['clip_name'] for i in infos}) < \
        len(infos)
    shapes = {k: v['shape'] for k, v in entry['shapes'].items()}
    model = base['model']
    assert shapes['patch_feats'][0] == shapes['cls_feats'][0] == 4  # T
    assert shapes['text_feats'] == [25, model.backbone.out_dims['text_dim']]
    assert shapes['text_mask'] == [25]
    assert [shapes[f'sam2_fpn_{i}'][1:] for i in range(3)] == \
        [[32, 32], [16, 16], [8, 8]]  # S/4, S/8, S/16 of 128 px
    index = json.load(open(osp.join(base['cache'], 'train', 'index.json')))
    assert len(index['clips']) == entry['num_clips']
    assert len(index['rows']) == entry['num_rows']
    stored = arrays(base['cache'])
    assert sum(a.shape[0] for (_, n), a in stored.items()
               if n == 'audio_feats.npy') == entry['num_clips']
    assert sum(a.shape[0] for (_, n), a in stored.items()
               if n == 'text_feats.npy') == entry['num_rows']
    manifest = base['manifest']
    assert manifest['dtype'] == 'float32'
    assert set(manifest['frozen']['weights_sha256']) == {
        'audio_encoder', 'vision_encoder', 'text_encoder', 'text_tokenizer',
        'sam2_image_encoder'}
    sam2 = manifest['frozen']['configs']['sam2']
    assert sam2['config'] == 'sam2.1_hiera_t' and sam2['image_size'] == 128


def test_cached_samples_hold_features_and_frame0_mask_only(base):
    raw = train_dataset(base['cfg'])
    cached = train_dataset(base['cfg'], base['cache'])
    names = [type(t).__name__ for t in cached.pipeline.transforms]
    assert names == ['LoadCachedFeatures', 'LoadClipMasks', 'ResizeClip',
                     'PackClipInputs']
    a, b = raw[3], cached[3]
    assert set(b['inputs']) == {'audio_feats', 'patch_feats', 'cls_feats',
                                'text_feats', 'text_mask', 'sam2_fpn_0',
                                'sam2_fpn_1', 'sam2_fpn_2'}
    assert b['data_samples'].feature_cache == osp.abspath(base['cache'])
    assert b['data_samples'].ori_shape == a['data_samples'].ori_shape
    assert (b['data_samples'].gt_sem_seg.data[0] ==
            a['data_samples'].gt_sem_seg.data[0]).all()
    assert b['data_samples'].text == a['data_samples'].text


# ------------------------------------------------------------ refusals
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


def test_changed_metadata_is_refused(base, tmp_path):
    root = str(tmp_path / 'tree')
    shutil.copytree(base['root'], root)
    path = osp.join(root, 'metadata.csv')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text.replace('The ', 'That ', 1))
    cfg = tiny_cfg(root)
    with pytest.raises(FeatureCacheError) as error:
        train_dataset(cfg, base['cache'])
    message = str(error.value)
    assert message.startswith(osp.join(base['cache'], 'manifest.json'))
    assert '1 entry differs' in message
    assert 'splits.train.data.metadata_sha256: expected ' in message
    assert '(the data set), found ' in message


def test_changed_frame_scale_is_refused(base):
    pipeline = copy.deepcopy(base['cfg'].train_dataloader.dataset.pipeline)
    pipeline[3].scale = (96, 96)
    with pytest.raises(FeatureCacheError,
                       match=r'splits\.train\.data\.pipeline\.2\.scale: '
                       r'expected \[96, 96\] \(the data set\), found '
                       r'\[128, 128\] \(the cache\)'):
        train_dataset(base['cfg'], base['cache'], pipeline=pipeline)


def test_changed_split_or_missing_split_is_refused(base):
    with pytest.raises(FeatureCacheError, match="(?s)no split 'val'.*--splits "
                       'val'):
        train_dataset(base['cfg'], base['cache'], split='val')


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


def test_a_cache_of_another_model_is_not_resumed_into(base):
    other = build_model(base['cfg'], seed=1)
    with pytest.raises(FeatureCacheError,
                       match='(?s)frozen.weights_sha256.audio_encoder.*another '
                       'configuration'):
        extract(other, base['cfg'], base['cache'])
    with pytest.raises(FeatureCacheError, match='dtype: expected float16'):
        extract(base['model'], base['cfg'], base['cache'], dtype='fp16')


def test_fp16_overflow_is_an_error(tmp_path):
    writer = FeatureCacheWriter(str(tmp_path), 'fp16', {})
    plan = SplitPlan([dict(clip_name='c', metadata_line=2, uid='u',
                           text='t')], 1)
    with pytest.raises(FeatureCacheError, match='beyond the fp16 range'):
        writer.write_shard('train', 0, plan,
                           dict(audio_feats=np.full((1, 2), 1e6)),
                           dict(text_mask=np.ones((1, 3), bool)), [(4, 4)])


# ------------------------------------------------------------ resuming
def test_resume_after_a_killed_extraction(base, tmp_path):
    cache = str(tmp_path / 'cache')
    assert extract(base['model'], base['cfg'], cache, shard_size=2,
                   stop_after=2) is None
    with pytest.raises(FeatureCacheError, match='(?s)did not finish.*resume'):
        train_dataset(base['cfg'], cache)
    done = {k: os.stat(osp.join(cache, 'train', f'shard-0000{k}',
                                'audio_feats.npy')).st_mtime_ns
            for k in (0, 1)}
    # killed while writing shard 2: some arrays, no done.json
    partial = osp.join(cache, 'train', 'shard-00002')
    os.makedirs(partial)
    np.save(osp.join(partial, 'audio_feats.npy'), np.zeros(3))
    # resumes with the shard size it was started with
    manifest = extract(base['model'], base['cfg'], cache, shard_size=None)
    assert manifest['splits']['train']['complete']
    assert manifest['splits']['train']['shard_size'] == 2  # kept
    for k, mtime in done.items():  # finished shards were not redone
        assert os.stat(osp.join(cache, 'train', f'shard-0000{k}',
                                'audio_feats.npy')).st_mtime_ns == mtime
    one_shot = str(tmp_path / 'one_shot')
    extract(base['model'], base['cfg'], one_shot, shard_size=2)
    a, b = arrays(cache), arrays(one_shot)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    train_dataset(base['cfg'], cache)  # usable


def test_ranks_share_the_shards(base, tmp_path):
    """Two processes' shares, run one after the other (as
    dist_extract_features.sh does at once): rank 0 opens the manifest, rank
    1 writes the odd shards, rank 0 the even ones and the index."""
    cache = str(tmp_path / 'cache')
    model, cfg = base['model'], base['cfg']
    kwargs = dict(shard_size=1, world_size=2)
    assert extract(model, cfg, cache, rank=0, stop_after=0, **kwargs) is None
    assert extract(model, cfg, cache, rank=1, **kwargs) is None
    shards = sorted(os.listdir(osp.join(cache, 'train')))
    assert shards and all(int(s[-5:]) % 2 == 1 for s in shards)
    manifest = extract(model, cfg, cache, rank=0, **kwargs)
    entry = manifest['splits']['train']
    assert entry['complete'] and entry['num_clips'] == len(
        [s for s in os.listdir(osp.join(cache, 'train'))
         if s.startswith('shard-')])
    one_process = str(tmp_path / 'one_process')
    extract(model, cfg, one_process, shard_size=1)
    a, b = arrays(cache), arrays(one_process)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_other_splits_use_the_test_dataset(base, tmp_path):
    cfgs = split_dataset_cfgs(base['cfg'], ['train', 'val'])
    assert cfgs['val'].split == 'val' and cfgs['val'].test_mode
    assert 'feature_cache' not in cfgs['train']
    cache = str(tmp_path / 'cache')
    manifest = extract_feature_cache(base['model'], cfgs, cache,
                                     progress=False)
    assert set(manifest['splits']) == {'train', 'val'}
    dataset = train_dataset(base['cfg'], cache, split=['train', 'val'])
    assert {dataset[i]['data_samples'].split
            for i in range(len(dataset))} == {'train', 'val'}
