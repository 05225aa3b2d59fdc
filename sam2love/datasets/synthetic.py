"""A deterministic synthetic tri-modal Ref-AVS data set.

:func:`make_synthetic_refavs` writes clips of coloured shapes moving over a
textured background, each shape category with its own sound, in the exact
layout of the Ref-AVS release (``metadata.csv``, ``media/<name>/frames``,
``media/<name>/audio.wav``, ``gt_mask/<name>/fid_<fid>``), so that the real
loader, training and evaluation code can run on it end to end::

    <out>/metadata.csv                               vid,uid,split,fid,exp
    <out>/media/<name>/frames/0.jpg ... {T-1}.jpg    one frame per second
    <out>/media/<name>/audio.wav                     16-bit PCM, mono, T s
    <out>/gt_mask/<name>/fid_<fid>/00000.png ...     'L', 0 / 255
    <out>/synthetic_info.json                        generator parameters,
                                                     per-uid expression kind
                                                     and referent category

Ground truth comes from the scene: every expression is computed from the
objects, their motion and the per-second sound schedule, and is written only
when its referent is unique. The expressions are built so that no single
modality suffices across the set: the same frames with different text refer
to different objects; the same frames and text with different audio (the
*twin* clips, which share one scene and differ in who sounds) refer to
different objects; and some clips hold two identical-looking objects of which
only one sounds (told apart by the sound's timing and the optional visual
activity cue).

Category properties (colour, shape, pitch, timbre, rhythm) are fixed, not
drawn from the seed, so that every split and every seed agree on them. A
quarter of the categories is *unseen*: they appear only in ``test_u`` clips.
"""
import csv
import json
import os
import os.path as osp
import shutil
import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import soundfile
from PIL import Image, ImageDraw

__all__ = [
    'CATEGORIES', 'UNSEEN_CATEGORIES', 'SEEN_CATEGORIES', 'PRESETS',
    'EXPRESSION_KINDS', 'make_synthetic_refavs'
]

SPLITS = ('train', 'val', 'test_s', 'test_u', 'test_n')
#: Share of clips per split, like the real release (train takes the rest).
SPLIT_SHARES = {'val': 0.07, 'test_s': 0.11, 'test_u': 0.08, 'test_n': 0.05}

SHAPES = ('square', 'circle', 'triangle', 'diamond', 'star', 'cross')
#: Object colours (RGB) and the base pitch (Hz) of their sound.
COLOURS = {
    'red': ((205, 45, 45), 220),
    'green': ((40, 170, 60), 330),
    'blue': ((45, 85, 215), 495),
    'yellow': ((230, 205, 40), 742),
}
#: Timbre of each shape's sound.
SHAPE_TIMBRES = {
    'square': 'square',  # odd harmonics, 1 / n
    'circle': 'sine',
    'triangle': 'triangle',  # odd harmonics, 1 / n^2
    'diamond': 'saw',  # all harmonics, 1 / n
    'star': 'noise-band',  # band-passed noise around the pitch
    'cross': 'bell',  # inharmonic partials
}
RHYTHMS_HZ = (0, 2, 4)  # 0: continuous; else pulses per second
#: Categories kept out of train / val / test_s / test_n: every shape and
#: every colour is still seen, only these combinations are new.
UNSEEN_CATEGORIES = ('yellow-square', 'blue-circle', 'green-triangle',
                     'red-diamond', 'yellow-star', 'green-cross')

#: Expression kinds stored in ``synthetic_info.json``, with what a model
#: needs to resolve each.
EXPRESSION_KINDS = {
    'audio': 'names only sound properties (who sounds, first, loudest, '
    'pitch, silent): needs audio + frames',
    'vision': 'names colour / shape / position: needs text + frames',
    'mixed': 'names a visual attribute and a sound state ("the sounding '
    'square"): needs text + audio + frames',
    'temporal': 'orders sounds around a named object ("after the blue '
    'circle stops"): needs text + audio + frames',
    'null': 'refers to nothing in the clip: empty masks',
}

PRESETS = {
    'tiny': dict(num_clips=12, num_frames=4, frame_size=(64, 48)),
    'default': dict(num_clips=400),
}

AUDIO_LEVEL = 0.12  # amplitude of one sound at gain 1 (RMS)
AUDIO_NOISE = 0.003  # background noise (std)
CUE_RADIUS = 1.4  # ripple ring radius, in object radii
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Category:
    """A (colour, shape) object class and its fixed sound."""

    colour: str
    shape: str
    pitch_hz: int
    timbre: str
    rhythm_hz: int

    @property
    def name(self) -> str:
        return f'{self.colour}-{self.shape}'

    @property
    def text(self) -> str:
        return f'{self.colour} {self.shape}'

    @property
    def rgb(self) -> tuple:
        return COLOURS[self.colour][0]


def _build_categories() -> dict:
    categories = {}
    for c, (colour, (_, base_pitch)) in enumerate(COLOURS.items()):
        for s, shape in enumerate(SHAPES):
            # pitch grows with the colour by x1.5 and with the shape by
            # x1.06 a step (< x1.5), so every category has its own pitch
            category = Category(
                colour=colour, shape=shape,
                pitch_hz=int(round(base_pitch * (1 + 0.06 * s))),
                timbre=SHAPE_TIMBRES[shape],
                rhythm_hz=RHYTHMS_HZ[(s + 2 * c) % len(RHYTHMS_HZ)])
            categories[category.name] = category
    return categories


CATEGORIES = _build_categories()
SEEN_CATEGORIES = tuple(c for c in CATEGORIES if c not in UNSEEN_CATEGORIES)


# ----------------------------------------------------------------- plan
@dataclass
class ClipPlan:
    """What one clip will be, decided before any scene is drawn."""

    index: int
    split: str
    kind: str  # 'ordinary', 'null_m' or 'null_c'
    twin: int | None = None  # index of the clip sharing its scene
    duplicate: bool = False  # holds two objects of one category

    def vid(self, seed: int, num_frames: int) -> str:
        return f'syn{seed}-{self.index:05d}_0_{num_frames * 1000}'

    def name(self, seed: int, num_frames: int) -> str:
        vid = self.vid(seed, num_frames)
        return vid if self.kind == 'ordinary' else f'{self.kind}-{vid}'


