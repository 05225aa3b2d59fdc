"""``tools/analysis_tools/token_probe.py`` on the tiny synthetic tree."""

import pytest
import torch
from inference_helpers import CONFIG, load_script, make_tiny_tree

TOOL = ('tools', 'analysis_tools', 'token_probe.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('probe') / 'tree'))


@pytest.mark.parametrize('source', ['neck', 'prototype', 'text',
                                    'expression', 'referent'])
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


def test_referent_oracle_reads_colour_and_shape_of_each_row(tree):
    import json
    tool = load_script(*TOOL)
    table = tool.load_referents(tree)
    with open(f'{tree}/synthetic_info.json') as f:
        info = json.load(f)
    assert set(table) == set(info['rows'])
    named = {uid: row['referent'] for uid, row in info['rows'].items()
             if row.get('referent')}
    assert named, 'the tiny tree has no referred object'
    # rows naming the same category share their indices, others differ
    by_category = {}
    for uid, name in named.items():
        by_category.setdefault(name, set()).add(table[uid])
    assert all(len(v) == 1 for v in by_category.values())
    assert len({v.pop() for v in by_category.values()}) == len(by_category)


def test_referent_oracle_needs_synthetic_info(tmp_path):
    tool = load_script(*TOOL)
    with pytest.raises(FileNotFoundError, match='synthetic_info.json'):
        tool.load_referents(str(tmp_path))
