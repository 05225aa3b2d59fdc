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

:func:`write_video` writes frames (and a track) as an mp4, either playable
(H.264 4:2:0 + AAC) or lossless (H.264 RGB at qp 0 + FLAC), which decodes
back to the exact pixels and samples.
"""
import collections
import heapq
import math
import os
import os.path as osp
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import numpy as np

from .audio import decode_audio
from .errors import MediaError
from .media import load_frames

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


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
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
