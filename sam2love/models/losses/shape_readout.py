"""Shape read-out of an object's prototype (stage 1, beyond SAM2's recipe).

A small SAM2 trained from scratch to track tells objects apart by colour
and place, which is all tracking needs: its prototypes (the unit mean of the
stride-16 image features under an object's mask) hardly encode shape, so a
fused token aligned to them cannot name "the triangle" beside a red circle
(docs/token_path.md). A real SAM2's pre-trained features do. This loss asks
a prototype for its object's *silhouette*: an MLP maps it to the object's
mask cropped to a square around its bounding box and resized to ``size`` x
``size``, so that neither place nor scale is left to read and only the
shape is. The masks are the only labels.
"""
import torch
import torch.nn as nn
from torchvision.ops import masks_to_boxes, roi_align

from .bce_dice import bce_loss, dice_loss


def silhouettes(masks: torch.Tensor, size: int) -> torch.Tensor:
    """Each mask cropped to the square around its bounding box, resized.

    Args:
        masks (Tensor): (N, H, W) {0, 1}, none empty.
        size (int): side of the output.

    Returns:
        Tensor: (N, size, size) in [0, 1] (the area of each output cell the
        mask covers).
    """
    m = masks.float()
    x0, y0, x1, y1 = masks_to_boxes(m).unbind(1)  # inclusive corners
    half = torch.maximum(y1 - y0, x1 - x0).add(1) / 2
    cy, cx = (y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2
    boxes = torch.stack([torch.arange(len(m), device=m.device, dtype=m.dtype),
                         cx - half, cy - half, cx + half, cy + half], 1)
    return roi_align(m[:, None], boxes, size, sampling_ratio=2,
                     aligned=True)[:, 0]


class PrototypeShapeLoss(nn.Module):
    """BCE + Dice between an MLP's silhouette from each prototype and the
    object's :func:`silhouettes`.

    Args:
        dim (int): channels C of the prototypes.
        size (int): side of the silhouette.
        hidden (int): width of the MLP.
        loss_weight (float): weight of the loss.
    """

    def __init__(self, dim: int, size: int = 16, hidden: int = 256,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.loss_weight = loss_weight
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(),
                                  nn.Linear(hidden, size * size))

    def silhouette_logits(self, prototypes: torch.Tensor) -> torch.Tensor:
        """(N, C) unit prototypes -> (N, size, size) silhouette logits."""
        # unit prototypes scaled to unit-variance entries for the MLP
        x = prototypes.float() * prototypes.size(1) ** 0.5
        return self.head(x).view(-1, self.size, self.size)

    def forward(self, prototypes: torch.Tensor,
                masks: torch.Tensor) -> torch.Tensor:
        """The weighted loss, averaged over the non-empty masks.

        Args:
            prototypes (Tensor): (N, C) unit prototypes (not detached: the
                gradient is meant for the image features).
            masks (Tensor): (N, H, W) {0, 1} masks they were pooled under.

        Returns:
            Tensor: a scalar; 0 (connected to ``prototypes``) when every
            mask is empty.
        """
        keep = masks.flatten(1).bool().any(1)
        if not keep.any():
            return prototypes.sum() * 0
        target = silhouettes(masks[keep], self.size)
        logits = self.silhouette_logits(prototypes[keep])
        loss = bce_loss(logits, target) + dice_loss(logits, target)
        return self.loss_weight * loss.mean()
