"""Frame rendering: textured background, ripple-ring cue, objects, noise."""
import numpy as np
from PIL import Image, ImageDraw

from .scene import Scene

CUE_RADIUS = 1.4  # ripple ring radius, in object radii


def _resize_axis(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` to ``size`` samples along ``axis``."""
    m = a.shape[axis]
    pos = np.linspace(0, m - 1, size)
    i0 = np.minimum(pos.astype(int), m - 2)
    shape = [1] * a.ndim
    shape[axis] = size
    frac = (pos - i0).reshape(shape)
    return np.take(a, i0, axis) * (1 - frac) + np.take(a, i0 + 1, axis) * frac


def _upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h, w, C) grid to (height, width, C)."""
    return _resize_axis(_resize_axis(grid, height, 0), width, 1)


def make_background(seed: int, width: int, height: int) -> np.ndarray:
    """A muted, textured background: (H, W, 3) float32 in [0, 255].

    Low- and mid-frequency colour noise plus a few faint blobs, so that
    objects cannot be found by thresholding a colour or a brightness.
    """
    rng = np.random.default_rng(seed)
    base = rng.uniform(80, 170)
    tint = rng.normal(0, 12, 3)
    img = base + tint + _upsample(rng.normal(0, 28, (3, 4, 3)), height, width)
    img += _upsample(rng.normal(0, 12, (12, 16, 3)), height, width)
    blobs = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(blobs)
    layer = np.zeros((height, width, 3))
    for k in range(int(rng.integers(3, 7))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.2, 2) * width
        draw.rectangle((0, 0, width, height), fill=0)
        if k % 2:
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=255)
        else:
            draw.rectangle((x - rx, y - ry, x + rx, y + ry), fill=255)
        inside = np.asarray(blobs) > 0
        layer[inside] = rng.normal(0, 30, 3)
    img += 0.6 * layer
    return np.clip(img, 0, 255).astype(np.float32)


def _ring_mask(cx: float, cy: float, r: float, width: int,
               height: int) -> np.ndarray:
    """(H, W) bool ripple ring around an object."""
    img = Image.new('L', (width, height), 0)
    rr = CUE_RADIUS * r
    ImageDraw.Draw(img).ellipse((cx - rr, cy - rr, cx + rr, cy + rr),
                                outline=255, width=max(1, int(0.12 * r)))
    return np.asarray(img) > 0


def render_frames(scene: Scene, masks: np.ndarray,
                  cues: np.ndarray) -> list:
    """Frames of a clip: T arrays (H, W, 3) uint8.

    Args:
        masks (np.ndarray): (n, T, H, W) visible pixels (:func:`visible_masks`).
        cues (np.ndarray): (n, T) bool, draw a faint ripple ring around the
            object in that frame (under all objects, so masks are unchanged).
    """
    background = make_background(scene.background_seed, scene.width,
                                 scene.height)
    noise_rng = np.random.default_rng(scene.noise_seed)
    frames = []
    for t in range(masks.shape[1]):
        img = background.copy()
        for i, obj in enumerate(scene.objects):
            if cues[i, t]:
                ring = _ring_mask(*obj.positions[t], obj.radius, scene.width,
                                  scene.height)
                img[ring] = 0.5 * img[ring] + 0.5 * 255
        for i, obj in enumerate(scene.objects):
            img[masks[i, t]] = scene.colours[obj.category]
        img += 7 * noise_rng.standard_normal(img.shape, dtype=np.float32)
        frames.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    return frames
