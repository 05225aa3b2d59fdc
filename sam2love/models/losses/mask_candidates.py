"""Losses of SAM2's candidate masks, as SAM2 trains its mask decoder.

With no clicks SAM2's decoder predicts M candidate masks and an IoU for
each; inference keeps the candidate of highest predicted IoU.
"""
import torch
import torch.nn.functional as F
from torch import nn

MASK_CANDIDATES = ('min', 'chosen')


def check_mask_candidate(mode: str) -> str:
    if mode not in MASK_CANDIDATES:
        raise ValueError(f'mask_candidate must be one of {MASK_CANDIDATES}, '
                         f'got {mode!r}')
    return mode


def candidate_losses(masks: torch.Tensor, ious: torch.Tensor,
                     targets: torch.Tensor, loss_mask: nn.Module,
                     mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask loss of one candidate and IoU loss of all, as SAM2 trains.

    Args:
        masks (Tensor): (N, M, s, s) candidate logits before object gating.
        ious (Tensor): (N, M) predicted IoUs.
        targets (Tensor): (N, h, w) {0, 1}.
        loss_mask (nn.Module): per-mask loss, (N·M, h, w) pairs -> (N·M, ).
        mode (str): ``'min'``: the candidate of lowest loss (SAM's
            min-over-masks); ``'chosen'``: the one of highest predicted IoU,
            which inference keeps.

    Returns:
        tuple: the mean mask loss of the picked candidates and the L1
        between every candidate's predicted and actual IoU (SAM2's
        ``supervise_all_iou``: inference keeps the highest prediction, so
        the head must also learn which candidates are bad).
    """
    n, m = ious.shape
    logits = F.interpolate(masks.float(), size=targets.shape[-2:],
                           mode='bilinear', align_corners=False)
    goal = targets.float().unsqueeze(1).expand_as(logits)
    per_mask = loss_mask(logits.flatten(0, 1), goal.flatten(0, 1)).view(n, m)
    best = per_mask.argmin(dim=1) if mode == 'min' else ious.argmax(dim=1)
    picked = per_mask[torch.arange(n, device=best.device), best].mean()
    actual = mask_iou(logits.flatten(0, 1) > 0,
                      goal.flatten(0, 1) > 0).view(n, m)
    return picked, F.l1_loss(ious.float(), actual)


def mask_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU of (N, H, W) bool masks; 1 when both are empty: (N,)."""
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1),
                       torch.ones_like(union))
