"""sam2love.utils.config: configs as the analysis tools and the runner
tools (tools/train.py, tools/test.py, tools/extract_features.py) load
them."""
import argparse
import os
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope, init_default_scope

from sam2love.utils.config import load_config, parse_runner_args, runner_config
from sam2love.utils.runtime import history_buffer_getattr


@pytest.fixture
def config_file(tmp_path):
    """A small config file; ``work_dir`` and ``default_scope`` as given."""
    def write(name='tiny_run.py', **top):
        lines = ["model = dict(type='Tiny', depth=2)",
                 "env_cfg = dict(dist_cfg=dict(backend='nccl'))"]
        lines += [f'{key} = {value!r}' for key, value in top.items()]
        path = tmp_path / name
        path.write_text('\n'.join(lines) + '\n')
        return str(path)
    return write


@pytest.fixture
def restore_scope():
    yield
    init_default_scope('mmseg')


@pytest.mark.parametrize('scope', [None, 'mmengine'])
def test_load_config_merges_options_and_takes_its_scope(config_file, scope,
                                                        restore_scope):
    top = {} if scope is None else dict(default_scope=scope)
    cfg = load_config(config_file(**top), {'model.depth': 5})
    assert cfg.model == dict(type='Tiny', depth=5)
    assert DefaultScope.get_current_instance().scope_name == \
        (scope or 'mmseg')


def runner_parser(work_dir: bool = True) -> argparse.ArgumentParser:
    """A runner tool's own arguments (parse_runner_args adds mmseg's)."""
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    if work_dir:
        parser.add_argument('--work-dir')
    return parser


def test_runner_arguments_are_mmsegs(monkeypatch):
    monkeypatch.setenv('LOCAL_RANK', '0')  # restored (unset) afterwards
    monkeypatch.delenv('LOCAL_RANK')
    args = parse_runner_args(runner_parser(), [
        'c.py', '--cfg-options', 'a=1', 'b.c=[2,3]', '--launcher', 'pytorch',
        '--local-rank', '3'])
    assert args.cfg_options == {'a': 1, 'b.c': [2, 3]}
    assert (args.launcher, args.local_rank) == ('pytorch', 3)
    assert os.environ['LOCAL_RANK'] == '3'
    args = parse_runner_args(runner_parser(), ['c.py', '--local_rank', '1'])
    assert args.cfg_options is None and args.launcher == 'none'
    assert os.environ['LOCAL_RANK'] == '3'  # torchrun's value is kept
    with pytest.raises(SystemExit):
        parse_runner_args(runner_parser(), ['c.py', '--launcher', 'ssh'])


@pytest.mark.parametrize('given,in_config,expected', [
    (None, None, osp.join('./work_dirs', 'tiny_run')),
    (None, 'runs/from_config', 'runs/from_config'),
    ('runs/given', 'runs/from_config', 'runs/given'),
])
def test_runner_config_work_dir(config_file, given, in_config, expected):
    top = {} if in_config is None else dict(work_dir=in_config)
    argv = [config_file(**top)] + (['--work-dir', given] if given else [])
    cfg = runner_config(parse_runner_args(runner_parser(), argv))
    assert cfg.work_dir == expected


def test_runner_config_merges_options_after_the_launcher(config_file):
    args = parse_runner_args(runner_parser(work_dir=False), [
        config_file(work_dir='runs/x'), '--cfg-options', 'model.depth=4',
        'launcher=slurm'])
    cfg = runner_config(args)
    assert cfg.model.depth == 4 and cfg.launcher == 'slurm'
    assert cfg.work_dir == 'runs/x'  # a tool without --work-dir: untouched
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'


def test_runner_config_allows_mmengine_checkpoints(config_file):
    serialization = torch.serialization
    saved = serialization.get_safe_globals()
    serialization.clear_safe_globals()
    try:
        runner_config(parse_runner_args(runner_parser(), [config_file()]))
        assert (history_buffer_getattr, 'builtins.getattr') in \
            serialization.get_safe_globals()
    finally:
        serialization.clear_safe_globals()
        serialization.add_safe_globals(saved)


def test_runner_config_adapts_a_distributed_launch_without_cuda(
        config_file, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.cuda, 'set_device', torch.cuda.set_device)
    args = parse_runner_args(runner_parser(),
                             [config_file(), '--launcher', 'pytorch'])
    cfg = runner_config(args)
    assert cfg.launcher == 'pytorch'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
