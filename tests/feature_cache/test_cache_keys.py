"""sam2love.feature_cache.keys: the arrays' names, defined once for the
store, the pipeline and the model."""
import pytest
import torch

from sam2love.feature_cache import keys
from sam2love.models.backbones.tri_modal import CACHE_KEYS as BACKBONE_KEYS


def test_keys_and_their_dimensions():
    assert list(keys.CACHE_KEYS.items()) == [
        ('audio_feats', 3), ('text_feats', 3), ('text_mask', 2),
        ('patch_feats', 4), ('cls_feats', 3)]
    assert BACKBONE_KEYS is keys.CACHE_KEYS
    assert keys.CLIP_KEYS == ('audio_feats', 'patch_feats', 'cls_feats')
    assert keys.ROW_KEYS == ('text_feats', 'text_mask')
    assert [k for k in keys.CACHE_KEYS if keys.is_mask_key(k)] == \
        ['text_mask']
    assert keys.SAM2_LEVEL_KEY.format(2) == 'sam2_fpn_2'
    assert [keys.sam2_level(k) for k in (
        'sam2_fpn_0', 'sam2_fpn_12', 'sam2_fpn_', 'sam2_fpn_1x',
        'audio_feats')] == [0, 12, None, None, None]
    assert keys.is_clip_key('sam2_fpn_3') and keys.is_clip_key('cls_feats')
    assert not keys.is_clip_key('text_feats')
    assert not keys.is_clip_key('frames')


def test_cached_sam2_levels_in_level_order():
    levels = [torch.zeros(1, 4, 8 >> i, 8 >> i) for i in range(3)]
    inputs = dict(audio_feats=torch.zeros(1, 2, 3),
                  **{keys.SAM2_LEVEL_KEY.format(i): levels[i]
                     for i in (2, 0, 1)})
    found = keys.cached_sam2_levels(inputs)
    assert len(found) == 3 and all(a is b for a, b in zip(found, levels))
    assert keys.cached_sam2_levels(dict(frames=torch.zeros(1))) is None
    with pytest.raises(KeyError, match=r'cached SAM2 levels \[0, 2\] are '
                       'not 0..L-1'):
        keys.cached_sam2_levels(dict(sam2_fpn_0=levels[0],
                                     sam2_fpn_2=levels[2]))