def split_counts(num_clips: int) -> dict:
    """Clips per split: the release's shares, at least one each from 5."""
    if num_clips < len(SPLITS):
        order = ('train', 'test_u', 'test_s', 'val', 'test_n')
        return {s: int(s in order[:num_clips]) for s in SPLITS}
    counts = {s: max(1, int(round(share * num_clips)))
              for s, share in SPLIT_SHARES.items()}
    counts['train'] = num_clips - sum(counts.values())
    return {s: counts[s] for s in SPLITS}


def _plan_clips(rng: np.random.Generator, num_clips: int, null_prob: float,
                twin_prob: float, duplicate_prob: float) -> list:
    """Split, kind, twin and duplicate flags of every clip."""
    labels = [s for s, n in split_counts(num_clips).items() for _ in range(n)]
    labels = [labels[i] for i in rng.permutation(num_clips)]
    plans = [ClipPlan(index, split, 'ordinary')
             for index, split in enumerate(labels)]
    for split in SPLITS:  # null clips: all of test_n, a share of train / val
        members = [p for p in plans if p.split == split]
        if split == 'test_n':
            nulls = members
        elif split in ('train', 'val'):
            count = int(round(null_prob * len(members)))
            # the first train / val clip stays ordinary
            nulls = [members[1:][i] for i in
                     rng.permutation(max(0, len(members) - 1))[:count]]
        else:
            nulls = []
        for p in nulls:
            p.kind = ('null_m', 'null_c')[int(rng.integers(2))]
    ordinary = {s: [p for p in plans if p.kind == 'ordinary' and p.split == s]
                for s in SPLITS}
    for clips in ordinary.values():  # pair neighbours of a split as twins
        i = 0
        while i + 1 < len(clips):
            if rng.random() < twin_prob:
                clips[i].twin = clips[i + 1].index
                clips[i + 1].twin = clips[i].index
                i += 2
            else:
                i += 1
    train = ordinary['train']
    if len(train) >= 2 and not any(p.twin is not None for p in plans):
        train[0].twin, train[1].twin = train[1].index, train[0].index
    for p in plans:
        if p.kind != 'ordinary':
            continue
        if p.twin is not None and p.twin < p.index:
            p.duplicate = plans[p.twin].duplicate  # twins share one scene
        else:
            p.duplicate = bool(rng.random() < duplicate_prob)
    if train and not any(p.duplicate for p in plans):
        single = [p for p in train if p.twin is None] or train[:1]
        single[-1].duplicate = True
        if single[-1].twin is not None:
            plans[single[-1].twin].duplicate = True
    return plans


# ---------------------------------------------------------------- scene
@dataclass
class SceneObject:
    """One object of a scene.

    Attributes:
        category (str): category name, e.g. ``'red-square'``.
        radius (float): size in pixels (the shape fits in this circle).
        positions (np.ndarray): (T, 2) centre (x, y) in pixels per frame.
        z (int): drawing order; higher is in front.
    """

    category: str
    radius: float
    positions: np.ndarray
    z: int


@dataclass
class Scene:
    """Everything visual of a clip; shared by twin clips."""

    width: int
    height: int
    objects: list
    colours: dict  # category -> RGB used in this clip
    background_seed: int
    noise_seed: int
    events: list = field(default_factory=list)

    @property
    def categories(self) -> list:
        return [o.category for o in self.objects]


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold free motion ``x`` into ``[lo, hi]`` (bounces on both walls)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, (lo + hi) / 2)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def _bouncing_path(start: np.ndarray, velocity: np.ndarray, lows, highs,
                   times: np.ndarray) -> np.ndarray:
    """Positions (len(times), 2) of a point bouncing inside a box."""
    free = start[None] + velocity[None] * times[:, None]
    return np.stack([_reflect(free[:, a], lows[a], highs[a])
                     for a in range(2)], axis=1)


def _sample_categories(rng, num_objects: int, split: str,
                       duplicate: bool, same_shape_prob: float) -> list:
    """Categories of a scene's objects (unseen ones only in test_u)."""
    if split == 'test_u':
        primary, allowed = list(UNSEEN_CATEGORIES), list(CATEGORIES)
    else:
        primary = allowed = list(SEEN_CATEGORIES)

    def pick(pool, exclude):
        pool = [c for c in pool if c not in exclude]
        return pool[int(rng.integers(len(pool)))] if pool else None

    cats = []
    if duplicate:
        c = pick(primary, cats)
        cats += [c, c]
    if len(cats) + 2 <= num_objects and rng.random() < same_shape_prob:
        first = pick(primary, cats)
        shape = CATEGORIES[first].shape
        second = pick([c for c in allowed if CATEGORIES[c].shape == shape],
                      cats + [first])
        cats += [first] + ([second] if second else [])
    while len(cats) < num_objects:
        pool = primary if (split == 'test_u' and rng.random() < 0.6) \
            else allowed
        c = pick(pool, cats) or pick(allowed, cats)
        cats.append(c)
    if split == 'test_u' and not set(cats) & set(UNSEEN_CATEGORIES):
        cats[-1] = pick(primary, cats)
    return [cats[i] for i in rng.permutation(len(cats))]


def _sample_start_positions(rng, radii: list, width: int,
                            height: int) -> np.ndarray:
    """(n, 2) centres inside the frame, not overlapping where possible."""
    centres = []
    for r in radii:
        for _ in range(100):
            p = rng.uniform([r, r], [width - r, height - r])
            if all(np.hypot(*(p - q)) > r + rq + 2
                   for q, rq in zip(centres, radii)):
                break
        centres.append(p)
    return np.array(centres)


def _random_velocity(rng, speed: float) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    return speed * np.array([np.cos(angle), np.sin(angle)])


def _add_exit(rng, scene: Scene, times: np.ndarray,
              speed_range: tuple) -> int:
    """Make one object leave the frame for a few frames and come back.

    Returns:
        int: index of that object.
    """
    w, h = scene.width, scene.height
    i = int(rng.integers(len(scene.objects)))
    obj = scene.objects[i]
    r = obj.radius
    axis = int(rng.integers(2))
    size = (w, h)[axis]
    speed = rng.uniform(*speed_range) * w
    inset = rng.uniform(0.4, 1.2) * r  # start just inside the edge
    # centre leaves down to -2.2 r (fully out below -r) and bounces back
    low, high = -2.2 * r, size - r
    path = _reflect(low + inset + 2.2 * r - speed * times, low, high)
    if rng.random() < 0.5:  # mirror: leave on the right / bottom
        path = size - path
    obj.positions = obj.positions.copy()
    obj.positions[:, axis] = path
    scene.events.append(f'exit:{i}')
    return i


