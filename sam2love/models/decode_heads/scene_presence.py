"""``presence.source='scene'``: is any object of frame 0 what the
expression (and the sound) names?

The ``'verify'`` check reads the one object SAM2 keeps on frame 0; on an
ordinary row whose kept object misses the referent it sees what it sees
on an absent referent (a third of the demo's ordinary rows,
docs/presence.md). This check lists every object of frame 0 instead
(:func:`list_frame0_objects`: each stride-16 cell, as a token, prompts the
decoder alone), embeds each (the silhouette cropped to its box, the
features under it) and scores it against the expression and the sound as
the encoders give them (the neck's presence query); the clip's presence
logit is the largest object's. It learns from the clip's presence and,
per listed object, from whether it covers the referent
(:func:`object_targets`).
"""
import hashlib
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import balanced_mean

#: a listed object: a positive object score and more than this many pixels
#: of the (S/4, S/4) mask
MIN_PIXELS = 2
#: side of an object's silhouette cropped to its box
CROP_SIZE = 32
#: listed masks larger than this (per side) are kept at this size
LIST_SIZE = 64
#: the clip's logit when nothing is listed on frame 0: the check cannot
#: look, so it abstains (the row keeps its masks) rather than learn from
#: the null rows alone that an empty listing means absent
ABSTAIN_LOGIT = 8.0


def box_crops(probs: torch.Tensor, size: int = CROP_SIZE, pad: float = 0.25,
              images: torch.Tensor | None = None) -> torch.Tensor:
    """Silhouettes cropped to their boxes: a shape seen at any place and
    scale looks the same.

    Args:
        probs (Tensor): (N, h, w) mask probabilities.
        size (int): side of the crops.
        pad (float): the square around the pixels above 0.5 is this much
            wider (the whole mask where none is above 0.5).
        images (Tensor, optional): (N, C, H, W) maps of the same frames
            (any resolution) cropped to the same boxes after the
            silhouettes.

    Returns:
        Tensor: (N, 1 (+ C), size, size).
    """
    n, h, w = probs.shape
    on = probs > 0.5
    rows, cols = on.any(2), on.any(1)  # (N, h), (N, w)
    some = rows.any(1)

    def span(hit: torch.Tensor) -> tuple:
        idx = torch.arange(hit.size(1), device=hit.device)
        lo = torch.where(hit, idx, hit.size(1)).amin(1)
        hi = torch.where(hit, idx, -1).amax(1)
        return lo.float(), hi.float()

    y0, y1 = span(rows)
    x0, x1 = span(cols)
    # box centre and half side in grid_sample's [-1, 1] coordinates
    cx, cy = (x0 + x1 + 1) / w - 1, (y0 + y1 + 1) / h - 1
    half = torch.maximum((x1 - x0 + 1) / w, (y1 - y0 + 1) / h) * (1 + pad)
    theta = probs.new_zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.where(some, half, 1.0)
    theta[:, 0, 2] = torch.where(some, cx, 0.0)
    theta[:, 1, 2] = torch.where(some, cy, 0.0)
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    crops = F.grid_sample(probs[:, None].float(), grid, align_corners=False)
    if images is None:
        return crops
    return torch.cat([crops, F.grid_sample(images.float(), grid,
                                           align_corners=False)], 1)


def region_features(probs: torch.Tensor, feats: torch.Tensor
                    ) -> torch.Tensor:
    """The unit mean of the unit cells under each mask.

    Args:
        probs (Tensor): (B, N, h, w) mask probabilities.
        feats (Tensor): (B, C, h', w') features (B may be 1).

    Returns:
        Tensor: (B, N, C).
    """
    cells = F.normalize(feats.float(), dim=1)
    weight = F.adaptive_avg_pool2d(probs.float(), cells.shape[-2:])
    return F.normalize(torch.einsum('bnhw,bchw->bnc', weight, cells), dim=-1)


