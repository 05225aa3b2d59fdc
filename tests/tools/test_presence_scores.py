"""``tools/analysis_tools/presence_scores.py``: null vs ordinary rows."""
import json

import pytest
from inference_helpers import (
    CONFIG,
    build_tiny_model,
    make_tiny_tree,
    tiny_dataset,
    tiny_tree_and_checkpoint,
)

TOOL = 'analysis_tools/presence_scores'


def test_roc_auc_counts_ties_half(tool):
    assert tool.roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert tool.roc_auc([0.1], [0.9]) == 0.0
    assert tool.roc_auc([0.5, 0.7], [0.5]) == 0.75


def test_calibrated_threshold_keeps_the_ordinary_rows(tool):
    scores = dict(ordinary=[0.9, 0.2, 0.6, 0.8, 0.7], silent=[0.05, 0.3])
    got = tool.calibrate(scores, 0.2, ceiling=1.0)  # one row of 5 may go
    assert got['threshold'] == 0.6
    assert got['found_absent'] == dict(ordinary=0.2, silent=1.0)
    capped = tool.calibrate(scores, 0.2)  # at most the BCE's boundary
    assert capped['threshold'] == 0.5 and capped['max_threshold'] == 0.5
    assert capped['found_absent'] == dict(ordinary=0.2, silent=1.0)
    none = tool.calibrate(scores, 0.0)
    assert none['threshold'] == 0.2 and none['found_absent']['ordinary'] == 0
    with pytest.raises(ValueError, match='no ordinary rows'):
        tool.calibrate(dict(silent=[0.1]), 0.1)


def test_separating_threshold_sits_in_the_widest_best_gap(tool):
    ordinary = [0.0001, 0.03, 0.4, 0.6, 0.9]  # one silenced wrongly
    silent = [0.001, 0.004, 0.9997]  # one silence not heard
    got = tool.separate(ordinary, silent)
    # under 0.03 finds 2/3 made-silent rows and 1/5 ordinary ones (above
    # 0.03 the same share of made-silent rows for 2/5 ordinary ones)
    assert got['threshold'] == pytest.approx((0.004 * 0.03) ** 0.5)
    assert got['separation'] == pytest.approx(2 / 3 - 1 / 5)
    # equal separations: the wider gap in log probability
    assert tool.separate([0.5, 0.6], [0.01, 0.02])['threshold'] == \
        pytest.approx((0.02 * 0.5) ** 0.5)
    assert tool.separate([0.9], [0.8], ceiling=0.5)['threshold'] == 0.5
    # a few null rows squeezed against the lowest ordinary one are given
    # up (at most one ordinary row's share) for the widest gap, never an
    # ordinary row
    ordinary = [0.9918, 0.999, 0.9995, 0.9999]
    null = [0.005 * (k + 1) for k in range(98)] + [0.9, 0.9912]
    wide = tool.separate(ordinary, null, ceiling=1.0)
    assert wide['threshold'] == pytest.approx((0.49 * 0.9) ** 0.5)
    assert wide['separation'] == pytest.approx(0.98)
    assert tool.separate(ordinary, null[:-2] + [0.9917], ceiling=1.0)[
        'threshold'] == pytest.approx((0.49 * 0.9917) ** 0.5)
    none = tool.separate([0.1, 0.2], [0.5])  # no threshold separates
    assert none['threshold'] == 0.05 and none['separation'] == 0
    with pytest.raises(ValueError, match='ordinary and null rows'):
        tool.separate([0.5], [])


def test_kept_object_misses_and_the_j_they_hold(tool):
    import torch
    referent = torch.zeros(8, 8, dtype=torch.bool)
    referent[:4, :4] = True
    logits = torch.full((4, 4), -10.0)  # half the size: resized as predicted
    assert tool.kept_iou(logits, referent) == 0.0
    logits[:2, :2] = 10.0
    assert tool.kept_iou(logits, referent) == 1.0
    logits[:2, :] = 10.0  # the referent and as much beside it
    assert tool.kept_iou(logits, referent) == 0.5
    assert tool.kept_iou(-logits.abs(), referent) == 0.0  # nothing kept
    got = tool.kept_object_figures([1.0, 0.5, 0.2, 0.0], miss_iou=0.3)
    assert got == dict(count=4, mean_iou=0.425, miss_iou=0.3,
                       missed_share=0.5, missed_j=pytest.approx(5.0))


