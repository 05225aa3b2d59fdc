"""Strict, weights-only checkpoint loading with errors that name keys."""
import pytest
import torch
from torch import nn

from sam2love.apis.checkpoint import (
    CheckpointMismatchError,
    load_weights_strict,
    read_state_dict,
)


class Payload:
    """An arbitrary class: unpickling it could run code."""


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_mmengine_and_bare_state_dicts_load(tmp_path):
    source = small_model()
    wrapped = {f'module.{k}': v for k, v in source.state_dict().items()}
    torch.save({'state_dict': wrapped, 'meta': {'iter': 3}},
               tmp_path / 'a.pth')
    torch.save(source.state_dict(), tmp_path / 'b.pth')
    for name, meta in (('a.pth', {'iter': 3}), ('b.pth', {})):
        target = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        assert load_weights_strict(target, str(tmp_path / name)) == meta
        for key, value in source.state_dict().items():
            assert torch.equal(target.state_dict()[key], value)


def test_mismatch_lists_every_kind_of_key(tmp_path):
    state = small_model().state_dict()
    del state['2.bias']
    state['0.weight'] = torch.zeros(5, 4)
    for i in range(12):
        state[f'extra.{i:02d}'] = torch.zeros(1)
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_weights_strict(small_model(), path, 'configs/x.py')
    error = info.value
    assert error.missing == ['2.bias']
    assert error.mismatched == [('0.weight', (5, 4), (3, 4))]
    assert len(error.unexpected) == 12
    message = str(error)
    assert message.startswith(f'checkpoint {path} does not match the model '
                              'of configs/x.py:')
    assert '12 unexpected key(s)' in message and '... and 2 more' in message
    assert '0.weight (checkpoint (5, 4), model (3, 4))' in message


def test_pickled_objects_are_refused(tmp_path):
    """weights_only=True: a checkpoint that pickles arbitrary objects is
    not executed."""
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': small_model().state_dict(),
                'payload': Payload()}, path)
    with pytest.raises(RuntimeError, match='weights_only=True'):
        read_state_dict(path)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        read_state_dict(str(tmp_path / 'missing.pth'))
