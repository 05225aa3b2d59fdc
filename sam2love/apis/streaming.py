"""Streamed inference: every frame of a video of any length, tracked and
written as it is decoded (``RefAVSInferencer(...)(video, texts,
stream=True)`` and :meth:`StreamingMixin.stream`)."""
import os
from array import array
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import track

from ..datasets.errors import MediaError
from .media import (
    ClipMedia,
    check_texts,
    check_window,
    count_video_frames,
    iter_audio_chunks,
    iter_video_frames,
    load_clip_media,
)
from .outputs import StreamOutputs


class StreamingMixin:
    """The streaming methods of :class:`~.inferencer.RefAVSInferencer`."""

    @torch.no_grad()
    def stream(self, video, texts: str | Sequence[str], audio=None, *,
               start: float = 0.0, end: float | None = None,
               video_fps: float | None = None,
               batch_size: int | None = None, media: ClipMedia | None = None
               ) -> Iterator[dict]:
        """Track the referred objects through every frame from ``start`` to
        ``end`` (the video's end by default), one frame at a time.

        The prompt comes from the clip window (its T sampled frames and
        its sound, as :meth:`__call__`); frames are then decoded from
        ``start`` on, normalised, tracked by SAM2 and released: SAM2's
        memory bank keeps only what it reads
        (``SAM2LOVE.track``), so memory does not grow
        with the video. Over the clip window the masks are those of
        ``__call__(..., propagate=True)``.

        Args:
            video, texts, audio, start, video_fps: as :meth:`__call__`.
            end (float, optional): stop before this time (s).
            batch_size (int, optional): expressions per tracker (all in
                one by default); each tracker encodes the frame once.
            media (ClipMedia, optional): the clip window, already loaded.

        Yields:
            dict: ``index`` (from 0 at ``start``), ``time`` (s from the
            video's start), ``frame`` (uint8 RGB (H, W, 3)), ``masks``
            (uint8 (K, H, W) in {0, 1}) and ``logits`` (float32 (K, H, W))
            at the frame size, ``object_scores`` (float32 (K,)), with a
            head that decides presence ``presence`` (float32 (K,) in
            [0, 1], ``SAM2PromptHead.apply_presence``: 0 on every frame of
            a clip found absent, whose masks are then empty),
            ``sampled`` (whether it is one of the T sampled frames).
            ``memory_frames`` (frames SAM2's memory bank holds after it).
        """
        texts = check_texts(texts)
        check_window(start, end)
        if not self.shares_encoders:
            raise TypeError(f'{type(self.model).__name__} cannot stream: it '
                            'needs prompts() and track() (SAM2LOVE)')
        if media is None:
            media = load_clip_media(
                video, audio, num_frames=self.num_frames,
                seconds_per_frame=self.seconds_per_frame, start=start,
                video_fps=video_fps)
        packed = self._pack(media, media.video.sampled_frames, texts[0])
        data = self.model.data_preprocessor(self.collate_fn([packed]),
                                            False)['inputs']
        size = batch_size or len(texts)
        prompt = torch.cat([self.model.prompts(data, texts[i:i + size])
                            for i in range(0, len(texts), size)])
        sampled_times = [media.video.times[i] for i in media.video.sampled]
        threshold = self.model.decode_head.threshold
        decoded = {}  # the frame the trackers are on

        def normalised_frames() -> Iterator[torch.Tensor]:
            for index, (time, frame) in enumerate(iter_video_frames(
                    video, start=start, end=end, video_fps=video_fps,
                    seconds_per_frame=self.seconds_per_frame)):
                decoded.update(index=index, time=time, frame=frame)
                yield self._normalised_frames(media, [frame])[0]

        total = count_video_frames(video, start=start, end=end,
                                   video_fps=video_fps,
                                   seconds_per_frame=self.seconds_per_frame)
        overrides = self.model.presence_overrides(data, texts)
        for out in self.model.track(prompt, normalised_frames(), total, size,
                                    **overrides):
            frame = decoded['frame']
            full = F.interpolate(out['logits'][:, None], size=frame.shape[:2],
                                 mode='bilinear', align_corners=False)[:, 0]
            yield dict(
                decoded,
                masks=(full.sigmoid() > threshold).to(torch.uint8).numpy(),
                logits=full.numpy().astype(np.float32),
                object_scores=out['object_score_logits'].numpy(),
                presence=out['presence'].float().numpy(),
                memory_frames=out['memory_frames'],
                sampled=any(abs(decoded['time'] - s) < 1e-4
                            for s in sampled_times))

    def _call_streaming(self, video, texts: list[str], audio, *,
                        start: float, end: float | None,
                        video_fps: float | None, batch_size: int | None,
                        out_dir: str | None, masks_format: str,
                        overlay: bool, opacity: float | None,
                        sheet_colours: int | None) -> dict:
        """``__call__(..., stream=True)``: :meth:`stream` into files."""
        media = load_clip_media(
            video, audio, num_frames=self.num_frames,
            seconds_per_frame=self.seconds_per_frame, start=start,
            video_fps=video_fps)
        fps = media.video.fps or video_fps or 1 / self.seconds_per_frame
        writer = None
        if out_dir:
            chunks = None
            if overlay:
                source = media.audio_source if isinstance(
                    audio, (str, os.PathLike)) or audio is None else None
                chunks = iter_audio_chunks(
                    source if source is not None
                    else (media.audio, media.sample_rate), media,
                    start if source is not None else 0.0)
            writer = StreamOutputs(out_dir, self.visualizer, media, texts,
                                   fps, chunks, masks_format=masks_format,
                                   overlay=overlay, opacity=opacity,
                                   sheet_colours=sheet_colours)
        k = len(texts)
        times = array('d')
        scores = [array('f') for _ in range(k)]
        presence = [array('f') for _ in range(k)]
        found: list[list[int]] = [[] for _ in range(k)]
        kept = []  # (index, masks, logits) of the sampled frames
        frames = self.stream(video, texts, audio, start=start, end=end,
                             video_fps=video_fps, batch_size=batch_size,
                             media=media)
        if self.show_progress:
            frames = track(frames, description='Streaming',
                           total=count_video_frames(
                               video, start=start, end=end,
                               video_fps=video_fps,
                               seconds_per_frame=self.seconds_per_frame))
        for out in frames:
            times.append(out['time'])
            for e in range(k):
                scores[e].append(out['object_scores'][e])
                if 'presence' in out:
                    presence[e].append(out['presence'][e])
                if out['masks'][e].any():
                    found[e].append(out['index'])
            if out['sampled']:
                kept.append((out['index'], out['masks'], out['logits']))
            if writer is not None:
                if out['index'] == 0 and 'presence' in out:
                    # the head's presence decision is taken on frame 0
                    writer.found = [bool(p > 0) for p in out['presence']]
                writer.add(out['index'], out['time'], out['frame'],
                           out['masks'], sampled=out['sampled'])
        if not times:
            raise MediaError(media.source or '<frames in memory>',
                             f'no frame between {start} and {end} s')
        mask_frames = [i for i, _, _ in kept]
        predictions = [dict(
            text=text,
            masks=np.stack([m[e] for _, m, _ in kept]),
            logits=np.stack([g[e] for _, _, g in kept]),
            object_scores=np.frombuffer(scores[e], np.float32).copy(),
            **({'presence': np.frombuffer(presence[e], np.float32).copy()}
               if presence[e] else {}),
            frames_with_object=found[e]) for e, text in enumerate(texts)]
        outputs = None
        if writer is not None:
            outputs = writer.close(dict(
                num_frames=len(times), frame_times=list(times),
                sampled=mask_frames, expressions=[dict(
                    index=e + 1, text=text, found=bool(found[e]),
                    frames_with_object=found[e])
                    for e, text in enumerate(texts)]))
        return dict(predictions=predictions, frame_times=list(times),
                    sampled=mask_frames, mask_frames=mask_frames,
                    num_frames=len(times), clip_seconds=media.clip_seconds,
                    audio_source=media.audio_source,
                    warnings=list(media.warnings),
                    visualization=dict(outputs=outputs))
