"""The presence switch of ``SAM2PromptHead``: whether an expression refers
to anything in its clip (Ref-AVS's null rows, whose masks are empty).

A presence logit per clip, read from SAM2's object-score head on frame 0
(``source='object_score'``), from an MLP on the fused token (``'token'``),
from how well the token matches any place of frame 0 (``'alignment'``),
from a check of frame 0's decoded mask against the expression and the
sound (``'verify'``) or from a check of every object listed on frame 0
against them (``'scene'``, :mod:`.scene_presence`), is trained with a BCE
in which a null row weighs ``null_weight``; at inference a clip whose
presence probability is below ``threshold`` gets empty masks on every
frame.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from sam2.modeling.sam2_base import NO_OBJ_SCORE

from .scene_presence import list_frame0_objects

#: Where ``presence`` reads the clip's presence logit.
PRESENCE_SOURCES = ('object_score', 'token', 'alignment', 'verify', 'scene')
#: The sources that read the neck's presence query.
QUERY_SOURCES = ('verify', 'scene')
#: SAM2's mask logit of "no object" (``sam2_base.NO_OBJ_SCORE``).
NO_OBJECT_LOGIT = NO_OBJ_SCORE


def check_presence(cfg: dict | None) -> dict | None:
    """``presence`` with its defaults filled in, or None; raises on an
    unknown key or source.

    Keys: ``source``: ``'object_score'`` (SAM2's object-score head on
    frame 0, trained by this loss instead of ``loss_obj``), ``'token'``
    (a Linear-ReLU-Linear on the fused token) or ``'alignment'`` (the
    token's match with frame 0's cells, :func:`alignment_score`, through a
    learnt affine map) or ``'verify'`` (:class:`VerifyPresence`: the
    outline of frame 0's decoded mask and the features under it, checked
    against the expression and the sound as the encoders give them, the
    neck's ``presence_query``) or ``'scene'`` (:class:`~.scene_presence.
    ScenePresence`: every object listed on frame 0 checked against the
    same query, the clip scoring its best object); ``loss_weight`` (1.0);
    ``null_weight`` (1.0): weight of a null row in the presence BCE (about
    #ordinary / #null rows balances them); ``threshold`` (0.5) on the
    presence probability, below which every frame's mask is empty;
    ``mask_loss_on_null`` (False): keep the rows without a frame-0 mask in
    the mask and IoU losses; ``detach_token`` (False): the presence loss
    does not reach the neck; ``obj_loss_on_null`` (True): keep those rows
    in SAM2's object-score loss (``False``: the presence head alone learns
    that nothing is there, and the object score does not learn to gate
    ordinary clips); ``temperature`` (0.1): tau of ``'alignment'``;
    ``object_weight`` (1.0): weight of ``'scene'``'s per-object loss
    (:func:`~.scene_presence.object_loss`); ``list_grid`` (None):
    ``'scene'`` lists objects from frame 0's cells pooled to this many per
    side (None: every cell; :func:`~.scene_presence.list_frame0_objects`);
    ``fine_regions`` (False): ``'scene'`` also reads SAM2's two
    high-resolution feature levels under each object, and the finest
    cropped to its box beside its silhouette.
    """
    if not cfg:
        return None
    defaults = dict(source=None, loss_weight=1.0, null_weight=1.0,
                    threshold=0.5, mask_loss_on_null=False,
                    detach_token=False, obj_loss_on_null=True,
                    temperature=0.1, object_weight=1.0, list_grid=None,
                    fine_regions=False)
    unknown = set(cfg) - set(defaults)
    if unknown:
        raise ValueError(f'presence: unknown keys {sorted(unknown)}; '
                         f'expected {sorted(defaults)}')
    cfg = dict(defaults, **cfg)
    if cfg['source'] not in PRESENCE_SOURCES:
        raise ValueError(f'presence.source must be one of {PRESENCE_SOURCES}, '
                         f'got {cfg["source"]!r}')
    if cfg['null_weight'] <= 0 or not 0 < cfg['threshold'] < 1 or \
            cfg['temperature'] <= 0:
        raise ValueError('presence: null_weight and temperature must be > 0 '
                         f'and threshold in (0, 1), got {cfg}')
    grid = cfg['list_grid']
    if grid is not None and (not isinstance(grid, int) or grid < 1):
        raise ValueError('presence.list_grid must be None or an int >= 1, '
                         f'got {grid!r}')
    return cfg


def alignment_score(tokens: torch.Tensor, feats: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """How well each token matches some place of its frame: a soft
    maximum of the cosine similarities, ``tau * (logsumexp_p(cos(t, f_p) /
    tau) - log(hw))`` (the mean cosine as tau grows, the max as it
    shrinks). An absent referent's token should match no cell well: the
    comparison with the image happens here, not inside the fusion.

    Args:
        tokens (Tensor): (B, C) tokens in the features' space.
        feats (Tensor): (B, C, h, w) frame-0 image features.

    Returns:
        Tensor: (B, 1) in [-1, 1].
    """
    cells = F.normalize(feats.float().flatten(2), dim=1)
    unit = F.normalize(tokens.float(), dim=-1)
    sims = torch.einsum('bc,bck->bk', unit, cells) / temperature
    score = sims.logsumexp(-1) - math.log(sims.size(-1))
    return (temperature * score)[:, None]


class AlignmentPresence(nn.Module):
    """``'alignment'``'s presence logit: ``a * alignment_score + b``, with
    ``a`` starting at 10 and ``b`` at 0 (a cosine of 0 is a presence of
    one half)."""

    def __init__(self, temperature: float) -> None:
        super().__init__()
        self.temperature = temperature
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def forward(self, tokens: torch.Tensor, feats: torch.Tensor
                ) -> torch.Tensor:
        """(B, C) tokens, (B, C, h, w) features -> (B, 1) logits."""
        return self.scale * alignment_score(tokens, feats,
                                            self.temperature) + self.bias


def chosen_mask(out: dict) -> torch.Tensor:
    """Frame 0's mask as SAM2 keeps it, from :meth:`~.sam2_head.
    SAM2PromptHead.decode_frame0`'s outputs: the candidate of highest
    predicted IoU, :data:`NO_OBJECT_LOGIT` where the object score is <= 0
    (``SAM2Base._forward_sam_heads``'s choice and gating, which tracking's
    frame 0 returns as ``low_res_logits``).

    Args:
        out (dict): ``masks`` (B, M, h, w), ``ious`` (B, M),
            ``object_score_logits`` (B, 1).

    Returns:
        Tensor: (B, h, w) mask logits.
    """
    masks = out['masks']
    best = out['ious'].argmax(1)
    mask = masks[torch.arange(masks.size(0), device=masks.device), best]
    appearing = out['object_score_logits'][:, 0] > 0
    return torch.where(appearing[:, None, None], mask,
                       mask.new_tensor(NO_OBJECT_LOGIT))


class VerifyPresence(nn.Module):
    """``'verify'``'s presence logit: does the object SAM2 decoded on
    frame 0 fit what the expression and the sound say? Beyond the paper:
    an expression whose referent is absent still gets a mask, often of an
    object that shares part of the description ("the red cross" decodes
    the red square), and a silent clip still gets one.

    It reads the presence query of ``FusionTokenNeck(presence_query=True)``
    (the expression and the sound as the encoders give them, projected;
    the fused token keeps only what prompting SAM2 needs: on the demo it
    names a shape at 0.30-0.38, chance 0.22, docs/presence.md), the
    outline of the kept mask (a small CNN on its probabilities, global max
    pooling: where it lies does not matter) and the unit mean of the image
    features under it; an MLP on the region's and the query's embeddings
    and their product gives the logit. Every input is detached: the check
    learns alone, and the masks are those of the model without it.

    Args:
        query_dim (int): width of the flattened presence query (2 D).
        feat_dim (int): channels C of frame 0's features.
        width (int): width of each embedding.
    """

    def __init__(self, query_dim: int, feat_dim: int, width: int = 32) -> None:
        super().__init__()
        self.outline = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True), nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.region = nn.Linear(feat_dim, width)
        self.query = nn.Sequential(
            nn.Linear(query_dim, 2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, 2 * width))
        self.head = nn.Sequential(
            nn.Linear(6 * width + 1, 2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, 1))

    def forward(self, query: torch.Tensor, mask_logits: torch.Tensor,
                feats: torch.Tensor) -> torch.Tensor:
        """Presence logits.

        Args:
            query (Tensor): (B, Q) presence queries.
            mask_logits (Tensor): (B, h, w) frame 0's kept mask
                (:func:`chosen_mask`).
            feats (Tensor): (B, C, h', w') frame 0's image features.

        Returns:
            Tensor: (B, 1) logits.
        """
        prob = mask_logits.detach().float().sigmoid()[:, None]
        area = prob.mean((1, 2, 3))[:, None]
        cells = F.normalize(feats.detach().float(), dim=1)
        weight = F.adaptive_avg_pool2d(prob, cells.shape[-2:])
        pooled = F.normalize((cells * weight).sum((2, 3)), dim=-1)
        region = torch.cat([self.outline(prob), self.region(pooled)], -1)
        query = self.query(query.detach().float())
        return self.head(torch.cat([region, query, region * query, area], -1))


def presence_loss(cfg: dict, logits: torch.Tensor,
                  present: torch.Tensor) -> torch.Tensor:
    """The weighted presence BCE.

    Args:
        cfg (dict): :func:`check_presence`'s.
        logits (Tensor): (B, 1) presence logits.
        present (Tensor): (B, 1) 1 where the row's referent is in frame 0.
    """
    weight = torch.where(present > 0, 1.0, cfg['null_weight'])
    return cfg['loss_weight'] * F.binary_cross_entropy_with_logits(
        logits.float(), present, weight=weight)


def apply_presence(cfg: dict | None, clip: torch.Tensor | None,
                   logits: torch.Tensor, scores: torch.Tensor,
                   vetoed: torch.Tensor | None = None,
                   spared: torch.Tensor | None = None) -> tuple:
    """Empty the masks of clips found absent; per-frame presence.

    Args:
        cfg (dict | None): :func:`check_presence`'s (None: no switch).
        clip (Tensor | None): (B, ) the clip's presence probability
            (``SAM2PromptHead.clip_presence``).
        logits (Tensor): (B, T, h, w) mask logits (any T, e.g. one
            streamed frame).
        scores (Tensor): (B, T) SAM2's object-score logits.
        vetoed (Tensor, optional): (B, ) bool, clips found absent by
            another check (``SAM2LOVE(name_check=...)``).
        spared (Tensor, optional): (B, ) bool, clips whose presence this
            check does not judge (kept unless ``vetoed``).

    Returns:
        tuple: ``logits`` (:data:`NO_OBJECT_LOGIT` on every frame of a clip
        whose presence is below ``threshold``) and the presence (B, T) in
        [0, 1]: sigmoid of the object score, times the token MLP's
        probability with ``source='token'``, 0 on every frame of a clip
        found absent.
    """
    presence = scores.float().sigmoid()
    if clip is None:
        return logits, presence
    if cfg['source'] == 'token':
        presence = presence * clip[:, None]
    absent = clip < cfg['threshold']
    if spared is not None:
        absent = absent & ~spared.to(absent.device)
    if vetoed is not None:
        absent = absent | vetoed.to(absent.device)
    logits = torch.where(absent[:, None, None, None],
                         logits.new_tensor(NO_OBJECT_LOGIT), logits)
    return logits, torch.where(absent[:, None], 0.0, presence)


class PresenceMixin:
    """The presence switch's methods of
    :class:`~.sam2_head.SAM2PromptHead` (mixed into it; ``self.presence``
    is :func:`check_presence`'s, ``self.presence_mlp`` the token MLP)."""

    def _presence_from(self, source: str) -> bool:
        return bool(self.presence) and self.presence['source'] == source

    def _with_presence(self, out: dict, prompt: torch.Tensor) -> dict:
        """``out`` (:meth:`forward_frame0`'s) plus ``presence_logits``
        (B, 1) of the token MLP, the alignment or the check (and, for
        ``'scene'``, ``presence_objects``: the listed objects' ``masks``
        (B, N, h, w), ``listed`` (B, N) and ``logits`` (B, N))."""
        if self._presence_from('scene'):
            clip, objects = self._scene_presence(prompt, out['backbone_out'])
            return dict(out, presence_logits=clip, presence_objects=objects)
        if self.presence and self.presence['source'] != 'object_score':
            mask = chosen_mask(out) if self._presence_from('verify') else None
            out = dict(out, presence_logits=self._presence_logits(
                prompt, out['backbone_out'], mask))
        return out

    def _fine_dims(self) -> tuple:
        """Channels of SAM2's two high-resolution levels (its mask
        decoder's ``conv_s0`` / ``conv_s1``) when ``'scene'`` reads them
        (``fine_regions``)."""
        if not self.presence['fine_regions']:
            return ()
        decoder = self.sam.sam_mask_decoder
        if not self.sam.use_high_res_features_in_sam:
            raise ValueError('presence.fine_regions needs a SAM2 with '
                             'use_high_res_features_in_sam')
        return decoder.conv_s0.out_channels, decoder.conv_s1.out_channels

    def _check_query(self, prompt: torch.Tensor) -> None:
        if prompt.size(1) < 3:
            raise ValueError(
                f"presence source {self.presence['source']!r} reads the "
                "neck's presence query: FusionTokenNeck(presence_query=True) "
                f'gives (B, 3 + P, D) prompts, got {tuple(prompt.shape)}')

    def _scene_presence(self, prompt: torch.Tensor, frame0: dict) -> tuple:
        """``'scene'``: (B, 3 + P, D) prompts and frame 0's encoding (B or 1
        frames) -> (B, 1) clip logits and the listed objects (as
        :meth:`_with_presence`'s ``presence_objects``). While training on
        a frozen decoder each clip is listed once (:class:`~.
        scene_presence.ListingMemo`)."""
        self._check_query(prompt)
        frozen = not any(p.requires_grad for p in self.sam.parameters()) \
            and not any(p.requires_grad for p in self.prompt_proj.parameters())
        if self.training and frozen:
            objects = self.scene_listing(self, frame0)
        else:
            objects = list_frame0_objects(self, frame0,
                                          self.presence['list_grid'])
        feats = frame0['vision_features']
        if self.presence['fine_regions']:
            feats = [feats, *frame0['backbone_fpn'][:2]]
        clip, logits = self.presence_scene(
            prompt[:, 1:3].flatten(1), objects['masks'], objects['listed'],
            feats, prompt[:, 3:])
        return clip, dict(objects, logits=logits)

    def _presence_logits(self, prompt: torch.Tensor, frame0: dict | None,
                         frame0_mask: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """(B, 1, D) fused tokens ((B, 3 + P, D) with the neck's presence
        query; and frame 0's encoding, for ``'alignment'`` and
        ``'verify'``, and its (B, h, w) kept mask logits, for ``'verify'``)
        -> (B, 1) presence logits; with ``detach_token`` the presence loss
        does not reach the neck (the check's inputs are always detached)."""
        source = self.presence['source']
        if source == 'token':
            token = prompt[:, 0]
            return self.presence_mlp(
                token.detach() if self.presence['detach_token'] else token)
        if frame0 is None or (source == 'verify' and frame0_mask is None):
            raise ValueError(f'presence source {source!r} needs frame 0\'s '
                             'encoding' + (' and mask' if source == 'verify'
                                           else ''))
        if source == 'scene':
            return self._scene_presence(prompt, frame0)[0]
        if source == 'verify':
            self._check_query(prompt)
            return self.presence_verify(prompt[:, 1:3].flatten(1), frame0_mask,
                                        frame0['vision_features'])
        tokens = self.prompt_tokens(prompt)[:, 0]
        if self.presence['detach_token']:
            tokens = tokens.detach()
        return self.presence_alignment(tokens, frame0['vision_features'])

    def clip_presence(self, prompt: torch.Tensor,
                      frame0_scores: torch.Tensor,
                      frame0: dict | None = None,
                      frame0_mask: torch.Tensor | None = None
                      ) -> torch.Tensor | None:
        """The clip's presence probability under the ``presence`` switch.

        Args:
            prompt (Tensor): (B, 1, D) fused tokens.
            frame0_scores (Tensor): (B, ) SAM2's object-score logits of
                the prompted frame 0.
            frame0 (dict, optional): frame 0's
                :func:`~sam2love.models.sam2.features.encode_frames`
                (``vision_features`` (B, C, h, w)), which ``'alignment'``
                and ``'verify'`` read.
            frame0_mask (Tensor, optional): (B, h, w) frame 0's kept mask
                logits (:func:`chosen_mask`; tracking's frame 0), which
                ``'verify'`` reads.

        Returns:
            Tensor | None: (B, ) in [0, 1] (the token MLP's, the
            alignment's, the check's, or frame 0's object score with
            ``source='object_score'``); None without the switch.
        """
        if not self.presence:
            return None
        if self._presence_from('object_score'):
            return frame0_scores.float().sigmoid()
        return self._presence_logits(prompt, frame0,
                                     frame0_mask)[:, 0].float().sigmoid()

    def apply_presence(self, clip: torch.Tensor | None, logits: torch.Tensor,
                       scores: torch.Tensor,
                       vetoed: torch.Tensor | None = None,
                       spared: torch.Tensor | None = None) -> tuple:
        """Empty the masks of clips found absent: :func:`~.presence.
        apply_presence` with this head's switch."""
        return apply_presence(self.presence, clip, logits, scores, vetoed,
                              spared)
