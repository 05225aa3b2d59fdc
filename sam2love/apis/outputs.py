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
                                         frames where each object is found
"""
import json
import os
import os.path as osp
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image
from rich.progress import track

from ..datasets.video import write_video
from ..visualization import RefAVSVisualizer, expression_colours


def frame_captions(times: Sequence[float]) -> list[str]:
    """``'3 s'``, ``'3.04 s'``: frame times for drawings."""
    return [f'{round(t, 2):g} s' for t in times]


def write_masks(folder: str, masks: np.ndarray) -> None:
    """Write (N, H, W) {0, 1} masks as ``00000.png ...`` (0 / 255)."""
    os.makedirs(folder, exist_ok=True)
    for i, mask in enumerate(masks):
        cv2.imwrite(osp.join(folder, f'{i:05d}.png'),
                    (np.asarray(mask) > 0).astype(np.uint8) * 255)


def write_outputs(out_dir: str, visualizer: RefAVSVisualizer, media,
                  texts: Sequence[str], masks: np.ndarray,
                  frames: Sequence[np.ndarray], times: Sequence[float],
                  sampled: Sequence[int], fps: float,
                  opacity: float | None = None,
                  sheet_colours: int | None = None,
                  show_progress: bool = True) -> dict:
    """Write the overlay video, the mask PNGs, the contact sheet and a
    summary of one inference call.

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
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(overlay=osp.join(out_dir, 'overlay.mp4'),
                 contact_sheet=osp.join(out_dir, 'contact_sheet.png'),
                 masks=[osp.join(out_dir, 'masks', f'expression_{k + 1}')
                        for k in range(len(texts))],
                 summary=osp.join(out_dir, 'predictions.json'))
    captions = frame_captions(times)

    drawn = visualizer.iter_clip(frames, masks, texts, captions, opacity)
    if show_progress:
        drawn = track(drawn, total=len(frames), description='Overlay video')
    audio = media.audio[:int(round(media.clip_seconds * media.sample_rate))]
    if audio.shape[1] > 2:
        audio = audio.mean(axis=1, keepdims=True)
    write_video(paths['overlay'], drawn, fps, audio, media.sample_rate)

    for folder, expression_masks in zip(paths['masks'], masks):
        write_masks(folder, expression_masks)

    sheet = visualizer.draw_contact_sheet(
        [frames[i] for i in sampled], [masks[:, list(sampled)]], texts,
        captions=[captions[i] for i in sampled], opacity=opacity)
    image = Image.fromarray(sheet)
    if sheet_colours:
        image = image.quantize(sheet_colours, method=Image.Quantize.MEDIANCUT)
    image.save(paths['contact_sheet'], optimize=True)

    colours = expression_colours(len(texts))
    summary = dict(
        video=media.source, audio=media.audio_source,
        clip_seconds=media.clip_seconds, frame_times=list(times),
        sampled=list(sampled), overlay=osp.basename(paths['overlay']),
        contact_sheet=osp.basename(paths['contact_sheet']),
        expressions=[dict(
            index=k + 1, text=text, colour=list(colours[k]),
            masks=osp.relpath(paths['masks'][k], out_dir),
            frames_with_object=[int(i) for i in np.flatnonzero(
                masks[k].reshape(len(frames), -1).any(1))])
            for k, text in enumerate(texts)])
    with open(paths['summary'], 'w') as f:
        json.dump(summary, f, indent=2)
    return paths