def test_groups_aucs_and_shares_of_a_checkpoint(tool, tmp_path):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_n').num_frames
    out = str(tmp_path / 'presence.json')
    figures = tool.main([
        CONFIG, ckpt, '--split', 'test_s', 'test_n', '--batch-size', '4',
        '--thresholds', '0.2', '0.8', '--max-ordinary-loss', '0.1',
        '--out', out, '--cfg-options',
        f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={frames}'])
    with open(out) as f:
        assert json.load(f) == figures
    groups = figures['groups']
    nulls = len(tiny_dataset(tree, 'test_n'))
    assert groups['ordinary']['count'] == len(tiny_dataset(tree, 'test_s'))
    assert sum(g['count'] for name, g in groups.items()
               if name != 'ordinary') == nulls
    info = json.load(open(f'{tree}/synthetic_info.json'))['rows']
    assert set(groups) - {'ordinary'} <= {
        r['null_type'] for r in info.values() if r.get('null_type')}
    for name, group in groups.items():
        assert 0 <= group['mean'] <= 1
        assert ('auc' in group) == (name != 'ordinary')
        if name != 'ordinary':
            assert 0 <= group['auc'] <= 1
    assert figures['calibrated']['found_absent']['ordinary'] <= 0.1
    kept = figures['kept_object']
    assert kept['count'] == groups['ordinary']['count']
    assert 0 <= kept['mean_iou'] <= 1 and 0 <= kept['missed_share'] <= 1
    assert 0 <= kept['missed_j'] <= 100 * kept['mean_iou']
    low, high = figures['thresholds']['0.2'], figures['thresholds']['0.8']
    for name in groups:  # a higher threshold finds more rows absent
        assert low[name] <= high[name]


def test_separate_silence_scores_the_rows_asking_for_a_sound(tool,
                                                             tmp_path):
    """``--separate-silence``: the ordinary rows that ask for a sound,
    scored again with silence, set the threshold."""
    from sam2love.datasets import read_metadata
    from sam2love.datasets.null_negatives import NullNegativeSampler
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_s').num_frames
    options = ['--cfg-options', f'test_dataloader.dataset.data_root={tree}',
               f'test_dataloader.dataset.num_frames={frames}']
    figures = tool.main([CONFIG, ckpt, '--split', 'test_s', '--batch-size',
                         '4', '--separate-silence'] + options)
    rows = read_metadata(f'{tree}/metadata.csv')
    asks = NullNegativeSampler(rows, []).asks_for_sound
    ordinary = [r for r in rows if r.split == 'test_s' and not r.is_null]
    assert figures['groups']['made-silent']['count'] == sum(
        asks(r.exp) for r in ordinary) > 0
    c = figures['calibrated']
    assert c['rule'] == 'separate-silence' and 0 < c['threshold'] <= 0.5
    assert c['separation'] == pytest.approx(
        c['found_absent']['made-silent'] - c['found_absent']['ordinary'])
    with pytest.raises(SystemExit, match='two rules'):
        tool.main([CONFIG, ckpt, '--separate-silence',
                   '--max-ordinary-loss', '0.1'] + options)


def test_the_token_switch_is_read(tool, tmp_path):
    """With ``presence.source='token'`` the tool reads the token MLP."""
    import torch
    model = build_tiny_model()
    from sam2love.models.decode_heads.presence import check_presence
    model.decode_head.presence = check_presence(dict(source='token'))
    model.decode_head.presence_mlp = torch.nn.Sequential(
        torch.nn.Linear(model.neck.embed_dim, 1))
    torch.nn.init.zeros_(model.decode_head.presence_mlp[0].weight)
    torch.nn.init.constant_(model.decode_head.presence_mlp[0].bias, 2.0)
    tree = make_tiny_tree(str(tmp_path / 'tree'))
    from mmengine.config import Config

    from sam2love.utils.analysis import preprocessed_batches
    cfg = Config.fromfile(CONFIG).test_dataloader.dataset
    cfg.data_root, cfg.num_frames = tree, tiny_dataset(tree).num_frames
    inputs, _, texts = next(preprocessed_batches(model, cfg, 'test_n', 2))
    assert tool.clip_presence(model, inputs, texts).tolist() == pytest.approx(
        [torch.sigmoid(torch.tensor(2.0)).item()] * 2)


def test_names_check_threshold_and_either_check(tool):
    """``--names-max-ordinary-loss`` calibrates the names check on its own
    probabilities (no ceiling); ``combined`` finds a row absent where
    either check does."""
    from types import SimpleNamespace
    model = SimpleNamespace(name_check=dict(threshold=0.5),
                            decode_head=SimpleNamespace(
                                presence=dict(threshold=0.3)))
    scores = {'ordinary': [0.9, 0.8, 0.2, 0.9], 'absent-referent': [0.9, 0.1]}
    names = {'ordinary': [0.99, 0.95, 0.97, 0.6], 'absent-referent': [0.4, 0.98]}
    args = SimpleNamespace(names_threshold=None, names_max_ordinary_loss=0.25,
                           names_separate_absent=False)
    out = tool.names_figures(model, scores, names, {}, args)
    assert out['names_calibrated']['threshold'] == pytest.approx(0.95)
    assert out['names']['groups']['absent-referent']['auc'] == 0.625
    combined = out['combined']
    assert combined['threshold'] == 0.3 and combined['names_threshold'] == 0.95
    assert combined['found_absent'] == {'ordinary': 0.5,
                                        'absent-referent': 1.0}
    args = SimpleNamespace(names_threshold=None, names_max_ordinary_loss=None,
                           names_separate_absent=False)
    out = tool.names_figures(model, scores, names, {'calibrated': dict(
        threshold=0.85)}, args)
    assert 'names_calibrated' not in out
    assert out['combined']['found_absent'] == {'ordinary': 0.5,
                                               'absent-referent': 1.0}


def test_rows_the_head_does_not_judge_count_as_kept_by_it(tool):
    """With ``judged`` (``name_check.head_rows='sound-asking'``) a row
    the head's check spares is never found absent by it: not in the
    shares, the calibration nor ``combined`` (the names check still
    finds it)."""
    from types import SimpleNamespace
    scores = {'ordinary': [0.9, 0.01, 0.02, 0.8], 'silent': [0.001, 0.03]}
    judged = {'ordinary': [True, False, True, True], 'silent': [True, True]}
    assert tool.shares_found(scores, 0.05, judged) == dict(
        ordinary=0.25, silent=1.0)
    assert tool.summarise(scores, [0.05], judged)['thresholds'] == {
        '0.05': dict(ordinary=0.25, silent=1.0)}
    got = tool.calibrate(scores, 0.0, ceiling=1.0, judged=judged)
    assert got['threshold'] == 0.02  # the spared 0.01 does not count
    model = SimpleNamespace(name_check=dict(threshold=0.5),
                            decode_head=SimpleNamespace(
                                presence=dict(threshold=0.05)))
    names = {'ordinary': [0.99, 0.3, 0.9, 0.9], 'silent': [0.9, 0.9]}
    args = SimpleNamespace(names_threshold=None, names_max_ordinary_loss=None,
                           names_separate_absent=False)
    combined = tool.names_figures(model, scores, names, {}, args,
                                  judged)['combined']
    assert combined['found_absent'] == dict(ordinary=0.5, silent=1.0)
    names['ordinary'][1] = 0.9
    combined = tool.names_figures(model, scores, names, {}, args,
                                  judged)['combined']
    assert combined['found_absent'] == dict(ordinary=0.25, silent=1.0)


def test_names_threshold_separating_the_rows_made_absent(tool):
    """``--names-separate-absent``: the names check's threshold best
    separates the ordinary rows from the rows made absent (lent
    expressions), in the widest gap, with no ceiling."""
    from types import SimpleNamespace
    model = SimpleNamespace(name_check=dict(threshold=0.5),
                            decode_head=SimpleNamespace(
                                presence=dict(threshold=0.3)))
    scores = {'ordinary': [0.9, 0.8, 0.9], 'absent-referent': [0.9]}
    names = {'ordinary': [1.0, 0.999, 0.9], 'absent-referent': [0.2],
             'made-absent': [0.0, 0.1, 0.3, 1.0]}
    args = SimpleNamespace(names_threshold=None, names_max_ordinary_loss=None,
                           names_separate_absent=True)
    out = tool.names_figures(model, scores, names, {}, args)
    c = out['names_calibrated']
    assert c['rule'] == 'separate-absent'
    assert c['threshold'] == pytest.approx((0.3 * 0.9) ** 0.5)
    assert c['found_absent'] == {'ordinary': 0.0, 'absent-referent': 1.0,
                                 'made-absent': 0.75}
    assert out['combined']['names_threshold'] == c['threshold']
    table = tool.format_table(dict(tool.summarise(scores, [0.5]), **out))
    assert 'made-absent rows: 0.75' in table


def test_rows_made_absent_score_each_clip_once(tool):
    """Each clip of the batch's ordinary rows is scored once with every
    lent expression naming nothing it shows; null rows lend nothing."""
    from collections import defaultdict
    from types import SimpleNamespace

    import torch
    seen = []

    def names_presence(inputs, texts):
        seen.append((inputs['frames'][0, 0, 0, 0, 0].item(), texts))
        return torch.full((len(texts), ), 0.25)

    model = SimpleNamespace(names_presence=names_presence)
    lent = {'a': [SimpleNamespace(text='The red cross.')] * 2
            + [SimpleNamespace(text='The blue star.')], 'b': []}
    lender = SimpleNamespace(absent_expressions=lambda clip: lent[clip])

    def sample(clip, ordinary):
        return SimpleNamespace(metainfo=dict(clip_name=clip),
                               gt_eval_masks=SimpleNamespace(
                                   data=torch.full((1, 2, 2), ordinary)))

    frames = torch.arange(4.0)[:, None, None, None, None].expand(4, 1, 3, 2, 2)
    samples = [sample('a', True), sample('a', True), sample('b', True),
               sample('c', False)]
    names, done = defaultdict(list), set()
    tool.made_absent(model, dict(frames=frames), samples, lender, done, names)
    tool.made_absent(model, dict(frames=frames), samples[:1], lender, done,
                     names)
    assert seen == [(0.0, ['The blue star.', 'The red cross.'])]
    assert names['made-absent'] == [0.25, 0.25] and done == {'a', 'b'}


def test_names_separate_absent_needs_a_names_check_and_one_rule(tool,
                                                                tmp_path):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    options = ['--cfg-options', f'test_dataloader.dataset.data_root={tree}']
    with pytest.raises(SystemExit, match='two rules'):
        tool.main([CONFIG, ckpt, '--names-separate-absent',
                   '--names-max-ordinary-loss', '0.1'] + options)
    with pytest.raises(SystemExit, match='needs a model with a name_check'):
        tool.main([CONFIG, ckpt, '--names-separate-absent'] + options)
