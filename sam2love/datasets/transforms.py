"""Clip transforms: load the frames, audio and masks of one expression,
resize them and pack them for the model.

A clip sample flows through a pipeline such as::

    LoadClipFrames -> LoadClipAudio -> LoadClipMasks -> ResizeClip
    -> PackClipInputs

(``LoadClipObjects`` before ``ResizeClip`` adds frame 0's map of every
referred object, for a check that names them.)

and comes out as ``inputs = dict(frames=(T, 3, H, W) uint8,
audio=(L,) float32)`` plus a ``SegDataSample`` whose ``gt_sem_seg`` holds
the (T, H, W) masks and whose metainfo holds the expression (``text``).

For media already in memory (a decoded video, see ``sam2love.apis``),
``LoadClipFramesFromNDArray`` and ``LoadClipAudioFromNDArray`` stand in for
the two loading steps, so that the rest of a config's pipeline is reused
unchanged.
"""
import os.path as osp
from collections.abc import Sequence

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.structures import PixelData
from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample

from .audio import AudioFix, fit_clip_audio, load_clip_audio
from .errors import RefAVSDataError
from .media import (
    check_file_count,
    check_same_size,
    load_eval_mask,
    load_frames,
    load_mask,
)

FRAME_PATTERN = r'\d+\.jpg'
MASK_PATTERN = r'\d+\.png'


def _put_clip_audio(results: dict, audio: np.ndarray, sample_rate: int,
                    fix: AudioFix) -> dict:
    """Store a track fitted to the clip (``LoadClipAudio`` and its
    in-memory twin): ``audio``, ``audio_sample_rate`` and ``audio_fix``
    (the :class:`~sam2love.datasets.audio.AudioFix` as a dict)."""
    results['audio'] = audio
    results['audio_sample_rate'] = sample_rate
    results['audio_fix'] = fix.to_dict()
    return results


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Decode the T frames of a clip.

    Required keys: ``frame_paths`` (and ``frame_dir`` when counting).

    Added keys: ``frames`` (list of T uint8 RGB arrays (H, W, 3)),
    ``img_path`` (frame 0), ``ori_shape``, ``img_shape`` ((H, W)).

    Args:
        check_count (bool): fail when the frames folder holds another
            number of ``<i>.jpg`` files than T. Defaults to True.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self, check_count: bool = True,
                 backend_args: dict | None = None) -> None:
        self.check_count = check_count
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        paths = results['frame_paths']
        if self.check_count and 'frame_dir' in results:
            check_file_count(results['frame_dir'], FRAME_PATTERN, len(paths),
                             'frames', self.backend_args)
        frames = load_frames(paths, self.backend_args)
        results['frames'] = frames
        results['img_path'] = paths[0]
        results['ori_shape'] = results['img_shape'] = frames[0].shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadClipAudio(BaseTransform):
    """Decode the clip's track to mono ``sample_rate`` of the clip's length.

    Required keys: ``audio_path``, ``clip_seconds``.

    Added keys: ``audio`` (float32 (round(clip_seconds * sample_rate),)),
    ``audio_sample_rate``, ``audio_fix`` (dict of
    :class:`~sam2love.datasets.audio.AudioFix`: resampled, downmixed,
    padded / trimmed samples, original rate, channels and duration).
    """

    def __init__(self, sample_rate: int = 16000,
                 backend_args: dict | None = None) -> None:
        self.sample_rate = sample_rate
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        audio, fix = load_clip_audio(results['audio_path'],
                                     results['clip_seconds'],
                                     self.sample_rate, self.backend_args)
        return _put_clip_audio(results, audio, self.sample_rate, fix)


