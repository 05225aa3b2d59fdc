"""Runtime set-up shared by ``tools/train.py`` and ``tools/test.py``.

Two gaps of mmengine 0.10.7 met on current stacks:

- With torch >= 2.6, ``torch.load`` defaults to ``weights_only=True`` and
  refuses mmengine's own checkpoints (they pickle the message hub's
  ``HistoryBuffer`` and numpy values), so ``--resume`` fails.
  :func:`allow_mmengine_checkpoints` allows exactly those types, which
  keeps ``weights_only`` protection for every load; third-party weights
  (SAM2, VGGish) are loaded with ``weights_only=True`` explicitly.
- Distributed runs on CPU (gloo): mmengine calls ``torch.cuda.set_device``
  unconditionally and gives DDP ``device_ids=[rank]``; both fail without a
  GPU. :func:`adapt_distributed_to_cpu` fixes the config and the call.
"""
import numpy as np
import torch
from mmengine.config import Config


def _numpy_pickle_globals() -> list:
    """The numpy objects a pickled array or scalar refers to."""
    from numpy.core import multiarray  # numpy 2 keeps this alias
    dtypes = {type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
        np.uint16, np.uint32, np.uint64, np.float16, np.float32,
        np.float64)}
    return [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
            *sorted(dtypes, key=str)]


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

    Besides ``HistoryBuffer`` and numpy arrays / scalars, the message hub
    pickles ``HistoryBuffer``'s statistic methods as ``getattr(HistoryBuffer,
    'min')``, so ``getattr`` is allowed too; the weights-only unpickler still
    refuses to call anything that is not itself an allowed global.
    """
    from mmengine.logging import HistoryBuffer
    torch.serialization.add_safe_globals(
        [HistoryBuffer, getattr, *_numpy_pickle_globals()])


def _cpu_set_device(device) -> None:  # noqa: ARG001
    """Stands in for ``torch.cuda.set_device`` on machines without CUDA."""


def adapt_distributed_to_cpu(cfg: Config) -> Config:
    """Make a distributed config runnable on CPU processes (gloo).

    No-op when CUDA is available. Otherwise the backend becomes ``gloo``,
    DDP gets ``device_ids=None``, and ``torch.cuda.set_device`` (called by
    mmengine's launcher set-up) does nothing.
    """
    if torch.cuda.is_available():
        return cfg
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    if wrapper.get('type', 'MMDistributedDataParallel') == \
            'MMDistributedDataParallel':
        wrapper.update(device_ids=None, broadcast_buffers=False)
        wrapper.setdefault('find_unused_parameters',
                           cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    torch.cuda.set_device = _cpu_set_device
    return cfg
