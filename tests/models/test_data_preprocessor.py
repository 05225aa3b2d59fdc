import pytest
import torch

from sam2love.models import ClipDataPreprocessor


def clip(t, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, 3, h, w), generator=g,
                         dtype=torch.uint8)


def test_stacks_and_normalises_without_touching_frame_order():
    # T = 3: mmseg's SegDataPreProcessor would treat frames as channels
    pre = ClipDataPreprocessor()
    clips = [clip(3, seed=0), clip(3, seed=1)]
    audio = [torch.randn(160), torch.randn(160)]
    out = pre(dict(inputs=dict(frames=clips, audio=audio),
                   data_samples=['a', 'b']))
    frames = out['inputs']['frames']
    assert frames.shape == (2, 3, 3, 8, 8)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    for b in range(2):
        torch.testing.assert_close(frames[b],
                                   (clips[b].float() - mean) / std)
    torch.testing.assert_close(out['inputs']['audio'], torch.stack(audio))
    assert out['data_samples'] == ['a', 'b']


def test_refuses_clips_of_different_sizes():
    pre = ClipDataPreprocessor()
    with pytest.raises(ValueError, match='ResizeClip'):
        pre(dict(inputs=dict(frames=[clip(2, 8, 8), clip(2, 8, 6)])))


def test_passes_through_unstackable_extras():
    pre = ClipDataPreprocessor()
    extra = [torch.zeros(2), torch.zeros(3)]
    out = pre(dict(inputs=dict(frames=[clip(2), clip(2)], feats=extra)))
    feats = out['inputs']['feats']
    assert [f.shape for f in feats] == [(2, ), (3, )]
