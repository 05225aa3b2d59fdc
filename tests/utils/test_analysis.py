"""sam2love.utils.analysis: the analysis tools' model and data plumbing."""
import logging
import types

import numpy as np
import pytest
import torch
from inference_helpers import CONFIG, make_tiny_tree
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmseg.registry import DATASETS, MODELS
from torch import nn

from sam2love.datasets.synthetic import PRESETS
from sam2love.utils.analysis import (
    build_eval_model,
    cache_probe_parser,
    held_out_clips,
    preprocessed_batches,
)


@MODELS.register_module(name='UtilsTestTinyModel', force=True)
class TinyModel(BaseModule):
    """A linear layer; its ``init_cfg`` sets the bias to ``bias``
    (PyTorch's random init stays when ``bias`` is None)."""

    def __init__(self, bias: float | None = 0.5):
        super().__init__(None if bias is None else dict(
            type='Constant', layer='Linear', val=1.0, bias=bias))
        self.linear = nn.Linear(4, 3)


def test_build_eval_model_seeds_inits_and_evaluates():
    cfg = Config(dict(model=dict(type='UtilsTestTinyModel')))
    model = build_eval_model(cfg, seed=3)
    assert isinstance(model, TinyModel) and not model.training
    assert torch.all(model.linear.bias == 0.5)  # init_weights() ran
    # the seed decides the random init of what init_cfg leaves alone
    bare = dict(type='UtilsTestTinyModel', bias=None)
    one, two, other = (build_eval_model(Config(dict(model=bare)), seed=s)
                       for s in (3, 3, 4))
    assert torch.equal(one.linear.weight, two.linear.weight)
    assert not torch.equal(one.linear.weight, other.linear.weight)


@pytest.mark.parametrize('quiet', [True, False])
def test_build_eval_model_restores_the_log_level(quiet):
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        build_eval_model(Config(dict(model=dict(type='UtilsTestTinyModel'))),
                         quiet=quiet)
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(level)


def test_preprocessed_batches_walk_a_split_in_order(tmp_path):
    root = make_tiny_tree(str(tmp_path / 'tree'))
    cfg = Config.fromfile(CONFIG).test_dataloader.dataset
    cfg.data_root, cfg.num_frames = root, PRESETS['tiny']['num_frames']
    model = types.SimpleNamespace(
        data_preprocessor=MODELS.build(dict(type='ClipDataPreprocessor')))
    batches = list(preprocessed_batches(model, cfg, 'val', 2))
    assert cfg.split == 'test_s'  # the given config is left alone
    dataset = DATASETS.build(dict(cfg, split='val'))
    assert [len(texts) for _, _, texts in batches] == \
        [2] * (len(dataset) // 2) + [1] * (len(dataset) % 2)
    texts = [t for _, _, batch_texts in batches for t in batch_texts]
    assert texts == [dataset.get_data_info(i)['text']
                     for i in range(len(dataset))]
    inputs, samples, _ = batches[0]
    assert inputs['frames'].shape[:2] == (2, PRESETS['tiny']['num_frames'])
    assert inputs['audio'].shape[0] == 2
    assert [s.text for s in samples] == texts[:2]


def test_cache_probe_parser_defaults():
    parser = cache_probe_parser('a probe')
    assert parser.description == 'a probe'
    args = parser.parse_args(['root', 'cache'])
    assert vars(args) == dict(data_root='root', cache_dir='cache',
                              split='train', test_share=0.2, seed=0, out=None)
    args = parser.parse_args(['r', 'c', '--split', 'val', '--test-share',
                              '0.5', '--seed', '2', '--out', 'x.json'])
    assert (args.split, args.test_share, args.seed, args.out) == \
        ('val', 0.5, 2, 'x.json')


def test_held_out_clips_hold_out_whole_clips():
    clips = np.array(['a', 'b', 'a', 'c', 'd', 'b', 'e', 'a', 'c', 'd'])
    mask, count = held_out_clips(clips, 0.4, seed=0)
    assert count == 2 and mask.dtype == bool and mask.shape == clips.shape
    assert len(set(clips[mask])) == 2
    for clip in set(clips):  # every item of a clip on the same side
        assert len(set(mask[clips == clip])) == 1
    again, _ = held_out_clips(clips, 0.4, seed=0)
    assert np.array_equal(mask, again)
    assert any(not np.array_equal(mask, held_out_clips(clips, 0.4, s)[0])
               for s in range(1, 6))
    # at least one clip, even for a tiny share
    assert held_out_clips(clips, 0.01, seed=0)[1] == 1
