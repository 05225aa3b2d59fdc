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
from mmengine.config import Config

from sam2love.models.decode_heads.sound_on_screen import SoundOnScreen

TOOL = 'analysis_tools/sync_probe'


def test_sync_figures_per_split_and_null_group(tool):
    rows = [dict(clip='a', split='test_s', group='ordinary', sound=True),
            dict(clip='b', split='test_s', group='ordinary', sound=True),
            dict(clip='c', split='test_s', group='ordinary', sound=False),
            dict(clip='d', split='test_n', group='mismatched-audio',
                 sound=True)]
    figures = tool.sync_figures(rows, dict(a=0.9, b=0.4, c=0.0, d=0.1),
                                ['test_s', 'test_n'])
    assert figures == {'test_s': {
        'ordinary_rows': 2, 'ordinary_under_05': 0.5,
        'mismatched-audio': dict(rows=1, auc=1.0, found_absent={
            '0.01': 1.0, '0.02': 1.0, '0.05': 1.0}, under_05=1.0)}}


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
    check = tool.fit_activity(SoundOnScreen(size=16, width=8), clips,
                              steps=120, clips_per_step=4)
    assert not check.training
    with torch.no_grad():
        act = check.activity(torch.stack(
            [c['x'] for c in clips]).float()).sigmoid().flatten()
    loud = torch.cat([c['loud'] for c in clips])
    assert tool.roc_auc(act[loud].numpy(), act[~loud].numpy()) > 0.75
    with pytest.raises(ValueError, match='loud and quiet seconds'):
        tool.fit_activity(SoundOnScreen(size=16), [dict(
            x=clips[0]['x'], loud=torch.ones(10, dtype=torch.bool))], 1)


def test_what_the_activity_net_reads(tool, tmp_path):
    """Each clip once: its frames pooled as the check pools them, half
    precision, and its loud seconds."""
    tree, _ = tiny_tree_and_checkpoint(tmp_path)
    data = tiny_dataset(tree, 'test_s')
    model = build_tiny_model().eval()
    check = SoundOnScreen(size=16, loud_rel=0.99)
    cfg = Config.fromfile(CONFIG).test_dataloader.dataset
    cfg.update(data_root=tree, num_frames=data.num_frames)
    rows, clips = tool.collect(model, check, cfg, 'test_s', 4, {})
    assert len(rows) == len(data)
    assert {r['clip'] for r in rows} == set(clips)
    for clip in clips.values():
        assert clip['x'].shape == (data.num_frames, 3, 16, 16)
        assert clip['x'].dtype == torch.float16
        assert clip['loud'].shape == (data.num_frames, )
        assert clip['loud'].any()  # the loudest second at least


def test_scores_a_checkpoint(tool, tmp_path, capsys):
    tree, ckpt = tiny_tree_and_checkpoint(tmp_path)
    frames = tiny_dataset(tree, 'test_n').num_frames
    out = tmp_path / 'sync.json'
    figures = tool.main([
        CONFIG, ckpt, '--split', 'test_s', 'test_n', '--steps', '2',
        '--batch-size', '4', '--out', str(out),
        '--loud-rel', '0.99',  # the tiny tree's clips sound throughout
        '--cfg-options', f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={frames}'])
    assert json.loads(out.read_text()) == figures
    assert set(figures['frames']) == {'test_s', 'test_n'}
    assert set(figures['sync']) <= {'test_s'}
    for groups in figures['sync'].values():
        assert 0 <= groups['ordinary_under_05'] <= 1
        for v in groups.values():
            if isinstance(v, dict):
                assert v['rows'] > 0 and 0 <= v['auc'] <= 1
                assert 0 <= v['under_05'] <= 1
    assert 'loud against quiet seconds' in capsys.readouterr().out
