"""Reading and writing videos with PyAV (FFmpeg's libraries, shipped in the
``av`` wheel with their codecs: no system ``ffmpeg`` is needed).

A Ref-AVS clip is T frames at one frame per ``seconds_per_frame`` (1 s) plus
the clip's sound track. A video of any container, codec and frame rate
becomes such a clip by sampling, with :class:`FrameSampler`, the frame
*shown* at ``start + i * seconds_per_frame`` (the last frame whose
timestamp is at or before that time), as the release's frames were
extracted. Its audio track is read from the same ``start`` on
(:func:`read_audio_track`) and fitted to the clip by
:func:`~sam2love.datasets.audio.fit_clip_audio`, like a ``.wav``.

Writing (:func:`write_video`, :func:`write_clip_video`) is in
:mod:`sam2love.datasets.video_writer`, re-exported here.
"""
import collections
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
import numpy as np

from .errors import MediaError
from .video_writer import write_clip_video, write_video

#: Tolerance (s) when comparing frame timestamps with sampling times.
TIME_EPS = 1e-4
#: Frames over which decode-order timestamps are put back in order.
REORDER_WINDOW = 16


@dataclass
class SampledVideo:
    """Frames decoded from a video for a clip.

    Attributes:
        frames (list[np.ndarray]): N uint8 RGB (H, W, 3) frames: the T
            sampled frames, or every frame of the clip's time window when
            all frames were kept.
        times (list[float]): N timestamps (s) from the video's first frame.
        sampled (list[int]): T indices into ``frames``: frame i of the clip
            is ``frames[sampled[i]]``, the one shown at
            ``start + i * seconds_per_frame``.
        fps (float | None): average frame rate of the source.
        origin (float): timestamp (s) of the first frame in the source's
            own timeline (to align its audio track).
        end (float | None): where the video ends (s from its first frame:
            the last frame's time plus its duration) when decoding reached
            its end; None when the clip's window was over first.
    """

    frames: list = field(default_factory=list)
    times: list = field(default_factory=list)
    sampled: list = field(default_factory=list)
    fps: float | None = None
    origin: float = 0.0
    end: float | None = None

    @property
    def num_sampled(self) -> int:
        return len(self.sampled)

    @property
    def sampled_frames(self) -> list:
        """The T frames of the clip, in order."""
        return [self.frames[i] for i in self.sampled]


class FrameSampler:
    """Pick the frames shown at ``start + i * seconds_per_frame``.

    Frames are pushed in presentation order with their timestamps (s from
    the first frame); only the frames needed are kept, so a long video is
    never held in memory. The frame shown at time s is the last one whose
    timestamp is <= s.

    Args:
        num_frames (int): T, the most frames sampled.
        seconds_per_frame (float): spacing of the sampled frames.
        start (float): time of the first sampled frame (s, >= 0).
        keep_all (bool): also keep every frame of the time window
            ``[start, start + T * seconds_per_frame)``, from the frame
            shown at ``start`` on.
        convert (callable, optional): applied to a frame when it is kept
            (e.g. decoding to an array), so that skipped frames cost
            nothing.
    """

    def __init__(self, num_frames: int, seconds_per_frame: float = 1.0,
                 start: float = 0.0, keep_all: bool = False,
                 convert=None) -> None:
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        if seconds_per_frame <= 0:
            raise ValueError('seconds_per_frame must be > 0, got '
                             f'{seconds_per_frame}')
        if start < 0:
            raise ValueError(f'start must be >= 0, got {start}')
        self.targets = [start + i * seconds_per_frame
                        for i in range(num_frames)]
        self.end = start + num_frames * seconds_per_frame
        self.keep_all = keep_all
        self.convert = convert or (lambda frame: frame)
        self.frames: list = []
        self.times: list[float] = []
        self.sampled: list[int] = []
        self._prev = None  # (time, frame, index in self.frames or None)
        self._last_time = None

    def _keep(self, time: float, frame) -> int:
        self.frames.append(self.convert(frame))
        self.times.append(time)
        return len(self.frames) - 1

    def _select_prev(self) -> None:
        time, frame, index = self._prev
        if index is None:
            index = self._keep(time, frame)
            self._prev = (time, frame, index)
        self.sampled.append(index)

    @property
    def done(self) -> bool:
        return len(self.sampled) == len(self.targets)

    def push(self, time: float, frame) -> bool:
        """Offer the next frame; returns False once no later frame can
        matter (the window is over)."""
        if self._last_time is not None and time < self._last_time - TIME_EPS:
            raise ValueError('frames must be pushed in presentation order '
                             f'({time} after {self._last_time})')
        self._last_time = time
        k = len(self.sampled)
        while k < len(self.targets) and time > self.targets[k] + TIME_EPS:
            if self._prev is None:  # cannot happen for start >= 0
                raise ValueError('no frame is shown at '
                                 f'{self.targets[k]:.3f} s')
            self._select_prev()
            k += 1
        if self.done and (not self.keep_all or time >= self.end - TIME_EPS):
            return False
        index = None
        if self.keep_all and self.sampled:  # inside the window, after frame 0
            index = self._keep(time, frame)
        self._prev = (time, frame, index)
        return True

    def finish(self, end_of_video: float | None = None) -> None:
        """Resolve the sampling times up to the video's end (s); by default
        the last frame's own timestamp."""
        if self._prev is None:
            return
        if end_of_video is None:
            end_of_video = self._prev[0] + TIME_EPS
        while not self.done and \
                self.targets[len(self.sampled)] < end_of_video - TIME_EPS / 2:
            self._select_prev()


