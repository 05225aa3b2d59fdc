"""``ClipDataPreprocessor``: batches clips of frames plus their audio.

mmseg's ``SegDataPreProcessor`` takes (3, H, W) images and swaps channels
whenever ``inputs[0].size(0) == 3``, so a (T, 3, H, W) clip with T = 3
would have its frames reordered. This preprocessor stacks clips instead,
following mmdet's ``TrackDataPreprocessor``.
"""
from collections.abc import Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS


@MODELS.register_module()
class ClipDataPreprocessor(BaseDataPreprocessor):
    """Stack and normalise clips; stack audio.

    Input (from ``PackClipInputs`` via ``pseudo_collate``)::

        inputs = dict(frames=[uint8 (T, 3, H, W)] * B, audio=[(L,)] * B)

    Output::

        inputs = dict(frames=float (B, T, 3, H, W) normalised,
                      audio=float (B, L))

    Frames must already share one size (``ResizeClip`` in the pipeline).
    Other entries of ``inputs`` (e.g. precomputed features) are stacked
    when they are tensors of one shape and passed through otherwise.
    Samples from a feature cache (``RefAVSDataset(feature_cache=...)``)
    have no frames: their cached features are stacked and nothing is
    normalised.

    Args:
        mean (Sequence[float]): per-channel RGB mean, 0-255 scale.
            Defaults to ImageNet's, as SAM2 and the Ref-AVS baseline use.
        std (Sequence[float]): per-channel RGB std, 0-255 scale.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('mean and std need 3 values (RGB)')
        self.register_buffer('mean', torch.tensor(mean).view(1, 1, 3, 1, 1),
                             False)
        self.register_buffer('std', torch.tensor(std).view(1, 1, 3, 1, 1),
                             False)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = dict(data['inputs'])
        batched = {}
        if 'frames' in inputs:
            frames = self._stack('frames', inputs.pop('frames'))
            if frames.dim() != 5 or frames.size(2) != 3:
                raise ValueError('ClipDataPreprocessor: frames must be '
                                 f'(B, T, 3, H, W), got {tuple(frames.shape)}')
            batched['frames'] = (frames.float() - self.mean) / self.std
        for key, value in inputs.items():
            batched[key] = self._stack(key, value, strict=False)
        return dict(inputs=batched,
                    data_samples=data.get('data_samples', None))

    @staticmethod
    def _stack(key: str, value, strict: bool = True):
        if isinstance(value, torch.Tensor):
            return value
        is_tensors = all(isinstance(v, torch.Tensor) for v in value)
        if not is_tensors or len({tuple(v.shape) for v in value}) != 1:
            if not strict:
                return value
            shapes = sorted({tuple(getattr(v, 'shape', ())) for v in value})
            raise ValueError(
                f'ClipDataPreprocessor: cannot stack inputs[{key!r}] of '
                f'shapes {shapes}; add ResizeClip to the pipeline so that '
                'every clip has the same size')
        return torch.stack(list(value))
