"""Files of an inference run: overlay video, mask PNGs, contact sheet.

Everything is drawn by the :class:`~sam2love.visualization.RefAVSVisualizer`
(the same drawing as ``tools/test.py --show-dir``); this module only
writes it::

    OUT/overlay.mp4                      every returned frame, masks of each
                                         expression in its colour, legend,
                                         the clip's sound (H.264 + AAC)
    OUT/contact_sheet.png                the sampled frames with overlays
    OUT/masks/expression_<k>/00000.png   one 0/255 PNG per frame and
                                         expression (k = 1..K, the legend's
                                         numbers), at the frame size
    OUT/predictions.json                 expressions, colours, frame times,
                                         frames where each object is found,
                                         warnings about degraded input
"""
import json
import os
import os.path as osp
from collections.abc import Sequence
from fractions import Fraction

import av
import cv2
import numpy as np
from PIL import Image
from rich.progress import track

from ..visualization import RefAVSVisualizer, expression_colours
from ..visualization.drawing import mark_not_found
from .media import iter_audio_chunks


def frame_captions(times: Sequence[float]) -> list[str]:
    """``'3 s'``, ``'3.04 s'``: frame times for drawings."""
    return [f'{round(t, 2):g} s' for t in times]


def write_outputs(out_dir: str, visualizer: RefAVSVisualizer, media,
                  texts: Sequence[str], masks: np.ndarray,
                  frames: Sequence[np.ndarray], times: Sequence[float],
                  sampled: Sequence[int], fps: float,
                  opacity: float | None = None,
                  sheet_colours: int | None = None,
                  show_progress: bool = True) -> dict:
    """Write the overlay video, the mask PNGs, the contact sheet and a
    summary of one inference call, through :class:`StreamOutputs`.

    Args:
        out_dir (str): output folder (created).
        visualizer (RefAVSVisualizer): draws overlays and the sheet.
        media (ClipMedia): the clip (its track goes into the video).
        texts (Sequence[str]): the K expressions.
        masks (np.ndarray): (K, N, H, W) predicted masks of the N frames.
        frames (Sequence[np.ndarray]): the N uint8 RGB frames.
        times (Sequence[float]): their times (s).
        sampled (Sequence[int]): indices of the T sampled frames among N.
        fps (float): frame rate of the overlay video.
        opacity (float, optional): mask opacity; the visualizer's default.
        sheet_colours (int, optional): save the contact sheet with an
            adaptive palette of this many colours (e.g. 256: a third of the
            size, for documentation); full colour by default.

    Returns:
        dict: paths of ``overlay``, ``contact_sheet``, ``masks`` (one
        folder per expression) and ``summary``.
    """
    writer = StreamOutputs(
        out_dir, visualizer, media, texts, fps,
        iter_audio_chunks((media.audio, media.sample_rate), media, 0.0),
        opacity=opacity, sheet_colours=sheet_colours)
    writer.found = [bool(m.any()) for m in masks]  # nothing drawn: say so
    indices, sampled_set = range(len(frames)), set(sampled)
    if show_progress:
        indices = track(indices, description='Overlay video')
    for i in indices:
        writer.add(i, times[i], frames[i], masks[:, i],
                   sampled=i in sampled_set)
    return writer.close(dict(
        frame_times=list(times), sampled=list(sampled),
        expressions=[dict(
            index=k + 1, text=text, found=writer.found[k],
            frames_with_object=[int(i) for i in np.flatnonzero(
                masks[k].reshape(len(frames), -1).any(1))])
            for k, text in enumerate(texts)]))


# --------------------------------------------------------------------------
# Streaming: files written frame by frame
# --------------------------------------------------------------------------
#: Formats of the per-frame masks of a streamed run.
MASK_FORMATS = ('png', 'rle', 'none')


def mask_to_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of an (H, W) mask: ``size`` [H, W] and
    ``counts``, run lengths in column-major order starting with 0s."""
    flat = (np.asarray(mask) > 0).ravel(order='F')
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return dict(size=list(mask.shape), counts=[int(c) for c in counts])


def rle_to_mask(rle: dict) -> np.ndarray:
    """The (H, W) uint8 {0, 1} mask of :func:`mask_to_rle`'s output."""
    h, w = rle['size']
    values = np.zeros(h * w, np.uint8)
    pos, value = 0, 0
    for count in rle['counts']:
        values[pos:pos + count] = value
        pos += count
        value = 1 - value
    return values.reshape((h, w), order='F')