@torch.no_grad()
def list_frame0_objects(head, backbone_out: dict, grid: int | None = None
                        ) -> dict:
    """Every object the decoder gives from frame 0's cells: each
    stride-16 cell's unit feature, at the prompt token's norm, prompts it
    alone (the form ``loss_align``'s teacher and ``token_pointer`` teach
    it to read); an object is listed when its object score is positive and
    its mask has more than :data:`MIN_PIXELS` pixels.

    Args:
        head (SAM2PromptHead): the decoder.
        backbone_out (dict): :func:`~sam2love.models.sam2.features.
            encode_frames` of B frames 0 (``vision_features`` (B, C, h',
            w')).
        grid (int, optional): prompt with the cells average-pooled to
            ``grid`` x ``grid`` (a large frame's 64 x 64 cells would be
            4,096 decodes); None: every cell.

    Returns:
        dict: ``masks`` (B, N, h, w) probabilities of the N cells'
        objects (SAM2's kept candidate, :func:`~.presence.chosen_mask`, at
        most :data:`LIST_SIZE` per side) and ``listed`` (B, N) bool.
    """
    from .presence import chosen_mask
    feats = backbone_out['vision_features']
    cells = feats if grid is None or grid >= min(feats.shape[-2:]) \
        else F.adaptive_avg_pool2d(feats.float(), grid).to(feats.dtype)
    scale = head.prompt_proj.token_scale if head.token_norm == 'sam' else 1.0
    masks, listed = [], []
    for b in range(feats.size(0)):
        units = F.normalize(cells[b].flatten(1), dim=0).T  # (N, C)
        n = units.size(0)

        def one(x, b=b, n=n):
            if isinstance(x, torch.Tensor):
                return x[b:b + 1].expand(n, *x.shape[1:])
            return [one(y) for y in x] if isinstance(x, list) else x

        out = head.decode_frame0((units * scale)[:, None].to(feats.dtype),
                                 {k: one(v) for k, v in backbone_out.items()})
        probs = chosen_mask(out).float().sigmoid()
        listed.append((out['object_score_logits'][:, 0] > 0)
                      & ((probs > 0.5).flatten(1).sum(1) > MIN_PIXELS))
        if max(probs.shape[-2:]) > LIST_SIZE:
            probs = F.adaptive_avg_pool2d(probs, LIST_SIZE)
        masks.append(probs)
    return dict(masks=torch.stack(masks), listed=torch.stack(listed))


class ListingMemo:
    """Frame 0's listing per clip while it cannot change: a stage that
    trains the check alone on a frozen decoder lists each clip once.
    Keyed by the bytes of the clip's frame-0 features (a changed feature
    is a new key, never a stale listing); emptied when it would hold more
    than ``max_bytes`` of masks (clips are then listed again).

    Args:
        grid (int, optional): :func:`list_frame0_objects`'s.
        max_bytes (int): the most mask bytes held.
    """

    def __init__(self, grid: int | None = None, max_bytes: int = 2 ** 31
                 ) -> None:
        self.grid = grid
        self.max_bytes = max_bytes
        self.bytes = 0
        self.store: dict[str, tuple] = {}

    @staticmethod
    def key(feats: torch.Tensor) -> str:
        return hashlib.sha1(feats.detach().float().cpu().contiguous()
                            .numpy().tobytes()).hexdigest()

    def __call__(self, head, backbone_out: dict) -> dict:
        """:func:`list_frame0_objects`, from the memo where it has them."""
        feats = backbone_out['vision_features']
        keys = [self.key(f) for f in feats]
        found = {k: self.store[k] for k in keys if k in self.store}
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo:
            sub = {k: [x[todo] for x in v] if isinstance(v, list)
                   else v[todo] if isinstance(v, torch.Tensor) else v
                   for k, v in backbone_out.items()}
            new = list_frame0_objects(head, sub, self.grid)
            for j, i in enumerate(todo):
                entry = (new['masks'][j].cpu(), new['listed'][j].cpu())
                found[keys[i]] = entry
                size = entry[0].numel() * entry[0].element_size()
                if self.bytes + size > self.max_bytes:
                    self.store.clear()
                    self.bytes = 0
                self.store[keys[i]] = entry
                self.bytes += size
        masks, listed = zip(*(found[k] for k in keys))
        return dict(masks=torch.stack(masks).to(feats.device),
                    listed=torch.stack(listed).to(feats.device))


