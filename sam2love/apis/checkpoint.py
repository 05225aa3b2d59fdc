"""Loading a trained checkpoint into a model built from a config, strictly.

mmengine's ``load_checkpoint`` warns about missing or unexpected keys and
carries on, which for inference silently gives a partly random model. Here
every key must match in name and shape, or :class:`CheckpointMismatchError`
names the keys at fault. Checkpoints are read with
``torch.load(weights_only=True)`` (mmengine's own types allowed, see
:func:`~sam2love.utils.allow_mmengine_checkpoints`).
"""
import os.path as osp
import pickle
import re

import torch
from torch import nn

from ..utils import allow_mmengine_checkpoints

#: Keys listed per kind in an error message.
MAX_LISTED = 10


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used for inference."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's state dict does not fit the model of a config.

    Attributes:
        path (str): the checkpoint.
        missing (list[str]): model keys absent from the checkpoint.
        unexpected (list[str]): checkpoint keys the model lacks.
        mismatched (list[tuple]): ``(key, checkpoint shape, model shape)``.
    """

    def __init__(self, path: str, missing: list, unexpected: list,
                 mismatched: list, config: str | None = None) -> None:
        self.path, self.config = path, config
        self.missing, self.unexpected = missing, unexpected
        self.mismatched = mismatched
        model = f'the model of {config}' if config else 'the model'
        lines = [f'checkpoint {path} does not match {model}:']

        def listing(keys: list) -> str:
            shown = ', '.join(keys[:MAX_LISTED])
            more = len(keys) - MAX_LISTED
            return shown + (f', ... and {more} more' if more > 0 else '')

        if missing:
            lines.append(f'  {len(missing)} missing key(s) (in the model, '
                         f'not in the checkpoint): {listing(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} unexpected key(s) (in the '
                         f'checkpoint, not in the model): '
                         f'{listing(unexpected)}')
        if mismatched:
            shapes = [f'{k} (checkpoint {tuple(a)}, model {tuple(b)})'
                      for k, a, b in mismatched]
            lines.append(f'  {len(mismatched)} key(s) of another shape: '
                         f'{listing(shapes)}')
        lines.append('Was it trained with another config?')
        super().__init__('\n'.join(lines))


def _torch_load_reason(error: Exception) -> str:
    """What ``torch.load`` found wrong, in one line: for a refused
    weights-only load the unpickler's own words (torch wraps them in
    paragraphs of advice)."""
    if isinstance(error, pickle.UnpicklingError) and isinstance(
            error.__context__, pickle.UnpicklingError):
        error = error.__context__
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return f'{type(error).__name__}: {lines[0]}' if lines else \
        type(error).__name__


def read_state_dict(path: str) -> tuple[dict, dict]:
    """Read ``(state_dict, meta)`` from an mmengine checkpoint (or a bare
    state dict) with ``weights_only=True``; ``module.`` prefixes of
    wrapped models are removed.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: it is a folder, empty, not a torch file, refused
            by the weights-only unpickler (it pickles something that is not
            a weight: see :func:`~sam2love.utils.allow_mmengine_checkpoints`)
            or holds no state dict. The message names the file.
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    if osp.isdir(path):
        raise CheckpointError(f'checkpoint {path} is a folder, not a file')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes)')
    with open(path, 'rb') as f:
        head = f.read(16)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle)
    if not head.startswith((b'PK\x03\x04', b'\x80')):
        raise CheckpointError(
            f'checkpoint {path} is not a readable torch file (neither a zip '
            f'archive nor a pickle: it starts with {head!r})')
    allow_mmengine_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'checkpoint {path} cannot be read with weights_only=True (it '
            f'holds more than weights): {_torch_load_reason(e)}') from None
    except Exception as e:  # torch.load fails in many ways on other files
        raise CheckpointError(
            f'checkpoint {path} is not a readable torch file '
            f'({_torch_load_reason(e)})') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {path} holds a '
                              f'{type(ckpt).__name__}, not a state dict')
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not all(isinstance(k, str)
                                              for k in state):
        raise CheckpointError(f'checkpoint {path} holds no state dict (a '
                              'dict of parameter names)')
    meta = ckpt.get('meta', {}) if 'state_dict' in ckpt else {}
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    return state, meta


def load_weights_strict(model: nn.Module, path: str,
                        config: str | None = None,
                        checkpoint: tuple[dict, dict] | None = None) -> dict:
    """Load a checkpoint whose keys and shapes all match ``model``.

    Args:
        model (nn.Module): the model built from ``config``.
        path (str): the checkpoint (mmengine's ``{'state_dict', 'meta'}``
            or a bare state dict).
        config (str, optional): the config's name, for messages.
        checkpoint (tuple, optional): ``(state_dict, meta)`` already read
            from ``path`` by :func:`read_state_dict`.

    Returns:
        dict: the checkpoint's ``meta``.

    Raises:
        CheckpointMismatchError: missing, unexpected or reshaped keys.
    """
    state, meta = checkpoint if checkpoint is not None else \
        read_state_dict(path)
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape))
                  for k in sorted(own.keys() & state.keys())
                  if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(path, missing, unexpected, mismatched,
                                      config)
    model.load_state_dict(state, strict=True)
    return meta
