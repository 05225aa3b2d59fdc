"""sam2love.feature_cache.writer: the layout of a cache, and what the
writer refuses (another model's cache, fp16 overflow)."""
import json
import os.path as osp

import numpy as np
import pytest
from feature_cache_helpers import build_model, extract, stored_arrays, train_dataset

from sam2love.feature_cache import (
    FeatureCacheError,
    FeatureCacheWriter,
    SplitPlan,
)


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
    stored = stored_arrays(base['cache'])
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
