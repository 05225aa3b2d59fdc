"""Writing videos with PyAV: frames (and a sound track) as an mp4, and a
Ref-AVS clip folder as a video.

:func:`write_video` writes either a playable mp4 (H.264 4:2:0 + AAC) or a
lossless one (H.264 RGB at qp 0 + FLAC), which decodes back to the exact
pixels and samples (:mod:`sam2love.datasets.video` reads them).
"""
import os
import os.path as osp
import re
from collections.abc import Iterable
from fractions import Fraction

import av
import cv2
import numpy as np

from .audio import decode_audio
from .errors import MediaError
from .media import load_frames


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


def _audio_frame(audio: np.ndarray, sample_rate: int, lossless: bool):
    """An interleaved ``av.AudioFrame`` of float (N, C) samples in [-1, 1]:
    for the lossless path 16-bit integers when every sample is a 16-bit
    value (exact for 16-bit sources), else 32-bit ones; float for AAC."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    channels = audio.shape[1]
    if channels not in (1, 2):
        raise ValueError(f'write_video takes mono or stereo audio, got '
                         f'{channels} channels')
    layout = 'mono' if channels == 1 else 'stereo'
    if lossless:
        scaled = audio.astype(np.float64) * 2.0 ** 15
        if np.array_equal(scaled, np.round(scaled)):
            data = np.clip(scaled, -2 ** 15, 2 ** 15 - 1).astype(np.int16)
            fmt = 's16'
        else:
            data = np.clip(np.round(audio.astype(np.float64) * 2.0 ** 31),
                           -2 ** 31, 2 ** 31 - 1).astype(np.int32)
            fmt = 's32'
    else:
        data, fmt = np.clip(audio, -1, 1), 'flt'
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data.reshape(1, -1)), format=fmt, layout=layout)
    frame.sample_rate = sample_rate
    frame.pts = 0
    return frame


def write_video(path: str, frames: Iterable[np.ndarray], fps: float,
                audio: np.ndarray | None = None,
                sample_rate: int | None = None,
                lossless: bool = False, crf: int = 18) -> int:
    """Write RGB frames (and a sound track) as an mp4.

    Args:
        path (str): output file (``.mp4``; ``.mkv`` / ``.mov`` work too).
        frames (Iterable[np.ndarray]): uint8 RGB (H, W, 3) frames of one
            size, shown for ``1 / fps`` s each.
        fps (float): frame rate.
        audio (np.ndarray, optional): float32 (N,) or (N, C) samples in
            [-1, 1], mono or stereo, starting with the first frame.
        sample_rate (int, optional): rate of ``audio``.
        lossless (bool): H.264 RGB at qp 0 (``libx264rgb``) and FLAC,
            which decode to the exact pixels and (16-bit or 24-bit)
            samples, for tests and faithful copies of clips; otherwise
            H.264 4:2:0 at ``crf`` (odd sizes padded by one pixel) and
            AAC, which any player reads.
        crf (int): quality of the playable H.264 (lower is better).

    Returns:
        int: the number of frames written.
    """
    if audio is not None and not sample_rate:
        raise ValueError('write_video: audio needs its sample_rate')
    rate = Fraction(fps).limit_denominator(1001000)
    count = 0
    with av.open(str(path), 'w') as container:
        vstream = container.add_stream(
            'libx264rgb' if lossless else 'libx264', rate=rate)
        if lossless:
            vstream.pix_fmt = 'rgb24'
            vstream.options = {'qp': '0', 'preset': 'medium'}
        else:
            vstream.pix_fmt = 'yuv420p'
            vstream.options = {'crf': str(crf), 'preset': 'medium'}
        astream = aframe = None
        if audio is not None:
            aframe = _audio_frame(audio, int(sample_rate), lossless)
            astream = container.add_stream(
                'flac' if lossless else 'aac', rate=int(sample_rate),
                layout=aframe.layout.name)
            if lossless:  # keep the samples' width (no conversion)
                astream.format = aframe.format.name
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if not lossless:
                frame = _even(frame)
            if count == 0:
                vstream.height, vstream.width = frame.shape[:2]
            elif frame.shape[:2] != (vstream.height, vstream.width):
                raise ValueError(f'frame {count} is {frame.shape[1]}x'
                                 f'{frame.shape[0]}, the first was '
                                 f'{vstream.width}x{vstream.height}')
            vframe = av.VideoFrame.from_ndarray(frame, format='rgb24')
            vframe.pts = count  # in 1 / rate: no gaps whatever the muxer
            container.mux(vstream.encode(vframe))
            count += 1
        if count == 0:
            raise ValueError('write_video: no frames')
        container.mux(vstream.encode(None))
        if astream is not None:
            container.mux(astream.encode(aframe))
            container.mux(astream.encode(None))
    return count


def write_clip_video(clip_dir: str, out: str, fps: float | None = None,
                     seconds_per_frame: float = 1.0,
                     lossless: bool = False) -> dict:
    """Write a Ref-AVS clip folder (``frames/<i>.jpg`` + ``audio.wav``) as
    an mp4 with its sound.

    Frame i is shown from ``i * seconds_per_frame`` on, so sampling the
    video at the clip rate (:func:`read_video_frames`) gives the clip's
    frames back (exactly with ``lossless``); the track is written at its
    own rate and channels, untouched.

    Args:
        clip_dir (str): ``<root>/media/<name>``.
        out (str): the mp4 to write.
        fps (float, optional): video frame rate, a multiple of the clip
            rate (each frame repeated); defaults to the clip rate.
        seconds_per_frame (float): the clip's frame spacing.
        lossless (bool): see :func:`write_video`.

    Returns:
        dict: ``frames`` (T), ``fps``, ``seconds``, ``audio_rate``,
        ``audio_channels``, ``audio_seconds``.
    """
    frames_dir = osp.join(clip_dir, 'frames')
    if not osp.isdir(frames_dir):
        raise MediaError(clip_dir, 'holds no frames/ folder (a Ref-AVS clip '
                         'folder is media/<name>/ with frames/ and '
                         'audio.wav)')
    names = sorted((n for n in os.listdir(frames_dir)
                    if re.fullmatch(r'\d+\.jpg', n)),
                   key=lambda n: int(n[:-4]))
    if not names:
        raise MediaError(frames_dir, 'holds no <i>.jpg frames')
    frames = load_frames([osp.join(frames_dir, n) for n in names])
    samples, rate = decode_audio(osp.join(clip_dir, 'audio.wav'))
    clip_fps = 1 / seconds_per_frame
    fps = fps or clip_fps
    repeat = fps / clip_fps
    if repeat < 1 or abs(repeat - round(repeat)) > 1e-6:
        raise ValueError(f'fps must be a multiple of the clip rate '
                         f'{clip_fps:g}, got {fps:g}')
    repeat = int(round(repeat))
    write_video(out, (f for f in frames for _ in range(repeat)), fps,
                samples, rate, lossless=lossless)
    return dict(frames=len(frames), fps=fps,
                seconds=len(frames) * seconds_per_frame,
                audio_rate=int(rate), audio_channels=int(samples.shape[1]),
                audio_seconds=len(samples) / rate)
