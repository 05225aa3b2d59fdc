"""tools/extract_features.py and its torchrun launcher, then training
from the cache with mmengine's Runner (as tools/train.py does)."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from feature_cache_helpers import TINY_FRAMES
from inference_helpers import CONFIG, ROOT, make_tiny_tree
from mmengine.config import Config
from mmengine.hooks import Hook

TOOL = 'extract_features'


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('extract') / 'tree'))


def options(tree: str, **extra) -> dict:
    opts = {f'{loader}.dataset.{key}': value
            for loader in ('train_dataloader', 'val_dataloader',
                           'test_dataloader')
            for key, value in (('data_root', tree),
                               ('num_frames', TINY_FRAMES))}
    opts.update({
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_cfg.max_iters': 3, 'train_cfg.val_interval': 1000,
        'train_cfg.val_begin': 1000,
        'default_hooks.checkpoint.interval': 1000,
        'default_hooks.logger.interval': 1})
    opts.update(extra)
    return opts


def cli(opts: dict) -> list[str]:
    """``--cfg-options`` arguments."""
    return ['--cfg-options', *(f'{k}={v}' for k, v in opts.items())]


class RecordLosses(Hook):
    def __init__(self):
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})


def train(cfg_options: dict, work_dir: str) -> list[dict]:
    """Three iterations of tools/train.py's Runner; the logged losses."""
    from mmengine.runner import Runner

    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(cfg_options)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    runner = Runner.from_cfg(cfg)
    record = RecordLosses()
    runner.register_hook(record)
    runner.train()
    return record.losses


def test_extract_then_train_from_the_cache(tool, tree, tmp_path):
    cache = str(tmp_path / 'cache')
    cached = options(tree, **{'train_dataloader.dataset.feature_cache':
                              cache})
    # --out defaults to the config's feature_cache
    manifest = tool.main(
        [CONFIG, '--shard-size', '3', '--no-progress', *cli(cached)])
    entry = manifest['splits']['train']
    assert entry['complete'] and entry['shard_size'] == 3
    assert osp.isdir(osp.join(cache, 'logs'))  # the extraction's log
    # the Runner builds the same frozen weights: the model's manifest check
    # passes, and the cached run trains as the one on frames
    from_cache = train(cached, str(tmp_path / 'from_cache'))
    from_frames = train(options(tree), str(tmp_path / 'from_frames'))
    assert len(from_cache) == len(from_frames) == 3
    for a, b in zip(from_cache, from_frames):
        assert a.keys() == b.keys()
        for key in a:
            assert abs(a[key] - b[key]) <= 1e-5 * abs(b[key]), key


def test_the_tool_refuses_a_cache_of_another_seed(tool, tree, tmp_path):
    from sam2love.feature_cache import FeatureCacheError
    cache = str(tmp_path / 'cache')
    tool.main([CONFIG, '--out', cache, '--no-progress', *cli(options(tree))])
    with pytest.raises(FeatureCacheError, match='weights_sha256'):
        tool.main([CONFIG, '--out', cache, '--no-progress',
                   *cli(options(tree, **{'randomness.seed': 1}))])


def stored(cache: str) -> dict:
    out = {}
    for folder, _, files in os.walk(osp.join(cache, 'train')):
        for name in files:
            if name.endswith('.npy'):
                path = osp.join(folder, name)
                out[osp.relpath(path, cache)] = np.load(path)
    return out


@pytest.mark.parametrize('nproc', [1, 2])
def test_torchrun_extraction_matches_one_process(tool, tree, tmp_path, nproc):
    # Equal up to float rounding: torchrun sets OMP_NUM_THREADS=1 in its ranks
    # while pytest may run more threads, and the GEMM's summation order follows
    # the thread count (CI measured 1.2e-7 on VGGish's features).
    single = str(tmp_path / 'single')
    tool.main([CONFIG, '--out', single, '--shard-size', '2',
               '--no-progress', *cli(options(tree))])
    multi = str(tmp_path / 'multi')
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHON=sys.executable,
               PORT=str(29530 + nproc))
    result = subprocess.run(
        ['bash', 'tools/dist_extract_features.sh', CONFIG, str(nproc),
         '--out', multi, '--shard-size', '2', '--no-progress',
         *cli(options(tree))],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'expressions' in result.stdout  # rank 0's summary
    a, b = stored(single), stored(multi)
    assert a and a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)


def test_the_cached_stage2_config_only_switches_the_train_data():
    plain = Config.fromfile(osp.join(
        ROOT, 'configs', 'sam2love_tiny_1xb16-stage2_synthetic.py'))
    cached = Config.fromfile(osp.join(
        ROOT, 'configs', 'sam2love_tiny_1xb16-stage2-cached_synthetic.py'))
    dataset = cached.train_dataloader.dataset.to_dict()
    assert dataset.pop('feature_cache') == cached.feature_cache == \
        'work_dirs/feature_cache/sam2love_tiny_1xb16-stage2_synthetic'
    assert dataset == plain.train_dataloader.dataset.to_dict()
    assert 'feature_cache' not in cached.test_dataloader.dataset
    assert cached.model == plain.model
    assert cached.optim_wrapper == plain.optim_wrapper
