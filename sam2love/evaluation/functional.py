"""The Ref-AVS metrics J, F and S, exactly as the benchmark computes them.

The protocol (``shared/refavs/README.md``, "Evaluation protocol"):

- Inputs are per-expression logits at 256x256 and ground truth read by the
  benchmark's rule (:func:`sam2love.datasets.media.load_eval_mask`).
  Expressions are taken in metadata order and grouped into consecutive
  batches of 4 expressions (40 frames); the last batch may be shorter.
- **J** per frame, with B = sigmoid(logit) > 0.4: non-empty ground truth
  G gives IoU = |B and G| / (|B or G| + 1e-7); empty G gives
  |not B and not G| / (H*W + 1e-7). Batch J = mean over the batch's frames,
  split J = mean over batches.
- **F** per batch: pixel F-measure with beta^2 = 0.3 (not the DAVIS
  boundary F). p = sigmoid(logit); 255 float32 thresholds
  t_k = linspace(0, 1 - 1e-10, 255) (so t_254 == 1.0 in float32);
  B_k = p >= t_k; prec_k = tp / (|B_k| + 1e-20),
  rec_k = tp / (|G| + 1e-20), F_k = 1.3 prec rec / (0.3 prec + rec),
  NaN -> 0. Only frames with non-empty G enter: their F_k curves are
  averaged over the batch, then max over k. A batch with no non-empty frame
  scores 0.0 and still counts. Split F = mean over batches, so F depends
  on the grouping (see :func:`refavs_score_per_expression` for a variant).
- **S** (null split, lower is better) per batch:
  sqrt(#(sigmoid(logit) > 0.5) / #all pixels of the batch); split S = mean
  over batches (the benchmark's code divides by all pixels, not by the
  background pixels the paper's text names).
- **J&F** = (J + F) / 2.

Numerics: logits of any float dtype are cast to float32 and passed through
``torch.sigmoid``, and every comparison with a threshold, the per-frame J
and the per-frame F curves are computed in float32, as the benchmark's
PyTorch code does (``torch.linspace`` supplies the exact thresholds). Pixel
counts are exact integers (histograms of the threshold level of every
pixel, instead of 255 passes over the image). Only the averages over frames
and batches are taken in float64, which removes any dependence on the
summation order and differs from float32 sums by < 1e-6.

The work is split in two steps so that a metric can keep a few KB per
expression instead of its logits: :func:`expression_stats` reduces one
expression to per-frame statistics (:class:`ExpressionStats`), and
:func:`score_stats` groups them into batches and scores them.

Trap: binary {0, 1} masks passed as logits give sigmoid(0) = 0.5 > 0.4, so
every pixel turns foreground. Convert hard masks with
:func:`hard_masks_to_logits` and probabilities with :func:`probs_to_logits`.
"""
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    'BATCH_SIZE', 'J_THRESHOLD', 'S_THRESHOLD', 'F_BETA2', 'NUM_F_THRESHOLDS',
    'LARGE_LOGIT', 'ExpressionStats', 'f_thresholds', 'expression_stats',
    'score_stats', 'refavs_score', 'refavs_score_per_expression',
    'probs_to_logits', 'hard_masks_to_logits'
]

#: Expressions per batch of the official evaluation.
BATCH_SIZE = 4
#: J's foreground rule: sigmoid(logit) > 0.4.
J_THRESHOLD = 0.4
#: S's foreground rule: sigmoid(logit) > 0.5.
S_THRESHOLD = 0.5
#: F-measure weight beta^2.
F_BETA2 = 0.3
#: Number of F thresholds, linspace(0, 1 - 1e-10, 255).
NUM_F_THRESHOLDS = 255
J_EPS = 1e-7
F_EPS = 1e-20
#: Magnitude of the logits that stand for certain foreground / background:
#: float32 sigmoid(100) == 1.0 (reaches the last F threshold, 1.0) and
#: sigmoid(-100) < 1e-43 (below the first non-zero threshold, 1/254).
LARGE_LOGIT = 100.0

ArrayLike = np.ndarray | torch.Tensor


def f_thresholds(device: torch.device | str | None = None) -> torch.Tensor:
    """The benchmark's F thresholds: float32 (255,)
    ``torch.linspace(0, 1 - 1e-10, 255)`` (the last one is 1.0)."""
    return torch.linspace(0, 1 - 1e-10, NUM_F_THRESHOLDS,
                          dtype=torch.float32, device=device)


