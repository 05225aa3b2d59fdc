"""VGGish's log-mel front end: 16 kHz waveform -> 0.96 s log-mel examples.

:class:`VGGishLogMel` reproduces the AudioSet release's ``vggish_input`` /
``mel_features`` front end with torchaudio's STFT; the network that embeds
its examples is in :mod:`.vggish`. ``LogMelStatsEncoder`` reads these
log-mels too.
"""
import torch
import torch.nn.functional as F
import torchaudio
from torch import nn

# vggish_params.py of the original release
SAMPLE_RATE = 16000
STFT_WINDOW_SAMPLES = 400  # 25 ms
STFT_HOP_SAMPLES = 160  # 10 ms
FFT_LENGTH = 512  # next power of two >= the window
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s, examples do not overlap


def hertz_to_mel(freq_hz: torch.Tensor) -> torch.Tensor:
    """HTK mel scale as in ``mel_features.hertz_to_mel``."""
    return 1127.0 * torch.log1p(freq_hz / 700.0)


def vggish_mel_matrix(num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
                      sample_rate: int = SAMPLE_RATE,
                      num_mel_bins: int = NUM_MEL_BINS,
                      lower_edge_hz: float = MEL_MIN_HZ,
                      upper_edge_hz: float = MEL_MAX_HZ) -> torch.Tensor:
    """``mel_features.spectrogram_to_mel_matrix``, in float64.

    Triangles are linear in *mel* between band edges spaced evenly on the
    HTK mel scale, evaluated at the spectrogram bins' frequencies; no area
    normalisation; the DC bin's row is zeroed.

    Returns:
        Tensor: (num_spectrogram_bins, num_mel_bins), float64.
    """
    nyquist_hz = sample_rate / 2.0
    bins_mel = hertz_to_mel(torch.linspace(0.0, nyquist_hz,
                                           num_spectrogram_bins,
                                           dtype=torch.float64))
    edges_mel = torch.linspace(
        float(hertz_to_mel(torch.tensor(lower_edge_hz, dtype=torch.float64))),
        float(hertz_to_mel(torch.tensor(upper_edge_hz, dtype=torch.float64))),
        num_mel_bins + 2, dtype=torch.float64)
    lower, center, upper = edges_mel[:-2], edges_mel[1:-1], edges_mel[2:]
    lower_slope = (bins_mel[:, None] - lower) / (center - lower)
    upper_slope = (upper - bins_mel[:, None]) / (upper - center)
    weights = torch.clamp(torch.minimum(lower_slope, upper_slope), min=0.0)
    weights[0, :] = 0.0
    return weights


def min_samples_for_examples(num_examples: int) -> int:
    """Fewest samples that the front end turns into ``num_examples``."""
    num_frames = EXAMPLE_FRAMES * num_examples
    return STFT_WINDOW_SAMPLES + STFT_HOP_SAMPLES * (num_frames - 1)


