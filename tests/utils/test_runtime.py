"""sam2love.utils.runtime: mmengine checkpoints read with
``weights_only=True``, and distributed configs run on CPU processes.
(``history_buffer_getattr`` and crafted checkpoints: tests/apis/
test_checkpoint.py.)"""
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

from sam2love.utils.runtime import (
    adapt_distributed_to_cpu,
    allow_mmengine_checkpoints,
    history_buffer_getattr,
)


@pytest.fixture
def safe_globals():
    """The weights-only allowlist, restored after the test."""
    serialization = torch.serialization
    saved = serialization.get_safe_globals()
    yield serialization
    serialization.clear_safe_globals()
    serialization.add_safe_globals(saved)


def test_numpy_values_load_weights_only(safe_globals, tmp_path):
    path = tmp_path / 'values.pth'
    state = {'array': np.arange(6, dtype=np.float32).reshape(2, 3),
             'scalars': [np.int64(7), np.float64(0.5), np.bool_(True)]}
    torch.save(state, path)
    safe_globals.clear_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    allow_mmengine_checkpoints()
    loaded = torch.load(path, weights_only=True)
    np.testing.assert_array_equal(loaded['array'], state['array'])
    assert loaded['scalars'] == [7, 0.5, True]


def test_allowing_twice_keeps_one_getattr_and_never_the_real_one(
        safe_globals):
    safe_globals.add_safe_globals([getattr])
    allow_mmengine_checkpoints()
    allow_mmengine_checkpoints()
    allowed = safe_globals.get_safe_globals()
    assert getattr not in allowed
    stand_ins = [g for g in allowed
                 if isinstance(g, tuple) and g[1] == 'builtins.getattr']
    assert stand_ins == [(history_buffer_getattr, 'builtins.getattr')]


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without CUDA; ``torch.cuda.set_device`` restored after."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.cuda, 'set_device', torch.cuda.set_device)


def test_distributed_config_runs_on_cpu_without_cuda(no_cuda):
    cfg = Config(dict(find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert adapt_distributed_to_cpu(cfg) is cfg
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', device_ids=None,
        broadcast_buffers=False, find_unused_parameters=True)
    torch.cuda.set_device(3)  # mmengine's launcher call is now harmless


def test_other_wrappers_are_left_as_they_are(no_cuda):
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel',
                                             use_orig_params=True)))
    adapt_distributed_to_cpu(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg == dict(type='MMFullyShardedDataParallel',
                                         use_orig_params=True)


def test_nothing_changes_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    set_device = torch.cuda.set_device
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    adapt_distributed_to_cpu(cfg)
    assert cfg.to_dict() == dict(env_cfg=dict(dist_cfg=dict(backend='nccl')))
    assert torch.cuda.set_device is set_device
