"""Turning a user's video and audio into a clip's frames and track.

A video is an mp4 (any container / codec PyAV reads), a folder of frames
(a Ref-AVS clip folder ``<name>/`` with ``frames/`` and ``audio.wav``, or
a plain folder of images), or frames in memory. The audio is the video's
own track unless a file or an in-memory ``(samples, rate)`` is given.
Frames are sampled at the clip rate (:mod:`sam2love.datasets.video`); the
track is cut at the same start and fitted to the clip later by the
pipeline (``LoadClipAudioFromNDArray``), as a dataset ``.wav`` is.
"""
import os
import os.path as osp
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import av
import numpy as np

from ..datasets.audio import (
    check_finite_audio,
    check_sample_rate,
    decode_audio,
    wav_header_seconds,
)
from ..datasets.errors import MediaError, RefAVSDataError
from ..datasets.media import load_frame
from ..datasets.video import (
    TIME_EPS,
    SampledVideo,
    audio_frame_to_float,
    has_audio_track,
    read_audio_track,
    read_video_frames,
    sample_frame_list,
    timed_frames,
)

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                    '.tiff')
#: Sound missing at the clip's end (s) beyond which a warning says it was
#: padded with silence (an encoder's frame of padding is not worth one).
AUDIO_SHORTFALL = 0.1


@dataclass
class ClipMedia:
    """A clip ready for the pipeline.

    Attributes:
        video (SampledVideo): frames (uint8 RGB (H, W, 3)), their times and
            which of them are the T sampled frames.
        audio (np.ndarray): float32 (N, C) track from the clip's start.
        sample_rate (int): rate of ``audio``.
        clip_seconds (float): T * seconds per frame.
        source (str | None): the video's path.
        audio_source (str): where the track came from.
        warnings (list[str]): what is degraded about the input (a video
            shorter than the model's clip, sound padded with silence); the
            outputs carry them (``predictions.json``).
    """

    video: SampledVideo
    audio: np.ndarray
    sample_rate: int
    clip_seconds: float
    source: str | None
    audio_source: str
    warnings: list = field(default_factory=list)


