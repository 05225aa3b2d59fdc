"""``tools/analysis_tools/referent_probe.py`` on the tiny synthetic tree."""

import pytest
import torch
from inference_helpers import CONFIG, load_script, make_tiny_tree

TOOL = ('tools', 'analysis_tools', 'referent_probe.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('referent') / 'tree'))


def test_probe_trains_the_neck_and_scores_each_kind(tree):
    from sam2love.datasets.synthetic import PRESETS
    history = load_script(*TOOL).main([
        CONFIG, '--iters', '2', '--eval-every', '1', '--batch-size', '4',
        '--eval-split', 'val', '--cfg-options',
        f'train_dataloader.dataset.data_root={tree}',
        f'train_dataloader.dataset.num_frames={PRESETS["tiny"]["num_frames"]}'])
    assert [h['iter'] for h in history] == [0, 1, 2]
    for h in history:
        assert 'all' in h
        for kind in ('vision', 'audio', 'mixed', 'temporal', 'all'):
            assert 0 <= h.get(kind, 0) <= 1


def test_scores_per_kind_and_chance():
    tool = load_script(*TOOL)
    kinds = ['vision', 'vision', 'audio', 'mixed']
    scores = tool.by_kind(torch.tensor([1., 0., 1., 0.]), kinds)
    assert scores == dict(vision=0.5, audio=1.0, mixed=0.0, all=0.5)
    train = dict(colour=torch.tensor([0, 0, 1]), shape=torch.tensor([2, 2, 0]))
    held = dict(colour=torch.tensor([0, 0, 1, 0]),
                shape=torch.tensor([2, 1, 0, 2]), kinds=kinds)
    assert tool.chance(train, held) == dict(vision=0.5, audio=0.0,
                                            mixed=1.0, all=0.5)

