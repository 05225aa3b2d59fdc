"""sam2love.feature_cache.manifest: a cache of other data (metadata,
frame scale) or without the split is refused, naming the entry."""
import copy
import json
import os.path as osp
import shutil

import pytest
from feature_cache_helpers import tiny_cfg, train_dataset

from sam2love.feature_cache import FeatureCacheError, read_manifest
from sam2love.feature_cache.manifest import CACHE_VERSION, write_json


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


def test_a_folder_that_is_no_cache_of_this_version_is_refused(base,
                                                               tmp_path):
    with pytest.raises(FeatureCacheError, match='(?s)manifest.json: not '
                       'found.*tools/extract_features.py'):
        read_manifest(str(tmp_path))
    manifest = json.load(open(osp.join(base['cache'], 'manifest.json')))
    assert read_manifest(base['cache']) == manifest
    write_json(osp.join(tmp_path, 'manifest.json'),
               dict(manifest, version=CACHE_VERSION + 1))
    with pytest.raises(FeatureCacheError, match='cache format version 2, '
                       'this code reads version 1; extract it again'):
        read_manifest(str(tmp_path))
    write_json(osp.join(tmp_path, 'manifest.json'), dict(format='other'))
    with pytest.raises(FeatureCacheError,
                       match='not a sam2love-feature-cache manifest'):
        read_manifest(str(tmp_path))
