"""Reading a feature cache: memory-mapped samples, and the pipeline step
that loads them in place of frames and audio."""
import json
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from .keys import is_clip_key, is_mask_key
from .manifest import FeatureCacheError, read_json, read_manifest, split_entry


class FeatureCacheReader:
    """Memory-mapped access to a cache's samples.

    Args:
        cache_dir (str): the cache folder.
        splits (Sequence[str]): the splits to read; each must be complete.
    """

    def __init__(self, cache_dir: str, splits: Sequence[str]) -> None:
        self.cache_dir = cache_dir
        self.manifest = read_manifest(cache_dir)
        self.index = {}
        for split in splits:
            split_entry(self.manifest, split, cache_dir)
            path = osp.join(cache_dir, split, 'index.json')
            try:
                self.index[split] = read_json(path)
            except (OSError, json.JSONDecodeError) as e:
                raise FeatureCacheError(f'{path}: unreadable ({e})') from e
        self._arrays: dict = {}

    def __getstate__(self) -> dict:  # no memory maps through pickling
        state = dict(self.__dict__)
        state['_arrays'] = {}
        return state

    def _array(self, split: str, shard: int, key: str) -> np.ndarray:
        handle = (split, shard, key)
        if handle not in self._arrays:
            name = self.index[split]['shards'][shard]
            path = osp.join(self.cache_dir, split, name, f'{key}.npy')
            try:
                self._arrays[handle] = np.load(path, mmap_mode='r')
            except (OSError, ValueError) as e:
                raise FeatureCacheError(f'{path}: unreadable ({e})') from e
        return self._arrays[handle]

    def keys(self, split: str) -> list[str]:
        return list(self.manifest['splits'][split]['shapes'])

    def has_row(self, split: str, line: int) -> bool:
        return str(line) in self.index[split]['rows']

    def _row(self, split: str, line: int, clip_name: str,
             text: str | None) -> list:
        """A row's index entry ``[shard, offset, clip, _, text]``, checked
        against the data set's clip and text."""
        row = self.index[split]['rows'].get(str(line))
        where = f'{self.cache_dir} ({split})'
        if row is None:
            raise FeatureCacheError(
                f'{where}: no cached row for metadata line {line}')
        if row[2] != clip_name or (text is not None and row[4] != text):
            raise FeatureCacheError(
                f'{where}: metadata line {line} was cached as clip '
                f'{row[2]!r} / {row[4]!r}, the data set has '
                f'{clip_name!r} / {text!r}')
        return row

    def sample(self, split: str, line: int, clip_name: str,
               text: str | None = None,
               text_row: dict | None = None,
               audio_clip: str | None = None) -> tuple[dict, tuple]:
        """The cached features of one expression row.

        Args:
            text_row (dict, optional): ``dict(line, clip_name, text)`` of
                another row of ``split`` whose per-row features (the
                expression's) replace this row's: a null reference made at
                training time. ``text`` is then that row's text.
            audio_clip (str, optional): another clip of ``split`` whose
                audio features replace this clip's (a null reference made
                at training time).

        Returns:
            tuple: ``(features, ori_shape)``: key -> float32 array (bool
            for ``text_mask``) without the leading count axis, and the
            clip's original frame size (H, W).
        """
        if text_row is None:
            shard, offset = self._row(split, line, clip_name, text)[:2]
        else:
            self._row(split, line, clip_name, None)
            shard, offset = self._row(split, text_row['line'],
                                      text_row['clip_name'],
                                      text_row['text'])[:2]
        clips = self.index[split]['clips']
        clip_shard, clip_offset, ori_shape = clips[clip_name]
        if audio_clip is not None and audio_clip not in clips:
            raise FeatureCacheError(f'{self.cache_dir} ({split}): no cached '
                                    f'clip {audio_clip!r} to lend its audio')
        out = {}
        for key in self.keys(split):
            if key == 'audio_feats' and audio_clip is not None:
                audio_shard, audio_offset = clips[audio_clip][:2]
                value = self._array(split, audio_shard, key)[audio_offset]
            elif is_clip_key(key):
                value = self._array(split, clip_shard, key)[clip_offset]
            else:
                value = self._array(split, shard, key)[offset]
            out[key] = np.array(value, dtype=bool if is_mask_key(key)
                                else np.float32)
        return out, tuple(ori_shape)


@TRANSFORMS.register_module()
class LoadCachedFeatures(BaseTransform):
    """Read an expression's frozen features from a feature cache, in place
    of loading its frames and audio (``LoadClipFrames``,
    ``LoadClipAudio``). ``RefAVSDataset(feature_cache=DIR)`` puts it in
    the pipeline.

    Required keys: ``split``, ``metadata_line``, ``clip_name``, ``text``
    (and ``text_row`` / ``audio_clip``, the lent expression / audio of a
    null reference made at training time, when present).

    Added keys: ``cached_inputs`` (dict of float32 tensors:
    ``audio_feats`` (N, Da), ``patch_feats`` (T, HW, Dv), ``cls_feats``
    (T, Dv), ``text_feats`` (P, Dt), ``text_mask`` (P,) bool,
    ``sam2_fpn_<i>`` (C_i, h_i, w_i)), ``ori_shape`` and ``img_shape``
    (the clip's frame size, as ``LoadClipFrames`` sets them), and
    ``feature_cache`` (the folder, for the model's manifest check).

    Args:
        cache_dir (str): the cache folder.
    """

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = osp.abspath(cache_dir)
        self._reader: FeatureCacheReader | None = None
        self._splits: set = set()

    def reader(self, split: str) -> FeatureCacheReader:
        if self._reader is None or split not in self._splits:
            self._splits.add(split)
            self._reader = FeatureCacheReader(self.cache_dir,
                                              sorted(self._splits))
        return self._reader

    def transform(self, results: dict) -> dict:
        feats, ori_shape = self.reader(results['split']).sample(
            results['split'], results['metadata_line'],
            results['clip_name'], results.get('text'),
            results.get('text_row'), results.get('audio_clip'))
        results['cached_inputs'] = {k: torch.from_numpy(v)
                                    for k, v in feats.items()}
        results['ori_shape'] = results['img_shape'] = ori_shape
        results['feature_cache'] = self.cache_dir
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(cache_dir={self.cache_dir!r})'
