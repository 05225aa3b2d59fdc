"""tools/analysis_tools/audio_probe.py: linear probes of the sounding
categories on a cache's audio features, scored on held-out clips."""
import json

import numpy as np
import pytest
from feature_cache_helpers import tiny_tree_and_cache

TOOL = 'analysis_tools/audio_probe'


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    return tiny_tree_and_cache(tmp_path_factory, 'audio')


def test_scores_the_seconds_of_held_out_clips(tool, cached, tmp_path, capsys):
    root, cache = cached
    out = tmp_path / 'audio.json'
    tool.main([root, cache, '--test-share', '0.5', '--out', str(out)])
    result = json.loads(out.read_text())
    assert 0 < result['test_seconds'] < result['seconds']
    assert 0 <= result['exact'] <= 1
    assert result['categories'] == 0 or 0 <= result['mean_auc'] <= 1
    assert 'mean ROC AUC' in capsys.readouterr().out


def test_heard_categories_follow_the_schedule(tool):
    clip = dict(categories=['red-circle', 'blue-cross'],
                schedule=[[1, 0, 0.5], [0, 0, 1]])
    labels = tool.heard_per_second(clip, ['blue-cross', 'red-circle'])
    assert labels.tolist() == [[0, 1], [0, 0], [1, 1]]
    dubbed = dict(clip, heard=['blue-cross'], heard_schedule=[[0, 1, 0]])
    assert tool.heard_per_second(dubbed, ['blue-cross', 'red-circle'])\
        .tolist() == [[0, 0], [1, 0], [0, 0]]


def test_probe_separates_a_linear_code_and_not_noise(tool):
    rng = np.random.default_rng(0)
    y = (rng.random((400, 3)) < 0.4).astype(float)
    code = y @ rng.normal(size=(3, 8)) + 0.1 * rng.normal(size=(400, 8))
    test = np.arange(400) % 4 == 0
    good = tool.probe(code, y, test)
    assert good['mean_auc'] > 0.95 and good['exact'] > 0.8
    noise = tool.probe(rng.normal(size=(400, 8)), y, test)
    assert noise['mean_auc'] < 0.7


def test_auc_by_ranks(tool):
    assert tool.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]),
                         np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert tool.roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
