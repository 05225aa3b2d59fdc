"""Shared pieces of the inference tests: a tiny synthetic tree, a random
checkpoint of the tiny model, and the dataset path's predictions."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tool_loader import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'sam2love_tiny_1xb4-300it_synthetic.py')
#: SAM2's object-score output bias: a random model scores every object ~0
#: and the head then replaces all logits by -1024 ("no object"), which
#: would make mask comparisons trivial; a large bias keeps real logits.
OBJ_SCORE_BIAS = \
    'decode_head.sam.sam_mask_decoder.pred_obj_score_head.layers.2.bias'


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


def tiny_tree_and_checkpoint(folder) -> tuple[str, str]:
    """``folder/tree`` (:func:`make_tiny_tree`) and ``folder/tiny.pth``, a
    random checkpoint of the tiny model (:func:`build_tiny_model`)."""
    root = make_tiny_tree(osp.join(folder, 'tree'))
    ckpt = save_checkpoint(build_tiny_model(), osp.join(folder, 'tiny.pth'))
    return root, ckpt


def tiny_clip_video(folder, split: str = 'train') -> dict:
    """What the demos run on: :func:`tiny_tree_and_checkpoint` in
    ``folder``, the first ``split`` sample's clip written as a (playable)
    mp4 with sound by ``tools/clip_to_video.py``, and that clip's
    metadata expressions; keys ``tmp`` (``folder``), ``root``, ``ckpt``,
    ``clip_dir``, ``mp4``, ``texts``."""
    root, ckpt = tiny_tree_and_checkpoint(folder)
    clip_dir = clip_dir_of(tiny_dataset(root, split)[0])
    mp4 = osp.join(folder, 'clip.mp4')
    to_video = load_tool('clip_to_video')
    assert to_video.main([clip_dir, mp4]) == 0
    texts = [e['exp'] for e in to_video.clip_expressions(clip_dir)]
    return dict(tmp=folder, root=root, ckpt=ckpt, clip_dir=clip_dir, mp4=mp4,
                texts=texts)


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
