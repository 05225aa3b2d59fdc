"""Turning a user's video and audio into a clip's frames and track.

A video is an mp4 (any container / codec PyAV reads), a folder of frames
(a Ref-AVS clip folder ``<name>/`` with ``frames/`` and ``audio.wav``, or
a plain folder of images), or frames in memory. The audio is the video's
own track unless a file or an in-memory ``(samples, rate)`` is given.
Frames are sampled at the clip rate (:mod:`sam2love.datasets.video`); the
track is cut at the same start and fitted to the clip later by the
pipeline (``LoadClipAudioFromNDArray``), as a dataset ``.wav`` is.

Reading a folder's frames and streaming a video's frames and sound are in
:mod:`.media_sources`, the checks of expressions and time windows in
:mod:`.checks`; both are re-exported here.
"""
import os
import os.path as osp
from dataclasses import dataclass, field

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
    SampledVideo,
    has_audio_track,
    read_audio_track,
    read_video_frames,
    sample_frame_list,
)
from .checks import check_texts, check_window
from .media_sources import (
    IMAGE_EXTENSIONS,
    count_video_frames,
    iter_audio_chunks,
    iter_video_frames,
    list_frame_files,
)

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


__all__ = ['AUDIO_SHORTFALL', 'ClipMedia', 'load_clip_media',
           'degraded_input_warnings', 'OutputFrames', 'output_frames',
           'IMAGE_EXTENSIONS', 'list_frame_files', 'iter_video_frames',
           'count_video_frames', 'iter_audio_chunks', 'check_texts',
           'check_window']
