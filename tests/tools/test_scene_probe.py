"""``tools/analysis_tools/scene_probe.py``: list frame 0's objects, name
them, match the named words."""
import json

import pytest
import torch
from inference_helpers import CONFIG, tiny_dataset, tiny_tree_and_checkpoint

TOOL = 'analysis_tools/scene_probe'


def test_matching_words_iou_and_the_shares_found_absent(tool):
    assert tool.named_words('The red star.', ['blue', 'red'],
                            ['circle', 'star']) == ([1], [1])
    assert tool.named_words('The object making a sound.', ['red'],
                            ['star']) == ([], [])
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    a[0, :2, :2] = True
    a[1, :, :2] = True
    b = torch.zeros(4, 4, dtype=torch.bool)
    b[:2, :2] = True
    assert tool.mask_iou(a, b).tolist() == [1.0, 0.5]
    ordinary = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    shares = tool.found_absent(ordinary, [0.01, 0.2, 0.95],
                               shares=(0.1, 0.5))
    assert shares == {'0.1': pytest.approx(1 / 3),
                      '0.5': pytest.approx(2 / 3)}


def test_what_a_clip_is_heard_making(tool):
    scene = dict(categories=['red-star', 'red-star', 'blue-cross'],
                 schedule=[[0, 0.5], [0, 0], [0, 0]], heard=None)
    assert tool.heard_categories(scene) == {'red-star'}
    lent = dict(scene, heard=['green-circle'])  # sound from off screen
    assert tool.heard_categories(lent) == {'green-circle'}
    assert tool.asks_for_sound('The object making the loudest sound.')
    assert not tool.asks_for_sound('The silent object that makes no sound.')
    assert not tool.asks_for_sound('The red star.')


def test_lists_names_and_scores_a_checkpoint(tool, tmp_path, capsys):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_n').num_frames
    out = tmp_path / 'scene.json'
    figures = tool.main([
        CONFIG, ckpt, '--split', 'test_s', 'test_n', '--epochs', '1',
        '--batch-size', '4', '--out', str(out), '--cfg-options',
        f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={frames}'])
    assert json.loads(out.read_text()) == figures
    assert figures['objects_per_clip'] >= 0
    assert set(figures['recall']) == {'0.3', '0.5'}
    assert figures['recall']['0.5'] <= figures['recall']['0.3'] <= 1
    assert all(0 <= v <= 1 for v in figures['naming'].values())
    absent = figures['absent_referent']
    assert absent['ordinary_rows'] > 0
    assert absent['auc'] is None or 0 <= absent['auc'] <= 1
    sound = figures['sound']
    assert sound['ordinary_rows'] >= 0
    for group in set(sound) - {'ordinary_rows'}:
        assert group in ('mismatched-audio', 'silent-scene')
        assert 0 <= sound[group]['auc'] <= 1 and sound[group]['rows'] > 0
    assert 'named on the ground-truth masks' in capsys.readouterr().out


def test_refuses_a_fit_split_without_referents(tool, tmp_path):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_n').num_frames
    with pytest.raises(ValueError, match="'test_n' of .* has no row"):
        tool.main([CONFIG, ckpt, '--fit-split', 'test_n', '--cfg-options',
                   f'test_dataloader.dataset.data_root={tree}',
                   f'test_dataloader.dataset.num_frames={frames}'])


def test_refuses_data_without_synthetic_categories(tool, tmp_path):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    (tmp_path / 'tree' / 'synthetic_info.json').unlink()
    with pytest.raises(FileNotFoundError, match='synthetic_info.json'):
        tool.main([CONFIG, ckpt, '--cfg-options',
                   f'test_dataloader.dataset.data_root={tree}'])
