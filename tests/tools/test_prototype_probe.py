"""tools/analysis_tools/prototype_probe.py on a cache of the tiny synthetic
tree: one accuracy per cached SAM2 level and attribute, scored on held-out
clips."""
import json

import numpy as np
import pytest
from feature_cache_helpers import tiny_tree_and_cache

TOOL = 'analysis_tools/prototype_probe'


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    return tiny_tree_and_cache(tmp_path_factory, 'probe')


def test_scores_every_level_and_attribute_on_held_out_clips(tool, cached,
                                                            tmp_path, capsys):
    root, cache = cached
    out = tmp_path / 'probe.json'
    tool.main([root, cache, '--test-share', '0.5', '--out', str(out)])
    result = json.loads(out.read_text())
    assert set(result['levels']) == {'0', '1', '2'}
    for scores in result['levels'].values():
        assert set(scores) == {'category', 'colour', 'shape'}
        assert all(0 <= v <= 1 for v in scores.values())
    assert set(result['presence']) == {'0', '1', '2'}
    for aucs in result['presence'].values():
        assert set(aucs) == {'auc', 'auc_hard', 'auc_easy'}
        assert all(v is None or 0 <= v <= 1 for v in aucs.values())
    assert 0 < result['test_rows'] < result['rows']
    assert result['chance']['colour'] >= 0.25 - 1e-9
    assert 'level 2 (' in capsys.readouterr().out


def test_centroids_name_separable_classes_and_count_unseen_ones_wrong(tool):
    x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.8, 0.2],
                  [0.2, 0.8], [1, 1]], dtype=float)
    labels = np.array(['a', 'a', 'b', 'b', 'a', 'b', 'c'])
    test = np.array([False, False, False, False, True, True, True])
    # the two held-out a / b rows are named right, the unseen class c not
    assert tool.nearest_centroid_accuracy(x, labels, test) == \
        pytest.approx(2 / 3)


def test_presence_auc_scores_the_categories_on_screen_against_the_others(
        tool):
    # categories a-x / a-y / b-x / b-y: centroids along axes 0 / 1 / 2 / 3
    categories = np.array(['a-x', 'a-y', 'b-x', 'b-y', 'a-x'])
    x = np.eye(4)[[0, 1, 2, 3, 0]]
    clips = np.array(['k', 'k', 'k', 'k', 't'])
    test = clips == 't'
    # held-out clip t shows a-x (cell 0) and, unknown to its rows, a cell
    # along b-y's axis (cell 1)
    cells = {'t': np.eye(4)[:, [0, 3]][:, :, None]}
    parts = {c: tuple(c.split('-')) for c in categories}
    got = tool.presence_aucs(x, categories, clips, test, cells,
                             {'t': {'a-x'}}, parts)
    # a-y and b-x share a part with a-x (hard) and match no cell; b-y
    # (easy) matches cell 1 as well as a-x matches cell 0: a tie
    assert got == pytest.approx(dict(auc=2.5 / 3, auc_hard=1.0,
                                     auc_easy=0.5))
    no_parts = tool.presence_aucs(x, categories, clips, test, cells,
                                  {'t': {'a-x'}})
    assert no_parts == pytest.approx(dict(auc=2.5 / 3))
    alone = tool.presence_aucs(x, categories, clips, test, cells,
                               {'t': {'a-x', 'a-y', 'b-x', 'b-y'}}, parts)
    assert alone == dict(auc=None, auc_hard=None, auc_easy=None)
