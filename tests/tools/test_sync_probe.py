"""``tools/analysis_tools/sync_probe.py``: is something on screen active
in the seconds the sound is loud?"""
import json

import pytest
import torch
from inference_helpers import (
    CONFIG,
    build_tiny_model,
    tiny_dataset,
    tiny_tree_and_checkpoint,
)

TOOL = 'analysis_tools/sync_probe'


def test_loud_seconds_are_above_the_floor_and_the_clips_loudest(tool):
    second = torch.ones(100)
    audio = torch.cat([0.5 * second, 0.002 * second, 0.02 * second,
                       0.04 * second])
    assert tool.loud_seconds(audio, 4, floor=0.01, rel=0.1).tolist() == [
        True, False, False, False]  # 0.02 and 0.04 under 0.1 x 0.5
    assert tool.loud_seconds(audio, 4, floor=0.01, rel=0.01).tolist() == [
        True, False, True, True]
    quiet = torch.full((400, ), 0.003)  # the noise floor alone
    assert not tool.loud_seconds(quiet, 4, 0.01, 0.1).any()


def test_sync_is_the_activity_in_the_loud_seconds(tool):
    activity = torch.tensor([0.9, 0.1, 0.3, 0.2])
    loud = torch.tensor([False, True, True, False])
    assert tool.sync_score(activity, loud, 'max') == pytest.approx(0.3)
    assert tool.sync_score(activity, loud, 'mean') == pytest.approx(0.2)
    assert tool.sync_score(activity, torch.zeros(4, dtype=torch.bool),
                           'max') == 0.0
    rows = [dict(clip='a', split='test_s', group='ordinary', sound=True),
            dict(clip='b', split='test_s', group='ordinary', sound=True),
            dict(clip='c', split='test_s', group='ordinary', sound=False),
            dict(clip='d', split='test_n', group='mismatched-audio',
                 sound=True)]
    figures = tool.sync_figures(rows, dict(a=0.9, b=0.6, c=0.0, d=0.1),
                                ['test_s', 'test_n'])
    assert figures == {'test_s': {
        'ordinary_rows': 2,
        'mismatched-audio': dict(rows=1, auc=1.0, found_absent={
            '0.01': 1.0, '0.02': 1.0, '0.05': 1.0})}}


def test_the_activity_net_learns_what_the_sound_labels(tool):
    # a bright spot in some of the loud seconds, never in the quiet ones
    torch.manual_seed(0)
    clips = []
    for _ in range(12):
        x = torch.randn(10, 3, 16, 16) * 0.1
        loud = torch.rand(10) < 0.5
        loud[:2] = torch.tensor([True, False])
        spot = loud & (torch.rand(10) < 0.7)
        x[spot, :, 5, 7] += 3.0
        clips.append(dict(x=x.half(), loud=loud))
    net = tool.fit_activity(clips, epochs=30, batch_size=16)
    with torch.no_grad():
        act = net(torch.cat([c['x'] for c in clips]).float()).sigmoid()
    loud = torch.cat([c['loud'] for c in clips])
    assert tool.roc_auc(act[loud].numpy(), act[~loud].numpy()) > 0.75
    with pytest.raises(ValueError, match='loud and quiet seconds'):
        tool.fit_activity([dict(x=clips[0]['x'],
                                loud=torch.ones(10, dtype=torch.bool))], 1)


def test_what_the_activity_net_reads(tool):
    model = build_tiny_model().eval()
    frames = torch.randn(3, 3, 40, 56)
    rgb = tool.frame_inputs(model, frames, 'rgb')
    assert rgb.shape == (3, 3, tool.RGB_SIZE, tool.RGB_SIZE)
    assert rgb.dtype == torch.float16
    level = tool.frame_inputs(model, frames, 'sam2').float()
    size = model.decode_head.sam.image_size // 4  # its stride-4 level
    assert level.shape[::2] == (3, size) and level.shape[-1] == size
    assert torch.allclose(level.norm(dim=1), torch.ones(()), atol=1e-2)


def test_scores_a_checkpoint(tool, tmp_path, capsys):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_n').num_frames
    out = tmp_path / 'sync.json'
    figures = tool.main([
        CONFIG, ckpt, '--split', 'test_s', 'test_n', '--epochs', '1',
        '--batch-size', '4', '--out', str(out),
        '--loud-rel', '0.99',  # the tiny tree's clips sound throughout
        '--cfg-options', f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={frames}'])
    assert json.loads(out.read_text()) == figures
    assert figures['input'] == 'rgb'
    assert set(figures['frames']) == {'test_s', 'test_n'}
    assert set(figures['sync']) == {'max', 'mean'}
    for per_split in figures['sync'].values():
        assert set(per_split) <= {'test_s'}
        for groups in per_split.values():
            for group, v in groups.items():
                if group != 'ordinary_rows':
                    assert v['rows'] > 0 and 0 <= v['auc'] <= 1
    assert 'loud against quiet seconds' in capsys.readouterr().out