def _natural_key(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', name)]


def list_frame_files(folder: str) -> list[str]:
    """Image files of ``folder`` in natural order (``2.jpg`` before
    ``10.jpg``)."""
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_EXTENSIONS)]
    if not names:
        raise MediaError(folder, 'holds no image files ('
                         f'{", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, n) for n in sorted(names, key=_natural_key)]


def _audio_from_file(path: str, start: float,
                     seconds: float) -> tuple[np.ndarray, int]:
    """Read an audio file as the dataset does (libsndfile), or any file
    with a track through PyAV (mp3, m4a, another video), from ``start``."""
    if not osp.isfile(path):
        raise MediaError(path, 'audio file does not exist')
    try:
        samples, rate = decode_audio(path, check_finite=False)
    except RefAVSDataError as e:
        try:
            return read_audio_track(path, start, seconds)
        except MediaError as av_error:
            raise MediaError(
                path, f'cannot read the audio file: {e.reason}; FFmpeg: '
                f'{av_error.reason}') from None
    return samples[int(round(start * rate)):], rate


def load_clip_media(video, audio=None, *, num_frames: int,
                    seconds_per_frame: float = 1.0, start: float = 0.0,
                    all_frames: bool = False,
                    video_fps: float | None = None) -> ClipMedia:
    """Decode the frames and the track of a clip.

    Args:
        video (str | np.ndarray | Sequence[np.ndarray]): a video file, a
            folder of frames, or uint8 RGB frames ((T, H, W, 3) or a list
            of (H, W, 3)).
        audio (str | tuple, optional): an audio (or video) file, or
            ``(samples, sample_rate)`` with float samples (N,) or (N, C)
            in [-1, 1]. Defaults to the video's own track (``audio.wav``
            of a Ref-AVS clip folder).
        num_frames (int): T, the model's frames per clip.
        seconds_per_frame (float): the model's frame spacing.
        start (float): where the clip starts in the video (s).
        all_frames (bool): keep every frame of the clip's window too.
        video_fps (float, optional): frame rate of a folder / list of
            frames; by default they are the sampled frames themselves
            (one per ``seconds_per_frame``), as in Ref-AVS.

    Raises:
        MediaError: the video cannot be read, or it has no track and no
            audio was given.
    """
    sample = dict(num_frames=num_frames, seconds_per_frame=seconds_per_frame,
                  start=start, all_frames=all_frames)
    fps = video_fps or 1 / seconds_per_frame
    source = default_audio = None
    if isinstance(video, (str, os.PathLike)):
        video = source = str(video)
        if osp.isdir(video):
            frames_dir = osp.join(video, 'frames')
            if osp.isdir(frames_dir):  # a Ref-AVS clip folder
                wav = osp.join(video, 'audio.wav')
                default_audio = wav if osp.isfile(wav) else None
            else:
                frames_dir = video
            try:
                sampled = sample_frame_list(list_frame_files(frames_dir),
                                            fps, convert=load_frame, **sample)
            except ValueError as e:  # ends before start: name the folder
                if isinstance(e, RefAVSDataError):
                    raise
                raise MediaError(frames_dir, str(e)) from None
        elif osp.isfile(video):
            sampled = read_video_frames(video, **sample)
        else:
            raise MediaError(video, 'video does not exist')
    else:
        if isinstance(video, np.ndarray) and video.ndim != 4:
            raise ValueError('in-memory frames must be (T, H, W, 3) or a '
                             f'list of (H, W, 3), got {video.shape}')
        sampled = sample_frame_list(list(video), fps, **sample)
    clip_seconds = sampled.num_sampled * seconds_per_frame
    if audio is None and default_audio is not None:
        audio = default_audio
    if audio is None:
        if source is None or osp.isdir(source):
            raise MediaError(source or '<frames in memory>',
                             'frames have no audio track: give a .wav '
                             '(audio=..., --audio)')
        if not has_audio_track(source):
            raise MediaError(source, 'holds no audio track and no audio was '
                             'given: give a .wav (audio=..., --audio)')
        samples, rate = read_audio_track(
            source, sampled.origin + start, clip_seconds)
        audio_source = source
    elif isinstance(audio, (str, os.PathLike)):
        samples, rate = _audio_from_file(str(audio), start, clip_seconds)
        audio_source = str(audio)
    elif isinstance(audio, (tuple, list)) and len(audio) == 2:
        samples, rate = audio
        rate = check_sample_rate(rate)
        samples = np.asarray(samples, np.float32)
        samples = samples[int(round(start * rate)):]
        audio_source = '<samples in memory>'
    else:
        raise TypeError('audio must be a file or (samples, sample_rate), got '
                        f'{type(audio).__name__}')
    if samples.ndim == 1:
        samples = samples[:, None]
    if len(samples) == 0:
        raise MediaError(audio_source, f'the audio ends before {start} s')
    check_finite_audio(samples, audio_source, MediaError)
    media = ClipMedia(video=sampled, audio=samples, sample_rate=int(rate),
                      clip_seconds=clip_seconds, source=source,
                      audio_source=audio_source)
    media.warnings = degraded_input_warnings(media, num_frames, start)
    return media


def degraded_input_warnings(media: ClipMedia, num_frames: int,
                            start: float) -> list[str]:
    """What is degraded about a clip: fewer frames than the model's T (the
    video ends first), sound shorter than the clip (padded with silence).
    """
    warnings = []
    video, name = media.video, media.source or '<frames in memory>'
    if video.num_sampled < num_frames:
        ends = f'ends at {video.end:g} s' if video.end is not None else \
            'ends early'
        warnings.append(
            f'{name}: the video {ends}: the clip has {video.num_sampled} of '
            f'the model\'s {num_frames} frames (from {start:g} s)')
    have = len(media.audio) / media.sample_rate
    if media.clip_seconds - have > AUDIO_SHORTFALL:
        declared = wav_header_seconds(media.audio_source) if osp.isfile(
            media.audio_source) else None
        truncated = '' if declared is None or declared - start <= have + \
            AUDIO_SHORTFALL else \
            f' (the file is truncated: its header says {declared:g} s)'
        warnings.append(
            f'{media.audio_source}: the sound lasts {have:.2f} s from '
            f'{start:g} s, the clip {media.clip_seconds:g} s: padded with '
            f'{media.clip_seconds - have:.2f} s of silence{truncated}')
    return warnings


@dataclass
class OutputFrames:
    """The N frames that get masks: the T sampled ones, or every frame of
    the clip when propagating.

    Attributes:
        frames (list[np.ndarray]): N uint8 RGB (H, W, 3).
        times (list[float]): their times (s from the video's start).
        sampled (list[int]): the T sampled frames among them.
        fps (float): their rate (for an overlay video).
    """

    frames: list
    times: list
    sampled: list
    fps: float


def output_frames(media: ClipMedia, propagate: bool,
                  seconds_per_frame: float) -> OutputFrames:
    """The frames the model's masks belong to."""
    video = media.video
    if propagate:
        fps = video.fps or (len(video.frames) / media.clip_seconds)
        return OutputFrames(video.frames, list(video.times),
                            list(video.sampled), fps)
    return OutputFrames(video.sampled_frames,
                        [video.times[i] for i in video.sampled],
                        list(range(video.num_sampled)),
                        1 / seconds_per_frame)


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """One or several expressions as a list of stripped strings.

    Raises:
        TypeError: ``texts`` is not a string or a sequence of strings
            (None, a number, bytes, ...).
        ValueError: no expression, or an empty one.
    """
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, (bytes, bytearray)):
        raise TypeError('texts must be str, not bytes: decode them first '
                        "(e.g. texts.decode('utf-8'))")
    elif texts is None or isinstance(texts, Mapping) or \
            not isinstance(texts, Iterable):
        raise TypeError('texts must be an expression (str) or a list of '
                        f'them, got {type(texts).__name__}')
    texts = list(texts)
    if not texts:
        raise ValueError('give at least one expression')
    for i, text in enumerate(texts):
        if isinstance(text, (bytes, bytearray)):
            raise TypeError(f'expression {i} is bytes ({text!r}), not str: '
                            "decode it first (e.g. .decode('utf-8'))")
        if not isinstance(text, str):
            raise TypeError(f'expression {i} is of type '
                            f'{type(text).__name__} ({text!r}), not str')
        if not text.strip():
            raise ValueError(f'expression {i} is empty ({text!r}): give a '
                             'sentence that names the object')
    return [t.strip() for t in texts]


