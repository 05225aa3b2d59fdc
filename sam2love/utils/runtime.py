"""Runtime set-up shared by ``tools/train.py`` and ``tools/test.py``.

Two gaps of mmengine 0.10.7 met on current stacks:

- With torch >= 2.6, ``torch.load`` defaults to ``weights_only=True`` and
  refuses mmengine's own checkpoints (they pickle the message hub's
  ``HistoryBuffer``, its statistic methods and numpy values), so
  ``--resume`` fails. :func:`allow_mmengine_checkpoints` allows exactly
  those, which keeps ``weights_only`` protection for every load: the
  statistic methods are pickled as ``getattr(HistoryBuffer, 'min')``, and
  ``builtins.getattr`` is answered by :func:`history_buffer_getattr`, which
  returns those methods and nothing else (the real ``getattr`` would hand a
  crafted file the builtins module, ``eval`` and ``os.system``).
  Third-party weights (SAM2, VGGish) are loaded with ``weights_only=True``
  explicitly.
- Distributed runs on CPU (gloo): mmengine calls ``torch.cuda.set_device``
  unconditionally and gives DDP ``device_ids=[rank]``; both fail without a
  GPU. :func:`adapt_distributed_to_cpu` fixes the config and the call.
"""
import pickle

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


#: The attributes a checkpoint may take with ``getattr``: the statistic
#: methods of mmengine's ``HistoryBuffer`` (its message hub's log scalars).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def _short(obj, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def history_buffer_getattr(obj, name):
    """``builtins.getattr`` as the weights-only unpickler sees it.

    mmengine's checkpoints pickle ``HistoryBuffer``'s statistic methods as
    ``getattr(HistoryBuffer, 'min')``; this returns those methods
    (:data:`HISTORY_BUFFER_STATISTICS`) and refuses anything else.

    Raises:
        pickle.UnpicklingError: any other object or attribute (which
            ``torch.load`` reports as a failed weights-only load).
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str) and \
            name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    shown = 'getattr' if obj is history_buffer_getattr else _short(obj)
    raise pickle.UnpicklingError(
        f'refused getattr({shown}, {_short(name)}): a checkpoint may '
        'take only HistoryBuffer\'s statistic methods '
        f'({", ".join(HISTORY_BUFFER_STATISTICS)}) with getattr')


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

    Allows ``HistoryBuffer``, numpy arrays / scalars and, under the name
    ``builtins.getattr`` that the pickle uses,
    :func:`history_buffer_getattr`; the real ``getattr``, if anything
    allowed it, is taken off the list. The weights-only unpickler still
    refuses to call anything that is not itself allowed.
    """
    from mmengine.logging import HistoryBuffer
    serialization = torch.serialization

    def unsafe(g) -> bool:  # the real getattr, or another in its place
        return g is getattr or (isinstance(g, tuple) and len(g) == 2 and
                                g[1] == 'builtins.getattr' and
                                g[0] is not history_buffer_getattr)

    allowed = serialization.get_safe_globals()
    if any(unsafe(g) for g in allowed):
        serialization.clear_safe_globals()
        serialization.add_safe_globals([g for g in allowed if not unsafe(g)])
    serialization.add_safe_globals(
        [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'),
         *_numpy_pickle_globals()])


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
    # one step at a time: Config.setdefault returns the dict it was given,
    # not the ConfigDict it stores
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
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