@dataclass
class ExpressionStats:
    """What the metrics need of one expression of T frames.

    Attributes:
        j (Tensor): float32 (T,) per-frame J.
        f_curves (Tensor): float32 (T, 255) per-frame F_k (NaN -> 0); only
            the rows of frames with non-empty ground truth are used.
        gt_nonempty (Tensor): bool (T,) whether the frame's ground truth
            has a foreground pixel.
        num_fg (int): pixels with sigmoid(logit) > 0.5 over all frames.
        num_pixels (int): T * H * W.
    """

    j: torch.Tensor
    f_curves: torch.Tensor
    gt_nonempty: torch.Tensor
    num_fg: int
    num_pixels: int

    @property
    def num_frames(self) -> int:
        return int(self.j.shape[0])

    def cpu(self) -> 'ExpressionStats':
        return ExpressionStats(self.j.cpu(), self.f_curves.cpu(),
                               self.gt_nonempty.cpu(), self.num_fg,
                               self.num_pixels)


def _to_tensor(x: ArrayLike, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, torch.Tensor):
        return x.detach()
    raise TypeError(f'{what} must be a numpy array or a torch tensor, '
                    f'got {type(x).__name__}')


def _check_logits(logits: ArrayLike, what: str) -> torch.Tensor:
    """(T, H, W) float logits -> float32 tensor; rejects masks and NaN."""
    t = _to_tensor(logits, what)
    if not t.is_floating_point():
        raise TypeError(
            f'{what} has dtype {t.dtype}: logits must be floating point. '
            'Hard masks are not logits (sigmoid(0) = 0.5 > 0.4 makes every '
            'pixel foreground): convert them with hard_masks_to_logits(), '
            'probabilities with probs_to_logits()')
    if t.ndim != 3:
        raise ValueError(f'{what} must be (T, H, W), got shape '
                         f'{tuple(t.shape)}')
    t = t.float()
    if t.numel() and torch.isnan(torch.aminmax(t).min):  # aminmax keeps NaN
        raise ValueError(f'{what} contains NaN')
    return t


def _check_masks(masks: ArrayLike, what: str) -> torch.Tensor:
    """(T, H, W) masks -> bool tensor (any non-zero value is foreground)."""
    t = _to_tensor(masks, what)
    if t.ndim != 3:
        raise ValueError(f'{what} must be (T, H, W), got shape '
                         f'{tuple(t.shape)}')
    return t if t.dtype == torch.bool else t != 0


def _looks_like_hard_masks(logits: torch.Tensor) -> bool:
    if not logits.numel():
        return False
    lo, hi = torch.aminmax(logits)
    if lo < 0 or hi > 1:  # real logits: decided in one cheap pass
        return False
    return bool(((logits == 0) | (logits == 1)).all())


def _count(x: torch.Tensor) -> torch.Tensor:
    """True values per row of bool (T, N): int64 (T,)."""
    # summing bytes into int32 is several times faster than bool.sum()
    return x.view(torch.uint8).sum(1, dtype=torch.int32).long()


def _frame_j(probs: torch.Tensor, gt: torch.Tensor,
             num_gt: torch.Tensor) -> torch.Tensor:
    """Per-frame J, float32 (T,), from float32 probs, bool gt (T, N) and
    |G| (T,)."""
    pred = probs > J_THRESHOLD
    inter = _count(pred & gt)
    union = _count(pred) + num_gt - inter
    background = gt.shape[1] - union
    num_pixels = torch.full(union.shape, float(gt.shape[1]),
                            dtype=torch.float32, device=probs.device)
    return torch.where(num_gt > 0, inter.float() / (union.float() + J_EPS),
                       background.float() / (num_pixels + J_EPS))


def _frame_f_curves(probs: torch.Tensor, gt: torch.Tensor,
                    num_gt: torch.Tensor) -> torch.Tensor:
    """Per-frame F_k, float32 (T, 255), from float32 probs, bool gt (T, N)
    and |G| (T,)."""
    num_frames = probs.shape[0]
    thresholds = f_thresholds(probs.device)
    # level = number of thresholds <= p, so B_k holds p exactly for k < level
    level = torch.bucketize(probs, thresholds, right=True)  # (T, N) in 0..255
    bins = NUM_F_THRESHOLDS + 1
    offset = level + bins * torch.arange(
        num_frames, device=probs.device)[:, None]
    size = num_frames * bins
    hist_all = torch.bincount(offset.flatten(), minlength=size)
    hist_gt = torch.bincount(offset[gt], minlength=size)

    def count_at_or_above(hist: torch.Tensor) -> torch.Tensor:
        # |{level > k}| for k = 0..254: reverse cumulative sum from bin k+1
        hist = hist.view(num_frames, bins)
        return hist.flip(1).cumsum(1).flip(1)[:, 1:]

    num_pred = count_at_or_above(hist_all).float()  # |B_k|
    tp = count_at_or_above(hist_gt).float()
    prec = tp / (num_pred + F_EPS)
    rec = tp / (num_gt[:, None].float() + F_EPS)
    f = (1 + F_BETA2) * prec * rec / (F_BETA2 * prec + rec)
    return torch.nan_to_num(f, nan=0.0)


