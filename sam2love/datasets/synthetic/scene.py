"""Scenes: objects, their motion (exits, occlusions) and visible masks."""
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from .categories import CATEGORIES, SEEN_CATEGORIES, UNSEEN_CATEGORIES


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
