"""Can SAM2's decoder learn to read a prompt token? A fast frame-0 probe.

    python tools/analysis_tools/token_probe.py CONFIG
        [--source neck|prototype|text|expression|referent] [--iters 400]
        [--batch-size 16] [--lr 1e-3] [--eval-split test_s]
        [--eval-every 100] [--seed 0] [--head sam2|linear]
        [--token-norm none|batch] [--track] [--cfg-options ...]

Stage 2 of SAM2-LOVE supervises frame 0 only, and everything before the
trained parts is frozen: the tri-modal encoders and SAM2's image encoder.
The probe runs those once over the train split and the evaluation split,
then trains frame-0 decoding on the cached features with the head's own
losses (``SAM2PromptHead.frame0_losses``): the token source, the token
projection and what the config's ``trainable`` trains of SAM2 (the paper:
prompt encoder and mask decoder). An iteration costs a fraction of a
``tools/train.py`` one, so token sources can be compared in minutes.

Every ``--eval-every`` iterations it prints, on the evaluation split:
``IoU``, the mean frame-0 IoU of the candidate inference keeps, and
``changed``, the mean 1 - IoU between frame 0's mask and the mask obtained
when every sample gets the token source of the next sample (0: the token
is ignored).

Token sources (``--source``), all feeding the head's token projection:

- ``neck``: the config's fusion neck on the cached encoder features (the
  real model);
- ``prototype``: an oracle that names the target by its appearance: the
  mean of SAM2's frame-0 image features (stride 16) under the
  ground-truth mask, linearly projected to the neck's width;
- ``text``: the mean of the frozen text features through an MLP (the
  expression alone, no fusion);
- ``expression``: a learned embedding per distinct expression string;
- ``referent``: an oracle that names the target by its identity: a
  learned colour embedding plus a learned shape embedding of the referred
  object, read from the synthetic data set's ``synthetic_info.json``
  (synthetic data only; null expressions get their own embeddings). It
  shows what a fusion that identifies the referent perfectly would give.

What decodes frame 0 (``--head``):

- ``sam2``: SAM2's prompt encoder and mask decoder, the token appended to
  the sparse prompt (the real model);
- ``linear``: a linear referring head instead of SAM2's decoder: the
  frame-0 logits are the dot product of an MLP of the token with a 1x1
  projection of SAM2's frozen stride-4 FPN features (+ their positional
  encoding), at 1/4 of SAM2's input. It needs no decoder to learn to read
  the token, so it tells whether the token names the referent at all.

``--token-norm batch`` puts a ``BatchNorm1d`` on the token source's output:
it removes what all tokens share, which can dwarf what tells them apart.

``--track`` finally runs whole clips of the evaluation split (its test
pipeline): frame 0 prompted as trained (``sam2``: the token; ``linear``:
the head's mask as SAM2's mask prompt) and SAM2's memory tracking the rest,
and prints the split's J, F and J&F, comparable with ``tools/test.py``
(on synthetic data also J&F per expression kind).

Use the stage-2 config with its stage-1 SAM2 (``decode_head.checkpoint``).
"""
import argparse
import copy
import os.path as osp
import time

import torch
import torch.nn.functional as F
from mmengine.config import DictAction
from torch import nn

import sam2love  # noqa: F401  (registers the components)
from sam2love.datasets import read_referents
from sam2love.evaluation import (
    expression_kinds,
    refavs_score,
    refavs_score_by_kind,
)
from sam2love.evaluation.kinds import kinds_of_uids
from sam2love.models.backbones import cat_features
from sam2love.models.losses import mask_cell_shares, mask_iou
from sam2love.models.sam2.features import project_high_res_features
from sam2love.models.sam2.tracker import track_clip
from sam2love.utils import load_config
from sam2love.utils.analysis import build_eval_model, preprocessed_batches

