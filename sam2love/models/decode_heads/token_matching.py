"""``TokenPixelMatching``: an auxiliary frame-0 loss on the fused token.

Beyond the paper. SAM2's mask decoder learns to read the fused token only
through the frame-0 mask loss, and a small decoder that starts by ignoring
the token gives the fusion no gradient to learn from (on the CPU demo the
token stayed unread: swapping expressions changed no mask). This head asks
the token directly where its object is: its logits on frame 0 are the dot
product of an MLP of the (batch-normalised) token with a 1x1 projection of
SAM2's frozen stride-16 image features plus their positional encoding,
supervised with the head's mask loss. It only trains; inference never
uses it.
"""
import torch
import torch.nn.functional as F
from torch import nn


class TokenPixelMatching(nn.Module):
    """Frame-0 logits from the token's similarity to every pixel.

    Args:
        token_dim (int): width D of the fused token.
        channels (int): C, SAM2's image-feature width (``sam.hidden_dim``).
    """

    def __init__(self, token_dim: int, channels: int) -> None:
        super().__init__()
        self.query = nn.Sequential(nn.Linear(token_dim, channels), nn.ReLU(),
                                   nn.Linear(channels, channels))
        self.key = nn.Conv2d(channels, channels, 1)
        self.key_pos = nn.Conv2d(channels, channels, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, token: torch.Tensor, feats: torch.Tensor,
                pos: torch.Tensor) -> torch.Tensor:
        """Matching logits.

        Args:
            token (Tensor): (B, 1, D).
            feats (Tensor): (B, C, s, s) SAM2 image features of frame 0.
            pos (Tensor): (B, C, s, s) their positional encoding.

        Returns:
            Tensor: (B, s, s) logits.
        """
        key = self.key(feats) + self.key_pos(pos.to(feats.dtype))
        logits = torch.einsum('bc,bchw->bhw', self.query(token[:, 0]), key)
        return logits / key.size(1) ** 0.5 + self.bias

    def loss(self, token: torch.Tensor, backbone_out: dict,
             gt_masks: torch.Tensor, loss_mask: nn.Module) -> torch.Tensor:
        """Mean ``loss_mask`` of the matching logits, upsampled (bilinear)
        to the (B, h, w) {0, 1} ground truth of frame 0."""
        logits = self(token, backbone_out['vision_features'],
                      backbone_out['vision_pos_enc'][-1])
        logits = F.interpolate(logits[:, None], size=gt_masks.shape[-2:],
                               mode='bilinear', align_corners=False)[:, 0]
        return loss_mask(logits, gt_masks.float()).mean()
