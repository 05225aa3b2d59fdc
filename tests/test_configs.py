"""Every config parses, and the ablations change what their table says."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True))
RUNNABLE = [p for p in CONFIGS if '_base_' not in p]


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_parses(path):
    Config.fromfile(path)


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
