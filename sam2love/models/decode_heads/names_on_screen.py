"""Is what the expression names on screen? A namer of frame 0's cells,
learnt from the masks of the objects each clip's rows refer to and the
categories their uids name.

The scene check names the objects SAM2 lists on frame 0 from the
decoder's features and silhouettes: shapes are misnamed there, and unseen
colour-shape pairs most (docs/presence.md), so an absent referent ("the
red cross" beside a red triangle) passes. :class:`NamesOnScreen` reads
the frame itself: a small CNN gives each cell of frame 0 a logit per
word of a closed vocabulary, the words of the data set's categories (the
``<category>`` of each uid, as :class:`~sam2love.datasets.null_negatives.
NullNegativeSampler` reads them). An expression is found on screen when
one cell carries every vocabulary word it names; one that names none
(e.g. "the object making a sound") is left to the other checks.

It learns from what ``metadata.csv`` and the masks give, with no other
annotation: the cells under each object the clip's rows refer to carry
the words of its category and no other word, the cells no such object
touches no word (``LoadClipObjects``). (Learning also from expressions,
another clip's found absent, made it worse: docs/presence.md.) Words of
colour are read from the frame as it is; every other word from the frame
with its colour channels shuffled while training, so that a shape is
named from its outline and not from the colours train pairs it with
(test_u's pairs are never in train).
"""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ...datasets.null_negatives import words
from ..losses import balanced_mean

#: basic colour terms: the words read with the frame's colours intact
COLOUR_WORDS = frozenset(
    'red green blue yellow black white orange purple pink brown grey gray'
    .split())


def category_word_indices(owner: str, category: str,
                          colours: Sequence[str], others: Sequence[str]
                          ) -> tuple:
    """(index in ``colours`` or None, index in ``others``) of a
    category's words: one of ``others`` and, where ``colours`` is not
    empty, one of ``colours``, and no other word.

    Raises:
        ValueError: it has other words, or not one of each (``owner``
            names the check).
    """
    found = words(category)
    colour = [c for c in colours if c in found]
    other = [o for o in others if o in found]
    if len(other) != 1 or len(colour) != bool(colours) or \
            len(found) != len(colour) + 1:
        raise ValueError(
            f'{owner}: category {category!r} is not one word of '
            f'{tuple(others)}' + (f' and one colour word of {tuple(colours)}'
                                  if colours else ''))
    return (colours.index(colour[0]) if colour else None,
            others.index(other[0]))


