"""LogMelStatsEncoder: a weight-free stand-in for a trained VGGish."""
import math

import torch

from sam2love.models.backbones import LogMelStatsEncoder, TriModalBackbone
from sam2love.models.backbones.hf.specs import TINY_ROBERTA, TINY_VIT
from sam2love.models.backbones.vggish_log_mel import VGGishLogMel


def tone(freq_hz: float, seconds: float = 3.0) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds)) / 16000
    return 0.5 * torch.sin(2 * math.pi * freq_hz * t)


def test_mean_and_std_of_vggish_log_mel_per_example():
    waveform = torch.stack([tone(440), tone(880) * torch.linspace(0, 1, 48000)])
    out = LogMelStatsEncoder(num_examples=3)(waveform)
    assert out.shape == (2, 3, 128)
    examples = VGGishLogMel(3)(waveform)[:, :, 0]  # (B, N, 96, 64)
    assert torch.allclose(out[..., :64], examples.mean(2))
    assert torch.allclose(out[..., 64:], examples.std(2))
    # a rising tone's bands move within an example, a steady one's hardly
    assert out[1, :, 64:].max() > 3 * out[0, :, 64:].max()


def test_tells_sounds_apart():
    """Two pitches give vectors further apart than two draws of one."""
    enc = LogMelStatsEncoder(num_examples=1)
    low, low2, high = enc(torch.stack([tone(440, 1), 0.9 * tone(440, 1),
                                       tone(1320, 1)]))[:, 0]
    assert (low - high).norm() > 5 * (low - low2).norm()


def test_drop_in_for_vggish_in_the_backbone():
    """No weights; TriModalBackbone reads its width for the neck."""
    enc = LogMelStatsEncoder(num_examples=2)
    assert not list(enc.parameters())
    backbone = TriModalBackbone(
        audio=dict(type='LogMelStatsEncoder', num_examples=2),
        vision=dict(type='HFVisionEncoder', config=TINY_VIT),
        text=dict(type='HFTextEncoder', config=TINY_ROBERTA))
    assert backbone.out_dims['audio_dim'] == 128
