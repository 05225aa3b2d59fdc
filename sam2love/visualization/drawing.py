"""Drawing referring masks: overlays, legends and contact sheets.

Pure functions on uint8 RGB arrays, used through
:class:`~sam2love.visualization.RefAVSVisualizer` by both ``tools/demo.py``
(via the inferencer) and ``tools/test.py --show-dir`` (via mmseg's
``SegVisualizationHook``). Every expression has its own colour
(:func:`expression_colours`); masks are blended over the frame and outlined.
"""
import os.path as osp
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Expression colours (RGB), distinct on natural and synthetic scenes.
EXPRESSION_COLOURS = (
    (255, 48, 96), (32, 224, 255), (255, 200, 0), (160, 96, 255),
    (64, 240, 96), (255, 128, 32), (255, 64, 224), (176, 255, 32),
    (64, 128, 255), (255, 255, 255))
#: Background of legends, captions and sheets.
PANEL = (24, 24, 28)


def expression_colours(num: int) -> list[tuple[int, int, int]]:
    """``num`` RGB colours, cycling through :data:`EXPRESSION_COLOURS`."""
    return [EXPRESSION_COLOURS[i % len(EXPRESSION_COLOURS)]
            for i in range(num)]


@lru_cache(maxsize=16)
def get_font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib: Latin, Greek, Cyrillic) at
    ``size`` px, else Pillow's default font."""
    try:
        import matplotlib
        path = osp.join(matplotlib.get_data_path(), 'fonts', 'ttf',
                        'DejaVuSans.ttf')
        return ImageFont.truetype(path, size)
    except (ImportError, OSError):
        return ImageFont.load_default(size=size)


def font_size_for(width: int) -> int:
    """A legible font size for an image ``width`` px wide."""
    return int(np.clip(width / 36, 11, 28))


def upscale_size(height: int, width: int, min_height: int
                 ) -> tuple[int, int]:
    """(H, W) enlarged by the smallest integer factor reaching
    ``min_height`` (small frames stay sharp and legible); never reduced."""
    factor = max(1, int(np.ceil(min_height / max(height, 1))))
    return height * factor, width * factor


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB frame to (H, W): area when shrinking, bilinear when
    enlarging."""
    h, w = size
    if frame.shape[:2] == (h, w):
        return frame
    shrink = h < frame.shape[0]
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA
                      if shrink else cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a (H, W) mask to ``size`` (nearest); returns bool."""
    mask = np.asarray(mask).astype(np.uint8)
    if mask.shape != tuple(size):
        mask = cv2.resize(mask, (size[1], size[0]),
                          interpolation=cv2.INTER_NEAREST)
    return mask > 0


def overlay_masks(frame: np.ndarray, masks: Sequence[np.ndarray],
                  colours: Sequence[tuple], opacity: float = 0.5,
                  outline: int | None = None) -> np.ndarray:
    """Blend masks over a frame, each in its colour, and outline them.

    Args:
        frame (np.ndarray): uint8 RGB (H, W, 3).
        masks (Sequence[np.ndarray]): K masks (any size: resized, nearest,
            to the frame), one per expression; later ones are drawn on top.
        colours (Sequence[tuple]): K RGB colours.
        opacity (float): weight of the colour inside a mask.
        outline (int, optional): outline width in px; by default about
            1/128 of the frame's larger side (at least 1). Earlier
            expressions get wider outlines, so that masks of several
            expressions on one object show as concentric rings.

    Returns:
        np.ndarray: uint8 RGB (H, W, 3), a new array.
    """
    out = frame.astype(np.float32)
    h, w = frame.shape[:2]
    if outline is None:
        outline = max(1, round(max(h, w) / 128))
    edges = []
    for mask, colour in zip(masks, colours):
        m = resize_mask(mask, (h, w))
        if not m.any():
            continue
        out[m] = (1 - opacity) * out[m] + opacity * np.asarray(colour,
                                                                np.float32)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        edges.append((contours, colour))
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    for k, (contours, colour) in enumerate(edges):
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour),
                         outline * (2 * (len(edges) - k) - 1))
    return out


def _wrap(text: str, font, width: float) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` px."""
    lines, line = [], ''
    for word in text.split():
        trial = f'{line} {word}'.strip()
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line] if line else lines or ['']


#: What the legend says of an expression whose referent was not found.
NOT_FOUND = 'not found'


def mark_not_found(texts: Sequence[str], found: Sequence[bool]) -> list[str]:
    """``texts`` with " (not found)" after each expression not found (its
    masks are empty on every frame: nothing is drawn for it)."""
    return [str(t) if f else f'{t} ({NOT_FOUND})' for t, f in zip(texts, found)]


def draw_legend(width: int, texts: Sequence[str], colours: Sequence[tuple],
                font_size: int | None = None) -> np.ndarray:
    """A legend strip: a colour swatch and the (wrapped) expression for
    each entry.

    Returns:
        np.ndarray: uint8 RGB (h, width, 3); h fits the text.
    """
    size = font_size or font_size_for(width)
    font = get_font(size)
    pad, swatch = max(4, size // 2), size
    line_h = int(size * 1.3)
    text_w = width - 3 * pad - swatch
    entries = [_wrap(t, font, text_w) for t in texts]
    height = pad + sum(len(e) * line_h + pad for e in entries)
    img = Image.new('RGB', (width, max(height, 1)), PANEL)
    draw = ImageDraw.Draw(img)
    y = pad
    for lines, colour in zip(entries, colours):
        top = y + (line_h - swatch) // 2
        draw.rectangle([pad, top, pad + swatch, top + swatch],
                       fill=tuple(colour))
        for line in lines:
            draw.text((2 * pad + swatch, y), line, font=font,
                      fill=(240, 240, 240))
            y += line_h
        y += pad
    return np.asarray(img)


def draw_caption(image: np.ndarray, text: str,
                 font_size: int | None = None) -> np.ndarray:
    """Write ``text`` on a dark box in the top-left corner (a new array)."""
    size = font_size or font_size_for(image.shape[1])
    font = get_font(size)
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    pad = max(2, size // 4)
    x0, y0, x1, y1 = draw.textbbox((pad, pad), text, font=font)
    draw.rectangle([0, 0, x1 + pad, y1 + pad], fill=PANEL)
    draw.text((pad, pad), text, font=font, fill=(240, 240, 240))
    return np.asarray(img)


def stack_rows(rows: Sequence[np.ndarray], width: int | None = None,
               background: tuple = PANEL) -> np.ndarray:
    """Stack RGB images vertically, left-aligned on ``background``."""
    width = width or max(r.shape[1] for r in rows)
    out = np.empty((sum(r.shape[0] for r in rows), width, 3), np.uint8)
    out[:] = background
    y = 0
    for r in rows:
        out[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0]
    return out


def tile_grid(tiles: Sequence[np.ndarray], columns: int, gap: int = 4,
              background: tuple = PANEL) -> np.ndarray:
    """Arrange same-size tiles in rows of ``columns`` with ``gap`` px."""
    h, w = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    out = np.empty((rows * h + (rows + 1) * gap,
                    columns * w + (columns + 1) * gap, 3), np.uint8)
    out[:] = background
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        out[y:y + h, x:x + w] = tile
    return out


def draw_label(width: int, text: str, font_size: int | None = None
               ) -> np.ndarray:
    """A one-line title strip ``width`` px wide."""
    size = font_size or font_size_for(width)
    img = Image.new('RGB', (width, int(size * 1.6)), PANEL)
    ImageDraw.Draw(img).text((max(4, size // 2), size // 4), text,
                             font=get_font(size), fill=(240, 240, 240))
    return np.asarray(img)
