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