@TRANSFORMS.register_module()
class LoadClipFramesFromNDArray(BaseTransform):
    """Take the T frames of a clip from memory (``LoadClipFrames``'s
    in-memory twin, as mmseg's ``LoadImageFromNDArray``).

    Required keys: ``frames`` (list of T uint8 RGB arrays (H, W, 3) of one
    size, or one (T, H, W, 3) array).

    Modified keys: ``frames`` (a list). Added keys: ``img_path`` (kept if
    given, else None), ``ori_shape``, ``img_shape`` ((H, W)).
    """

    def transform(self, results: dict) -> dict:
        frames = list(results['frames'])
        if not frames:
            raise ValueError('LoadClipFramesFromNDArray: no frames')
        h, w = frames[0].shape[:2]
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or \
                    frame.shape[2] != 3:
                raise ValueError(
                    f'frame {i}: expected uint8 RGB (H, W, 3), got '
                    f'{frame.dtype} {frame.shape}')
            if frame.shape[:2] != (h, w):
                raise ValueError(f'frame {i} is {frame.shape[1]}x'
                                 f'{frame.shape[0]}, frame 0 is {w}x{h}')
        results['frames'] = frames
        results.setdefault('img_path', None)
        results['ori_shape'] = results['img_shape'] = (h, w)
        return results


@TRANSFORMS.register_module()
class LoadClipAudioFromNDArray(BaseTransform):
    """Fit an in-memory track to the clip (``LoadClipAudio``'s in-memory
    twin): the same :func:`~sam2love.datasets.audio.fit_clip_audio`
    downmixes, resamples and pads / trims it.

    Required keys: ``raw_audio`` (float32 (N,) or (N, C)),
    ``raw_audio_sample_rate``, ``clip_seconds``.

    Added keys: ``audio``, ``audio_sample_rate``, ``audio_fix``, as
    ``LoadClipAudio``. ``raw_audio`` is removed.
    """

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate

    def transform(self, results: dict) -> dict:
        audio, fix = fit_clip_audio(results.pop('raw_audio'),
                                    results['raw_audio_sample_rate'],
                                    results['clip_seconds'], self.sample_rate)
        return _put_clip_audio(results, audio, self.sample_rate, fix)


@TRANSFORMS.register_module()
class LoadClipMasks(BaseTransform):
    """Read the T masks of the referred object (foreground = non-zero).

    Null rows refer to nothing: when their mask folder is absent they get
    empty masks of the frame size, as do the null references made at
    training time (``null_negative``, ``RefAVSDataset(null_negatives=)``).

    Required keys: ``mask_paths``, ``mask_dir``, ``is_null``, ``ori_shape``
    (and ``null_negative`` when present).

    Added keys: ``gt_masks`` (uint8 (T, H, W) in {0, 1}, at the masks' own
    size), ``seg_fields``; with ``eval_size``, also ``gt_eval_masks``
    (bool (T, 256, 256)) read by the benchmark's rule
    (:func:`~sam2love.datasets.media.load_eval_mask`), which metrics must
    use to reproduce published numbers.

    Args:
        eval_size (tuple[int, int], optional): (H, W) of the evaluation
            masks; ``None`` skips them. Test pipelines use (256, 256).
        check_count (bool): fail when the folder holds another number of
            ``<i>.png`` files than T. Defaults to True.
        frames (Sequence[int], optional): read only these frames' masks
            (``gt_masks`` is then (len(frames), H, W)); training from a
            feature cache reads frame 0's, ``(0,)``. Defaults to all.
    """

    def __init__(self, eval_size: Sequence[int] | None = None,
                 check_count: bool = True,
                 backend_args: dict | None = None,
                 frames: Sequence[int] | None = None) -> None:
        self.eval_size = tuple(eval_size) if eval_size is not None else None
        self.check_count = check_count
        self.backend_args = backend_args
        self.frames = tuple(frames) if frames is not None else None

    def transform(self, results: dict) -> dict:
        paths = results['mask_paths']
        folder = results['mask_dir']
        read = paths if self.frames is None else [paths[i] for i in self.frames]
        if results.get('null_negative') or results['is_null'] and \
                not fileio.isdir(folder, backend_args=self.backend_args):
            h, w = results['ori_shape']
            results['gt_masks'] = np.zeros((len(read), h, w), np.uint8)
            if self.eval_size is not None:
                results['gt_eval_masks'] = np.zeros(
                    (len(read), *self.eval_size), bool)
        else:
            if self.check_count:
                check_file_count(folder, MASK_PATTERN, len(paths), 'masks',
                                 self.backend_args)
            results['gt_masks'] = self._stack(
                read, [load_mask(p, self.backend_args) for p in read])
            if self.eval_size is not None:
                results['gt_eval_masks'] = np.stack([
                    load_eval_mask(p, self.eval_size, self.backend_args)
                    for p in read])
        results.setdefault('seg_fields', []).append('gt_masks')
        return results

    @staticmethod
    def _stack(paths: list[str], masks: list[np.ndarray]) -> np.ndarray:
        check_same_size(paths, masks, 'mask')
        return np.stack(masks)


