"""VGGishLogMel: the front end against a numpy rendering of the release's
recipe, its frame count and its padding to a fixed number of examples."""
import numpy as np
import pytest
import torch

from sam2love.models.backbones.vggish_log_mel import VGGishLogMel

RATE = 16000


# ---------------------------------------------------------------- reference
def numpy_log_mel_examples(x: np.ndarray) -> np.ndarray:
    """vggish_input.waveform_to_examples for 16 kHz mono, in float64.

    Written from the release's recipe (mel_features.py): frames without
    padding, periodic Hann, |rfft| of 512 points, HTK mel triangles drawn
    in mel over the bins' frequencies with the DC row zeroed,
    log(mel + 0.01), non-overlapping 96-frame examples.
    """
    win, hop, n_fft = 400, 160, 512
    num_frames = 1 + (len(x) - win) // hop
    frames = np.stack([x[i * hop:i * hop + win] for i in range(num_frames)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi / win * np.arange(win))
    spec = np.abs(np.fft.rfft(frames * hann, n_fft))  # (T, 257)

    def mel(hz):
        return 1127.0 * np.log(1.0 + hz / 700.0)

    bins_mel = mel(np.linspace(0.0, RATE / 2, spec.shape[1]))
    edges = np.linspace(mel(125.0), mel(7500.0), 64 + 2)
    weights = np.empty((spec.shape[1], 64))
    for i in range(64):
        lo, mid, hi = edges[i:i + 3]
        rise = (bins_mel - lo) / (mid - lo)
        fall = (hi - bins_mel) / (hi - mid)
        weights[:, i] = np.maximum(0.0, np.minimum(rise, fall))
    weights[0, :] = 0.0
    log_mel = np.log(spec @ weights + 0.01)  # (T, 64)
    num_examples = 1 + (num_frames - 96) // 96
    return np.stack([log_mel[i * 96:(i + 1) * 96]
                     for i in range(num_examples)])


def tones(seconds: float, freqs=(1000.0, 3000.0), noise: float = 0.01,
          seed: int = 0) -> np.ndarray:
    """Two sines (amplitudes 0.5, 0.25) plus white noise; (L,) float64."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    x = sum(a * np.sin(2 * np.pi * f * t)
            for a, f in zip((0.5, 0.25), freqs))
    return x + noise * np.random.default_rng(seed).standard_normal(len(t))


# ---------------------------------------------------------------- front end
def test_front_end_matches_numpy_recipe():
    signals = [tones(10.0), tones(10.0, (440.0, 5000.0), seed=1)]
    wave = torch.tensor(np.stack(signals), dtype=torch.float32)
    examples = VGGishLogMel()(wave)
    assert examples.shape == (2, 10, 1, 96, 64)
    for b, x in enumerate(signals):
        # the reference sees the same float32 samples as the module
        ref = numpy_log_mel_examples(x.astype(np.float32).astype(np.float64))
        assert ref.shape == (10, 96, 64)
        diff = np.abs(examples[b, :, 0].double().numpy() - ref).max()
        assert diff <= 1e-3, diff


def test_front_end_pure_tone_without_noise():
    # bands far from the tones sit near the log offset's floor, where the
    # float32 STFT's rounding matters most
    x = tones(10.0, noise=0.0)[None]
    examples = VGGishLogMel()(torch.tensor(x, dtype=torch.float32))
    ref = numpy_log_mel_examples(x[0].astype(np.float32).astype(np.float64))
    assert np.abs(examples[0, :, 0].double().numpy() - ref).max() <= 1e-3


def test_front_end_frame_count_is_unpadded():
    front = VGGishLogMel()
    assert front.log_mel(torch.zeros(1, 160000)).shape == (1, 998, 64)
    assert front.log_mel(torch.zeros(1, 400)).shape == (1, 1, 64)
    # silence sits at log(0.01)
    torch.testing.assert_close(front.log_mel(torch.zeros(1, 560)),
                               torch.full((1, 2, 64), float(np.log(0.01))))
    with pytest.raises(ValueError, match='15600 samples'):
        front(torch.zeros(1, 15599))
    assert front(torch.zeros(1, 15600)).shape == (1, 1, 1, 96, 64)


def test_num_examples_pads_with_silence_and_trims():
    front = VGGishLogMel(num_examples=10)
    x = torch.tensor(tones(20.0)[None], dtype=torch.float32)
    full = VGGishLogMel()(x)
    assert full.shape[1] == 20
    torch.testing.assert_close(front(x), full[:, :10])
    short = front(x[:, :56000])  # 3.5 s -> 3 examples of sound
    assert short.shape == (1, 10, 1, 96, 64)
    torch.testing.assert_close(short[:, :3], full[:, :3])
    torch.testing.assert_close(short[:, 4:], torch.full_like(
        short[:, 4:], float(np.log(0.01))))
    # a 10 s clip is left as is
    clip = x[:, :160000]
    torch.testing.assert_close(front(clip), VGGishLogMel()(clip))
    assert 'mel_matrix' not in front.state_dict()
    assert len(front.state_dict()) == 0