def _is_time(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, bool) and bool(np.isfinite(value))


def check_window(start: float, end: float | None = None) -> None:
    """Raise ``ValueError`` unless ``start`` is a time >= 0 (s) and
    ``end``, when given, comes after it."""
    if not _is_time(start) or start < 0:
        raise ValueError(f'start must be a time >= 0 (s), got {start!r}')
    if end is not None and (not _is_time(end) or end <= start):
        raise ValueError(f'end must be a time after start ({start:g} s), '
                         f'got {end!r}')


# --------------------------------------------------------------------------
# Streaming: every frame from the clip's start to the video's end
# --------------------------------------------------------------------------
def _from_start(timed, start: float, end: float | None):
    """``(seconds, frame)`` from the frame shown at ``start`` (the last one
    at or before it, as the clip's frame 0) to the last one before ``end``;
    frames before ``start`` are skipped without being converted."""
    prev, started = None, False
    for t, frame in timed:
        if not started:
            if t <= start + TIME_EPS:
                prev = (t, frame)
                continue
            if prev is None:
                raise MediaError('<video>', f'no frame is shown at {start} s')
            started = True
            yield prev
        if end is not None and t >= end - TIME_EPS:
            return
        yield t, frame
    if not started and prev is not None:
        yield prev


def iter_video_frames(video, *, start: float = 0.0, end: float | None = None,
                      video_fps: float | None = None,
                      seconds_per_frame: float = 1.0):
    """Decode the frames of ``video`` one at a time, from ``start`` to
    ``end`` (s; the video's end by default).

    Args:
        video: as :func:`load_clip_media` (a file, a folder of frames or
            frames in memory).
        video_fps (float, optional): rate of a folder / list of frames
            (default: one frame per ``seconds_per_frame``).

    Yields:
        tuple: ``(seconds, frame)``: the frame's time from the video's
        first frame and the uint8 RGB (H, W, 3) frame; a frame is decoded
        only when it is yielded and not kept afterwards.

    Raises:
        MediaError: the video cannot be opened or decoded.
    """
    fps = video_fps or 1 / seconds_per_frame
    if isinstance(video, (str, os.PathLike)):
        video = str(video)
        if osp.isdir(video):
            frames_dir = osp.join(video, 'frames')
            files = list_frame_files(frames_dir if osp.isdir(frames_dir)
                                     else video)
            timed = ((j / fps, path) for j, path in enumerate(files))
            for t, path in _from_start(timed, start, end):
                yield t, load_frame(path)
            return
        if not osp.isfile(video):
            raise MediaError(video, 'video does not exist')
        yield from _iter_file_frames(video, start, end)
        return
    timed = ((j / fps, frame) for j, frame in enumerate(video))
    yield from _from_start(timed, start, end)


