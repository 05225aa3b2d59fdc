"""Decoding a clip's sound track into 16 kHz mono of the clip's duration.

Ref-AVS tracks are not uniform (48 kHz stereo, 44.1 kHz mono, tracks of 20 s
or shorter than the clip), so every track goes through :func:`fit_clip_audio`
(via :func:`load_clip_audio` for files), which reports what it changed in an
:class:`AudioFix`.
"""
import io
from dataclasses import asdict, dataclass

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
from mmengine import fileio

from .errors import RefAVSDataError


@dataclass
class AudioFix:
    """What :func:`load_clip_audio` did to a track.

    Attributes:
        orig_sample_rate (int): sample rate of the file.
        orig_channels (int): channel count of the file.
        orig_seconds (float): duration of the file.
        resampled (bool): the file was not at the target rate.
        downmixed (bool): the file had several channels, averaged to mono.
        padded_samples (int): zeros appended at the target rate.
        trimmed_samples (int): samples cut from the end at the target rate.
    """

    orig_sample_rate: int
    orig_channels: int
    orig_seconds: float
    resampled: bool
    downmixed: bool
    padded_samples: int
    trimmed_samples: int

    @property
    def padded(self) -> bool:
        return self.padded_samples > 0

    @property
    def trimmed(self) -> bool:
        return self.trimmed_samples > 0

    def to_dict(self) -> dict:
        return asdict(self)


def decode_audio(path: str, backend_args: dict | None = None
                 ) -> tuple[np.ndarray, int]:
    """Read an audio file of any format libsndfile knows.

    Returns:
        tuple: ``(samples, sample_rate)``, samples float32 of shape
        (num_samples, num_channels).

    Raises:
        RefAVSDataError: the file is missing, empty or cannot be decoded.
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise RefAVSDataError(path, 'audio file is missing') from None
    try:
        samples, sample_rate = soundfile.read(
            io.BytesIO(data), dtype='float32', always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise RefAVSDataError(path, f'cannot decode audio ({e})') from None
    if samples.shape[0] == 0:
        raise RefAVSDataError(path, 'audio file holds no samples')
    return samples, sample_rate


def load_clip_audio(path: str,
                    seconds: float,
                    sample_rate: int = 16000,
                    backend_args: dict | None = None
                    ) -> tuple[np.ndarray, AudioFix]:
    """Decode a track to mono at ``sample_rate`` covering exactly ``seconds``.

    The file is read with :func:`decode_audio`, then fitted to the clip by
    :func:`fit_clip_audio`.

    Args:
        path (str): the audio file.
        seconds (float): the clip's duration.
        sample_rate (int): the target rate. Defaults to 16000 (VGGish).

    Returns:
        tuple: ``(waveform, fix)``, waveform float32 of shape
        (round(seconds * sample_rate),).
    """
    samples, orig_rate = decode_audio(path, backend_args)
    return fit_clip_audio(samples, orig_rate, seconds, sample_rate)


def fit_clip_audio(samples: np.ndarray,
                   orig_rate: int,
                   seconds: float,
                   sample_rate: int = 16000) -> tuple[np.ndarray, AudioFix]:
    """Turn decoded samples into mono at ``sample_rate`` of ``seconds``.

    Channels are averaged, the signal resampled with torchaudio's windowed
    sinc, then zero-padded or trimmed at the end. Every source of audio
    (a ``.wav`` of the data set, a video's own track, an in-memory array)
    goes through this one function.

    Args:
        samples (np.ndarray): float32 (num_samples, num_channels), or
            (num_samples,) for mono.
        orig_rate (int): sample rate of ``samples``.
        seconds (float): the clip's duration.
        sample_rate (int): the target rate. Defaults to 16000 (VGGish).

    Returns:
        tuple: ``(waveform, fix)``, waveform float32 of shape
        (round(seconds * sample_rate),).
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[0] == 0:
        raise ValueError('audio samples must be (num_samples, num_channels) '
                         f'with num_samples > 0, got {samples.shape}')
    num_samples, channels = samples.shape
    mono = torch.from_numpy(samples.mean(axis=1))
    if orig_rate != sample_rate:
        mono = AF.resample(mono, orig_rate, sample_rate)
    target = int(round(seconds * sample_rate))
    have = mono.shape[0]
    if have < target:
        mono = torch.nn.functional.pad(mono, (0, target - have))
    else:
        mono = mono[:target]
    fix = AudioFix(
        orig_sample_rate=int(orig_rate),
        orig_channels=int(channels),
        orig_seconds=num_samples / orig_rate,
        resampled=orig_rate != sample_rate,
        downmixed=channels > 1,
        padded_samples=max(target - have, 0),
        trimmed_samples=max(have - target, 0))
    return mono.numpy().astype(np.float32, copy=False), fix