def expression_stats(logits: ArrayLike, masks: ArrayLike,
                     name: str = 'expression') -> ExpressionStats:
    """Reduce one expression to the statistics J, F and S are made of.

    Runs on the device of ``logits`` (a CUDA tensor stays on the GPU).

    Args:
        logits: (T, H, W) logits, numpy or torch, any float dtype (cast to
            float32).
        masks: (T, H, W) ground truth, bool or 0/1 (any non-zero value is
            foreground).
        name (str): how errors name this expression (e.g. its uid).

    Returns:
        ExpressionStats: on the device of ``logits``.

    Raises:
        TypeError: ``logits`` is not floating point (likely a hard mask).
        ValueError: bad shapes or NaN logits.
    """
    logits = _check_logits(logits, f'{name}: logits')
    masks = _check_masks(masks, f'{name}: masks').to(logits.device)
    if logits.shape != masks.shape:
        raise ValueError(f'{name}: logits {tuple(logits.shape)} and masks '
                         f'{tuple(masks.shape)} differ in shape')
    if _looks_like_hard_masks(logits):
        # no name in the message: warned once, not once per expression
        warnings.warn(
            'logits holding only 0 and 1 look like hard masks; '
            'sigmoid(0) = 0.5 > 0.4 makes every pixel foreground. Convert '
            'masks with hard_masks_to_logits()', stacklevel=2)
    num_frames = logits.shape[0]
    probs = torch.sigmoid(logits).reshape(num_frames, -1)
    gt = masks.reshape(num_frames, -1)
    num_gt = _count(gt)
    return ExpressionStats(
        j=_frame_j(probs, gt, num_gt),
        f_curves=_frame_f_curves(probs, gt, num_gt),
        gt_nonempty=num_gt > 0,
        num_fg=int(_count(probs > S_THRESHOLD).sum()),
        num_pixels=int(probs.numel()))


def _batch_j(batch: Sequence[ExpressionStats]) -> float:
    return torch.cat([s.j.cpu() for s in batch]).double().mean().item()


def _batch_f(batch: Sequence[ExpressionStats]) -> float:
    curves = torch.cat([s.f_curves.cpu()[s.gt_nonempty.cpu()]
                        for s in batch])
    if curves.shape[0] == 0:
        return 0.0  # no frame with an object: the batch scores 0 and counts
    return curves.double().mean(0).max().item()


def _batch_s(batch: Sequence[ExpressionStats]) -> float:
    return math.sqrt(sum(s.num_fg for s in batch) /
                     sum(s.num_pixels for s in batch))