class OverlayVideoWriter:
    """An mp4 written one frame at a time (H.264 4:2:0, AAC sound), the
    sound interleaved with the frames so that nothing piles up.

    Args:
        path (str): the mp4.
        fps (float): frame rate.
        audio_chunks (Iterator[np.ndarray], optional): float32 (n, C)
            chunks of the sound from the first frame on.
        sample_rate (int, optional): their rate.
        crf (int): H.264 quality.
    """

    def __init__(self, path: str, fps: float, audio_chunks=None,
                 sample_rate: int | None = None, crf: int = 18) -> None:
        self.fps = fps
        self.container = av.open(str(path), 'w')
        self.vstream = self.container.add_stream(
            'libx264', rate=Fraction(fps).limit_denominator(1001000))
        self.vstream.pix_fmt = 'yuv420p'
        self.vstream.options = {'crf': str(crf), 'preset': 'medium'}
        self.astream = self.pending = None
        self.audio_chunks = iter(audio_chunks) if audio_chunks else None
        self.sample_rate = sample_rate
        if self.audio_chunks is not None:
            # every stream must exist before the first packet is muxed
            self.pending = next(self.audio_chunks, None)
            if self.pending is None:
                self.audio_chunks = None
            else:
                channels = self.pending.shape[1]
                self.channels = channels if channels <= 2 else 1
                self.astream = self.container.add_stream(
                    'aac', rate=int(sample_rate),
                    layout='mono' if self.channels == 1 else 'stereo')
        self.samples_written = 0
        self.count = 0

    def _next_chunk(self):
        if self.pending is not None:
            chunk, self.pending = self.pending, None
            return chunk
        return next(self.audio_chunks, None)

    def _audio_until(self, seconds: float) -> None:
        while self.audio_chunks is not None and \
                self.samples_written < seconds * self.sample_rate:
            chunk = self._next_chunk()
            if chunk is None:
                self.audio_chunks = None
                return
            if chunk.shape[1] != self.channels:
                chunk = chunk.mean(axis=1, keepdims=True)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(np.clip(chunk, -1, 1).reshape(1, -1)
                                     .astype(np.float32)),
                format='flt', layout=self.astream.layout.name)
            frame.sample_rate = int(self.sample_rate)
            frame.pts = self.samples_written
            self.samples_written += len(chunk)
            self.container.mux(self.astream.encode(frame))

    def write(self, frame: np.ndarray) -> None:
        """Append a uint8 RGB (H, W, 3) frame (all of one size)."""
        frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
        if self.count == 0:
            self.vstream.height, self.vstream.width = frame.shape[:2]
        vframe = av.VideoFrame.from_ndarray(frame, format='rgb24')
        vframe.pts = self.count
        self.container.mux(self.vstream.encode(vframe))
        self.count += 1
        self._audio_until(self.count / self.fps)

    def close(self) -> int:
        """Flush the encoders; returns the number of frames written."""
        if self.count:
            self.container.mux(self.vstream.encode(None))
            if self.astream is not None:
                self.container.mux(self.astream.encode(None))
        self.container.close()
        return self.count


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


