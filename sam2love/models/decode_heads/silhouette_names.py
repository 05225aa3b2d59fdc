"""Is what the expression names on screen? Names read from each object's
silhouette, for scenes of flat-coloured objects (the synthetic set).

:class:`~.names_on_screen.NamesOnScreen` names each cell of frame 0 from
the pixels around it, and a cell at the top of a star, which sees a
vertical arm and two side arms, passes for a cross (docs/presence.md).
:class:`SilhouetteNames` finds the objects first: a per-pixel namer gives
each pixel a colour word or none, each connected region of one colour is
an object, and a small CNN names the shape of its silhouette, cut out of
its neighbours and the background. An expression is found on screen when
one region of a frame has every colour it names and every other word it
names is its shape; a clip's score is its best frame's (an object hidden
on frame 0 shows later).

It learns from what ``metadata.csv`` and the masks give: the pixels of
each object the clip's rows refer to carry its category's colour word,
the pixels far from any of them none; each of these objects' silhouettes
carries its category's other word (``LoadClipObjects``'s map, of one or
several frames).
"""
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from scipy import ndimage

from ...datasets.null_negatives import words
from .names_on_screen import COLOUR_WORDS, category_word_indices


def silhouettes(masks: torch.Tensor, size: int = 32) -> torch.Tensor:
    """(R, H, W) bool masks -> (R, 1, size, size) float: each mask's
    bounding square (15 % margin), resampled."""
    out = []
    h, w = masks.shape[-2:]
    for mask in masks:
        ys, xs = torch.nonzero(mask, as_tuple=True)
        cy = (ys.min() + ys.max()).float() / 2
        cx = (xs.min() + xs.max()).float() / 2
        half = torch.maximum(ys.max() - ys.min(),
                             xs.max() - xs.min()).float() / 2 * 1.15 + 1
        theta = torch.tensor(
            [[half / (w / 2), 0, (cx - (w - 1) / 2) / (w / 2)],
             [0, half / (h / 2), (cy - (h - 1) / 2) / (h / 2)]],
            device=masks.device)
        grid = F.affine_grid(theta[None], (1, 1, size, size),
                             align_corners=False)
        out.append(F.grid_sample(mask[None, None].float(), grid,
                                 align_corners=False)[0])
    return torch.stack(out) if out else masks.new_zeros(
        (0, 1, size, size), dtype=torch.float)


