"""Shared pieces of the inference tests: a tiny synthetic tree, a random
checkpoint of the tiny model, and the dataset path's predictions."""
import importlib.util
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'sam2love_tiny_1xb4-300it_synthetic.py')
#: SAM2's object-score output bias: a random model scores every object ~0
#: and the head then replaces all logits by -1024 ("no object"), which
#: would make mask comparisons trivial; a large bias keeps real logits.
OBJ_SCORE_BIAS = \
    'decode_head.sam.sam_mask_decoder.pred_obj_score_head.layers.2.bias'


def load_script(*parts: str):
    """A script of the repository (e.g. ``'tools', 'demo.py'``) as a
    module, run in-process (spares a second import of torch)."""
    path = osp.join(ROOT, *parts)
    name = 'sam2love_script_' + '_'.join(parts).replace('.', '_')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tiny_tree(root: str) -> str:
    """The ``tiny`` synthetic preset (12 clips of 4 frames, 64x48)."""
    from sam2love.datasets import make_synthetic_refavs
    from sam2love.datasets.synthetic import PRESETS
    make_synthetic_refavs(root, seed=1, **PRESETS['tiny'])
    return root


def build_tiny_model(seed: int = 0):
    """The tiny SAM2-LOVE of :data:`CONFIG`, random init, eval mode."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    with torch.no_grad():
        model.state_dict()[OBJ_SCORE_BIAS].add_(20.0)
    return model.eval()


def save_checkpoint(model, path: str) -> str:
    """Save as mmengine does (``state_dict`` + ``meta``)."""
    torch.save({'state_dict': model.state_dict(),
                'meta': dict(note='random init for tests')}, path)
    return path


def tiny_dataset(root: str, split: str = 'train'):
    """The tree through the config's own test pipeline."""
    from sam2love.datasets import RefAVSDataset
    from sam2love.datasets.synthetic import PRESETS
    cfg = Config.fromfile(CONFIG)
    return RefAVSDataset(root, split, num_frames=PRESETS['tiny']['num_frames'],
                         pipeline=cfg.test_dataloader.dataset.pipeline)


@torch.no_grad()
def dataset_predictions(model, dataset, indices) -> list:
    """``test_step`` on dataset samples one at a time, as tools/test.py."""
    return [model.test_step(pseudo_collate([dataset[i]]))[0]
            for i in indices]


def clip_dir_of(sample) -> str:
    """``media/<name>`` of a packed dataset sample."""
    return osp.dirname(osp.dirname(sample['data_samples'].frame_paths[0]))
