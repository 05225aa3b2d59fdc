"""Shared pieces of the feature-cache tests: the tiny config on a tiny
synthetic tree, its model, a cache of its train split, and one training
step's loss and gradients."""
import copy
import os
import os.path as osp

import numpy as np
import torch
from inference_helpers import CONFIG, make_tiny_tree
from mmengine.dataset import pseudo_collate
from mmseg.registry import DATASETS

from sam2love.apis import extract_feature_cache, split_dataset_cfgs
from sam2love.datasets.synthetic import PRESETS
from sam2love.utils import load_config
from sam2love.utils.analysis import build_eval_model

TINY_FRAMES = PRESETS['tiny']['num_frames']


def tiny_cfg(root: str, **options):
    """:data:`CONFIG` (the tiny model) on the tree at ``root``."""
    opts = {f'{loader}.dataset.{key}': value
            for loader in ('train_dataloader', 'test_dataloader')
            for key, value in (('data_root', root),
                               ('num_frames', TINY_FRAMES))}
    opts.update(options)
    return load_config(CONFIG, opts)


def build_model(cfg, seed: int = 0):
    """The config's model, seeded and initialised (quietly)."""
    return build_eval_model(cfg, seed, quiet=True)


def tiny_setup(tmp_path_factory, name: str) -> dict:
    """A tiny synthetic tree, :func:`tiny_cfg` on it, its model and an
    fp32 cache of its train split made by the model.

    Returns:
        dict: ``base`` (the folder holding them), ``root`` (the tree),
        ``cfg``, ``model``, ``cache`` (the cache folder) and ``manifest``.
    """
    folder = tmp_path_factory.mktemp(name)
    root = make_tiny_tree(str(folder / 'tree'))
    cfg = tiny_cfg(root)
    model = build_model(cfg)
    cache = str(folder / 'cache')
    manifest = extract(model, cfg, cache)
    return dict(base=folder, root=root, cfg=cfg, model=model, cache=cache,
                manifest=manifest)


def tiny_tree_and_cache(tmp_path_factory, name: str) -> tuple[str, str]:
    """A tiny synthetic tree and a cache of its train split made by the
    tiny model: (root, cache dir)."""
    setup = tiny_setup(tmp_path_factory, name)
    return setup['root'], setup['cache']


def stored_arrays(cache: str, split: str = 'train') -> dict:
    """Every stored array of a split, by (shard, file name)."""
    out = {}
    folder = osp.join(cache, split)
    for shard in sorted(os.listdir(folder)):
        if shard.startswith('shard-'):
            for name in sorted(os.listdir(osp.join(folder, shard))):
                if name.endswith('.npy'):
                    out[shard, name] = np.load(osp.join(folder, shard, name))
    return out


def assert_same_arrays(cache: str, other: str) -> None:
    """The two caches' train splits store equal arrays under equal names."""
    a, b = stored_arrays(cache), stored_arrays(other)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def extract(model, cfg, out: str, **kwargs) -> dict:
    kwargs.setdefault('shard_size', 4)
    kwargs.setdefault('progress', False)
    return extract_feature_cache(model, split_dataset_cfgs(cfg), out,
                                 **kwargs)


def train_dataset(cfg, feature_cache: str | None = None, **overrides):
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.update(overrides)
    if feature_cache is not None:
        dataset_cfg.feature_cache = feature_cache
    return DATASETS.build(dataset_cfg)


def loss_and_grads(model, samples: list) -> tuple[dict, dict]:
    """One training step's losses and the gradient of every trained
    parameter (None where none reached it)."""
    model.train()
    model.zero_grad()
    data = model.data_preprocessor(pseudo_collate(samples), True)
    losses = model(**data, mode='loss')
    sum(losses.values()).backward()
    grads = {name: None if p.grad is None else p.grad.detach().clone()
             for name, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    return {k: v.detach() for k, v in losses.items()}, grads


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||a|| (0 when both are 0)."""
    norm = a.float().norm()
    diff = (a.float() - b.float()).norm()
    return 0.0 if diff == 0 else float(diff / norm.clamp_min(1e-30))


#: Gradients below this share of the total gradient norm are numerical
#: noise: SAM2's attention key biases get none (softmax is invariant to a
#: bias added to every key), yet ~1e-10 of the total from rounding.
NOISE_SHARE = 1e-4


def worst_gradient_difference(grads: dict, other: dict) -> tuple:
    """The largest ``||g - g'|| / max(||g||, NOISE_SHARE * ||all g||)``
    over the parameters, and its parameter's name."""
    total = torch.cat([g.flatten() for g in grads.values()]).norm()
    worst = (0.0, '')
    for name, grad in grads.items():
        scale = max(float(grad.norm()), NOISE_SHARE * float(total), 1e-30)
        diff = float((grad - other[name]).norm()) / scale
        worst = max(worst, (diff, name))
    return worst
