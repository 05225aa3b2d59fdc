"""VGGish audio encoder: log-mel front end, network and weight loading.

VGGish (Hershey et al., ICASSP 2017; AudioSet release) maps each 0.96 s of
16 kHz mono audio to a 128-d embedding. The Ref-AVS baseline feeds these
embeddings (one per second of a 10 s clip) to its fusion modules; SAM2-LOVE
follows it.

* :class:`VGGishLogMel` reproduces the release's ``vggish_input`` /
  ``mel_features`` front end with torchaudio's STFT.
* :class:`VGGish` is the network with the parameter names of the PyTorch
  port ``torchvggish`` (``vggish-10086976.pth``), plus the optional PCA /
  8-bit post-processing of the AudioSet release.
* :class:`VGGishEncoder` (registered in ``MODELS``) chains both:
  waveform (B, L) -> embeddings (B, N, 128).

No weights are ever downloaded: pass local paths, or get a random init.
"""
import os.path as osp
import pickle
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
from mmengine.model import BaseModule
from mmseg.registry import MODELS
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
EMBEDDING_SIZE = 128
QUANTIZE_MIN_VAL = -2.0
QUANTIZE_MAX_VAL = 2.0

#: conv widths of the full network (torchvggish's ``make_layers``)
FULL_CHANNELS = (64, 128, 256, 256, 512, 512)
FULL_HIDDEN = 4096


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


def make_features(channels: Sequence[int]) -> nn.Sequential:
    """VGGish's conv stack; indices of the convs are 0, 3, 6, 8, 11, 13.

    (B, 1, 96, 64) -> (B, channels[-1], 6, 4).
    """
    if len(channels) != 6:
        raise ValueError(f'VGGish needs 6 conv widths, got {channels}')
    layers, in_ch = [], 1
    # 'M' = 2x2 max pool after convs 1, 2, 4 and 6 (configuration A of VGG)
    plan = [channels[0], 'M', channels[1], 'M', channels[2], channels[3], 'M',
            channels[4], channels[5], 'M']
    for item in plan:
        if item == 'M':
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, item, kernel_size=3, padding=1),
                       nn.ReLU(inplace=True)]
            in_ch = item
    return nn.Sequential(*layers)


class VGGish(nn.Module):
    """The VGGish network; parameter names follow ``torchvggish``.

    ``features.{0,3,6,8,11,13}`` are the convs, ``embeddings.{0,2,4}`` the
    fully connected layers (12288 -> 4096 -> 4096 -> 128 at full size).
    The (B, 512, 6, 4) conv map is flattened in TensorFlow's (H, W, C)
    order, as the weights were converted from TF.

    Args:
        channels (Sequence[int]): the six conv widths. Defaults to the
            release's; small ones (e.g. ``(8, 16, 32, 32, 64, 64)``) give a
            random-init variant of the same structure for tests and demos.
        hidden (int): width of the two hidden FC layers (4096).
        final_relu (bool): apply a ReLU to the 128-d output, as torchvggish
            does. Google's release and the towhee port behind the Ref-AVS
            baseline's features do not. Defaults to False.
        postprocess (bool): apply the AudioSet release's post-processing:
            PCA ``(emb - pca_means) @ pca_eigen_vectors.T``, clip to
            [-2, 2], quantise ``round((x + 2) * 255 / 4)``; the result is a
            float tensor of integers in [0, 255] (``.byte()`` gives the
            release's uint8). The PCA parameters are non-persistent buffers
            (identity / zeros until :meth:`load_pca` is called), so the
            state dict always has the port's keys. Defaults to False: raw
            128-d embeddings, as the towhee features of the Ref-AVS
            baseline.

    Shapes:
        input: (B, 1, 96, 64) log-mel examples.
        output: (B, 128).
    """

    def __init__(self,
                 channels: Sequence[int] = FULL_CHANNELS,
                 hidden: int = FULL_HIDDEN,
                 final_relu: bool = False,
                 postprocess: bool = False) -> None:
        super().__init__()
        self.features = make_features(channels)
        fc = [nn.Linear(channels[-1] * 6 * 4, hidden), nn.ReLU(inplace=True),
              nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
              nn.Linear(hidden, EMBEDDING_SIZE)]
        if final_relu:
            fc.append(nn.ReLU(inplace=True))  # no parameters: keys unchanged
        self.embeddings = nn.Sequential(*fc)
        self.final_relu = final_relu
        self.postprocess = postprocess
        if postprocess:
            self.register_buffer('pca_eigen_vectors',
                                 torch.eye(EMBEDDING_SIZE), persistent=False)
            self.register_buffer('pca_means', torch.zeros(EMBEDDING_SIZE),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 96, 64) -> (B, 128)."""
        x = self.features(x)  # (B, C, 6, 4)
        # TF order (B, 6, 4, C): the FC weights expect it
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = self.embeddings(x)
        return self.pca_quantize(x) if self.postprocess else x

    def pca_quantize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, 128) -> (B, 128) floats in {0, ..., 255}."""
        pca = (embeddings - self.pca_means) @ self.pca_eigen_vectors.T
        clipped = pca.clamp(QUANTIZE_MIN_VAL, QUANTIZE_MAX_VAL)
        scale = 255.0 / (QUANTIZE_MAX_VAL - QUANTIZE_MIN_VAL)
        return torch.round((clipped - QUANTIZE_MIN_VAL) * scale)

    def load_weights(self, path: str) -> None:
        """Load a torchvggish state dict (``vggish-10086976.pth``)."""
        load_strict(self, load_weights_file(path), path)

    def load_pca(self, path: str) -> None:
        """Load ``vggish_pca_params-970ea276.pth``.

        A dict with ``pca_eigen_vectors`` (128, 128) and ``pca_means``
        stored as (128,) or (128, 1), tensors or numpy arrays.
        """
        if not self.postprocess:
            raise ValueError('VGGish: load_pca needs postprocess=True')
        params = load_weights_file(path)
        expected = {'pca_eigen_vectors', 'pca_means'}
        check_keys(expected, set(params), path)
        vectors = torch.as_tensor(params['pca_eigen_vectors'],
                                  dtype=torch.float32)
        means = torch.as_tensor(params['pca_means'], dtype=torch.float32)
        if vectors.shape != (EMBEDDING_SIZE, EMBEDDING_SIZE) or \
                means.numel() != EMBEDDING_SIZE:
            raise ValueError(
                f'{path}: expected pca_eigen_vectors (128, 128) and '
                f'pca_means (128,) or (128, 1), got {tuple(vectors.shape)} '
                f'and {tuple(means.shape)}')
        self.pca_eigen_vectors.copy_(vectors)
        self.pca_means.copy_(means.reshape(-1))


