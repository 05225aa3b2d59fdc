"""The names of a feature cache's arrays: one definition for the store,
the data pipeline and the model.

Each name is an ``inputs`` key of the model (what
:class:`~sam2love.models.TriModalBackbone` and
:class:`~sam2love.models.SAM2LOVE` read in place of running their frozen
parts) and the file name of its array in a shard (``<key>.npy``).
"""
import re
from typing import NamedTuple


class CachedFeature(NamedTuple):
    """How one encoder output is cached.

    Attributes:
        per (str): ``'clip'`` (stored once per clip) or ``'row'`` (once
            per expression row).
        ndim (int): its number of dimensions in a batch of ``inputs``,
            the batch axis included.
        is_mask (bool): stored and loaded as bool (else as float).
    """

    per: str
    ndim: int
    is_mask: bool = False


#: The encoders' cached outputs, in the order the backbone checks them:
#: ``audio_feats`` (B, N, Da), ``text_feats`` (B, P, Dt), ``text_mask``
#: (B, P), ``patch_feats`` (B, T, HW, Dv), ``cls_feats`` (B, T, Dv).
ENCODER_FEATURES = dict(
    audio_feats=CachedFeature('clip', 3),
    text_feats=CachedFeature('row', 3),
    text_mask=CachedFeature('row', 2, is_mask=True),
    patch_feats=CachedFeature('clip', 4),
    cls_feats=CachedFeature('clip', 3))
#: inputs key of each cached encoder feature -> its number of dimensions
CACHE_KEYS = {key: f.ndim for key, f in ENCODER_FEATURES.items()}
#: arrays stored once per clip (and the SAM2 levels), and once per row
CLIP_KEYS = tuple(k for k, f in ENCODER_FEATURES.items() if f.per == 'clip')
ROW_KEYS = tuple(k for k, f in ENCODER_FEATURES.items() if f.per == 'row')

#: ``inputs`` key of cached level ``i`` of SAM2's image encoder (frame 0),
#: (B, C_i, h_i, w_i), stored once per clip.
SAM2_LEVEL_KEY = 'sam2_fpn_{}'
SAM2_LEVEL_RE = re.compile('^' + SAM2_LEVEL_KEY.format(r'(\d+)') + '$')


def sam2_level(key: str) -> int | None:
    """The level ``i`` of a ``sam2_fpn_<i>`` key, None for other keys."""
    match = SAM2_LEVEL_RE.match(key)
    return int(match.group(1)) if match else None


def is_clip_key(key: str) -> bool:
    """Whether the array ``key`` is stored once per clip."""
    return key in CLIP_KEYS or sam2_level(key) is not None


def is_mask_key(key: str) -> bool:
    """Whether the array ``key`` is a bool mask."""
    feature = ENCODER_FEATURES.get(key)
    return feature is not None and feature.is_mask


def cached_sam2_levels(inputs: dict) -> list | None:
    """The cached FPN levels ``inputs['sam2_fpn_<i>']`` in level order
    (each (B, C_i, h_i, w_i)), or None when there are none."""
    found = {level: v for k, v in inputs.items()
             if (level := sam2_level(k)) is not None}
    if not found:
        return None
    if sorted(found) != list(range(len(found))):
        raise KeyError(f'SAM2LOVE: cached SAM2 levels {sorted(found)} are '
                       'not 0..L-1')
    return [found[i] for i in range(len(found))]