def shape_cnn(width: int, out: int, size: int) -> nn.Sequential:
    """(R, 1, size, size) silhouettes -> (R, out) logits."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1),
        nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(2 * width * (size // 8) ** 2, 4 * width),
        nn.ReLU(inplace=True), nn.Linear(4 * width, out))


@MODELS.register_module()
class SilhouetteNames(nn.Module):
    """Per frame, the objects (connected regions of one colour) and their
    shapes; per expression, whether one object of one frame shows every
    word it names.

    Args:
        vocabulary (Sequence[str]): the category words, colour words
            (``COLOUR_WORDS``) and others (shapes); every category has one
            colour word and one other.
        size (int): side the frames are pooled to.
        crop (int): side of a silhouette.
        min_area (int): pixels (at ``size``) a region needs to be named.
        width (int): channels of the pixel namer and the shape CNN.
        turns (bool): at test, average a silhouette's shape
            log-probabilities over its four quarter turns and their
            mirrors (as training shows them).
    """

    def __init__(self, vocabulary: Sequence[str], size: int = 128,
                 crop: int = 32, min_area: int = 30, width: int = 32,
                 turns: bool = True) -> None:
        super().__init__()
        vocabulary = sorted({str(w).lower() for w in vocabulary})
        self.colours = tuple(w for w in vocabulary if w in COLOUR_WORDS)
        self.shapes = tuple(w for w in vocabulary if w not in COLOUR_WORDS)
        if not self.colours or not self.shapes or any(
                words(w) != {w} for w in vocabulary):
            raise ValueError('SilhouetteNames: vocabulary must be single '
                             'words, colour words and others, got '
                             f'{vocabulary!r}')
        self.vocabulary = tuple(vocabulary)
        self.size, self.crop, self.min_area = size, crop, min_area
        self.turns = turns
        self.pixels = nn.Sequential(  # 0: no colour word, 1 + c: colour c
            nn.Conv2d(3, width, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1), nn.ReLU(inplace=True),
            nn.Conv2d(width, 1 + len(self.colours), 1))
        self.shape = shape_cnn(width, len(self.shapes), crop)

    # ------------------------------------------------------------ naming
    def category_words(self, category: str) -> tuple[int, int]:
        """(colour index, shape index) of a category.

        Raises:
            ValueError: it has not one colour word and one other of the
                vocabulary.
        """
        return category_word_indices('SilhouetteNames', category,
                                     self.colours, self.shapes)

    def _pool(self, frames: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(frames.float(), self.size)

    def _shape_log_probs(self, sil: torch.Tensor) -> torch.Tensor:
        """(R, 1, c, c) -> (R, O) log-probabilities of the shapes."""
        if self.training or not self.turns:
            return self.shape(sil).log_softmax(1)
        views = [torch.rot90(v, k, (-2, -1)) for v in (sil, sil.flip(-1))
                 for k in range(4)]
        return torch.stack([self.shape(v).log_softmax(1)
                            for v in views]).mean(0)

    @torch.no_grad()
    def regions(self, frame: torch.Tensor) -> tuple:
        """One normalised frame (3, H, W) -> its objects: colour indices
        (R,) and shape probabilities (R, O)."""
        x = self._pool(frame[None])
        label = self.pixels(x)[0].argmax(0).cpu().numpy()
        colours, masks = [], []
        for c in range(len(self.colours)):
            parts, count = ndimage.label(label == c + 1)
            for k in range(1, count + 1):
                mask = parts == k
                if mask.sum() >= self.min_area:
                    colours.append(c)
                    masks.append(mask)
        if not masks:
            return (torch.zeros(0, dtype=torch.long),
                    torch.zeros(0, len(self.shapes)))
        sil = silhouettes(torch.from_numpy(np.stack(masks)).to(x.device),
                          self.crop)
        return (torch.tensor(colours),
                self._shape_log_probs(sil).exp().cpu())

    def _named(self, text: str) -> tuple[list, list]:
        found = words(text)
        return ([i for i, c in enumerate(self.colours) if c in found],
                [i for i, s in enumerate(self.shapes) if s in found])

    @staticmethod
    def _found(objects: tuple, colours: list, shapes: list) -> float:
        best = 0.0
        for colour, probs in zip(*objects):
            if colours and (len(colours) > 1 or int(colour) != colours[0]):
                continue
            best = max(best, float(probs[shapes].prod()) if shapes else 1.0)
        return best

    @torch.no_grad()
    def forward(self, frames: torch.Tensor, texts: Sequence[str]
                ) -> torch.Tensor:
        """Clips (B, T, 3, H, W) of normalised frames (or one clip,
        (1, T, 3, H, W), for every expression; (B, 3, H, W) is one frame
        each) and B expressions -> (B,) probability that one object of
        one frame shows every word the expression names (1 where it names
        none)."""
        if frames.dim() == 4:
            frames = frames[:, None]
        cache, out = {}, []
        for row, text in enumerate(texts):
            colours, shapes = self._named(text)
            if not colours and not shapes:
                out.append(1.0)
                continue
            clip = 0 if len(frames) == 1 else row
            best = 0.0
            for t in range(frames.size(1)):
                if (clip, t) not in cache:
                    cache[clip, t] = self.regions(frames[clip, t])
                best = max(best, self._found(cache[clip, t], colours, shapes))
            out.append(best)
        return torch.tensor(out, device=frames.device)

    # ---------------------------------------------------------- learning
    def loss(self, frames: torch.Tensor, objects: torch.Tensor,
             categories: Sequence[Sequence[str]]) -> torch.Tensor:
        """The pixels' colour loss plus the silhouettes' shape loss.

        Args:
            frames (Tensor): (B, T', 3, H, W) normalised frames, those
                ``objects`` maps.
            objects (Tensor): (B, T', H', W') the referred objects' maps
                (``LoadClipObjects``; 0 where none is, k + 1 on object k).
            categories (Sequence[Sequence[str]]): each row's objects'
                categories (empty: the clip is not learnt from).
        """
        x = self._pool(frames.flatten(0, 1))  # (B T', 3, S, S)
        maps = F.interpolate(objects.flatten(0, 1)[:, None].float(),
                             size=x.shape[-2:], mode='nearest')[:, 0].long()
        steps = objects.size(1)
        pixel_target = torch.full_like(maps, -1)
        sils, shape_target = [], []
        for i in range(len(maps)):
            cats = categories[i // steps]
            if not cats:
                continue
            near = F.max_pool2d((maps[i] > 0)[None, None].float(), 5, 1,
                                2)[0, 0] > 0
            pixel_target[i][~near] = 0
            for k, category in enumerate(cats):
                colour, shape = self.category_words(category)
                mask = maps[i] == k + 1
                inner = -F.max_pool2d(-mask[None, None].float(), 3, 1,
                                      1)[0, 0] > 0
                pixel_target[i][inner] = colour + 1
                if mask.sum() >= self.min_area:
                    sils.append(mask)
                    shape_target.append(shape)
        # the background's many pixels: a 5 % sample weighs as much as the
        # objects' few
        background = (pixel_target == 0) & (torch.rand(
            pixel_target.shape, device=maps.device) >= 0.05)
        labelled = (pixel_target >= 0) & ~background
        if not labelled.any():  # nothing to learn from: a zero that keeps
            return sum(p.sum() * 0 for p in self.parameters())  # the graph
        colour = x.permute(0, 2, 3, 1)[labelled]  # (N, 3) the pixels alone
        pixel_loss = F.cross_entropy(
            self.pixels(colour[:, :, None, None])[:, :, 0, 0],
            pixel_target[labelled])
        if not sils:
            return pixel_loss
        sil = silhouettes(torch.stack(sils), self.crop)
        if self.training:  # a shape does not change with a turn or mirror
            sil = torch.rot90(sil, int(torch.randint(4, ())), (-2, -1))
            if torch.rand(()) < 0.5:
                sil = sil.flip(-1)
        shape_loss = F.nll_loss(self._shape_log_probs(sil),
                                torch.tensor(shape_target,
                                             device=sil.device))
        return pixel_loss + shape_loss