def _numpy_array_globals() -> list:
    """What unpickling a numpy array needs, for ``weights_only`` loads.

    The port's PCA file may hold numpy arrays; numpy 1.x pickles name
    ``numpy.core.multiarray._reconstruct``, numpy 2.x ``numpy._core...``.
    """
    reconstruct = np._core.multiarray._reconstruct
    number_dtypes = [type(np.dtype(code)) for code in '?bhilqBHILQefd']
    return [np.ndarray, np.dtype, reconstruct,
            (reconstruct, 'numpy.core.multiarray._reconstruct'),
            *number_dtypes]


def load_weights_file(path: str) -> dict:
    """``torch.load(path, map_location='cpu', weights_only=True)``.

    Numpy arrays (plain ndarrays of numbers) are allowed too; nothing else
    beyond what ``weights_only`` accepts.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'VGGish: no such file: {path}')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f'{path}: expected a state dict, got {type(state)}')
    return state


def check_keys(expected: set, found: set, path: str) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise KeyError(f'{path}: keys do not match VGGish; missing: {missing}; '
                       f'unexpected: {unexpected}')


def load_strict(module: nn.Module, state: dict, path: str) -> None:
    """Load ``state`` into ``module``, naming ``path`` on any mismatch."""
    check_keys(set(module.state_dict()), set(state), path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:  # shapes differ, e.g. a tiny variant
        raise RuntimeError(f'{path}: cannot load into VGGish: {err}') from err


@MODELS.register_module()
class VGGishEncoder(BaseModule):
    """Waveform -> one VGGish embedding per 0.96 s example.

    Args:
        checkpoint (str | None): local path to torchvggish's state dict
            (``vggish-10086976.pth``); keys must match exactly. ``None``
            keeps the random init. Nothing is downloaded.
        pca_checkpoint (str | None): local path to
            ``vggish_pca_params-970ea276.pth``; used when ``postprocess``.
        final_relu (bool): see :class:`VGGish`. Defaults to False.
        postprocess (bool): see :class:`VGGish`. Defaults to False.
        num_examples (int | None): see :class:`VGGishLogMel`; set it to
            the clip's seconds (10 for Ref-AVS) for a fixed N.
        channels (Sequence[int]): conv widths, see :class:`VGGish`.
        hidden (int): FC width, see :class:`VGGish`.
        init_cfg (dict, optional): mmengine initialisation of the random
            network (no ``checkpoint``). PyTorch's default init shrinks the
            signal layer after layer until the biases dominate: a random,
            frozen VGGish then gives the same vector for every sound (std
            across clips 3e-4 of the output; 1.0 with ``dict(type='Kaiming',
            layer=['Conv2d', 'Linear'], distribution='normal')``).

    Shapes:
        waveform: (B, L) float, 16 kHz mono.
        output: (B, N, 128), N = number of 0.96 s examples.
    """

    def __init__(self,
                 checkpoint: str | None = None,
                 pca_checkpoint: str | None = None,
                 final_relu: bool = False,
                 postprocess: bool = False,
                 num_examples: int | None = None,
                 channels: Sequence[int] = FULL_CHANNELS,
                 hidden: int = FULL_HIDDEN,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if checkpoint is not None and init_cfg is not None:
            raise ValueError('VGGishEncoder: init_cfg would overwrite the '
                             f'weights of {checkpoint}; give one of them')
        if pca_checkpoint is not None and not postprocess:
            raise ValueError('VGGishEncoder: pca_checkpoint given but '
                             'postprocess=False')
        self.front_end = VGGishLogMel(num_examples)
        self.vggish = VGGish(channels, hidden, final_relu, postprocess)
        if checkpoint is not None:
            self.vggish.load_weights(checkpoint)
        if pca_checkpoint is not None:
            self.vggish.load_pca(pca_checkpoint)

    @property
    def embed_dim(self) -> int:
        return EMBEDDING_SIZE

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, L) waveform -> (B, N, 128) embeddings."""
        examples = self.front_end(waveform)  # (B, N, 1, 96, 64)
        b, n = examples.shape[:2]
        embeddings = self.vggish(examples.flatten(0, 1))
        return embeddings.view(b, n, -1)