@TRANSFORMS.register_module()
class LoadClipObjects(BaseTransform):
    """Read one frame's masks of every object the clip's rows refer to,
    as one label map: what is on screen and where, for a check that
    names it (``SAM2LOVE(name_check=...)``).

    Required keys: ``clip_objects`` ((fid, category) of each object the
    csv's rows of the clip refer to, ``RefAVSDataset``), ``mask_dir``
    (``gt_mask/<clip>/fid_<fid>``: its siblings hold the others'),
    ``ori_shape``.

    Added keys: ``gt_objects`` (uint8 (H, W): 0 where no referred object
    is, k + 1 on object k, a later object over an earlier one; (T', H, W)
    for several frames) and ``object_categories`` (their categories, in
    order; empty for a clip no ordinary row refers to, whose map is all
    0), ``object_frames`` (the frames' indices).

    Args:
        frame (int | Sequence[int]): which frame's masks, or several
            frames' (one map each). Defaults to 0.
    """

    def __init__(self, frame: int | Sequence[int] = 0,
                 backend_args: dict | None = None) -> None:
        self.frame = frame
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        objects = results['clip_objects']
        if len(objects) > 254:
            raise ValueError(f'LoadClipObjects: {results["mask_dir"]}: '
                             f'{len(objects)} objects, at most 254')
        folder = osp.dirname(osp.normpath(results['mask_dir']))
        steps = [self.frame] if isinstance(self.frame, int) else self.frame
        labels = np.zeros((len(steps), *results['ori_shape']), np.uint8)
        for t, step in enumerate(steps):
            for k, (fid, _) in enumerate(objects):
                path = osp.join(folder, f'fid_{fid}', f'{step:05d}.png')
                mask = load_mask(path, self.backend_args)
                if mask.shape != labels.shape[1:]:
                    raise RefAVSDataError(
                        path, f'mask of size {mask.shape} for frames of '
                        f'size {labels.shape[1:]}')
                labels[t][mask > 0] = k + 1
        results['gt_objects'] = labels[0] if isinstance(self.frame, int) \
            else labels
        results['object_categories'] = [c for _, c in objects]
        results['object_frames'] = list(steps)
        return results


