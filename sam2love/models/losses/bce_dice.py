"""Binary mask losses of SAM2-LOVE (eq. 5): BCE + Dice on logits.

mmseg's ``DiceLoss`` with one output channel scores the background class,
so the binary form is written here.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS


def dice_loss(logits: torch.Tensor, targets: torch.Tensor,
              smooth: float = 1.0) -> torch.Tensor:
    """Soft Dice loss per mask.

    Args:
        logits (Tensor): (N, H, W) mask logits.
        targets (Tensor): (N, H, W) in {0, 1}.

    Returns:
        Tensor: (N,) ``1 - (2|p g| + s) / (|p| + |g| + s)``.
    """
    probs = logits.sigmoid().flatten(1)
    targets = targets.flatten(1).to(probs.dtype)
    inter = (probs * targets).sum(1)
    return 1 - (2 * inter + smooth) / (probs.sum(1) + targets.sum(1) + smooth)


def balanced_mean(loss: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of per-element losses with the positives (``target`` > 0)
    and the negatives (``target`` == 0) weighing half each: either alone
    where the other is missing, 0 (in the graph) where there is none."""
    parts = [loss[target > 0].mean()] if (target > 0).any() else []
    parts += [loss[target == 0].mean()] if (target == 0).any() else []
    return sum(parts) / len(parts) if parts else loss.sum() * 0


def bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy averaged per mask: (N, H, W) -> (N,)."""
    return F.binary_cross_entropy_with_logits(
        logits, targets.to(logits.dtype), reduction='none').flatten(1).mean(1)


@MODELS.register_module()
class BCEDiceLoss(nn.Module):
    """``bce_weight * BCE + dice_weight * Dice`` (paper: 1.0 / 1.0).

    ``forward`` returns the per-mask loss (N,) so that callers can pick
    among candidate masks (SAM's multimask training) before averaging.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0,
                 smooth: float = 1.0) -> None:
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, targets: torch.Tensor
                ) -> torch.Tensor:
        """(N, H, W) logits and {0, 1} targets -> (N,) losses."""
        return (self.bce_weight * bce_loss(logits, targets) +
                self.dice_weight * dice_loss(logits, targets, self.smooth))
