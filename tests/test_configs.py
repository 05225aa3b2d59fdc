"""Every config parses into registered types and keeps what its bases
define, and the ablations change what their table says."""
import ast
import glob
import os.path as osp

import mmseg.registry as mmseg_registry
import pytest
from mmengine.config import Config
from mmengine.registry import STRATEGIES

import sam2love  # noqa: F401  (registers the components)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True))
RUNNABLE = [p for p in CONFIGS if '_base_' not in p]

#: Registry of a ``type`` by the last key of its path in the config ...
REGISTRY_OF_KEY = {
    'init_cfg': mmseg_registry.WEIGHT_INITIALIZERS,
    'dataset': mmseg_registry.DATASETS,
    'sampler': mmseg_registry.DATA_SAMPLERS,
    'optimizer': mmseg_registry.OPTIMIZERS,
    'vis_backends': mmseg_registry.VISBACKENDS,
}
#: ... else by its top-level key (``*_pipeline`` and ``*_evaluator`` keys
#: by their suffix).
REGISTRY_OF_SECTION = {
    'model': mmseg_registry.MODELS,
    'model_wrapper_cfg': mmseg_registry.MODEL_WRAPPERS,
    'optim_wrapper': mmseg_registry.OPTIM_WRAPPERS,
    'param_scheduler': mmseg_registry.PARAM_SCHEDULERS,
    'default_hooks': mmseg_registry.HOOKS,
    'custom_hooks': mmseg_registry.HOOKS,
    'visualizer': mmseg_registry.VISUALIZERS,
    'vis_backends': mmseg_registry.VISBACKENDS,
    'train_cfg': mmseg_registry.LOOPS,
    'val_cfg': mmseg_registry.LOOPS,
    'test_cfg': mmseg_registry.LOOPS,
    'strategy': STRATEGIES,
}


def typed_dicts(obj, path=()):
    """``(path, type)`` of every dict with a ``type`` name, depth first."""
    if isinstance(obj, dict):
        if isinstance(obj.get('type'), str):
            yield path, obj['type']
        for key, value in obj.items():
            yield from typed_dicts(value, path + (key, ))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from typed_dicts(value, path + (i, ))


def registry_of(path: tuple):
    """The registry that builds the dict at ``path``, or None."""
    keys = [k for k in path if isinstance(k, str)]
    if keys[-1].endswith('pipeline'):
        return mmseg_registry.TRANSFORMS
    if keys[-1] in REGISTRY_OF_KEY:
        return REGISTRY_OF_KEY[keys[-1]]
    if keys[0].endswith('_evaluator'):
        return mmseg_registry.METRICS
    return REGISTRY_OF_SECTION.get(keys[0])


def bases_of(path: str) -> list[str]:
    """The files of the config's ``_base_`` (read from its source)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            return [osp.normpath(osp.join(osp.dirname(path), b))
                    for b in bases]
    return []


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_parses_into_registered_types(path):
    """Every ``type`` is registered where the runner looks for it, once
    ``sam2love`` is imported (as ``custom_imports`` does)."""
    cfg = Config.fromfile(path)
    assert cfg.keys(), 'empty config'
    found = list(typed_dicts(cfg.to_dict()))
    for where, name in found:
        registry = registry_of(where)
        shown = '.'.join(map(str, where))
        assert registry is not None, f'{shown}: no registry known for it'
        assert registry.get(name) is not None, \
            f'{shown}: {name!r} is not in the {registry.name} registry'
    if 'model' in cfg:
        assert ('model', ) in [w for w, _ in found]
    if 'runner_type' in cfg:
        assert mmseg_registry.RUNNERS.get(cfg.runner_type) is not None


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if bases_of(p)],
    ids=lambda p: osp.relpath(p, ROOT))
def test_keeps_the_top_level_keys_of_its_bases(path):
    bases = bases_of(path)
    assert all(osp.isfile(b) for b in bases), bases
    keys = set(Config.fromfile(path).keys())
    for base in bases:
        missing = set(Config.fromfile(base).keys()) - keys
        assert not missing, f'{osp.relpath(base, ROOT)}: {sorted(missing)}'


@pytest.mark.parametrize('path', RUNNABLE, ids=lambda p: osp.relpath(p, ROOT))
def test_runnable_configs_are_complete(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmseg'
    assert 'sam2love' in cfg.custom_imports['imports']
    for key in ('model', 'train_dataloader', 'train_cfg', 'optim_wrapper',
                'test_dataloader', 'test_evaluator'):
        assert key in cfg, key


def ablation(name):
    base = Config.fromfile(osp.join(ROOT, 'configs', 'sam2love_refavs.py'))
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ablations', name))
    return base.model, cfg.model


@pytest.mark.parametrize('name,path,value', [
    ('sam2love_no-history_refavs.py', 'neck.use_history', False),
    ('sam2love_fusion-1layer_refavs.py', 'neck.num_layers', 1),
    ('sam2love_fusion-12layer_refavs.py', 'neck.num_layers', 12),
    ('sam2love_4seg_refavs.py', 'neck.num_seg_tokens', 4),
    ('sam2love_8seg_refavs.py', 'neck.num_seg_tokens', 8),
    ('sam2love_mean-fusion_refavs.py', 'neck.fusion', 'mean'),
    ('sam2love_sam2-frozen_refavs.py', 'decode_head.trainable', 'frozen'),
    ('sam2love_sam2-decoder_refavs.py', 'decode_head.trainable', 'decoder'),
    ('sam2love_clip-vit-b16_refavs.py', 'backbone.text.model_type',
     'clip_text'),
])
def test_ablations_change_one_thing(name, path, value):
    base, model = ablation(name)

    def get(cfg):
        for key in path.split('.'):
            cfg = cfg[key]
        return cfg

    assert get(model) == value
    assert get(base) != value


def test_paper_recipe():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sam2love_refavs.py'))
    assert cfg.model.neck.embed_dim == 1024
    assert cfg.model.neck.num_layers == 6
    assert cfg.model.neck.num_seg_tokens == 1 and cfg.model.neck.use_history
    assert cfg.model.decode_head.sam2_config == 'sam2.1_hiera_l'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 1e-4
    assert cfg.optim_wrapper.optimizer.weight_decay == 0
    assert cfg.optim_wrapper.accumulative_counts == 2
    assert cfg.param_scheduler[0].end == 200  # 100 optimizer steps
    assert cfg.train_dataloader.batch_size * 2 == 8  # 2 GPUs
    assert cfg.test_dataloader.dataset.split == ['test_s', 'test_u', 'test_n']
    loss = cfg.model.decode_head.loss_mask
    assert (loss.bce_weight, loss.dice_weight) == (1.0, 1.0)