class StreamOutputs:
    """Files of a streamed run, written as each frame's masks come::

        OUT/overlay.mp4                      (``overlay=True``)
        OUT/masks/expression_<k>/00000.png   (``masks_format='png'``)
        OUT/masks.jsonl                      (``'rle'``: one line a frame,
                                             ``{"frame", "time", "masks":
                                             [RLE of each expression]}``)
        OUT/contact_sheet.png                the T sampled frames
        OUT/predictions.json                 as :func:`write_outputs`'s,
                                             plus ``num_frames``

    Only the T sampled frames (for the contact sheet) are kept; frame
    times, object scores and which frames hold each object are kept as
    compact arrays (a few bytes a frame).

    Args:
        out_dir (str): output folder (created).
        visualizer (RefAVSVisualizer): draws the overlays.
        media (ClipMedia): the clip that gave the prompt.
        texts (Sequence[str]): the K expressions.
        fps (float): the overlay's frame rate.
        audio_chunks (Iterator, optional): the sound for the overlay
            (:func:`~sam2love.apis.media.iter_audio_chunks`).
        masks_format (str): one of :data:`MASK_FORMATS`.
        overlay (bool): write the overlay video.
        opacity (float, optional): mask opacity.
        sheet_colours (int, optional): palette size of the contact sheet.
    """

    def __init__(self, out_dir: str, visualizer: RefAVSVisualizer, media,
                 texts: Sequence[str], fps: float, audio_chunks=None,
                 masks_format: str = 'png', overlay: bool = True,
                 opacity: float | None = None,
                 sheet_colours: int | None = None) -> None:
        if masks_format not in MASK_FORMATS:
            raise ValueError(f'masks_format must be one of {MASK_FORMATS}, '
                             f'got {masks_format!r}')
        from ..visualization.drawing import draw_legend
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir, self.visualizer, self.media = out_dir, visualizer, media
        self.texts, self.masks_format = list(texts), masks_format
        self.opacity = visualizer.alpha if opacity is None else opacity
        self.sheet_colours = sheet_colours
        self.colours = expression_colours(len(texts))
        self._draw_legend = draw_legend
        self.legend = self.size = None
        #: per expression, False once the head decided its referent is
        #: absent (set before the first frame; the legend then says so)
        self.found = [True] * len(self.texts)
        self.paths = dict(
            overlay=osp.join(out_dir, 'overlay.mp4') if overlay else None,
            contact_sheet=osp.join(out_dir, 'contact_sheet.png'),
            masks=[osp.join(out_dir, 'masks', f'expression_{k + 1}')
                   for k in range(len(texts))] if masks_format == 'png'
            else (osp.join(out_dir, 'masks.jsonl')
                  if masks_format == 'rle' else None),
            summary=osp.join(out_dir, 'predictions.json'))
        if masks_format == 'png':
            for folder in self.paths['masks']:
                os.makedirs(folder, exist_ok=True)
        self._rle = open(self.paths['masks'], 'w') \
            if masks_format == 'rle' else None
        self.video = OverlayVideoWriter(
            self.paths['overlay'], fps, audio_chunks,
            media.sample_rate) if overlay else None
        self.sheet: list = []  # (index, time, frame, masks (K, H, W))

    def _draw(self, frame: np.ndarray, masks: np.ndarray,
              caption: str) -> np.ndarray:
        from ..visualization.drawing import (
            draw_caption,
            overlay_masks,
            resize_frame,
            stack_rows,
            upscale_size,
        )
        if self.legend is None:
            self.size = upscale_size(*frame.shape[:2],
                                     self.visualizer.min_height)
            self.legend = self._draw_legend(
                self.size[1], self.visualizer._legend_texts(
                    mark_not_found(self.texts, self.found)), self.colours)
        img = overlay_masks(resize_frame(frame, self.size), masks,
                            self.colours, self.opacity)
        return stack_rows([draw_caption(img, caption), self.legend])

    def add(self, index: int, time: float, frame: np.ndarray,
            masks: np.ndarray, sampled: bool = False) -> None:
        """Write frame ``index`` (uint8 RGB (H, W, 3)) and its (K, H, W)
        masks; ``sampled`` frames also go on the contact sheet."""
        if self.masks_format == 'png':
            for folder, mask in zip(self.paths['masks'], masks):
                cv2.imwrite(osp.join(folder, f'{index:05d}.png'),
                            (mask > 0).astype(np.uint8) * 255)
        elif self._rle is not None:
            self._rle.write(json.dumps(dict(
                frame=index, time=round(float(time), 6),
                masks=[mask_to_rle(m) for m in masks])) + '\n')
        if self.video is not None:
            self.video.write(self._draw(frame, masks,
                                        frame_captions([time])[0]))
        if sampled:
            self.sheet.append((index, time, frame, masks))

    def close(self, summary: dict) -> dict:
        """Finish the files; ``summary`` (frame times, found frames, ...)
        goes into ``predictions.json``. Returns the paths."""
        if self.video is not None:
            self.video.close()
        if self._rle is not None:
            self._rle.close()
        if self.sheet:
            _, times, frames, masks = zip(*self.sheet)
            sheet = self.visualizer.draw_contact_sheet(
                list(frames), [np.stack(masks, axis=1)],
                mark_not_found(self.texts, self.found),
                captions=frame_captions(times), opacity=self.opacity)
            image = Image.fromarray(sheet)
            if self.sheet_colours:
                image = image.quantize(self.sheet_colours,
                                       method=Image.Quantize.MEDIANCUT)
            image.save(self.paths['contact_sheet'], optimize=True)
        else:
            self.paths['contact_sheet'] = None

        def rel(path):
            return None if path is None else osp.relpath(path, self.out_dir)

        masks = self.paths['masks']
        record = dict(
            video=self.media.source, audio=self.media.audio_source,
            clip_seconds=self.media.clip_seconds,
            warnings=list(self.media.warnings),
            overlay=rel(self.paths['overlay']),
            contact_sheet=rel(self.paths['contact_sheet']),
            masks_format=self.masks_format,
            masks=rel(masks) if isinstance(masks, str) else None,
            **summary)
        for k, expression in enumerate(record.get('expressions', [])):
            expression['colour'] = list(self.colours[k])
            if isinstance(masks, list):
                expression['masks'] = rel(masks[k])
        with open(self.paths['summary'], 'w') as f:
            json.dump(record, f, indent=2)
        return self.paths
