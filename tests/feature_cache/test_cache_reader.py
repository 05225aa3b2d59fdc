"""sam2love.feature_cache.reader: a cached sample holds the frozen
features and frame 0's mask, as the frames would have given them."""
import os.path as osp

import torch
from feature_cache_helpers import train_dataset


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


def made_null(base, kind: str) -> tuple:
    """The cached train set, the features of its first row that ``kind``
    can make null, and of that row made null (``prob=1``)."""
    cached = train_dataset(base['cfg'], base['cache'])
    negatives = train_dataset(base['cfg'], base['cache'],
                              null_negatives=dict(prob=1.0, kinds=(kind, )))
    infos = [cached.get_data_info(i) for i in range(len(cached))]
    i = next(i for i, info in enumerate(infos) if not info['is_null'] and
             negatives.negative_sampler.lendable(info['clip_name'],
                                                 info['text'], (kind, )))
    lent = negatives[i]
    assert lent['data_samples'].gt_sem_seg.data.sum() == 0
    return cached, infos, cached[i], lent


def test_a_null_reference_reads_the_lent_rows_text_features(base):
    cached, infos, own, lent = made_null(base, 'expression')
    meta = lent['data_samples'].metainfo
    donor = cached[next(j for j, info in enumerate(infos)
                        if info['metadata_line'] == meta['text_row']['line'])]
    assert meta['text'] == donor['data_samples'].text
    for key in ('text_feats', 'text_mask'):
        assert (lent['inputs'][key] == donor['inputs'][key]).all()
    for key in ('audio_feats', 'patch_feats', 'cls_feats', 'sam2_fpn_0'):
        assert (lent['inputs'][key] == own['inputs'][key]).all()


def test_a_null_reference_reads_the_lent_clips_audio_features(base):
    cached, infos, own, lent = made_null(base, 'audio')
    meta = lent['data_samples'].metainfo
    other = cached[next(j for j, info in enumerate(infos)
                        if info['clip_name'] == meta['audio_clip'])]
    assert meta['text'] == own['data_samples'].text
    assert (lent['inputs']['audio_feats'] == other['inputs']['audio_feats']).all()
    for key in ('text_feats', 'patch_feats', 'cls_feats', 'sam2_fpn_0'):
        assert (lent['inputs'][key] == own['inputs'][key]).all()


def test_a_silenced_cached_row_asks_the_backbone_for_silence(base):
    cached = train_dataset(base['cfg'], base['cache'])
    silenced = train_dataset(base['cfg'], base['cache'],
                             null_negatives=dict(prob=1.0,
                                                 kinds=('silence', )))
    flags = []
    for i in range(len(cached)):
        own, lent = cached[i], silenced[i]
        flag = lent['inputs']['silent_audio']
        assert flag.dtype == torch.bool and flag.dim() == 0
        assert lent['data_samples'].silent_audio == bool(flag)
        assert torch.equal(lent['inputs']['audio_feats'],
                           own['inputs']['audio_feats'])
        flags.append(bool(flag))
    assert any(flags) and not all(flags)
