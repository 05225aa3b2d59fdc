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


def read_state_dict(path: str) -> tuple[dict, dict]:
    """Read ``(state_dict, meta)`` from an mmengine checkpoint (or a bare
    state dict) with ``weights_only=True``; ``module.`` prefixes of
    wrapped models are removed.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    allow_mmengine_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f'checkpoint {path} cannot be read with weights_only=True: '
            f'{str(e).splitlines()[0]}') from None
    except (RuntimeError, EOFError) as e:
        raise CheckpointError(f'checkpoint {path} is not a readable torch '
                           f'file ({e})') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {path} holds a {type(ckpt).__name__}'
                           ', not a state dict')
    state = ckpt.get('state_dict', ckpt)
    meta = ckpt.get('meta', {}) if 'state_dict' in ckpt else {}
    state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
    return state, meta


def load_weights_strict(model: nn.Module, path: str,
                        config: str | None = None) -> dict:
    """Load a checkpoint whose keys and shapes all match ``model``.

    Args:
        model (nn.Module): the model built from ``config``.
        path (str): the checkpoint (mmengine's ``{'state_dict', 'meta'}``
            or a bare state dict).
        config (str, optional): the config's name, for messages.

    Returns:
        dict: the checkpoint's ``meta``.

    Raises:
        CheckpointMismatchError: missing, unexpected or reshaped keys.
    """
    state, meta = read_state_dict(path)
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
