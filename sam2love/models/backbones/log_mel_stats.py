"""``LogMelStatsEncoder``: a weight-free stand-in for a pre-trained VGGish.

A pre-trained VGGish maps each 0.96 s of sound to an embedding in which
sound classes lie apart (it was trained on AudioSet's labels). None can be
downloaded here, and a randomly initialised VGGish is a poor stand-in: it
keeps less of *which* sound is playing than its own input does. On the
synthetic Ref-AVS, linear probes of the categories sounding in each second
(``tools/analysis_tools/audio_probe.py``, docs/token_path.md) name the
whole set exactly for 85 % of the seconds from the demo's random VGGish,
97 % from this encoder.

This encoder has no weights: per 0.96 s example it returns the mean and the
standard deviation over time of VGGish's own 64 log-mel bands
(:class:`~.vggish_log_mel.VGGishLogMel`, the release's front end), a 128-d
vector like VGGish's embedding. It is a drop-in for ``VGGishEncoder`` in a
``TriModalBackbone`` (``model.backbone.audio``): the CPU demo's stage 2
uses it (its audio rows gained 2.6 to 7.5 J&F on held-out clips,
docs/token_path.md); the paper's configs keep VGGish.
"""
import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from .vggish_log_mel import NUM_MEL_BINS, VGGishLogMel


@MODELS.register_module()
class LogMelStatsEncoder(BaseModule):
    """Waveform -> per-example log-mel mean and standard deviation.

    Args:
        num_examples (int | None): see
            :class:`~.vggish_log_mel.VGGishLogMel`; the clip's seconds (10
            for Ref-AVS) for a fixed N.

    Shapes:
        waveform: (B, L) float, 16 kHz mono.
        output: (B, N, 128): the 64 bands' mean over the example's 96
        frames, then their standard deviation; N = number of 0.96 s
        examples.
    """

    def __init__(self, num_examples: int | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.front_end = VGGishLogMel(num_examples)

    @property
    def embed_dim(self) -> int:
        return 2 * NUM_MEL_BINS

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, N, 128) statistics."""
        examples = self.front_end(waveform)[:, :, 0]  # (B, N, 96, 64)
        return torch.cat([examples.mean(2), examples.std(2)], dim=-1)
