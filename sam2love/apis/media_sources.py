"""Where a clip's frames and sound come from, read progressively: the
image files of a folder of frames, and a video's frames one at a time and
its track chunk by chunk, from the clip's start on (streaming inference
and overlay videos, :class:`~sam2love.apis.RefAVSInferencer`)."""
import os
import os.path as osp
import re
from typing import TYPE_CHECKING

import av
import numpy as np

from ..datasets.errors import MediaError
from ..datasets.media import load_frame
from ..datasets.video import TIME_EPS, audio_frame_to_float, timed_frames

if TYPE_CHECKING:
    from .media import ClipMedia

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                    '.tiff')


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


def iter_audio_chunks(audio_source, media: 'ClipMedia', start: float,
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
