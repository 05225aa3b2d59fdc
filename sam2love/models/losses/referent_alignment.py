"""Referent alignment of the fused token (beyond the paper).

The paper trains the fused token by frame 0's mask loss alone. On the CPU
demo that signal never made the fusion name its referent (docs/token_path.md):
the decoder settled on segmenting every salient object, and the mask loss's
gradient at the token then hardly depends on which object the sentence
names. This loss asks the token directly where its referent is, with a
softmax (a classification, whose gradient does not vanish at chance) and
with the ground-truth masks as the only labels, so it applies to the real
Ref-AVS release as much as to the synthetic one.

``mode='pixel'``: the token, in SAM2's prompt space, is compared with every
cell of SAM2's frozen frame-0 image features (stride 16, the map the mask
decoder reads); the softmax over the cells of a frame must put the
referent's share of each cell on it:

    loss = - sum_p q_p log softmax_p(cos(token, f_p) / tau)

with ``q_p`` the mask's area in cell p over the mask's area. The negatives
are the other places of the same frame, the other objects included, so the
token must name *which* object, not only which clip.

``mode='prototype'``: an in-batch InfoNCE between each token and the
referents' prototypes (the mean of the same features under each frame-0
mask): the negatives are the batch's other referents. Rows that name the
same object of the same clip (``referent_ids``) are all positives; with
``ClipGroupedSampler`` a batch holds whole clips, so the other objects of
the token's own frames are negatives too.

Rows without a referent (null expressions: an empty frame-0 mask) are left
out. Everything is a function of frame 0's image features and mask, so it
trains from the feature cache.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

ALIGN_MODES = ('pixel', 'prototype')


def mask_cell_shares(masks: torch.Tensor, size: tuple) -> torch.Tensor:
    """Each feature cell's share of the mask.

    Args:
        masks (Tensor): (B, H, W) {0, 1}.
        size (tuple): (h, w) of the feature grid.

    Returns:
        Tensor: (B, h·w), each row summing to 1 (0 for an empty mask).
    """
    area = F.adaptive_avg_pool2d(masks[:, None].float(), size).flatten(1)
    return area / area.sum(1, keepdim=True).clamp(min=1e-12)


def _pooled(cells: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """(B, C, hw) unit cell features pooled by (B, hw) shares: (B, C) unit
    prototypes."""
    return F.normalize(torch.einsum('bck,bk->bc', cells, shares), dim=-1)


@MODELS.register_module()
class ReferentAlignmentLoss(nn.Module):
    """Where in frame 0 is the token's referent: a softmax over places
    (``'pixel'``) or over the batch's referents (``'prototype'``).

    Args:
        mode (str): ``'pixel'`` or ``'prototype'``.
        temperature (float): tau of the softmax over cosine similarities.
        loss_weight (float): weight of the loss.
        teacher_weight (float): when > 0, ``SAM2PromptHead`` also decodes
            frame 0 from a teacher token, the referent's prototype
            (:meth:`prototypes`) at the token's norm, and adds its mask
            loss times this weight (``loss_mask_teacher``): the decoder
            learns to read tokens that point at their referent in the space
            this loss pulls the fused token into.
    """

    def __init__(self, mode: str = 'pixel', temperature: float = 0.1,
                 loss_weight: float = 1.0,
                 teacher_weight: float = 0.0) -> None:
        super().__init__()
        if mode not in ALIGN_MODES:
            raise ValueError(f'ReferentAlignmentLoss: mode must be one of '
                             f'{ALIGN_MODES}, got {mode!r}')
        if temperature <= 0:
            raise ValueError('ReferentAlignmentLoss: temperature must be > 0, '
                             f'got {temperature}')
        self.mode = mode
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.teacher_weight = teacher_weight

    @staticmethod
    def prototypes(feats: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B, C) unit mean of the unit cell features under each mask
        (weighted by each cell's share; 0 for an empty mask).

        Args:
            feats (Tensor): (B, C, h, w).
            masks (Tensor): (B, H, W) {0, 1}.
        """
        return _pooled(F.normalize(feats.float().flatten(2), dim=1),
                       mask_cell_shares(masks, feats.shape[-2:]))

    def forward(self, tokens: torch.Tensor, feats: torch.Tensor,
                masks: torch.Tensor,
                referent_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted loss, averaged over the rows with a referent.

        Args:
            tokens (Tensor): (B, C) tokens in the features' space.
            feats (Tensor): (B, C, h, w) frame-0 image features (frozen).
            masks (Tensor): (B, H, W) frame-0 masks in {0, 1}.
            referent_ids (Tensor | None): (B,) ints, equal for rows that
                name the same object of the same clip (``'prototype'``:
                each other's positives). None: every row its own.

        Returns:
            Tensor: a scalar; 0 (connected to ``tokens``) when no row has
            a referent.
        """
        shares = mask_cell_shares(masks, feats.shape[-2:])  # (B, hw)
        rows = shares.sum(1) > 0
        if not rows.any():
            return tokens.sum() * 0
        tokens = F.normalize(tokens[rows].float(), dim=-1)
        cells = F.normalize(feats[rows].float().flatten(2), dim=1)  # (N, C, hw)
        shares = shares[rows]
        if self.mode == 'pixel':
            logits = torch.einsum('nc,nck->nk', tokens, cells)
            log_probs = (logits / self.temperature).log_softmax(-1)
            loss = -(shares * log_probs).sum(-1).mean()
        else:
            protos = _pooled(cells, shares)
            if referent_ids is None:
                target = torch.arange(len(protos), device=protos.device)
            else:  # one column per referent: a twin row is no negative
                _, target = torch.unique(referent_ids.to(protos.device)[rows],
                                         return_inverse=True)
                protos = F.normalize(protos.new_zeros(
                    int(target.max()) + 1, protos.size(1)).index_add_(
                        0, target, protos), dim=-1)
            logits = tokens @ protos.t() / self.temperature
            loss = F.cross_entropy(logits, target)
        return self.loss_weight * loss