def cell_cnn(width: int, out: int) -> nn.Sequential:
    """(B, 3, S, S) -> (B, out, S/8, S/8): a receptive field of 74
    pixels at stride 8 (an object of the synthetic set, 30-40 pixels
    across at S = 128, whole at its centre cell)."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(2 * width, out, 1))


def log_found(cell_logits: torch.Tensor, named: torch.Tensor
              ) -> torch.Tensor:
    """Log-probability that one cell carries every named word.

    Args:
        cell_logits (Tensor): (B, V, h, w) word logits of each cell.
        named (Tensor): (B, V) float, 1 on the words each row names.

    Returns:
        Tensor: (B,) the best cell's sum of the named words' log
        probabilities (0 where a row names none).
    """
    log_p = F.logsigmoid(cell_logits.float()).flatten(2)  # (B, V, h w)
    return torch.einsum('bv,bvn->bn', named.float(), log_p).amax(1)


@MODELS.register_module()
class NamesOnScreen(nn.Module):
    """Per cell of frame 0, which words of the vocabulary it shows; per
    expression, whether one cell shows every word it names.

    Two CNNs (:func:`cell_cnn`) on frame 0 pooled to ``size`` x ``size``:
    one gives the logits of the colour words (:data:`COLOUR_WORDS`), the
    other, fed the frame with its three channels in a random order while
    training, those of every other word.

    Args:
        vocabulary (Sequence[str]): the category words (e.g. the
            synthetic set's colours and shapes; ``python
            tools/analysis_tools/null_negatives.py DATA_ROOT`` prints a
            data set's).
        size (int): side frame 0 is pooled to.
        width (int): channels of the CNNs' first layers.
        turns (bool): at test, average each cell's logits over the
            frame's four quarter turns and their mirrors (as training
            shows them): a shape misread in one view is outvoted.
    """

    def __init__(self, vocabulary: Sequence[str], size: int = 128,
                 width: int = 32, turns: bool = True) -> None:
        super().__init__()
        vocabulary = sorted({str(w).lower() for w in vocabulary})
        if not vocabulary or any(words(w) != {w} for w in vocabulary):
            raise ValueError('NamesOnScreen: vocabulary must be non-empty '
                             'single words of letters and digits, got '
                             f'{vocabulary!r}')
        self.vocabulary = tuple(vocabulary)
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.size = size
        self.turns = turns
        self.register_buffer('colour', torch.tensor(
            [w in COLOUR_WORDS for w in vocabulary]), persistent=False)
        self.look = cell_cnn(width, len(vocabulary))
        self.outline = cell_cnn(width, len(vocabulary))

    def named(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, V) float: 1 on the vocabulary words each text names."""
        out = torch.zeros(len(texts), len(self.vocabulary),
                          device=self.colour.device)
        for row, text in enumerate(texts):
            for word in words(text) & self.index.keys():
                out[row, self.index[word]] = 1
        return out

    def cell_logits(self, frames0: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised frames 0 -> (B, V, S/8, S/8) word
        logits of each cell (in eval mode with ``turns``, their mean over
        the frame's quarter turns and mirrors)."""
        x = F.adaptive_avg_pool2d(frames0.float(), self.size)
        if self.training or not self.turns:
            return self._cell_logits(x)
        views = []
        for mirror in (False, True):
            seen = x.flip(-1) if mirror else x
            for k in range(4):
                logits = torch.rot90(self._cell_logits(
                    torch.rot90(seen, k, (-2, -1))), -k, (-2, -1))
                views.append(logits.flip(-1) if mirror else logits)
        return torch.stack(views).mean(0)

    def _cell_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, V, S/8, S/8), one view."""
        shuffled = x[:, torch.randperm(3, device=x.device)] \
            if self.training else x
        return torch.where(self.colour[None, :, None, None], self.look(x),
                           self.outline(shuffled))

    def category_targets(self, categories: Sequence[str]) -> torch.Tensor:
        """(N, V) the words of each category.

        Raises:
            ValueError: a category word is not in the vocabulary.
        """
        out = torch.zeros(len(categories), len(self.vocabulary),
                          device=self.colour.device)
        for row, category in enumerate(categories):
            unknown = sorted(words(category) - self.index.keys())
            if unknown:
                raise ValueError(
                    f'NamesOnScreen: category {category!r} has words '
                    f'{unknown} outside the vocabulary {self.vocabulary}; '
                    "set the check's vocabulary to the data set's")
            for word in words(category):
                out[row, self.index[word]] = 1
        return out

    def cell_targets(self, objects: torch.Tensor,
                     categories: Sequence[Sequence[str]],
                     size: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """What each cell should be named, from the referred objects' map.

        Args:
            objects (Tensor): (B, H, W) ints, 0 where no referred object
                is, k + 1 on object k (``LoadClipObjects``).
            categories (Sequence[Sequence[str]]): each row's objects'
                categories.
            size (tuple): (h, w) of the cell grid.

        Returns:
            tuple: targets (B, V, h, w): the words of the object covering
            at least half of a cell; ``labelled`` (B, h, w) bool: those
            cells and the cells no object touches (no word), where the
            clip has a referred object at all.
        """
        b, most = objects.size(0), max([len(c) for c in categories] + [0])
        cover = F.adaptive_avg_pool2d(
            F.one_hot(objects.long(), most + 1).permute(0, 3, 1, 2).float(),
            size)  # (B, K + 1, h, w)
        names = torch.zeros(b, most, len(self.vocabulary),
                            device=self.colour.device)
        for row, cats in enumerate(categories):
            if cats:
                names[row, :len(cats)] = self.category_targets(cats)
        on = (cover[:, 1:] >= 0.5).float()
        targets = torch.einsum('bkv,bkhw->bvhw', names, on).clamp(max=1)
        known = torch.tensor([len(c) > 0 for c in categories],
                             device=objects.device)
        labelled = (on.any(1) | (cover[:, 0] > 1 - 1e-6)) & \
            known[:, None, None]
        return targets, labelled

    def loss(self, frames0: torch.Tensor, objects: torch.Tensor,
             categories: Sequence[Sequence[str]]) -> torch.Tensor:
        """The cells' naming loss: BCE of every word on the cells
        :meth:`cell_targets` labels, the words a cell shows and those it
        does not weighing half each.

        Args:
            frames0 (Tensor): (B, 3, H, W) normalised frames 0, or
                (B, T', 3, H, W) frames of each clip, a map each.
            objects (Tensor): (B, H', W') the referred objects' map of
                frame 0 (any size; :meth:`cell_targets`), or (B, T', H',
                W') those frames'.
            categories (Sequence[Sequence[str]]): each row's objects'
                categories (empty: the clip's cells are not named).
        """
        if frames0.dim() == 5:  # every map's cells named alike
            steps = frames0.size(1)
            frames0, objects = frames0.flatten(0, 1), objects.flatten(0, 1)
            categories = [c for c in categories for _ in range(steps)]
        if self.training:  # a name does not change with a turn or a mirror
            turns = int(torch.randint(4, ()))
            frames0 = torch.rot90(frames0, turns, (-2, -1))
            objects = torch.rot90(objects, turns, (-2, -1))
            if torch.rand(()) < 0.5:
                frames0, objects = frames0.flip(-1), objects.flip(-1)
        logits = self.cell_logits(frames0)  # (B, V, h, w)
        target, labelled = self.cell_targets(objects, categories,
                                             logits.shape[-2:])
        cells = labelled[:, None].expand_as(logits)
        bce = F.binary_cross_entropy_with_logits(
            logits.float(), target, reduction='none')
        return balanced_mean(bce[cells], target[cells])

    @torch.no_grad()
    def forward(self, frames0: torch.Tensor, texts: Sequence[str]
                ) -> torch.Tensor:
        """(B, 3, H, W) normalised frames 0 (or one frame, (1, 3, H, W),
        named once for every expression; or clips (B, T, 3, H, W), whose
        frame 0 is named) and B expressions -> (B,) probability that one
        cell shows every word the expression names (1 where it names
        none)."""
        if frames0.dim() == 5:
            frames0 = frames0[:, 0]
        logits = self.cell_logits(frames0)
        logits = logits.expand(len(texts), -1, -1, -1)
        return log_found(logits, self.named(texts)).exp()
