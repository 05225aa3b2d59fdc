"""Fixed vocabulary of the generator: splits, colours, shapes, sounds,
expression kinds, size presets and the object categories."""
from dataclasses import dataclass

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