def _frame_seconds(frame, stream, index: int) -> float:
    if frame.pts is not None and stream.time_base is not None:
        return float(frame.pts * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate or 1
    return index / float(rate)


def timed_frames(container, stream, window: int = REORDER_WINDOW):
    """Yield ``(seconds, frame)`` in presentation order.

    Decoders output frames in presentation order, but some containers
    (AVI with B-frames) attach decode-order timestamps to them. As FFmpeg
    does for such streams, the k-th frame out gets the k-th smallest
    timestamp, found within a window of ``window`` frames (H.264's largest
    reordering depth); well-stamped streams keep their own timestamps.
    """
    pending, stamps = collections.deque(), []
    for i, frame in enumerate(container.decode(stream)):
        heapq.heappush(stamps, _frame_seconds(frame, stream, i))
        pending.append(frame)
        if len(pending) > window:
            yield heapq.heappop(stamps), pending.popleft()
    while pending:
        yield heapq.heappop(stamps), pending.popleft()


def _open(path: str, what: str = 'the video'):
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise MediaError(path, f'cannot open {what} ({e})') from None


def read_video_frames(path: str, num_frames: int,
                      seconds_per_frame: float = 1.0, start: float = 0.0,
                      all_frames: bool = False) -> SampledVideo:
    """Decode the clip's frames from a video file.

    Args:
        path (str): any container / codec FFmpeg reads (mp4, mkv, webm,
            avi, mov, ...).
        num_frames (int): T, the most frames sampled; fewer when the video
            ends earlier.
        seconds_per_frame (float): spacing of the sampled frames.
        start (float): where the clip starts (s from the first frame).
        all_frames (bool): keep every decoded frame of the clip's window.

    Returns:
        SampledVideo: frames as uint8 RGB (H, W, 3).

    Raises:
        MediaError: the file cannot be opened or decoded, has no video
            stream, or no frame at ``start``.
    """
    sampler = FrameSampler(num_frames, seconds_per_frame, start, all_frames,
                           convert=lambda f: f.to_ndarray(format='rgb24'))
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(path, 'holds no video stream')
        stream = container.streams.video[0]
        # slice threads only: a frame-threaded H.264 decoder left with frames
        # in flight (decoding stops at the clip's end) can deadlock in
        # avcodec_free_context when the stream is freed (seen in tests)
        stream.thread_type = 'SLICE'
        rate = stream.average_rate or stream.guessed_rate
        origin = None
        last = end = None
        try:
            for t, frame in timed_frames(container, stream):
                origin = t if origin is None else origin
                last = t - origin
                if not sampler.push(last, frame):
                    break
            else:
                duration = 1 / float(rate) if rate else 0.0
                end = None if last is None else last + duration
                sampler.finish(end)
        except av.error.FFmpegError as e:
            raise MediaError(path, f'cannot decode the video ({e})') from None
    if origin is None:
        raise MediaError(path, 'holds no decodable video frame')
    if not sampler.sampled:
        raise MediaError(path, f'the video ends before start={start} s')
    return SampledVideo(
        frames=sampler.frames, times=sampler.times,
        sampled=sampler.sampled, fps=float(rate) if rate else None,
        origin=origin, end=end)


def sample_frame_list(frames: Sequence, fps: float, num_frames: int,
                      seconds_per_frame: float = 1.0, start: float = 0.0,
                      all_frames: bool = False,
                      convert=None) -> SampledVideo:
    """Sample a list of frames (frame j shown at ``j / fps``) the way
    :func:`read_video_frames` samples a file.

    Args:
        frames (Sequence): uint8 RGB (H, W, 3) arrays, or anything that
            ``convert`` turns into one (e.g. image paths), converted only
            when kept.
        fps (float): their frame rate.
    """
    if len(frames) == 0:
        raise ValueError('no frames given')
    if fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    sampler = FrameSampler(num_frames, seconds_per_frame, start, all_frames,
                           convert)
    end = None
    for j, frame in enumerate(frames):
        if not sampler.push(j / fps, frame):
            break
    else:
        end = len(frames) / fps
        sampler.finish(end)
    if not sampler.sampled:
        raise ValueError(f'the {len(frames)} frames at {fps} fps end before '
                         f'start={start} s')
    return SampledVideo(frames=sampler.frames, times=sampler.times,
                        sampled=sampler.sampled, fps=fps, end=end)


# --------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------
_INT_SCALE = {'u8': None, 's16': 2.0 ** 15, 's32': 2.0 ** 31, 's64': 2.0 ** 63}


def audio_frame_to_float(frame) -> np.ndarray:
    """An ``av.AudioFrame`` as float32 (num_samples, num_channels).

    Integer samples are scaled as libsndfile does (s16 / 2^15, s32 / 2^31),
    so a 16-bit track reads the same from a video as from a ``.wav``.
    """
    fmt = frame.format
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    data = data.T if fmt.is_planar else data.reshape(-1, channels)
    name = fmt.name.rstrip('p')
    if name == 'u8':
        return ((data.astype(np.float32) - 128) / 128).astype(np.float32)
    if name in _INT_SCALE:
        return (data.astype(np.float64) / _INT_SCALE[name]).astype(np.float32)
    return data.astype(np.float32, copy=False)


def has_audio_track(path: str) -> bool:
    """Whether the file holds an audio stream."""
    with _open(path) as container:
        return bool(container.streams.audio)


def read_audio_track(path: str, offset: float = 0.0,
                     seconds: float | None = None,
                     margin: float = 1.0) -> tuple[np.ndarray, int]:
    """Decode a file's first audio stream from ``offset`` on.

    Args:
        path (str): a video or audio file of any format FFmpeg reads.
        offset (float): where to start, in the file's own timeline (s);
            silence is prepended when the track starts later.
        seconds (float, optional): stop after this duration plus
            ``margin`` (the margin keeps the resampler's filter support
            past the clip's end); None reads to the end.

    Returns:
        tuple: ``(samples, sample_rate)``, samples float32 of shape
        (num_samples, num_channels) at the track's own rate.

    Raises:
        MediaError: no audio stream, or it cannot be decoded.
    """
    chunks, rate, first = [], None, None
    with _open(path, 'the file to read its sound') as container:
        if not container.streams.audio:
            raise MediaError(path, 'holds no audio track')
        stream = container.streams.audio[0]
        total = 0
        try:
            for frame in container.decode(stream):
                samples = audio_frame_to_float(frame)
                if rate is None:
                    rate = frame.sample_rate
                    first = float(frame.pts * frame.time_base) \
                        if frame.pts is not None else 0.0
                chunks.append(samples)
                total += len(samples)
                if seconds is not None and total >= \
                        (offset - first + seconds + margin) * rate:
                    break
        except av.error.FFmpegError as e:
            raise MediaError(path, f'cannot decode the audio ({e})') from None
    if not chunks:
        raise MediaError(path, 'the audio track holds no samples')
    audio = np.concatenate(chunks)
    skip = int(round((offset - first) * rate))
    if skip > 0:
        audio = audio[skip:]
    elif skip < 0:
        audio = np.concatenate(
            [np.zeros((-skip, audio.shape[1]), np.float32), audio])
    if seconds is not None:
        audio = audio[:int(math.ceil((seconds + margin) * rate))]
    if len(audio) == 0:
        raise MediaError(path, f'the audio track ends before {offset} s')
    return audio, rate


__all__ = ['TIME_EPS', 'REORDER_WINDOW', 'SampledVideo', 'FrameSampler',
           'timed_frames', 'read_video_frames', 'sample_frame_list',
           'audio_frame_to_float', 'has_audio_track', 'read_audio_track',
           'write_video', 'write_clip_video']
