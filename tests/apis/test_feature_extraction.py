"""sam2love.apis.feature_extraction: resuming a killed extraction,
sharding over processes, splits other than the train dataloader's."""
import os
import os.path as osp

import numpy as np
import pytest
from feature_cache_helpers import (
    assert_same_arrays,
    extract,
    tiny_setup,
    train_dataset,
)

from sam2love.apis import extract_feature_cache, split_dataset_cfgs
from sam2love.feature_cache import FeatureCacheError


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    """A tiny tree, its config and model, and an fp32 cache of train."""
    return tiny_setup(tmp_path_factory, 'feature_extraction')


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
    assert_same_arrays(cache, one_shot)
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
    assert_same_arrays(cache, one_process)


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