def score_stats(stats: Sequence[ExpressionStats], null: bool = False,
                batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """Score expressions, given in metadata order, batch by batch.

    Args:
        stats: one :class:`ExpressionStats` per expression.
        null (bool): score S (the null split) instead of J and F.
        batch_size (int): expressions per batch (the last may be shorter).

    Returns:
        dict: ``{'J', 'F', 'J&F'}`` or ``{'S'}``, fractions in [0, 1].
    """
    if not stats:
        raise ValueError('no expressions to score')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    batches = [stats[i:i + batch_size]
               for i in range(0, len(stats), batch_size)]
    if null:
        return {'S': float(np.mean([_batch_s(b) for b in batches]))}
    j = float(np.mean([_batch_j(b) for b in batches]))
    f = float(np.mean([_batch_f(b) for b in batches]))
    return {'J': j, 'F': f, 'J&F': (j + f) / 2}


def _stats_of_all(logits: Sequence[ArrayLike],
                  masks: Sequence[ArrayLike]) -> list[ExpressionStats]:
    if len(logits) != len(masks):
        raise ValueError(f'{len(logits)} logits but {len(masks)} masks')
    return [expression_stats(lg, m, name=f'expression {i}')
            for i, (lg, m) in enumerate(zip(logits, masks))]


def refavs_score(logits: Sequence[ArrayLike], masks: Sequence[ArrayLike],
                 null: bool = False,
                 batch_size: int = BATCH_SIZE) -> dict[str, float]:
    """J, F and J&F (or S) of a split, by the official protocol.

    See the module docstring for every rule. Expressions must be given in
    metadata order: they are grouped into consecutive batches of
    ``batch_size`` (4 in the benchmark; the last batch may be shorter), J,
    F and S are computed per batch and averaged over batches.

    Args:
        logits: per expression, (T, H, W) logits (numpy or torch, any float
            dtype; computed in float32). Pass hard masks through
            :func:`hard_masks_to_logits` and probabilities through
            :func:`probs_to_logits`.
        masks: per expression, (T, H, W) ground truth (bool or 0/1), read
            with :func:`sam2love.datasets.media.load_eval_mask`.
        null (bool): the null split (test_n): return S only.
        batch_size (int): expressions per batch. Defaults to 4.

    Returns:
        dict: ``{'J', 'F', 'J&F'}`` or, with ``null``, ``{'S'}``, as
        fractions in [0, 1] (published tables show J and F x 100).
    """
    return score_stats(_stats_of_all(logits, masks), null, batch_size)


def refavs_score_per_expression(logits: Sequence[ArrayLike],
                                masks: Sequence[ArrayLike],
                                null: bool = False) -> dict[str, float]:
    """An extra, NOT the official numbers: the protocol with batches of one
    expression, so that F does not depend on how expressions are grouped.

    F = mean over expressions of (max over k of the expression's mean F_k
    curve over its non-empty frames); an expression with no non-empty frame
    scores 0 and counts, as an empty official batch does. J = mean over
    expressions of the mean over their frames; S = mean over expressions of
    the per-expression S. Arguments as :func:`refavs_score`.
    """
    return refavs_score(logits, masks, null=null, batch_size=1)


def _float_array(x: ArrayLike, what: str) -> ArrayLike:
    if isinstance(x, np.ndarray | torch.Tensor):
        return x
    raise TypeError(f'{what} must be a numpy array or a torch tensor, '
                    f'got {type(x).__name__}')


def probs_to_logits(probs: ArrayLike) -> ArrayLike:
    """Probabilities in [0, 1] -> float32 logits, clamped to +-LARGE_LOGIT.

    ``log(p) - log1p(-p)`` in float64, so p = 0 and p = 1 become -100 and
    +100 (float32 sigmoid 0 and exactly 1). The float32 sigmoid of the
    result takes the same side of 0.4, 0.5 and every F threshold as p does
    for every 8-bit value p = v / 255 (tested), so probability PNGs score as
    their probabilities.

    Args:
        probs: any shape, floating point, values in [0, 1]; numpy or torch.

    Returns:
        float32 logits of the same shape and type (numpy / torch, device).
    """
    probs = _float_array(probs, 'probs')
    is_numpy = isinstance(probs, np.ndarray)
    t = torch.from_numpy(np.asarray(probs)) if is_numpy else probs.detach()
    if not t.is_floating_point():
        raise TypeError(f'probs has dtype {t.dtype}: expected floating point '
                        'probabilities in [0, 1] (divide 8-bit images by 255)')
    t = t.double()
    if torch.isnan(t).any() or bool(((t < 0) | (t > 1)).any()):
        raise ValueError('probs must lie in [0, 1]')
    logits = (torch.log(t) - torch.log1p(-t)).clamp(-LARGE_LOGIT, LARGE_LOGIT)
    logits = logits.float()
    return logits.numpy() if is_numpy else logits


def hard_masks_to_logits(masks: ArrayLike) -> ArrayLike:
    """Hard masks -> float32 logits: foreground (non-zero) +LARGE_LOGIT,
    background -LARGE_LOGIT.

    Args:
        masks: any shape, bool or 0/1; numpy or torch.

    Returns:
        float32 logits of the same shape and type (numpy / torch, device).
    """
    masks = _float_array(masks, 'masks')
    if isinstance(masks, np.ndarray):
        return np.where(masks != 0, LARGE_LOGIT, -LARGE_LOGIT).astype(
            np.float32)
    fg = torch.full(masks.shape, LARGE_LOGIT, dtype=torch.float32,
                    device=masks.device)
    return torch.where(masks != 0, fg, -fg)