def _add_occlusion(rng, scene: Scene, times: np.ndarray,
                   speed_range: tuple, exclude: set) -> None:
    """Make a larger object pass in front of another one.

    The front object grows to 1.35x the back one, so it is never one of two
    look-alikes (they keep one size).
    """
    w, h = scene.width, scene.height
    categories = scene.categories
    candidates = [i for i in range(len(scene.objects)) if i not in exclude]
    fronts = [i for i in candidates if categories.count(categories[i]) == 1]
    if len(candidates) < 2 or not fronts or len(times) < 4:
        return
    front = fronts[int(rng.integers(len(fronts)))]
    backs = [i for i in candidates if i != front]
    back = backs[int(rng.integers(len(backs)))]
    b, f = scene.objects[back], scene.objects[front]
    f.radius = min(max(f.radius, 1.35 * b.radius), 0.26 * min(w, h))
    t_mid = rng.uniform(1.5, len(times) - 1.5)
    crossing = np.array([np.interp(t_mid, times, b.positions[:, a])
                         for a in range(2)])
    r = f.radius
    for _ in range(20):
        velocity = _random_velocity(rng, rng.uniform(*speed_range) * w)
        start = crossing - velocity * t_mid
        if r <= start[0] <= w - r and r <= start[1] <= h - r:
            f.positions = _bouncing_path(start, velocity, (r, r),
                                         (w - r, h - r), times)
            f.z = max(o.z for o in scene.objects) + 1
            scene.events.append(f'occlusion:{front}>{back}')
            return


def sample_scene(rng: np.random.Generator, split: str, size: tuple,
                 num_frames: int, duplicate: bool = False,
                 exit_prob: float = 0.25, occlusion_prob: float = 0.25,
                 same_shape_prob: float = 0.3,
                 speed_range: tuple = (0.02, 0.06)) -> Scene:
    """Objects, their paths and the clip's look.

    Args:
        size (tuple): frame (width, height) in pixels.
        speed_range (tuple): object speed, in frame widths per second.

    Returns:
        Scene: 2-4 objects, starting apart and inside the frame (an object
        grown to occlude another may overlap one in frame 0).
    """
    width, height = size
    num_objects = int(rng.choice([2, 3, 4], p=[0.45, 0.35, 0.2]))
    categories = _sample_categories(rng, num_objects, split, duplicate,
                                    same_shape_prob)
    radius_of = {}
    for c in categories:  # look-alikes share their size
        radius_of.setdefault(c, rng.uniform(0.12, 0.18) * min(width, height))
    radii = [radius_of[c] for c in categories]
    starts = _sample_start_positions(rng, radii, width, height)
    times = np.arange(num_frames, dtype=np.float64)
    objects = []
    for z, (c, r, start) in enumerate(zip(categories, radii, starts)):
        velocity = _random_velocity(rng, rng.uniform(*speed_range) * width)
        path = _bouncing_path(start, velocity, (r, r),
                              (width - r, height - r), times)
        objects.append(SceneObject(c, r, path, z))
    colours = {
        c: tuple(int(v) for v in np.clip(
            np.array(CATEGORIES[c].rgb) + rng.integers(-15, 16, 3), 0, 255))
        for c in sorted(set(categories))
    }
    scene = Scene(width, height, objects, colours,
                  background_seed=int(rng.integers(2**31)),
                  noise_seed=int(rng.integers(2**31)))
    exited = set()
    if num_frames >= 4 and rng.random() < exit_prob:
        exited.add(_add_exit(rng, scene, times, (0.07, 0.10)))
    if rng.random() < occlusion_prob:
        _add_occlusion(rng, scene, times, (0.04, 0.07), exited)
    return scene


# -------------------------------------------------------------- drawing
def _shape_mask(shape: str, cx: float, cy: float, r: float, width: int,
                height: int) -> np.ndarray:
    """(H, W) bool pixels of a shape centred at (cx, cy), radius r."""
    img = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(img)
    if shape == 'circle':
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif shape == 'square':
        h = 0.8 * r
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=255)
    else:
        draw.polygon(_shape_polygon(shape, cx, cy, r), fill=255)
    return np.asarray(img) > 0


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list:
    """Vertices [(x, y), ...] of the polygonal shapes."""
    if shape == 'triangle':
        angles, radii = np.deg2rad([-90, 30, 150]), [r] * 3
    elif shape == 'diamond':
        return [(cx, cy - r), (cx + 0.75 * r, cy), (cx, cy + r),
                (cx - 0.75 * r, cy)]
    elif shape == 'star':
        angles = np.deg2rad(-90 + 36 * np.arange(10))
        radii = [r, 0.45 * r] * 5
    elif shape == 'cross':
        a = 0.33 * r
        pts = [(a, r), (a, a), (r, a), (r, -a), (a, -a), (a, -r), (-a, -r),
               (-a, -a), (-r, -a), (-r, a), (-a, a), (-a, r)]
        return [(cx + x, cy + y) for x, y in pts]
    else:
        raise ValueError(f'unknown shape {shape!r}')
    return [(cx + q * np.cos(t), cy + q * np.sin(t))
            for t, q in zip(angles, radii)]


def visible_masks(scene: Scene) -> np.ndarray:
    """Visible pixels of every object: (n, T, H, W) bool.

    An object hidden behind a higher-``z`` one, or outside the frame, has
    no pixels there (masks are visible pixels only).
    """
    n, num_frames = len(scene.objects), len(scene.objects[0].positions)
    w, h = scene.width, scene.height
    masks = np.zeros((n, num_frames, h, w), bool)
    order = sorted(range(n), key=lambda i: -scene.objects[i].z)  # front 1st
    for t in range(num_frames):
        covered = np.zeros((h, w), bool)
        for i in order:
            obj = scene.objects[i]
            x, y = obj.positions[t]
            shape = _shape_mask(CATEGORIES[obj.category].shape, x, y,
                                obj.radius, w, h)
            masks[i, t] = shape & ~covered
            covered |= shape
    return masks


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


