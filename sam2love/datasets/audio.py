"""Decoding a clip's sound track into 16 kHz mono of the clip's duration.

Ref-AVS tracks are not uniform (48 kHz stereo, 44.1 kHz mono, tracks of 20 s
or shorter than the clip), so every track goes through :func:`fit_clip_audio`
(via :func:`load_clip_audio` for files), which reports what it changed in an
:class:`AudioFix`.
"""
import io
import re
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


def _libsndfile_reason(error: Exception) -> str:
    """libsndfile's reason, without the ``<_io.BytesIO object at 0x...>``
    that soundfile puts in its messages about an in-memory file."""
    reason = getattr(error, 'error_string', None) or str(error)
    return re.sub(r'\s*<_io\.BytesIO object at 0x[0-9a-f]+>:?', '',
                  reason).strip() or type(error).__name__


def check_finite_audio(samples: np.ndarray, path: str,
                       error: type = RefAVSDataError) -> None:
    """Raise ``error(path, reason)`` when a track holds NaN or infinite
    samples (the model would turn them into empty masks on every frame)."""
    bad = int(samples.size - np.count_nonzero(np.isfinite(samples)))
    if bad:
        raise error(path, f'the sound holds {bad} NaN or infinite sample(s) '
                    f'of {samples.size}')


def check_sample_rate(rate) -> int:
    """A sample rate as an int; raise ``ValueError`` unless it is a
    positive whole number of Hz."""
    ok = isinstance(rate, (int, float, np.integer, np.floating)) and \
        not isinstance(rate, bool) and np.isfinite(rate) and rate > 0 and \
        float(rate).is_integer()
    if not ok:
        raise ValueError('the audio sample rate must be a positive whole '
                         f'number of Hz, got {rate!r}')
    return int(rate)


def wav_header_seconds(path: str) -> float | None:
    """The duration a WAV file's header declares (its ``data`` chunk's
    size), to tell a truncated file: libsndfile reads the samples that are
    there and says nothing. None for another format or a header that does
    not say (a streamed WAV's placeholder size)."""
    try:
        with open(path, 'rb') as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b'RIFF' or head[8:12] != b'WAVE':
        return None
    pos, rate, block = 12, None, None
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8],
                                                        'little')
        if chunk == b'fmt ' and pos + 22 <= len(head):
            rate = int.from_bytes(head[pos + 12:pos + 16], 'little')
            block = int.from_bytes(head[pos + 20:pos + 22], 'little')
        elif chunk == b'data':
            if not rate or not block or size in (0, 0xFFFFFFFF):
                return None
            return size // block / rate
        pos += 8 + size + (size & 1)
    return None


def decode_audio(path: str, backend_args: dict | None = None,
                 check_finite: bool = True) -> tuple[np.ndarray, int]:
    """Read an audio file of any format libsndfile knows.

    Args:
        check_finite (bool): refuse NaN or infinite samples
            (:func:`check_finite_audio`). Defaults to True.

    Returns:
        tuple: ``(samples, sample_rate)``, samples float32 of shape
        (num_samples, num_channels).

    Raises:
        RefAVSDataError: the file is missing, empty or cannot be decoded,
            or it holds NaN or infinite samples.
    """
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise RefAVSDataError(path, 'audio file is missing') from None
    except IsADirectoryError:
        raise RefAVSDataError(path, 'audio file is a folder') from None
    try:
        samples, sample_rate = soundfile.read(
            io.BytesIO(data), dtype='float32', always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as e:
        raise RefAVSDataError(
            path, f'cannot decode audio ({_libsndfile_reason(e)})') from None
    if samples.shape[0] == 0:
        raise RefAVSDataError(path, 'audio file holds no samples')
    if check_finite:
        check_finite_audio(samples, path)
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
    orig_rate = check_sample_rate(orig_rate)
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