class VGGishLogMel(nn.Module):
    """VGGish's log-mel front end (``vggish_input.waveform_to_examples``).

    Matches the release exactly, up to float32 rounding: frames of 400
    samples every 160 (no centring or padding: ``1 + (L - 400) // 160``
    frames), periodic Hann window, magnitude of a 512-point real FFT,
    64 HTK mel bands over 125-7500 Hz, ``log(mel + 0.01)``, then
    non-overlapping examples of 96 frames. A 10 s clip (L = 160000) gives
    998 frames and 10 examples.

    How the release is reproduced:

    * The STFT is ``torchaudio.transforms.Spectrogram`` (``center=False``,
      ``power=1``, periodic ``torch.hann_window``). ``torch.stft`` centres a
      400-sample window inside each 512-sample frame (56 zeros each side),
      whereas the release windows samples ``[t * 160, t * 160 + 400)`` and
      zero-pads the FFT input at the end. Padding the waveform with 56
      zeros on both sides (``pad=56``) makes torch's frame ``t`` window the
      same 400 samples, and the frame count equal the release's; the
      magnitude spectrum is unchanged by the circular shift.
    * The mel matrix is built here (:func:`vggish_mel_matrix`) and kept as
      a buffer: torchaudio's ``melscale_fbanks(mel_scale='htk', norm=None)``
      places the same band edges but draws the triangles linear in Hz
      instead of in mel (weights differ by up to 0.004, log-mels of a test
      tone by 0.01). The release also zeroes the DC bin's row, which is a
      no-op here (0 Hz lies below the 125 Hz lower edge) but is kept.

    Args:
        num_examples (int | None): when set, return exactly this many
            examples: shorter waveforms are zero-padded at the end
            (silence), longer ones keep their first ``num_examples``
            examples. For Ref-AVS set it to the clip's seconds (10), which
            leaves a 10 s clip untouched. When ``None`` the count follows
            the waveform (``1 + (num_frames - 96) // 96``), and a waveform
            shorter than one example (15600 samples) is an error.

    Shapes:
        waveform: (B, L) float, 16 kHz mono, in [-1, 1] (the release reads
        int16 wavs and divides by 32768).
        output: (B, N, 1, 96, 64) float32 log-mel examples (time, mel).
    """

    def __init__(self, num_examples: int | None = None) -> None:
        super().__init__()
        if num_examples is not None and num_examples < 1:
            raise ValueError(f'num_examples must be >= 1, got {num_examples}')
        self.num_examples = num_examples
        self.spectrogram = torchaudio.transforms.Spectrogram(
            n_fft=FFT_LENGTH,
            win_length=STFT_WINDOW_SAMPLES,
            hop_length=STFT_HOP_SAMPLES,
            pad=(FFT_LENGTH - STFT_WINDOW_SAMPLES) // 2,
            window_fn=torch.hann_window,  # periodic by default
            power=1.0,
            normalized=False,
            center=False,
            onesided=True)
        # constants: keep them out of checkpoints of the models using this
        self.spectrogram.register_buffer(
            'window', self.spectrogram.window, persistent=False)
        self.register_buffer('mel_matrix', vggish_mel_matrix().float(),
                             persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, N, 1, 96, 64) log-mel examples."""
        if waveform.dim() != 2:
            raise ValueError('VGGishLogMel: waveform must be (B, L) mono, got '
                             f'{tuple(waveform.shape)}')
        waveform = self._fit_length(waveform.float())
        # fp16 STFTs and log-mels lose too much: keep the front end fp32
        with torch.autocast(waveform.device.type, enabled=False):
            log_mel = self.log_mel(waveform)
        return self.frame_examples(log_mel)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, T, 64) log-mel, T = 1 + (L - 400) // 160."""
        magnitude = self.spectrogram(waveform)  # (B, 257, T)
        mel = magnitude.transpose(1, 2) @ self.mel_matrix
        return torch.log(mel + LOG_OFFSET)

    def frame_examples(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(B, T, 64) -> (B, N, 1, 96, 64), N = 1 + (T - 96) // 96."""
        num_frames = log_mel.size(1)
        if num_frames < EXAMPLE_FRAMES:
            raise ValueError(
                f'VGGishLogMel: {num_frames} frames make no 0.96 s example; '
                f'a waveform needs >= {min_samples_for_examples(1)} samples '
                f'at {SAMPLE_RATE} Hz (or set num_examples to pad)')
        examples = log_mel.unfold(1, EXAMPLE_FRAMES, EXAMPLE_FRAMES)
        if self.num_examples is not None:
            examples = examples[:, :self.num_examples]
        # unfold puts the window last: (B, N, 64, 96) -> (B, N, 1, 96, 64)
        return examples.transpose(2, 3).unsqueeze(2)

    def _fit_length(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.num_examples is None:
            return waveform
        missing = min_samples_for_examples(self.num_examples) - waveform.size(1)
        return F.pad(waveform, (0, missing)) if missing > 0 else waveform