# ---------------------------------------------------------------- sound
@cache
def category_tone(name: str, sample_rate: int) -> np.ndarray:
    """One second of a category's sound, RMS 1: (sample_rate,) float32.

    Every partial has an integer frequency, so the second loops seamlessly.
    """
    category = CATEGORIES[name]
    f0, timbre = category.pitch_hz, category.timbre
    t = np.arange(sample_rate) / sample_rate
    nyquist = 0.45 * sample_rate
    if timbre == 'noise-band':
        rng = np.random.default_rng(list(CATEGORIES).index(name))
        spectrum = np.fft.rfft(rng.standard_normal(sample_rate))
        freqs = np.fft.rfftfreq(sample_rate, 1 / sample_rate)
        band = ((freqs > 0.85 * f0) & (freqs < 1.18 * f0)) \
            + 0.4 * ((freqs > 1.7 * f0) & (freqs < 2.35 * f0))
        tone = np.fft.irfft(spectrum * band, n=sample_rate)
    else:
        if timbre == 'sine':
            partials = [(1, 1.0), (2, 0.1)]
        elif timbre == 'square':
            partials = [(n, 1 / n) for n in range(1, 16, 2)]
        elif timbre == 'triangle':
            partials = [(n, 1 / n**2) for n in range(1, 16, 2)]
        elif timbre == 'saw':
            partials = [(n, 1 / n) for n in range(1, 9)]
        elif timbre == 'bell':
            partials = [(1, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)]
        else:
            raise ValueError(f'unknown timbre {timbre!r}')
        tone = np.zeros(sample_rate)
        for ratio, amp in partials:
            f = round(f0 * ratio)
            if f < nyquist:
                tone += amp * np.sin(2 * np.pi * f * t)
    return (tone / np.sqrt(np.mean(tone**2))).astype(np.float32)


@cache
def rhythm_envelope(rhythm_hz: int, sample_rate: int) -> np.ndarray:
    """One second of on / off pulses (duty 1/2, 8 ms ramps): (sr,) float32."""
    if rhythm_hz == 0:
        return np.ones(sample_rate, np.float32)
    phase = np.mod(np.arange(sample_rate) * rhythm_hz / sample_rate, 1.0)
    ramp = 0.008 * rhythm_hz  # 8 ms in periods
    env = np.clip(np.minimum(phase, 0.5 - phase) / ramp, 0, 1)
    return env.astype(np.float32)


