"""``tools/analysis_tools/token_probe.py`` on the tiny synthetic tree."""

import pytest
import torch
from inference_helpers import CONFIG, load_script, make_tiny_tree

TOOL = ('tools', 'analysis_tools', 'token_probe.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('probe') / 'tree'))


@pytest.mark.parametrize('source', ['neck', 'prototype', 'text',
                                    'expression'])
def test_probe_trains_and_reports_iou_and_change(tree, source):
    from sam2love.datasets.synthetic import PRESETS
    history = load_script(*TOOL).main([
        CONFIG, '--source', source, '--iters', '2', '--eval-every', '1',
        '--batch-size', '4', '--eval-split', 'val', '--cfg-options',
        f'train_dataloader.dataset.data_root={tree}',
        f'train_dataloader.dataset.num_frames={PRESETS["tiny"]["num_frames"]}'])
    assert [h['iter'] for h in history] == [0, 1, 2]
    for h in history:
        assert 0 <= h['iou'] <= 1 and 0 <= h['changed'] <= 1


def test_rolled_gives_each_sample_the_next_ones_source():
    tool = load_script(*TOOL)
    batch = dict(feats=dict(text=torch.arange(3)[:, None]),
                 gt0=torch.arange(3), texts=['a', 'b', 'c'])
    out = tool.rolled(batch)
    assert out['texts'] == ['c', 'a', 'b']
    assert out['gt0'].tolist() == [2, 0, 1]
    assert out['feats']['text'][:, 0].tolist() == [2, 0, 1]