SOURCES = ('neck', 'prototype', 'text', 'expression', 'referent')
HEADS = ('sam2', 'linear')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Frame-0 token probe')
    parser.add_argument('config')
    parser.add_argument('--source', choices=SOURCES, default='neck')
    parser.add_argument('--iters', type=int, default=400)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--eval-split', default='test_s')
    parser.add_argument('--eval-every', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--head', choices=HEADS, default='sam2')
    parser.add_argument('--token-norm', choices=('none', 'batch'),
                        default='none')
    parser.add_argument('--track', action='store_true',
                        help='report J / F / J&F of the evaluation split '
                        'tracked from the trained frame 0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


# ------------------------------------------------------------ the cache
@torch.no_grad()
def encode_split(model, dataset_cfg: dict, split: str,
                 batch_size: int) -> dict:
    """Frozen features of every sample of ``split``, concatenated.

    Returns:
        dict: ``feats`` (the backbone's dict, text padded to one length),
        ``encoder_out`` (``sam.image_encoder`` of frame 0), ``gt0`` (N, h,
        w) frame-0 masks, ``texts`` (N expressions), ``uids`` (N).
    """
    head = model.decode_head
    parts = []
    for inputs, samples, texts in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        frame0 = head.fit_frames(inputs['frames'][:, 0])
        parts.append(dict(
            feats=model.backbone(inputs, texts),
            encoder_out=head.sam.image_encoder(frame0),
            gt0=torch.stack([s.gt_sem_seg.data[0] for s in samples]),
            texts=texts, uids=[s.uid for s in samples]))
    return concatenate(parts)


def concatenate(parts: list) -> dict:
    encoder_out = {
        key: [torch.cat([p['encoder_out'][key][i] for p in parts])
              for i in range(len(parts[0]['encoder_out'][key]))]
        for key in ('backbone_fpn', 'vision_pos_enc')}
    encoder_out['vision_features'] = encoder_out['backbone_fpn'][-1]
    return dict(feats=cat_features([p['feats'] for p in parts]),
                encoder_out=encoder_out,
                gt0=torch.cat([p['gt0'] for p in parts]),
                texts=sum((p['texts'] for p in parts), []),
                uids=sum((p['uids'] for p in parts), []))


def select(cache: dict, index: torch.Tensor) -> dict:
    return dict(
        feats={k: v[index] for k, v in cache['feats'].items()},
        encoder_out={k: ([x[index] for x in v] if isinstance(v, list)
                         else v[index])
                     for k, v in cache['encoder_out'].items()},
        gt0=cache['gt0'][index],
        texts=[cache['texts'][i] for i in index.tolist()],
        uids=[cache['uids'][i] for i in index.tolist()])


# ------------------------------------------------------------ token sources
def load_referents(data_root: str) -> dict:
    """``uid -> (colour, shape)`` indices of the referred object
    (:func:`~sam2love.datasets.read_referents`); null rows get the index
    one past the last colour / shape."""
    rows, colours, shapes = read_referents(data_root)
    return {uid: (len(colours), len(shapes)) if colour is None
            else (colour, shape)
            for uid, (_, colour, shape) in rows.items()}


class TokenSource(nn.Module):
    """What replaces the fused token: (B, 1, D) from a cached batch."""

    def __init__(self, source: str, model, vocabulary: list[str],
                 referents: dict | None = None,
                 token_norm: str = 'none') -> None:
        super().__init__()
        self.source = source
        neck = model.neck
        width = neck.embed_dim
        self.norm = nn.BatchNorm1d(width) if token_norm == 'batch' \
            else nn.Identity()
        if source == 'neck':
            self.neck = neck
        elif source == 'prototype':
            channels = model.decode_head.sam.hidden_dim
            self.proj = nn.Linear(channels, width)
        elif source == 'text':
            dim = model.backbone.out_dims['text_dim']
            self.proj = nn.Sequential(nn.Linear(dim, width), nn.ReLU(),
                                      nn.Linear(width, width))
        elif source == 'referent':
            self.referents = referents
            colours, shapes = zip(*referents.values())
            self.colour = nn.Embedding(max(colours) + 1, width)
            self.shape = nn.Embedding(max(shapes) + 1, width)
        else:
            self.index = {text: i for i, text in enumerate(vocabulary)}
            self.embed = nn.Embedding(len(vocabulary) + 1, width)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.norm(self.token(batch)[:, 0])[:, None]

    def token(self, batch: dict) -> torch.Tensor:
        feats = batch['feats']
        if self.source == 'neck':
            return self.neck(feats)['prompt']
        if self.source == 'prototype':
            top = batch['encoder_out']['backbone_fpn'][-1]  # (B, C, h, w)
            weight = F.interpolate(batch['gt0'][:, None].float(),
                                   size=top.shape[-2:], mode='area')
            proto = (top * weight).sum((2, 3)) / \
                weight.sum((2, 3)).clamp(min=1e-6)
            return self.proj(proto)[:, None]
        if self.source == 'text':
            keep = feats['text_mask'].float()[..., None]
            pooled = (feats['text'] * keep).sum(1) / keep.sum(1)
            return self.proj(pooled)[:, None]
        if self.source == 'referent':
            try:
                ids = torch.tensor([self.referents[u] for u in batch['uids']])
            except KeyError as err:
                raise KeyError(f'uid {err} is not in synthetic_info.json: '
                               f'not the data set it describes') from None
            return (self.colour(ids[:, 0]) + self.shape(ids[:, 1]))[:, None]
        ids = [self.index.get(t, len(self.index)) for t in batch['texts']]
        return self.embed(torch.tensor(ids))[:, None]


def rolled(batch: dict) -> dict:
    """Each sample gets the token source of the next one."""
    out = dict(batch)
    out['feats'] = {k: v.roll(1, 0) for k, v in batch['feats'].items()}
    out['gt0'] = batch['gt0'].roll(1, 0)  # the prototype's mask
    out['texts'] = batch['texts'][-1:] + batch['texts'][:-1]
    if 'uids' in batch:
        out['uids'] = batch['uids'][-1:] + batch['uids'][:-1]
    return out


# ------------------------------------------------------------ heads
class LinearReferringHead(nn.Module):
    """Frame-0 logits as ``MLP(token) . (W f + W' pe) / sqrt(C) + b``.

    ``f`` (B, C, S/4, S/4) are SAM2's frozen stride-4 FPN features and
    ``pe`` their positional encoding.
    """

    def __init__(self, token_dim: int, channels: int) -> None:
        super().__init__()
        self.query = nn.Sequential(nn.Linear(token_dim, channels), nn.ReLU(),
                                   nn.Linear(channels, channels))
        self.key = nn.Conv2d(channels, channels, 1)
        self.key_pos = nn.Conv2d(channels, channels, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, token: torch.Tensor, encoder_out: dict) -> dict:
        """(B, 1, D) token -> ``masks`` (B, 1, S/4, S/4) logits, ``ious``
        (B, 1) zeros (one candidate)."""
        feat = encoder_out['backbone_fpn'][0]
        key = self.key(feat) + self.key_pos(encoder_out['vision_pos_enc'][0])
        logits = torch.einsum('bc,bchw->bhw', self.query(token[:, 0]), key)
        logits = logits / key.size(1) ** 0.5 + self.bias
        return dict(masks=logits[:, None], ious=logits.new_zeros(len(logits), 1))


def build_linear_head(model) -> LinearReferringHead:
    return LinearReferringHead(model.neck.embed_dim,
                               model.decode_head.sam.hidden_dim)


# ------------------------------------------------------------ probe
def decode(model, source: TokenSource, batch: dict,
           linear: LinearReferringHead | None = None) -> dict:
    if linear is not None:
        return linear(source(batch), batch['encoder_out'])
    head = model.decode_head
    backbone_out = project_high_res_features(head.sam, batch['encoder_out'])
    return head.decode_frame0(head.prompt_tokens(source(batch)),
                              backbone_out)


def frame0_losses(model, out: dict, gt0: torch.Tensor,
                  linear: LinearReferringHead | None = None) -> dict:
    """The head's own losses; the linear head's mask loss alone."""
    if linear is None:
        return model.decode_head.frame0_losses(out, gt0)
    logits = F.interpolate(out['masks'], size=gt0.shape[-2:],
                           mode='bilinear', align_corners=False)[:, 0]
    return dict(loss_mask=model.decode_head.loss_mask(
        logits, gt0.float()).mean())


def chosen_masks(out: dict, size) -> torch.Tensor:
    masks = out['masks'][torch.arange(out['masks'].size(0)),
                         out['ious'].argmax(1)]
    return F.interpolate(masks[:, None], size=size, mode='bilinear',
                         align_corners=False)[:, 0] > 0


def set_mode(train: bool, *modules) -> None:
    for module in modules:
        if module is not None:
            module.train(train)


def referent_hits(out: dict, gt0: torch.Tensor) -> torch.Tensor | None:
    """(B, ) 1 where the frame-0 cell of SAM2's features most similar
    (cosine) to the prompt token lies on the referent, for rows with one;
    None when ``out`` has no tokens (the linear head)."""
    if 'tokens' not in out:
        return None
    image = out['backbone_out']['vision_features']
    feats = F.normalize(image.flatten(2), dim=1)
    sims = torch.einsum('bc,bck->bk', F.normalize(out['tokens'][:, 0], dim=-1),
                        feats)
    shares = mask_cell_shares(gt0, image.shape[-2:])
    hit = shares.gather(1, sims.argmax(1, keepdim=True))[:, 0] > 0
    return hit[shares.sum(1) > 0].float()


@torch.no_grad()
def evaluate(model, source: TokenSource, cache: dict, batch_size: int,
             linear: LinearReferringHead | None = None
             ) -> tuple[float, float, float | None]:
    """Mean frame-0 IoU, mean change under rolled token sources, and the
    share of rows whose token points at its referent (:func:`referent_hits`;
    None for the linear head)."""
    set_mode(False, model, source, linear)
    ious, changes, hits = [], [], []
    for start in range(0, cache['gt0'].size(0), batch_size):
        batch = select(cache, torch.arange(
            start, min(start + batch_size, cache['gt0'].size(0))))
        size = batch['gt0'].shape[-2:]
        out = decode(model, source, batch, linear)
        pred = chosen_masks(out, size)
        other = chosen_masks(decode(model, source, rolled(batch), linear),
                             size)
        ious.append(mask_iou(pred, batch['gt0'] > 0))
        changes.append(1 - mask_iou(pred, other))
        hit = referent_hits(out, batch['gt0'])
        if hit is not None:
            hits.append(hit)
    set_mode(True, model, source, linear)
    hit_rate = float(torch.cat(hits).mean()) if hits else None
    return float(torch.cat(ious).mean()), float(torch.cat(changes).mean()), \
        hit_rate


@torch.no_grad()
def track_split(model, source: TokenSource, dataset_cfg: dict, split: str,
                batch_size: int,
                linear: LinearReferringHead | None = None) -> dict:
    """J, F, J&F (fractions) of ``split``'s clips tracked from frame 0.

    Frame 0 is prompted as the probe trained it (``sam2``: the token;
    ``linear``: the head's mask as SAM2's mask prompt); SAM2's memory
    tracks frames 1..T-1 with the tracking decoder of the config.
    """
    set_mode(False, model, source, linear)
    head = model.decode_head
    logits, masks, uids = [], [], []
    for inputs, samples, texts in preprocessed_batches(
            model, dataset_cfg, split, batch_size):
        frames = head.fit_frames(inputs['frames'])
        gt0 = torch.stack([s.gt_eval_masks.data[0] for s in samples])
        probe_batch = dict(
            feats=model.backbone(inputs, texts), gt0=gt0, texts=texts,
            uids=[s.uid for s in samples])
        if linear is not None or source.source == 'prototype':
            probe_batch['encoder_out'] = head.sam.image_encoder(frames[:, 0])
        if linear is None:
            clip = head.predict(source(probe_batch), frames)
        else:
            frame0 = linear(source(probe_batch), probe_batch['encoder_out'])
            clip = track_clip(
                head.sam, frames, dict(mask_inputs=frame0['masks'] > 0),
                memory_dtype=head.memory_dtype, frozen_encoder=True,
                tracking_heads=head.tracking_decoder_heads())['low_res_logits'][
                    :, :, 0]
        logits += list(F.interpolate(clip, size=gt0.shape[-2:],
                                     mode='bilinear', align_corners=False))
        masks += [s.gt_eval_masks.data for s in samples]
        uids += probe_batch['uids']
    return dict(refavs_score(logits, masks), logits=logits, masks=masks,
                uids=uids)


def scores_by_kind(tracked: dict, data_root: str) -> dict:
    """J&F of each expression kind of a synthetic data set.

    The protocol is applied to each kind's rows alone (in metadata order,
    F averaged over batches of 4 of them), by the function
    ``RefAVSMetric(per_kind=True)`` uses
    (:func:`~sam2love.evaluation.score_stats_by_kind`); null rows are
    scored as a kind too.

    Returns:
        dict: kind -> (number of rows, J&F fraction).
    """
    kinds = kinds_of_uids(tracked['uids'], expression_kinds(data_root),
                          data_root)
    scores = refavs_score_by_kind(tracked['logits'], tracked['masks'], kinds,
                                  skip=())
    return {kind: (s['count'], s['J&F']) for kind, s in scores.items()}


def trained_parameters(model, source: TokenSource,
                       linear: LinearReferringHead | None = None) -> list:
    params = [p for p in source.parameters()]
    if linear is not None:
        return params + list(linear.parameters())
    head = model.decode_head
    params += list(head.prompt_proj.parameters())
    params += [p for p in head.sam.parameters() if p.requires_grad]
    return params


def hit_text(hits: float | None) -> str:
    return '' if hits is None else f' referent hit {hits:.3f}'


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_eval_model(cfg, args.seed)
    # the train pipeline: frame-0 masks at the training size for both
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    start = time.time()
    train = encode_split(model, dataset_cfg, dataset_cfg.split,
                         args.batch_size)
    held_out = encode_split(model, dataset_cfg, args.eval_split,
                            args.batch_size)
    print(f'encoded {train["gt0"].size(0)} train and '
          f'{held_out["gt0"].size(0)} {args.eval_split} samples in '
          f'{time.time() - start:.0f} s', flush=True)
    referents = (load_referents(dataset_cfg.data_root)
                 if args.source == 'referent' else None)
    source = TokenSource(args.source, model, sorted(set(train['texts'])),
                         referents, args.token_norm)
    linear = build_linear_head(model) if args.head == 'linear' else None
    set_mode(True, model, source, linear)
    optimizer = torch.optim.AdamW(trained_parameters(model, source, linear),
                                  lr=args.lr, weight_decay=0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: min(1.0, (i + 1) / args.warmup)
        * max(0.0, 1 - i / args.iters))
    generator = torch.Generator().manual_seed(args.seed)
    history = []
    iou, changed, hits = evaluate(model, source, held_out, args.batch_size,
                                  linear)
    print(f'iter 0: {args.eval_split} IoU {iou:.3f} changed {changed:.3f}'
          f'{hit_text(hits)}', flush=True)
    history.append(dict(iter=0, iou=iou, changed=changed, referent_hit=hits))
    start = time.time()
    num = train['gt0'].size(0)
    for it in range(1, args.iters + 1):
        index = torch.randperm(num, generator=generator)[:args.batch_size]
        batch = select(train, index)
        losses = frame0_losses(model, decode(model, source, batch, linear),
                               batch['gt0'], linear)
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if it % args.eval_every == 0 or it == args.iters:
            iou, changed, hits = evaluate(model, source, held_out,
                                          args.batch_size, linear)
            parts = ' '.join(f'{k} {v.item():.3f}' for k, v in losses.items())
            print(f'iter {it}: {parts} {args.eval_split} IoU '
                  f'{iou:.3f} changed {changed:.3f}{hit_text(hits)} '
                  f'({time.time() - start:.0f} s)', flush=True)
            history.append(dict(iter=it, iou=iou, changed=changed,
                                referent_hit=hits))
    if args.track:
        test_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
        tracked = track_split(model, source, test_cfg, args.eval_split,
                              args.batch_size, linear)
        scores = {k: tracked[k] for k in ('J', 'F', 'J&F')}
        print(f'tracked {args.eval_split}: ' + ' '.join(
            f'{k} {100 * v:.1f}' for k, v in scores.items()), flush=True)
        history[-1]['tracked'] = scores
        if osp.isfile(osp.join(test_cfg.data_root, 'synthetic_info.json')):
            kinds = scores_by_kind(tracked, test_cfg.data_root)
            print('J&F by expression kind: ' + ', '.join(
                f'{k} {100 * v:.1f} ({n} rows)'
                for k, (n, v) in kinds.items()), flush=True)
            history[-1]['tracked_by_kind'] = kinds
    return history


if __name__ == '__main__':
    main()