def gain_envelope(gains: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-second gains (T,) as a sample envelope (T * sr,), 10 ms fades."""
    env = np.repeat(gains.astype(np.float32), sample_rate)
    fade = sample_rate // 100
    previous = 0.0
    for s, g in enumerate(gains):
        if g != previous:
            a = max(0, s * sample_rate - fade // 2)
            env[a:a + fade] = np.linspace(previous, g, fade)
        previous = g
    return env


def synthesize_audio(categories: list, schedule: np.ndarray,
                     sample_rate: int, rng: np.random.Generator
                     ) -> np.ndarray:
    """The clip's sound track: (T * sample_rate,) float32 in [-1, 1].

    Args:
        categories (list): category of each sound source (n,).
        schedule (np.ndarray): (n, T) gain of each source in each second
            (0 = silent).
    """
    num_seconds = schedule.shape[1]
    audio = rng.normal(0, AUDIO_NOISE, num_seconds * sample_rate)
    for category, gains in zip(categories, schedule):
        if not gains.any():
            continue
        c = CATEGORIES[category]
        loop = category_tone(category, sample_rate) \
            * rhythm_envelope(c.rhythm_hz, sample_rate)
        audio += AUDIO_LEVEL * np.tile(loop, num_seconds) \
            * gain_envelope(gains, sample_rate)
    return np.clip(audio, -1, 1).astype(np.float32)


def _segment(rng, num_seconds: int, min_len: int = 1) -> tuple:
    """A random [start, end) second range of at least ``min_len``."""
    min_len = min(min_len, num_seconds)
    length = int(rng.integers(min_len, num_seconds + 1))
    start = int(rng.integers(0, num_seconds - length + 1))
    return start, start + length


def sample_schedule(rng: np.random.Generator, num_objects: int,
                    num_seconds: int, prefer: tuple = ()) -> np.ndarray:
    """Who sounds when and how loud: (n, T) float32 gains.

    Scenarios: ``single`` (one object sounds, all along or for a while),
    ``turns`` (2-3 objects start one after another, in sequence or
    overlapping) and ``together`` (one loud object all along, 1-2 quieter
    ones for a while). ``prefer`` lists objects to pick as the single source
    first (e.g. one of two look-alikes).
    """
    gains = np.zeros((num_objects, num_seconds), np.float32)
    scenario = rng.choice(['single', 'turns', 'together'], p=[.35, .35, .3])
    order = [int(i) for i in rng.permutation(num_objects)]
    if prefer and rng.random() < 0.6:
        scenario = 'single'
        order.remove(prefer[0])
        order.insert(0, prefer[0])
    if scenario == 'single' or num_seconds < 2:
        if rng.random() < 0.5:
            a, b = 0, num_seconds
        else:
            a, b = _segment(rng, num_seconds, max(2, num_seconds // 3))
        gains[order[0], a:b] = rng.uniform(0.5, 1.0)
    elif scenario == 'turns':
        k = min(num_objects, int(rng.choice([2, 3])), num_seconds)
        onsets = np.sort(rng.choice(num_seconds, k, replace=False))
        if rng.random() < 0.5:
            onsets[0] = 0
        sequential = rng.random() < 0.5  # each stops before the next starts
        for j in range(k):
            last = onsets[j + 1] if sequential and j + 1 < k else num_seconds
            end = int(rng.integers(onsets[j] + 1, last + 1))
            gains[order[j], onsets[j]:end] = rng.uniform(0.4, 1.0)
    else:
        k = min(num_objects, 2 + int(rng.random() < 0.3))
        gains[order[0]] = rng.uniform(0.8, 1.0)
        for j in range(1, k):
            a, b = _segment(rng, num_seconds, 2)
            gains[order[j], a:b] = rng.uniform(0.25, 0.45)
    return gains


# ---------------------------------------------------------- expressions
@dataclass(frozen=True)
class Expression:
    """A referring expression and the object it refers to."""

    text: str
    kind: str  # one of EXPRESSION_KINDS
    fid: int  # index of the referent in the clip


def _unique(indices) -> int | None:
    indices = list(indices)
    return indices[0] if len(indices) == 1 else None


def _always_beyond(positions: np.ndarray, i: int, others: list, axis: int,
                   sign: int, margin: np.ndarray) -> bool:
    """Is object ``i`` beyond all ``others`` along ``axis`` in every frame?"""
    return all(np.all(sign * (positions[j, :, axis] - positions[i, :, axis])
                      > margin[i] + margin[j]) for j in others)


def _extreme_object(positions: np.ndarray, members: list, axis: int,
                    sign: int, margin: np.ndarray) -> int | None:
    """The member that is always furthest towards -sign along ``axis``."""
    hits = [i for i in members
            if _always_beyond(positions, i, [j for j in members if j != i],
                              axis, sign, margin)]
    return _unique(hits)


def _audio_expressions(schedule: np.ndarray, categories: list) -> list:
    n, num_seconds = schedule.shape
    on = schedule > 0
    sounding = [i for i in range(n) if on[i].any()]
    silent = [i for i in range(n) if not on[i].any()]
    onset = {i: int(np.argmax(on[i])) for i in sounding}
    out = []
    if len(sounding) == 1:
        out.append(('The object making a sound.', sounding[0]))
    if sounding and len(silent) == 1:
        out.append(('The silent object.', silent[0]))
    always = [i for i in range(n) if on[i].all()]
    if n >= 2 and len(always) == 1:
        out.append(('The object that keeps making sound at all times.',
                    always[0]))
    if len(sounding) >= 2:
        by_onset = sorted(sounding, key=lambda i: onset[i])
        times = [onset[i] for i in by_onset] + [num_seconds]
        if times[0] < times[1]:
            out.append(('The first object to make a sound.', by_onset[0]))
        if times[0] < times[1] < times[2]:
            out.append(('The object that starts making a sound second.',
                        by_onset[1]))
        if times[-3] < times[-2]:
            out.append(('The last object to make a sound.', by_onset[-1]))
        loudness = sorted(sounding, key=lambda i: -schedule[i].max())
        if schedule[loudness[0]].max() >= 1.6 * schedule[loudness[1]].max():
            out.append(('The object making the loudest sound.', loudness[0]))
        pitch = {i: CATEGORIES[categories[i]].pitch_hz for i in sounding}
        by_pitch = sorted(sounding, key=lambda i: pitch[i])
        word = ('higher', 'lower') if len(sounding) == 2 else ('highest',
                                                                'lowest')
        if pitch[by_pitch[-1]] > pitch[by_pitch[-2]]:
            out.append((f'The object with the {word[0]}-pitched sound.',
                        by_pitch[-1]))
        if pitch[by_pitch[0]] < pitch[by_pitch[1]]:
            out.append((f'The object with the {word[1]}-pitched sound.',
                        by_pitch[0]))
    return [Expression(text, 'audio', i) for text, i in out]


def _vision_expressions(categories: list, positions: np.ndarray,
                        margin: np.ndarray) -> list:
    n = len(categories)
    out = []
    for name in sorted(set(categories)):
        if categories.count(name) == 1:
            out.append((f'The {CATEGORIES[name].text}.',
                        categories.index(name)))
    for attr in ('shape', 'colour'):
        values = [getattr(CATEGORIES[c], attr) for c in categories]
        for v in sorted(set(values)):
            if values.count(v) == 1 and len(set(categories)) > 1:
                text = f'The {v}.' if attr == 'shape' else f'The {v} object.'
                out.append((text, values.index(v)))
    everyone = list(range(n))
    for text, axis, sign in (('The object on the left.', 0, 1),
                             ('The object on the right.', 0, -1),
                             ('The object at the top.', 1, 1),
                             ('The object at the bottom.', 1, -1)):
        i = _extreme_object(positions, everyone, axis, sign, margin)
        if i is not None:
            out.append((text, i))
    return [Expression(text, 'vision', i) for text, i in out]


def _mixed_expressions(schedule: np.ndarray, categories: list,
                       positions: np.ndarray, margin: np.ndarray) -> list:
    n = len(categories)
    on = schedule.any(axis=1)
    out = []
    groups = {}
    for i, c in enumerate(categories):
        cat = CATEGORIES[c]
        groups.setdefault(('shape', cat.shape), []).append(i)
        groups.setdefault(('colour', cat.colour), []).append(i)
        groups.setdefault(('category', cat.text), []).append(i)
    for (attr, value), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        noun = f'{value} object' if attr == 'colour' else value
        loud = _unique(i for i in members if on[i])
        if loud is not None:
            out.append((f'The sounding {noun}.', loud))
        quiet = _unique(i for i in members if not on[i])
        if quiet is not None and on[members].any():
            out.append((f'The silent {noun}.', quiet))
    sounding = [i for i in range(n) if on[i]]
    if len(sounding) >= 2:
        for text, sign in (('The sounding object on the left.', 1),
                           ('The sounding object on the right.', -1)):
            i = _extreme_object(positions, sounding, 0, sign, margin)
            if i is not None:
                out.append((text, i))
    return [Expression(text, 'mixed', i) for text, i in out]


def _temporal_expressions(schedule: np.ndarray, categories: list) -> list:
    on = schedule > 0
    n, num_seconds = on.shape
    sounding = [i for i in range(n) if on[i].any()]
    onset = {i: int(np.argmax(on[i])) for i in sounding}
    out = []
    for x in sounding:
        if categories.count(categories[x]) != 1:
            continue
        name = CATEGORIES[categories[x]].text
        seconds = np.flatnonzero(on[x])
        end = int(seconds[-1]) + 1
        contiguous = len(seconds) == end - seconds[0]
        others = [i for i in sounding if i != x]
        if contiguous and end < num_seconds:
            after = _unique(i for i in others if onset[i] >= end)
            if after is not None:
                out.append((f'The object that makes a sound after the '
                            f'{name} stops.', after))
        before = _unique(i for i in others if onset[i] < onset[x])
        if before is not None:
            out.append((f'The object making a sound before the {name}.',
                        before))
    return [Expression(text, 'temporal', i) for text, i in out]


def candidate_expressions(scene: Scene, schedule: np.ndarray,
                          masks: np.ndarray, split: str) -> list:
    """Every expression with a unique, visible referent in the clip.

    Args:
        schedule (np.ndarray): (n, T) per-second gains of the objects.
        masks (np.ndarray): (n, T, H, W) visible pixels.

    Returns:
        list[Expression]: in a fixed order; in ``test_u`` only those whose
        referent is an unseen category.
    """
    categories = scene.categories
    positions = np.stack([o.positions for o in scene.objects])  # (n, T, 2)
    margin = np.array([0.5 * o.radius for o in scene.objects])
    found = (_audio_expressions(schedule, categories)
             + _vision_expressions(categories, positions, margin)
             + _mixed_expressions(schedule, categories, positions, margin)
             + _temporal_expressions(schedule, categories))
    visible = masks.any(axis=(1, 2, 3))
    found = [e for e in found if visible[e.fid]]
    if split == 'test_u':
        found = [e for e in found if categories[e.fid] in UNSEEN_CATEGORIES]
    seen, unique = set(), []
    for e in found:  # one referent per text
        if e.text not in seen:
            seen.add(e.text)
            unique.append(e)
    return unique


def select_expressions(rng: np.random.Generator, candidates: list,
                       num_rows: int, forced: tuple = ()) -> list:
    """Pick ``num_rows`` expressions, spreading over kinds and referents."""
    chosen = list(forced)
    pool = [candidates[i] for i in rng.permutation(len(candidates))
            if candidates[i] not in chosen]
    while pool and len(chosen) < num_rows:
        kinds = {e.kind for e in chosen}
        fids = {e.fid for e in chosen}
        best = max(pool, key=lambda e: (e.kind not in kinds, e.fid not in fids))
        chosen.append(best)
        pool.remove(best)
    return chosen


NULL_AUDIO_TEXTS = (
    'The object making a sound.', 'The first object to make a sound.',
    'The object making the loudest sound.',
    'The object that keeps making sound at all times.',
    'The last object to make a sound.',
    'The object with the higher-pitched sound.')


def null_expressions(rng: np.random.Generator, null_type: str,
                     categories: list, split: str, num_rows: int) -> list:
    """Texts that match nothing in the clip (referent fid 0, empty masks).

    ``silent-scene`` (nothing sounds) and ``mismatched-audio`` (the sound
    belongs to other objects) ask about sounding objects;
    ``absent-referent`` names a category or shape that is not there.
    """
    if null_type == 'absent-referent':
        pool = list(CATEGORIES) if split == 'test_u' else list(SEEN_CATEGORIES)
        shapes = {CATEGORIES[c].shape for c in categories}
        texts = [f'The {CATEGORIES[c].text}.' for c in pool
                 if c not in categories]
        texts += [f'The sounding {s}.' for s in SHAPES if s not in shapes]
    else:
        texts = list(NULL_AUDIO_TEXTS)
    picks = rng.permutation(len(texts))[:num_rows]
    return [Expression(texts[i], 'null', 0) for i in sorted(picks)]


# ----------------------------------------------------------------- clips
@dataclass
class ClipContent:
    """A generated clip before it is written."""

    plan: ClipPlan
    scene: Scene
    schedule: np.ndarray  # (n, T) gains of the visible objects
    masks: np.ndarray  # (n, T, H, W)
    expressions: list
    null_type: str | None = None
    audio_sources: tuple = ()  # (categories, schedule) heard, if not scene


def _num_rows(rng, low=2, high=5) -> int:
    return int(rng.integers(low, high + 1))


def _frame_size(rng, frame_size: tuple, other_sizes: tuple,
                other_size_prob: float) -> tuple:
    if other_sizes and rng.random() < other_size_prob:
        return tuple(other_sizes[int(rng.integers(len(other_sizes)))])
    return tuple(frame_size)


def _scene_with_expressions(rng, plan: ClipPlan, size: tuple, cfg: dict,
                            attempts: int = 40) -> tuple:
    """A scene and schedule whose candidates allow >= 2 rows (one audio).

    For a ``duplicate`` plan, exactly one of the two look-alikes sounds.
    """
    best = None
    for _ in range(attempts):
        scene = sample_scene(rng, plan.split, size, cfg['num_frames'],
                             plan.duplicate, **cfg['scene'])
        masks = visible_masks(scene)
        lookalikes = _lookalikes(scene.categories)
        prefer = tuple(lookalikes[i] for i in rng.permutation(len(lookalikes)))
        schedule = sample_schedule(rng, len(scene.objects),
                                   cfg['num_frames'], prefer)
        found = candidate_expressions(scene, schedule, masks, plan.split)
        one_lookalike_sounds = not plan.duplicate or sum(
            bool(schedule[i].any()) for i in lookalikes) == 1
        score = (one_lookalike_sounds, len(found) >= 2,
                 any(e.kind != 'vision' for e in found), len(found))
        if best is None or score > best[0]:
            best = (score, scene, masks, schedule, found)
        if score[:3] == (True, True, True):
            break
    return best[1:]


def _lookalikes(categories: list) -> list:
    """Indices of objects that share their category with another."""
    return [i for i, c in enumerate(categories) if categories.count(c) > 1]


def _twin_schedule(rng, schedule: np.ndarray, scene: Scene, masks,
                   split: str, num_frames: int, attempts: int = 20) -> tuple:
    """Another sound schedule for a twin clip of the same scene.

    Returns:
        tuple: the (n, T) schedule, its candidate expressions, and a text
        (as the first clip's and the twin's :class:`Expression`) whose
        referent the new schedule changes, or ``None, None``.
    """
    n = len(scene.objects)
    first = {e.text: e for e in candidate_expressions(scene, schedule, masks,
                                                      split)}
    fallback = None
    for k in range(attempts):
        if k < attempts // 2:  # hand the sound roles to other objects
            other = schedule[rng.permutation(n)]
        else:
            other = sample_schedule(rng, n, num_frames)
        if np.array_equal(other, schedule):
            continue
        second = candidate_expressions(scene, other, masks, split)
        flipped = [e for e in second if e.kind != 'vision'
                   and e.text in first and first[e.text].fid != e.fid]
        if flipped:
            shared = flipped[int(rng.integers(len(flipped)))]
            return other, second, first[shared.text], shared
        fallback = fallback or (other, second, None, None)
    if fallback is None:
        other = schedule[::-1].copy()
        fallback = (other, candidate_expressions(scene, other, masks, split),
                    None, None)
    return fallback


def generate_group(seed: int, plans: list, cfg: dict) -> list:
    """Contents of one clip, or of two twin clips sharing one scene.

    Every random draw comes from ``default_rng([seed, 1, first index])``,
    so a group's contents depend only on the seed and its position.
    """
    rng = np.random.default_rng([seed, 1, plans[0].index])
    size = _frame_size(rng, cfg['frame_size'], cfg['other_frame_sizes'],
                       cfg['other_size_prob'])
    plan = plans[0]
    num_frames = cfg['num_frames']
    if plan.kind != 'ordinary':
        return [_null_clip(rng, plan, size, cfg)]
    scene, masks, schedule, found = _scene_with_expressions(rng, plan, size,
                                                            cfg)
    if len(plans) == 1:
        rows = select_expressions(rng, found, _num_rows(rng))
        return [ClipContent(plan, scene, schedule, masks, rows)]
    other, found_b, shared_a, shared_b = _twin_schedule(
        rng, schedule, scene, masks, plan.split, num_frames)
    forced_a = (shared_a, ) if shared_a else ()
    forced_b = (shared_b, ) if shared_b else ()
    rows_a = select_expressions(rng, found, _num_rows(rng), forced_a)
    rows_b = select_expressions(rng, found_b, _num_rows(rng), forced_b)
    return [ClipContent(plans[0], scene, schedule, masks, rows_a),
            ClipContent(plans[1], scene, other, masks, rows_b)]


def _null_clip(rng, plan: ClipPlan, size: tuple, cfg: dict) -> ClipContent:
    """A ``null_m`` or ``null_c`` clip: expressions that match nothing."""
    num_frames = cfg['num_frames']
    scene = sample_scene(rng, plan.split, size, num_frames, False,
                         **cfg['scene'])
    masks = visible_masks(scene)
    n = len(scene.objects)
    sources = ()
    if plan.kind == 'null_c':
        null_type = 'mismatched-audio'
        schedule = np.zeros((n, num_frames), np.float32)  # visible: silent
        pool = list(CATEGORIES) if plan.split == 'test_u' \
            else list(SEEN_CATEGORIES)
        pool = [c for c in pool if c not in scene.categories]
        k = int(rng.integers(1, 4))
        heard = [pool[i] for i in rng.permutation(len(pool))[:k]]
        sources = (heard, sample_schedule(rng, k, num_frames))
    elif rng.random() < 0.5:
        null_type = 'silent-scene'
        schedule = np.zeros((n, num_frames), np.float32)
    else:
        null_type = 'absent-referent'
        schedule = sample_schedule(rng, n, num_frames)
    rows = null_expressions(rng, null_type, scene.categories, plan.split,
                            _num_rows(rng, 2, 4))
    return ClipContent(plan, scene, schedule, masks, rows, null_type, sources)


# --------------------------------------------------------------- writing
def _write_clip(out_dir: str, content: ClipContent, seed: int, cfg: dict,
                rng: np.random.Generator) -> tuple:
    """Write frames, audio and masks of one clip.

    Returns:
        tuple: metadata rows (list of dict) and info (per-uid, per-clip).
    """
    plan, scene = content.plan, content.scene
    num_frames, sample_rate = cfg['num_frames'], cfg['sample_rate']
    vid, name = plan.vid(seed, num_frames), plan.name(seed, num_frames)
    media = osp.join(out_dir, 'media', name)
    os.makedirs(osp.join(media, 'frames'), exist_ok=True)

    sounding = content.schedule > 0
    cues = sounding & (rng.random(sounding.shape) < cfg['activity_cue'])
    for t, frame in enumerate(render_frames(scene, content.masks, cues)):
        Image.fromarray(frame).save(osp.join(media, 'frames', f'{t}.jpg'),
                                    quality=JPEG_QUALITY)
    heard, heard_schedule = content.audio_sources or (scene.categories,
                                                      content.schedule)
    audio = synthesize_audio(heard, heard_schedule, sample_rate, rng)
    soundfile.write(osp.join(media, 'audio.wav'), audio, sample_rate,
                    subtype='PCM_16')

    is_null = plan.kind != 'ordinary'
    for fid in sorted({e.fid for e in content.expressions}):
        folder = osp.join(out_dir, 'gt_mask', name, f'fid_{fid}')
        os.makedirs(folder, exist_ok=True)
        for t in range(num_frames):
            mask = np.zeros(content.masks.shape[2:], np.uint8) if is_null \
                else content.masks[fid, t].astype(np.uint8) * 255
            Image.fromarray(mask).save(osp.join(folder, f'{t:05d}.png'))

    rows, row_info = [], {}
    counts = {}
    ordered = sorted(content.expressions,
                     key=lambda e: ('null' if is_null else
                                    scene.categories[e.fid], e.fid))
    for e in ordered:
        category = 'null' if is_null else scene.categories[e.fid]
        counts[category] = counts.get(category, 0) + 1
        uid = f'{name}_{category}_{counts[category]}'
        rows.append(dict(vid=vid, uid=uid, split=plan.split, fid=e.fid,
                         exp=e.text))
        row_info[uid] = dict(kind=e.kind, fid=e.fid,
                             referent=None if is_null else category)
        if is_null:
            row_info[uid]['null_type'] = content.null_type
    twin = None if plan.twin is None else ClipPlan(
        plan.twin, plan.split, 'ordinary').name(seed, num_frames)
    clip_info = dict(
        vid=vid, split=plan.split, type=plan.kind, null_type=content.null_type,
        size=[scene.width, scene.height], categories=scene.categories,
        schedule=_rounded(content.schedule), twin=twin,
        events=scene.events,
        heard=list(content.audio_sources[0]) if content.audio_sources
        else None,
        heard_schedule=_rounded(content.audio_sources[1])
        if content.audio_sources else None)
    return rows, row_info, {name: clip_info}


def _rounded(gains: np.ndarray) -> list:
    """Gains as nested lists of floats with 3 decimals (for JSON)."""
    return np.round(gains.astype(np.float64), 3).tolist()


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise FileExistsError(
                f'{out_dir} is not empty; pass overwrite=True (--overwrite) '
                'to replace the synthetic data set in it')
        for sub in ('media', 'gt_mask'):
            shutil.rmtree(osp.join(out_dir, sub), ignore_errors=True)
        for fname in ('metadata.csv', 'synthetic_info.json'):
            if osp.exists(osp.join(out_dir, fname)):
                os.remove(osp.join(out_dir, fname))
    os.makedirs(out_dir, exist_ok=True)


def _default_other_sizes(frame_size: tuple) -> tuple:
    """Two more frame sizes: a square one (0.8 w) and a larger one (1.2x)."""
    w, h = frame_size

    def round8(v):
        return max(8, int(round(v / 8)) * 8)

    return ((round8(0.8 * w), round8(0.8 * w)),
            (round8(1.2 * w), round8(1.2 * h)))


def _groups(plans: list) -> list:
    """Clips generated together: singles and twin pairs, by first index."""
    groups = []
    for p in plans:
        if p.twin is None:
            groups.append([p])
        elif p.twin > p.index:
            groups.append([p, plans[p.twin]])
    return groups


def make_synthetic_refavs(out_dir: str,
                          num_clips: int = 400,
                          seed: int = 0,
                          num_frames: int = 10,
                          frame_size: tuple = (160, 120),
                          sample_rate: int = 16000,
                          activity_cue: float = 0.5,
                          other_frame_sizes: tuple | None = None,
                          other_size_prob: float = 0.2,
                          null_prob: float = 0.04,
                          twin_prob: float = 0.1,
                          duplicate_prob: float = 0.2,
                          exit_prob: float = 0.25,
                          occlusion_prob: float = 0.25,
                          same_shape_prob: float = 0.3,
                          speed_range: tuple = (0.02, 0.06),
                          overwrite: bool = False,
                          progress: bool = False) -> dict:
    """Write a synthetic Ref-AVS data set in the release layout.

    The output is a function of the arguments only: the same seed gives
    byte-identical ``metadata.csv``, frames, masks, audio and info file.

    Args:
        out_dir (str): root to write (must be empty or missing, unless
            ``overwrite``; then only the generator's own entries are
            replaced).
        num_clips (int): clips; from 5 every split gets at least one.
        seed (int): non-negative seed; also part of every ``vid``.
        num_frames (int): T frames (one per second) and T seconds of audio.
        frame_size (tuple): (width, height) of most clips.
        sample_rate (int): audio rate (mono, 16-bit PCM).
        activity_cue (float): probability that a sounding object gets a
            faint ripple ring in the frame of that second.
        other_frame_sizes (tuple | None): other (width, height) used with
            probability ``other_size_prob``; default 0.8 w square and 1.2x
            (128x128 and 192x144 for 160x120).
        null_prob (float): share of train / val clips that are null clips.
        twin_prob (float): chance that two clips of a split share a scene
            and differ in their sound.
        duplicate_prob (float): chance of two same-category objects.
        exit_prob / occlusion_prob (float): chance of an object leaving the
            frame for a while / passing behind another.
        same_shape_prob (float): chance of two objects of one shape.
        speed_range (tuple): object speed in frame widths per second.
        progress (bool): show an ``mmengine`` progress bar.

    Returns:
        dict: ``out_dir``, ``clips``, ``rows``, ``clips_per_split``,
        ``rows_per_split``, ``null_rows_per_split``, ``seconds`` (of media,
        clips x T) and ``wall_seconds``.
    """
    start = time.perf_counter()
    if seed < 0:
        raise ValueError('seed must be non-negative')
    _prepare_out_dir(out_dir, overwrite)
    if other_frame_sizes is None:
        other_frame_sizes = _default_other_sizes(frame_size)
    cfg = dict(
        num_frames=num_frames, frame_size=tuple(frame_size),
        other_frame_sizes=tuple(tuple(s) for s in other_frame_sizes),
        other_size_prob=other_size_prob, sample_rate=sample_rate,
        activity_cue=activity_cue,
        scene=dict(exit_prob=exit_prob, occlusion_prob=occlusion_prob,
                   same_shape_prob=same_shape_prob,
                   speed_range=tuple(speed_range)))
    plans = _plan_clips(np.random.default_rng([seed, 0]), num_clips,
                        null_prob, twin_prob, duplicate_prob)

    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(num_clips)
    rows_of, info_rows, info_clips = {}, {}, {}
    for group in _groups(plans):
        for content in generate_group(seed, group, cfg):
            write_rng = np.random.default_rng([seed, 2, content.plan.index])
            rows, row_info, clip_info = _write_clip(out_dir, content, seed,
                                                    cfg, write_rng)
            rows_of[content.plan.index] = rows
            info_rows.update(row_info)
            info_clips.update(clip_info)
            if bar is not None:
                bar.update()
    rows = [r for index in sorted(rows_of) for r in rows_of[index]]
    _write_metadata(osp.join(out_dir, 'metadata.csv'), rows)

    params = dict(cfg, seed=seed, num_clips=num_clips,
                  null_prob=null_prob, twin_prob=twin_prob,
                  duplicate_prob=duplicate_prob)
    info = dict(
        generator='sam2love.datasets.synthetic', version=1, params=params,
        expression_kinds=EXPRESSION_KINDS,
        unseen_categories=list(UNSEEN_CATEGORIES),
        categories={name: dict(colour=c.colour, shape=c.shape,
                               pitch_hz=c.pitch_hz, timbre=c.timbre,
                               rhythm_hz=c.rhythm_hz,
                               seen=name not in UNSEEN_CATEGORIES)
                    for name, c in CATEGORIES.items()},
        clips=info_clips, rows=info_rows)
    with open(osp.join(out_dir, 'synthetic_info.json'), 'w') as f:
        json.dump(info, f, indent=1, sort_keys=True)
    if bar is not None:
        print()
    return _summary(out_dir, plans, rows, num_frames,
                    time.perf_counter() - start)


def _write_metadata(path: str, rows: list) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['vid', 'uid', 'split', 'fid',
                                               'exp'], lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)


def _summary(out_dir: str, plans: list, rows: list, num_frames: int,
             wall_seconds: float) -> dict:
    clips_per_split = {s: sum(p.split == s for p in plans) for s in SPLITS}
    rows_per_split = {s: sum(r['split'] == s for r in rows) for s in SPLITS}
    null_rows = {s: sum(r['split'] == s and r['uid'].startswith('null_')
                        for r in rows) for s in SPLITS}
    return dict(out_dir=out_dir, clips=len(plans), rows=len(rows),
                clips_per_split=clips_per_split,
                rows_per_split=rows_per_split, null_rows_per_split=null_rows,
                seconds=len(plans) * num_frames,
                wall_seconds=round(wall_seconds, 3))
