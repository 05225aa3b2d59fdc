"""tools/train.py, tools/test.py and the CPU launchers on the tiny model."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from tool_loader import load_tool

from sam2love.datasets import make_synthetic_refavs

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'sam2love_tiny_1xb4-300it_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_refavs(root, num_clips=14, seed=2, num_frames=10,
                          frame_size=(64, 48))
    return root


@pytest.fixture
def local_rank(monkeypatch):
    """The tools' parse_args set LOCAL_RANK: unset again afterwards."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.delenv('LOCAL_RANK')


def test_train_flags_make_the_config(local_rank):
    train = load_tool('train')
    cfg = train.build_cfg(train.parse_args([
        CONFIG, '--amp', '--resume', '--cfg-options', 'train_cfg.max_iters=6',
        'work_dir=runs/from_options']))
    assert cfg.work_dir == 'runs/from_options'
    assert cfg.train_cfg.max_iters == 6 and cfg.resume
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.launcher == 'none' and os.environ['LOCAL_RANK'] == '0'
    cfg = train.build_cfg(train.parse_args([CONFIG]))
    assert cfg.work_dir == osp.join('./work_dirs',
                                    osp.splitext(osp.basename(CONFIG))[0])
    assert cfg.optim_wrapper.type == 'OptimWrapper' and not cfg.resume


def test_test_flags_make_the_config(local_rank, tmp_path):
    test = load_tool('test')
    cfg = test.build_cfg(test.parse_args([
        CONFIG, 'ckpt.pth', '--work-dir', str(tmp_path), '--out', 'preds',
        '--show-dir', 'shown', '--local-rank', '1']))
    assert cfg.load_from == 'ckpt.pth' and cfg.work_dir == str(tmp_path)
    assert cfg.test_evaluator.output_dir == 'preds'
    assert cfg.default_hooks.visualization.draw
    assert cfg.visualizer.save_dir == 'shown'
    assert os.environ['LOCAL_RANK'] == '1'


def options(data_root, *extra):
    return ['--cfg-options', 'train_cfg.max_iters=6',
            'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2',
            'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'val_dataloader.num_workers=0',
            'val_dataloader.persistent_workers=False',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            'train_cfg.val_interval=1000',
            f'train_dataloader.dataset.data_root={data_root}',
            f'val_dataloader.dataset.data_root={data_root}',
            f'test_dataloader.dataset.data_root={data_root}', *extra]


def run(*args, check=True):
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    return result


def state(path):
    return torch.load(path, map_location='cpu', weights_only=False)[
        'state_dict']


@pytest.fixture(scope='module')
def trained(data_root, tmp_path_factory) -> str:
    """Work dir of an uninterrupted 6-iteration run (checkpoints 3, 6)."""
    full = str(tmp_path_factory.mktemp('full'))
    run('tools/train.py', CONFIG, '--work-dir', full, *options(data_root))
    return full


def test_resume_reproduces_an_uninterrupted_run(data_root, trained,
                                                tmp_path):
    full = trained
    # A run stopped after its iteration-3 checkpoint, then resumed.
    part = str(tmp_path / 'part')
    os.makedirs(part)
    os.link(osp.join(full, 'iter_3.pth'), osp.join(part, 'iter_3.pth'))
    with open(osp.join(part, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(part, 'iter_3.pth'))
    out = run('tools/train.py', CONFIG, '--work-dir', part, '--resume',
              *options(data_root))
    assert 'resumed epoch: 0, iter: 3' in out.stdout + out.stderr
    a, b = state(osp.join(full, 'iter_6.pth')), state(osp.join(part,
                                                             'iter_6.pth'))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # our checkpoints load with weights_only=True once the tools allowed
    # mmengine's types
    from sam2love.utils import allow_mmengine_checkpoints
    allow_mmengine_checkpoints()
    torch.load(osp.join(part, 'iter_6.pth'), map_location='cpu',
               weights_only=True)


def metrics_of(output: str) -> dict:
    import re
    line = [ln for ln in output.splitlines() if 'Iter(test)' in ln][-1]
    return dict(re.findall(r'(refavs/\S+): ([\d.]+)', line))


def test_one_and_two_process_tests_agree(data_root, trained, tmp_path):
    checkpoint = osp.join(trained, 'iter_6.pth')
    splits = 'test_dataloader.dataset.split=[test_s,test_u,test_n]'
    preds = str(tmp_path / 'preds')
    single = run('tools/test.py', CONFIG, checkpoint, '--work-dir',
                 str(tmp_path / 'one'), '--out', preds,
                 *options(data_root, splits))
    one = metrics_of(single.stdout + single.stderr)
    assert {'refavs/test_s/J&F', 'refavs/test_u/J&F', 'refavs/mix/J&F',
            'refavs/test_n/S'} <= set(one)
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHON=sys.executable,
               PORT='29517')
    double = subprocess.run(
        ['bash', 'tools/dist_test.sh', CONFIG, checkpoint, '2',
         '--work-dir', str(tmp_path / 'two'), *options(data_root, splits)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-3000:]
    assert metrics_of(double.stdout + double.stderr) == one
    # --out wrote what tools/refavs_eval.py scores
    uids = os.listdir(preds)
    assert uids and all(
        sorted(os.listdir(osp.join(preds, u)))[0] == '00000.png'
        for u in uids)