@TRANSFORMS.register_module()
class ResizeClip(BaseTransform):
    """Resize every frame (bilinear) and mask (nearest) of a clip.

    Required keys: ``frames`` (or, from a feature cache, which holds no
    frames, ``ori_shape``: then only the masks are resized); optional
    ``gt_masks``.

    Modified keys: ``frames``, ``gt_masks``, ``gt_objects``,
    ``img_shape``; added ``scale_factor`` ((w_scale, h_scale) of the
    frames).

    Args:
        scale (int | tuple[int, int]): frame size (W, H), mmcv's order; an
            int means square. The aspect ratio is not kept (the Ref-AVS
            baseline resizes to 384x384; SAM2 takes square inputs).
        mask_scale (int | tuple[int, int], optional): mask size (W, H);
            defaults to ``scale``.
    """

    def __init__(self, scale: int | Sequence[int],
                 mask_scale: int | Sequence[int] | None = None) -> None:
        self.scale = self._wh(scale)
        self.mask_scale = self._wh(mask_scale) if mask_scale else self.scale

    @staticmethod
    def _wh(scale: int | Sequence[int]) -> tuple[int, int]:
        return (scale, scale) if isinstance(scale, int) else tuple(scale)

    def transform(self, results: dict) -> dict:
        if 'frames' in results:
            h, w = results['frames'][0].shape[:2]
            results['frames'] = [
                mmcv.imresize(f, self.scale, interpolation='bilinear')
                for f in results['frames']]
        else:
            h, w = results['ori_shape']
        results['img_shape'] = (self.scale[1], self.scale[0])
        results['scale_factor'] = (self.scale[0] / w, self.scale[1] / h)
        if 'gt_masks' in results:
            results['gt_masks'] = np.stack([
                mmcv.imresize(m, self.mask_scale, interpolation='nearest')
                for m in results['gt_masks']])
        if 'gt_objects' in results:  # (H, W) or (T', H, W)
            objects = results['gt_objects']
            resized = [mmcv.imresize(m, self.mask_scale,
                                     interpolation='nearest')
                       for m in objects.reshape(-1, *objects.shape[-2:])]
            results['gt_objects'] = resized[0] if objects.ndim == 2 \
                else np.stack(resized)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'mask_scale={self.mask_scale})')


@TRANSFORMS.register_module()
class PackClipInputs(BaseTransform):
    """Pack a clip sample for the model.

    Returns ``dict(inputs=dict(frames=uint8 (T, 3, H, W), audio=float32
    (L,)), data_samples=SegDataSample)``. The data sample carries
    ``gt_sem_seg`` (T, H, W) when masks were loaded, ``gt_eval_masks``
    (T, 256, 256) when the evaluation masks were, and ``meta_keys`` as
    metainfo (among them ``text``, the expression).

    A sample from a feature cache (``LoadCachedFeatures``) has no frames
    or audio: its ``cached_inputs`` (the frozen parts' outputs) become the
    inputs, and ``feature_cache`` (the cache folder, which the model checks
    its frozen parts against) is always added to the metainfo. A sample
    that ``silent_audio`` marks (a null reference made at training time)
    carries it in its inputs too, a bool tensor: the backbone swaps in
    silence for its audio.
    """

    DEFAULT_META_KEYS = (
        'uid', 'vid', 'clip_name', 'split', 'fid', 'text', 'is_null',
        'null_negative', 'text_row', 'audio_clip', 'silent_audio',
        'metadata_line', 'num_frames', 'clip_seconds', 'sample_idx',
        'frame_paths', 'audio_path', 'mask_paths', 'img_path', 'ori_shape',
        'img_shape', 'scale_factor', 'audio_sample_rate', 'audio_fix',
        'reduce_zero_label', 'object_categories', 'object_frames')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        if 'frames' in results:
            frames = np.stack(results['frames'])  # (T, H, W, 3)
            inputs['frames'] = torch.from_numpy(frames).permute(
                0, 3, 1, 2).contiguous()
        if 'audio' in results:
            inputs['audio'] = torch.from_numpy(results['audio'])
        inputs.update(results.get('cached_inputs', {}))
        if 'silent_audio' in results:
            inputs['silent_audio'] = torch.tensor(bool(results['silent_audio']))
        sample = SegDataSample()
        if 'gt_masks' in results:
            sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(results['gt_masks']))
        if 'gt_eval_masks' in results:
            sample.gt_eval_masks = PixelData(
                data=torch.from_numpy(results['gt_eval_masks']))
        if 'gt_objects' in results:
            objects = torch.from_numpy(results['gt_objects'])
            sample.gt_objects = PixelData(  # (T', H, W)
                data=objects[None] if objects.dim() == 2 else objects)
        meta = {k: results[k] for k in self.meta_keys if k in results}
        if 'feature_cache' in results:
            meta['feature_cache'] = results['feature_cache']
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'


__all__ = ['LoadClipFrames', 'LoadClipAudio', 'LoadClipMasks',
           'LoadClipObjects', 'ResizeClip',
           'PackClipInputs', 'LoadClipFramesFromNDArray',
           'LoadClipAudioFromNDArray']