def _iter_file_frames(path: str, start: float, end: float | None):
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as e:
        raise MediaError(path, f'cannot open the video ({e})') from None
    with container:
        if not container.streams.video:
            raise MediaError(path, 'holds no video stream')
        stream = container.streams.video[0]
        # slice threads only: a frame-threaded H.264 decoder left with frames
        # in flight (decoding stops at the clip's end) can deadlock in
        # avcodec_free_context when the stream is freed (seen in tests)
        stream.thread_type = 'SLICE'
        origin = None

        def timed():
            nonlocal origin
            for t, frame in timed_frames(container, stream):
                origin = t if origin is None else origin
                yield t - origin, frame

        try:
            for t, frame in _from_start(timed(), start, end):
                yield t, frame.to_ndarray(format='rgb24')
        except av.error.FFmpegError as e:
            raise MediaError(path, f'cannot decode the video ({e})') from None


def count_video_frames(video, *, start: float = 0.0,
                       end: float | None = None,
                       video_fps: float | None = None,
                       seconds_per_frame: float = 1.0) -> int | None:
    """How many frames :func:`iter_video_frames` will yield, from the
    container's header (None when it does not say)."""
    if isinstance(video, (str, os.PathLike)) and osp.isfile(str(video)):
        try:
            with av.open(str(video)) as container:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                seconds = None
                if stream.duration is not None and stream.time_base:
                    seconds = float(stream.duration * stream.time_base)
                elif container.duration is not None:
                    seconds = container.duration / av.time_base
                if not rate or seconds is None:
                    return None
                stop = seconds if end is None else min(end, seconds)
                return max(1, int(round((stop - start) * float(rate))))
        except (av.error.FFmpegError, OSError, IndexError):
            return None
    if isinstance(video, (str, os.PathLike)):
        return None
    fps = video_fps or 1 / seconds_per_frame
    stop = len(video) / fps if end is None else min(end, len(video) / fps)
    return max(1, int(round((stop - start) * fps)))


def iter_audio_chunks(audio_source, media: ClipMedia, start: float,
                      seconds_per_chunk: float = 1.0):
    """The sound from the clip's start on, in chunks, for an overlay
    video: float32 (n, C) arrays at ``media.sample_rate``.

    Args:
        audio_source: what the clip's track came from: a file (decoded
            progressively with PyAV) or ``(samples, rate)`` in memory.
        media (ClipMedia): the clip (its rate, the video's origin).
        start (float): the clip's start (s).
    """
    if isinstance(audio_source, (str, os.PathLike)):
        path = str(audio_source)
        offset = start + (media.video.origin if path == media.source else 0)
        with av.open(path) as container:
            stream = container.streams.audio[0]
            skip = None
            for frame in container.decode(stream):
                samples = audio_frame_to_float(frame)
                if skip is None:
                    first = float(frame.pts * frame.time_base) \
                        if frame.pts is not None else 0.0
                    skip = int(round((offset - first) * frame.sample_rate))
                    if skip < 0:
                        yield np.zeros((-skip, samples.shape[1]), np.float32)
                        skip = 0
                if skip >= len(samples):
                    skip -= len(samples)
                    continue
                yield samples[skip:]
                skip = 0
        return
    samples, rate = audio_source
    samples = np.asarray(samples, np.float32)
    if samples.ndim == 1:
        samples = samples[:, None]
    samples = samples[int(round(start * rate)):]
    step = max(1, int(rate * seconds_per_chunk))
    for i in range(0, len(samples), step):
        yield samples[i:i + step]