def object_targets(masks: torch.Tensor, listed: torch.Tensor,
                   gt_masks: torch.Tensor, hit: float = 0.5,
                   miss: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """What each listed object should score: 1 where it covers the row's
    referent (IoU >= ``hit``), 0 where it does not (IoU < ``miss``, and
    every object of a row without a referent), -1 (unscored) between and
    where not listed.

    Args:
        masks (Tensor): (B, N, h, w) listed objects' probabilities.
        listed (Tensor): (B, N) bool.
        gt_masks (Tensor): (B, H, W) frame-0 referents in {0, 1}.

    Returns:
        tuple: targets (B, N) in {-1, 0, 1}; ``covered`` (B, ) bool:
        something is listed and the row has no referent, or a listed
        object covers it at IoU >= 0.3 (a row whose referent nothing
        listed covers cannot be told from an absent one; where nothing is
        listed the check abstains, :data:`ABSTAIN_LOGIT`).
    """
    gt = F.interpolate(gt_masks[:, None].float(), size=masks.shape[-2:],
                       mode='area')[:, 0] >= 0.5  # (B, h, w)
    on = masks > 0.5
    inter = (on & gt[:, None]).flatten(2).sum(-1).float()
    union = (on | gt[:, None]).flatten(2).sum(-1).float()
    iou = inter / union.clamp(min=1)
    target = torch.full_like(iou, -1.0)
    target[iou >= hit] = 1.0
    target[iou < miss] = 0.0
    target[~listed] = -1.0
    present = gt.flatten(1).any(1)
    covered = (~present & listed.any(1)) | ((iou >= 0.3) & listed).any(1)
    return target, covered


class ScenePresence(nn.Module):
    """``'scene'``'s presence logit: the largest, over frame 0's listed
    objects, of how well an object fits the expression and the sound
    (:data:`ABSTAIN_LOGIT` when nothing is listed).

    An object is embedded from its silhouette cropped to its box (a small
    CNN, global average pooling; quarter turns and mirrors while
    training: a shape's name does not change with them; with ``fine_dims``
    the finest level's features cropped beside it), the unit mean of the
    image features under it at every level given (a linear map) and its
    area. It attends over the expression's tokens (one attention layer:
    which words are about it; a mean of the tokens blurs the words that
    name it) and reads the presence query's mean expression and sound; an
    MLP on the object, what it attended to, the query and their products
    gives the object's logit. Every input is detached: the check learns
    alone.

    Args:
        query_dim (int): width of the presence query's two means (2 D).
        feat_dim (int): channels C of frame 0's features.
        token_dim (int): width D of the expression's tokens.
        width (int): half the width of each embedding.
        heads (int): attention heads.
        fine_dims (tuple[int]): channels of the finer feature levels read
            under each object besides frame 0's (SAM2's two high-resolution
            levels, stride 4 and 8: an object of a few stride-16 cells
            shares each with the background and its neighbours), the
            first (the finest) also cropped to the object's box beside its
            silhouette (the shape as the image shows it, not only as the
            decoder's blurred mask); () reads frame 0's features alone.
    """

    def __init__(self, query_dim: int, feat_dim: int, token_dim: int,
                 width: int = 32, heads: int = 4,
                 fine_dims: tuple = ()) -> None:
        super().__init__()
        # the silhouette, and the finest level's unit features around it
        self.crop_dims = fine_dims[:1]
        self.outline = nn.Sequential(
            nn.Conv2d(1 + sum(self.crop_dims), 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.region = nn.Linear(feat_dim + sum(fine_dims), width)
        self.query = nn.Sequential(
            nn.Linear(query_dim, 2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, 2 * width))
        self.tokens = nn.Sequential(
            nn.Linear(token_dim, 2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, 2 * width))
        self.attend = nn.MultiheadAttention(2 * width, heads,
                                            batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(10 * width + 1, 2 * width), nn.ReLU(inplace=True),
            nn.Linear(2 * width, 1))

    def embed_objects(self, masks: torch.Tensor, listed: torch.Tensor,
                      feats: torch.Tensor | Sequence[torch.Tensor]
                      ) -> torch.Tensor:
        """(B, N, h, w) probabilities, (B, N) listed, (B, C, h', w')
        features (or a sequence: frame 0's then the ``fine_dims`` levels)
        -> (B, N, 2 width + 1) object embeddings (0 where not listed but
        the region's and the area)."""
        masks = masks.detach().float()
        # the silhouettes of the listed objects alone through the CNN
        shape = masks.new_zeros(*listed.shape, self.region.out_features)
        levels = [feats] if isinstance(feats, torch.Tensor) else feats
        if listed.any():
            images = None
            if self.crop_dims:
                fine = levels[1].detach().float()
                if max(fine.shape[-2:]) > LIST_SIZE:  # as the masks are
                    fine = F.adaptive_avg_pool2d(fine, LIST_SIZE)
                fine = F.normalize(fine, dim=1)
                images = fine.expand(listed.size(0), -1, -1, -1)[
                    listed.nonzero()[:, 0]]
            crops = box_crops(masks[listed], images=images)
            if self.training:
                crops = torch.rot90(crops, int(torch.randint(4, ())), (2, 3))
                if torch.rand(()) < 0.5:
                    crops = crops.flip(3)
            shape[listed] = self.outline(crops)
        region = self.region(torch.cat(
            [region_features(masks, f.detach()) for f in levels], -1))
        return torch.cat([shape, region, masks.mean((2, 3))[..., None]], -1)

    def forward(self, query: torch.Tensor, masks: torch.Tensor,
                listed: torch.Tensor, feats: torch.Tensor,
                tokens: torch.Tensor) -> tuple:
        """Presence logits of the clips and of their objects.

        Args:
            query (Tensor): (B, Q) the presence query's two means.
            masks (Tensor): (B | 1, N, h, w) listed objects' probabilities
                (:func:`list_frame0_objects`).
            listed (Tensor): (B | 1, N) bool.
            feats (Tensor | Sequence[Tensor]): (B | 1, C, h', w') frame
                0's image features (then the ``fine_dims`` levels).
            tokens (Tensor): (B, P, D) the expression's tokens, zeros on
                padding.

        Returns:
            tuple: (B, 1) clip logits (:data:`ABSTAIN_LOGIT` where nothing
            is listed) and (B, N) object logits (-inf where not listed).
        """
        b, n = query.size(0), masks.size(1)
        objects = self.embed_objects(masks, listed, feats).expand(b, -1, -1)
        obj, area = objects[..., :-1], objects[..., -1:]
        q = self.query(query.detach().float())[:, None].expand(-1, n, -1)
        tokens = tokens.detach().float()
        padding = tokens.abs().sum(-1) == 0  # (B, P)
        if tokens.size(1) == 0 or padding.all(1).any():
            # no word to attend to: one zero token
            tokens = torch.cat([tokens.new_zeros(b, 1, tokens.size(-1)),
                                tokens], 1)
            padding = torch.cat([padding.new_zeros(b, 1), padding], 1)
        keys = self.tokens(tokens)
        said, _ = self.attend(obj, keys, keys, key_padding_mask=padding,
                              need_weights=False)
        logits = self.head(torch.cat([obj, q, said, obj * said, obj * q,
                                      area], -1))[..., 0]
        logits = logits.masked_fill(~listed.expand(b, -1), float('-inf'))
        clip = logits.amax(1)
        clip = torch.where(torch.isinf(clip), ABSTAIN_LOGIT, clip)
        return clip[:, None], logits


def object_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE of the listed objects' logits (B, N) against
    :func:`object_targets` (-1 unscored), the objects that cover a
    referent and those that do not weighing half each."""
    scored = targets >= 0
    if not scored.any():
        return logits.masked_fill(torch.isinf(logits), 0).sum() * 0
    bce = F.binary_cross_entropy_with_logits(
        logits[scored].float(), targets[scored], reduction='none')
    return balanced_mean(bce, targets[scored])
