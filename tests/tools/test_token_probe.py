"""``tools/analysis_tools/token_probe.py`` on the tiny synthetic tree."""

import pytest
import torch
from inference_helpers import CONFIG, make_tiny_tree

TOOL = 'analysis_tools/token_probe'


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('probe') / 'tree'))


@pytest.mark.parametrize('source', ['neck', 'prototype', 'text',
                                    'expression', 'referent'])
def test_probe_trains_and_reports_iou_and_change(tool, tree, source):
    from sam2love.datasets.synthetic import PRESETS
    history = tool.main([
        CONFIG, '--source', source, '--iters', '2', '--eval-every', '1',
        '--batch-size', '4', '--eval-split', 'val', '--cfg-options',
        f'train_dataloader.dataset.data_root={tree}',
        f'train_dataloader.dataset.num_frames={PRESETS["tiny"]["num_frames"]}'])
    assert [h['iter'] for h in history] == [0, 1, 2]
    for h in history:
        assert 0 <= h['iou'] <= 1 and 0 <= h['changed'] <= 1


def test_rolled_gives_each_sample_the_next_ones_source(tool):
    batch = dict(feats=dict(text=torch.arange(3)[:, None]),
                 gt0=torch.arange(3), texts=['a', 'b', 'c'])
    out = tool.rolled(batch)
    assert out['texts'] == ['c', 'a', 'b']
    assert out['gt0'].tolist() == [2, 0, 1]
    assert out['feats']['text'][:, 0].tolist() == [2, 0, 1]


def test_referent_oracle_reads_colour_and_shape_of_each_row(tool, tree):
    import json
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


def test_referent_oracle_needs_synthetic_info(tool, tmp_path):
    with pytest.raises(FileNotFoundError, match='synthetic_info.json'):
        tool.load_referents(str(tmp_path))


@pytest.mark.parametrize('head,norm', [('sam2', 'batch'), ('linear', 'none')])
def test_probe_tracks_the_clips_with_either_head(tool, tree, head, norm):
    from sam2love.datasets.synthetic import PRESETS
    frames = PRESETS['tiny']['num_frames']
    history = tool.main([
        CONFIG, '--source', 'neck', '--iters', '2', '--eval-every', '2',
        '--batch-size', '4', '--eval-split', 'val', '--head', head,
        '--token-norm', norm, '--track', '--cfg-options',
        f'train_dataloader.dataset.data_root={tree}',
        f'train_dataloader.dataset.num_frames={frames}',
        f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={frames}'])
    scores = history[-1]['tracked']
    assert set(scores) == {'J', 'F', 'J&F'}
    assert all(0 <= v <= 1 for v in scores.values())
    assert scores['J&F'] == pytest.approx((scores['J'] + scores['F']) / 2)
    from sam2love.datasets.synthetic import EXPRESSION_KINDS
    kinds = history[-1]['tracked_by_kind']
    assert kinds and set(kinds) <= set(EXPRESSION_KINDS)
    with open(f'{tree}/metadata.csv') as f:
        num_val = sum(line.split(',')[2] == 'val' for line in f)
    assert sum(n for n, _ in kinds.values()) == num_val
    assert all(0 <= v <= 1 for _, v in kinds.values())


def test_linear_head_is_a_dot_product_with_the_features(tool):
    head = tool.LinearReferringHead(token_dim=4, channels=3)
    feat = torch.randn(2, 3, 5, 5)
    out = head(torch.randn(2, 1, 4), dict(backbone_fpn=[feat],
                                          vision_pos_enc=[torch.zeros_like(feat)]))
    assert out['masks'].shape == (2, 1, 5, 5)
    assert out['ious'].shape == (2, 1)
    # a token whose query is zero gives the bias everywhere
    with torch.no_grad():
        head.query[-1].weight.zero_()
        head.query[-1].bias.zero_()
        head.bias.fill_(0.25)
    out = head(torch.randn(2, 1, 4), dict(backbone_fpn=[feat],
                                          vision_pos_enc=[torch.zeros_like(feat)]))
    assert torch.allclose(out['masks'], torch.full_like(out['masks'], 0.25))
