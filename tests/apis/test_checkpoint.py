"""Strict, weights-only checkpoint loading with errors that name keys; a
checkpoint never runs code (crafted files of each route are refused)."""
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sam2love.apis.checkpoint import (
    CheckpointError,
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


# ------------------------------------------------- crafted checkpoints
class Attr:
    """Pickles as ``getattr(obj, name)``."""

    def __init__(self, obj, name: str) -> None:
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


class Call:
    """Pickles as ``torch._tensor._rebuild_from_type_v2(func, new_type,
    args, {})``, which the weights-only unpickler allows and which calls
    ``func(*args)``: with ``new_type`` the result's type the load then goes
    on as if nothing happened."""

    def __init__(self, func, new_type, *args) -> None:
        self.func, self.new_type, self.args = func, new_type, args

    def __reduce__(self):
        return torch._tensor._rebuild_from_type_v2, (
            self.func, self.new_type, self.args, {})


class Global:
    """Pickles as a call of ``func`` (a GLOBAL of its module)."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


BUILTINS = Attr(getattr, '__self__')  # the builtins module
NONE_TYPE = Attr(None, '__class__')
INT_TYPE = Attr(0, '__class__')


def payloads(marker) -> dict:
    """Checkpoint contents that write ``marker``, each by another route."""
    import os

    from mmengine.logging import HistoryBuffer
    write = f"open({str(marker)!r}, 'w').write('pwned')"
    os_module = Call(Attr(BUILTINS, '__import__'), Attr(BUILTINS, '__class__'),
                     'os')
    array = np.frombuffer(b'pwned', np.uint8).copy()
    history_globals = Attr(Attr(HistoryBuffer, 'min'), '__globals__')
    return {
        'eval': Call(Attr(BUILTINS, 'eval'), INT_TYPE, write),
        'exec': Call(Attr(BUILTINS, 'exec'), NONE_TYPE, write),
        'os.system': Call(Attr(os_module, 'system'), INT_TYPE,
                          f'touch {marker}'),
        'ndarray.tofile': Call(Attr(np.ndarray, 'tofile'), NONE_TYPE, array,
                               str(marker)),
        'HistoryBuffer.min.__globals__': Call(
            Attr(history_globals, 'get'), NONE_TYPE, 'np'),
        'HistoryBuffer.register_statistics': Call(
            Attr(HistoryBuffer, 'register_statistics'), NONE_TYPE,
            Attr(BUILTINS, 'eval')),
        'global eval': Global(eval, write),
        'global os.system': Global(os.system, f'touch {marker}'),
    }


def save_crafted(path, payload) -> str:
    """A checkpoint of real weights, the payload in its meta."""
    torch.save({'state_dict': small_model().state_dict(),
                'meta': {'note': payload}}, path)
    return str(path)


@pytest.fixture
def former_allowlist():
    """The allowlist before the fix (the real ``getattr``), for the
    control: each crafted file does run its code through it."""
    from mmengine.logging import HistoryBuffer

    from sam2love.utils.runtime import _numpy_pickle_globals
    serialization = torch.serialization
    saved = serialization.get_safe_globals()
    serialization.clear_safe_globals()
    serialization.add_safe_globals([HistoryBuffer, getattr,
                                    *_numpy_pickle_globals()])
    yield
    serialization.clear_safe_globals()
    serialization.add_safe_globals(saved)


ROUTES = ['eval', 'exec', 'os.system', 'ndarray.tofile']


@pytest.mark.parametrize('route', ROUTES)
def test_crafted_checkpoints_ran_code_with_the_real_getattr(
        route, tmp_path, former_allowlist):
    """Control: these files are real exploits of the former allowlist."""
    marker = tmp_path / 'marker'
    path = save_crafted(tmp_path / 'evil.pth', payloads(marker)[route])
    torch.load(path, map_location='cpu', weights_only=True)
    assert marker.exists()


@pytest.mark.parametrize('route', list(payloads('x')))
def test_crafted_checkpoints_are_refused_without_running_code(route,
                                                              tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    from sam2love.utils import allow_mmengine_checkpoints
    marker = tmp_path / 'marker'
    path = save_crafted(tmp_path / 'evil.pth', payloads(marker)[route])
    with pytest.raises(CheckpointError, match=(
            f'checkpoint {path} cannot be read with weights_only=True')):
        read_state_dict(path)
    # what mmengine's runner does (test, --resume), with our allowlist
    allow_mmengine_checkpoints()
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')
    assert not marker.exists()


def test_getattr_gives_history_buffer_statistics_only():
    from mmengine.logging import HistoryBuffer

    from sam2love.utils.runtime import history_buffer_getattr
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in ((getattr, '__self__'), (HistoryBuffer, '__init__'),
                      (HistoryBuffer, '_statistics_methods'),
                      (HistoryBuffer.min, '__globals__'),
                      (np.ndarray, 'tofile'), (HistoryBuffer, 0)):
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            history_buffer_getattr(obj, name)


def test_the_real_getattr_is_taken_off_the_allowlist():
    from sam2love.utils import allow_mmengine_checkpoints
    torch.serialization.add_safe_globals([getattr])
    allow_mmengine_checkpoints()
    assert getattr not in torch.serialization.get_safe_globals()


def test_a_message_hub_round_trips_with_its_statistics(tmp_path):
    """What a checkpoint's message hub pickles (HistoryBuffer and its
    statistic methods, numpy values) loads, weights only."""
    from mmengine.logging import MessageHub

    from sam2love.utils import allow_mmengine_checkpoints
    hub = MessageHub.get_instance('test_checkpoint_hub')
    for value in (1.0, 3.0):
        hub.update_scalar('train/loss', value)
    hub.update_info('iter', np.int64(7))
    path = tmp_path / 'hub.pth'
    torch.save({'message_hub': hub.state_dict()}, path)
    assert b'getattr' in zipfile_pickle(path)  # the route under test
    allow_mmengine_checkpoints()
    state = torch.load(path, map_location='cpu', weights_only=True)
    loss = state['message_hub']['log_scalars']['train/loss']
    assert loss.mean() == 2.0 and loss.current() == 3.0
    assert state['message_hub']['runtime_info']['iter'] == 7


def zipfile_pickle(path) -> bytes:
    import zipfile
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith('data.pkl'))
        return archive.read(name)


@pytest.mark.parametrize('content, message', [
    (b'', r'is empty \(0 bytes\)'),
    (b'just some text, not a checkpoint\n' * 3,
     r"is not a readable torch file \(neither a zip archive nor a pickle: "
     r"it starts with b'just some text, '\)"),
    (b'PK\x03\x04 a broken zip',
     r'is not a readable torch file \(RuntimeError: .+\)'),
])
def test_a_file_that_is_not_a_checkpoint_names_itself(tmp_path, content,
                                                      message):
    path = tmp_path / 'notes.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f'checkpoint {path} {message}'):
        read_state_dict(str(path))
    with pytest.raises(CheckpointError, match='is a folder'):
        read_state_dict(str(tmp_path))
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(CheckpointError, match='holds a list, not a state'):
        read_state_dict(str(tmp_path / 'list.pth'))
    torch.save({'state_dict': 5}, tmp_path / 'five.pth')
    with pytest.raises(CheckpointError, match='holds no state dict'):
        read_state_dict(str(tmp_path / 'five.pth'))
