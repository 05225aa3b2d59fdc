"""The presence switch of ``SAM2PromptHead`` (null references)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from test_sam2love_segmentor import TINY, T, build_model, forward_loss

from sam2love.models.decode_heads.presence import (
    NO_OBJECT_LOGIT,
    alignment_score,
    check_presence,
    chosen_mask,
)
from sam2love.models.losses import candidate_losses

TOKEN = dict(source='token', null_weight=2.0)
ALIGNMENT = dict(source='alignment', null_weight=2.0)
VERIFY = dict(source='verify', null_weight=2.0)


def as_null(sample: dict, text: str) -> dict:
    """A copy of a packed sample that refers to nothing: empty masks and
    another expression."""
    sample = copy.deepcopy(sample)
    ds = sample['data_samples']
    ds.gt_sem_seg = PixelData(data=torch.zeros_like(ds.gt_sem_seg.data))
    ds.gt_eval_masks = PixelData(data=torch.zeros_like(ds.gt_eval_masks.data))
    ds.set_metainfo(dict(text=text))
    return sample


@pytest.fixture(scope='module')
def ordinary(tiny_samples):
    return next(s for s in tiny_samples
                if s['data_samples'].gt_sem_seg.data[0].any())


@pytest.fixture(scope='module')
def mixed_batch(ordinary):
    """An ordinary sample and a null one (same clip, another sentence)."""
    return pseudo_collate([ordinary, as_null(ordinary, 'The purple star.')])


def test_switch_off_is_the_papers_loss(ordinary, mixed_batch):
    """Without the switch the loss is SAM2's on every row (null rows train
    empty masks), as before the switch existed; the switch builds no
    parameter that moves the others' random init."""
    model = build_model(seed=0)
    model.train()
    data = model.data_preprocessor(mixed_batch, training=True)
    prompt = model.extract_feat(data['inputs'],
                                [ds.text for ds in data['data_samples']])
    gt0 = torch.stack([ds.gt_sem_seg.data[0] for ds in data['data_samples']])
    head = model.decode_head
    out = head.forward_frame0(prompt, data['inputs']['frames'][:, 0])
    mask, iou = candidate_losses(out['masks'], out['ious'], gt0,
                                 head.loss_mask, head.mask_candidate)
    present = torch.tensor([[1.0], [0.0]])
    obj = F.binary_cross_entropy_with_logits(out['object_score_logits'],
                                             present)
    want = dict(loss_mask=mask, loss_iou=iou, loss_obj=obj)
    got = head.frame0_losses(out, gt0)
    assert set(got) == set(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key

    switched = build_model(seed=0, presence=TOKEN)
    own = dict(switched.named_parameters())
    for name, param in model.named_parameters():
        assert torch.equal(param, own.pop(name)), name
    assert set(own) == {f'decode_head.presence_mlp.{i}.{p}'
                        for i in (0, 2) for p in ('weight', 'bias')}


def test_the_switch_trains_presence_and_leaves_null_rows_out_of_the_masks(
        ordinary, mixed_batch):
    for source in ('token', 'object_score', 'alignment', 'verify'):
        model = build_model(seed=0, presence=dict(source=source,
                                                  null_weight=3.0))
        model.train()
        losses = forward_loss(model, mixed_batch)
        want = {'loss_mask', 'loss_iou', 'loss_presence'}
        assert set(losses) == want | ({'loss_obj'} if source != 'object_score'
                                      else set())
        alone = forward_loss(model, pseudo_collate([ordinary]))
        # the null row adds nothing to the mask and IoU losses
        for key in ('loss_mask', 'loss_iou'):
            assert losses[key].item() == pytest.approx(alone[key].item(), abs=1e-5)
        losses['loss_presence'].backward()
        if source == 'token':
            grad = model.decode_head.presence_mlp[0].weight.grad
        elif source == 'alignment':
            grad = model.decode_head.presence_alignment.scale.grad
        elif source == 'verify':
            grad = model.decode_head.presence_verify.head[0].weight.grad
        else:
            grad = model.decode_head.sam.sam_mask_decoder.obj_score_token.weight.grad
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize('presence, steps',
                         [(TOKEN, 25), (ALIGNMENT, 25), (VERIFY, 60)])
def test_trained_presence_empties_null_clips_only(ordinary, mixed_batch,
                                                  presence, steps):
    """A few steps on one ordinary and one null sample: the null sample's
    masks are empty on every frame, the ordinary one's are not, and the
    presence scores are probabilities. (The check learns alone, on
    detached inputs: more steps.)"""
    model = build_model(seed=0, presence=presence)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    for _ in range(steps):
        losses = forward_loss(model, mixed_batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(mixed_batch)
        found, null = model(**data, mode='predict')
    for sample in (found, null):
        assert sample.pred_presence.shape == (T, )
        assert ((sample.pred_presence >= 0) & (sample.pred_presence <= 1)).all()
    assert null.pred_presence.eq(0).all()
    assert not null.pred_sem_seg.data.any()
    assert null.pred_eval_logits.data.eq(NO_OBJECT_LOGIT).all()
    assert found.pred_presence[0] > 0.5
    assert found.pred_sem_seg.data[0].any()


def test_without_the_switch_presence_is_sams_object_score(mixed_batch):
    model = build_model(seed=0).eval()
    with torch.no_grad():
        data = model.data_preprocessor(mixed_batch)
        samples = model(**data, mode='predict')
        prompt = model.extract_feat(data['inputs'],
                                    [ds.text for ds in data['data_samples']])
        out = model.decode_head.predict_clip(prompt, data['inputs']['frames'])
    assert torch.equal(torch.stack([s.pred_presence for s in samples]),
                       out['presence'])
    assert ((out['presence'] > 0) & (out['presence'] < 1)).all()


def test_alignment_score_is_a_soft_maximum_of_the_cosines():
    tokens = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    feats = torch.tensor([[[3.0, 0.0, -1.0, 0.0]],
                          [[0.0, 1.0, 0.0, 1.0]]]).view(1, 2, 2, 2)
    feats = feats.expand(2, 2, 2, 2)
    # cosines of token 0 with the 4 cells: 1, 0, -1, 0; of token 1: 0, 1,
    # 0, 1
    cosines = torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    sharp = alignment_score(tokens, feats, 1e-3)[:, 0]
    flat = alignment_score(tokens, feats, 1e3)[:, 0]
    torch.testing.assert_close(sharp, cosines.max(1).values
                               - 1e-3 * torch.log(torch.tensor([4.0, 2.0])))
    torch.testing.assert_close(flat, cosines.mean(1), atol=1e-3, rtol=0)


@pytest.mark.parametrize('cfg, match', [
    (dict(source='clip'), 'presence.source'),
    (dict(source='alignment', temperature=0), 'temperature'),
    (dict(source='scene', list_grid=0), 'list_grid'),
    (dict(source='token', weight=1), 'unknown keys'),
    (dict(source='token', threshold=1.5), 'threshold'),
])
def test_bad_presence_configs_are_named(cfg, match):
    with pytest.raises(ValueError, match=match):
        check_presence(cfg)
    assert check_presence(None) is None


@pytest.mark.parametrize('detach', [False, True])
def test_detached_token_keeps_the_presence_loss_off_the_neck(mixed_batch,
                                                            detach):
    """``detach_token=True``: the presence BCE trains the presence MLP
    only; the neck (and so the masks) learn as without the switch."""
    model = build_model(presence=dict(TOKEN, detach_token=detach,
                                      mask_loss_on_null=True))
    model.train()
    losses = forward_loss(model, mixed_batch)
    losses['loss_presence'].backward()
    neck = [p.grad for p in model.neck.parameters() if p.requires_grad]
    reached = any(g is not None and g.abs().sum() > 0 for g in neck)
    assert reached != detach
    mlp = [p.grad for p in model.decode_head.presence_mlp.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in mlp)


def test_object_score_loss_can_leave_the_null_rows(mixed_batch):
    """``obj_loss_on_null=False``: SAM2's object-score loss sees only the
    rows with a frame-0 mask (the presence head learns the null ones)."""
    losses = {}
    for keep in (True, False):
        model = build_model(presence=dict(TOKEN, obj_loss_on_null=keep))
        model.train()
        data = model.data_preprocessor(mixed_batch, training=True)
        prompt = model.extract_feat(data['inputs'],
                                    [ds.text for ds in data['data_samples']])
        head = model.decode_head
        out = head.forward_frame0(prompt, data['inputs']['frames'][:, 0])
        gt0 = torch.stack([ds.gt_sem_seg.data[0]
                           for ds in data['data_samples']])
        losses[keep] = head.frame0_losses(head._with_presence(out, prompt),
                                          gt0)['loss_obj']
        scores = out['object_score_logits']
    present = torch.tensor([[1.0], [0.0]])
    torch.testing.assert_close(losses[True], F.binary_cross_entropy_with_logits(
        scores, present), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses[False], F.binary_cross_entropy_with_logits(
        scores[:1], present[:1]), rtol=1e-5, atol=1e-6)


def test_verify_reads_the_mask_sam2_keeps(mixed_batch):
    """``source='mask'`` reads, at inference, the frame-0 mask that
    tracking keeps (whole clips and streamed frames): the mask it was
    trained on (:func:`chosen_mask` of the decoded candidates)."""
    model = build_model(presence=VERIFY).eval()
    head = model.decode_head
    seen = []
    clip_presence = head.clip_presence

    def spy(prompt, scores, frame0=None, frame0_mask=None):
        seen.append(frame0_mask)
        return clip_presence(prompt, scores, frame0, frame0_mask)

    head.clip_presence = spy
    with torch.no_grad():
        data = model.data_preprocessor(mixed_batch)
        prompt = model.extract_feat(data['inputs'],
                                    [ds.text for ds in data['data_samples']])
        frames = data['inputs']['frames']
        trained = chosen_mask(head.forward_frame0(prompt, frames[:, 0]))
        head.predict_clip(prompt, frames)
        streamed = [next(head.track(prompt[i:i + 1], frames[i]))
                    for i in range(len(prompt))]
    torch.testing.assert_close(seen[0], trained, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.cat(seen[1:]), trained, rtol=1e-4,
                               atol=1e-4)
    assert all(0 <= float(o['presence'][0]) <= 1 for o in streamed)


def test_chosen_mask_is_the_best_candidate_gated_by_the_object_score():
    masks = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 2, 2)
    ious = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.1, 0.3]])
    scores = torch.tensor([[2.0], [-1.0]])
    mask = chosen_mask(dict(masks=masks, ious=ious,
                            object_score_logits=scores))
    assert torch.equal(mask[0], masks[0, 1])
    assert mask[1].eq(NO_OBJECT_LOGIT).all()


def test_verify_check_trains_only_itself(mixed_batch):
    """The check's loss reaches its own layers only: neither SAM2's
    decoder (the mask and the features are read, not trained) nor the
    neck (its presence query is detached), so the masks are those of the
    model without the switch."""
    model = build_model(presence=VERIFY)
    model.train()
    forward_loss(model, mixed_batch)['loss_presence'].backward()
    head = model.decode_head
    others = [p.grad for name, p in model.named_parameters()
              if p.requires_grad and 'presence_verify' not in name]
    assert all(g is None or not g.any() for g in others)
    assert head.presence_verify.head[0].weight.grad.abs().sum() > 0


def test_verify_needs_the_necks_presence_query(mixed_batch):
    """The prompt is (B, 3 + P, D) with the query; without it the segmentor
    refuses the 'verify' source, and the query alone is refused too."""
    model = build_model(presence=VERIFY).eval()
    with torch.no_grad():
        data = model.data_preprocessor(mixed_batch)
        prompt = model.extract_feat(data['inputs'],
                                    [ds.text for ds in data['data_samples']])
    tokens = model.backbone(data['inputs'], [ds.text for ds in
                                             data['data_samples']])['text']
    assert prompt.shape == (2, 3 + tokens.size(1), model.neck.embed_dim)
    for query, presence in ((True, None), (False, VERIFY)):
        cfg = Config.fromfile(TINY)
        cfg.model.neck.presence_query = query
        cfg.model.decode_head.presence = presence
        with pytest.raises(ValueError, match='presence_query'):
            MODELS.build(cfg.model)


def test_train_only_learns_the_check_and_keeps_the_rest(mixed_batch):
    """``SAM2LOVE(train_only=...)``: a training step moves the check
    alone; every other tensor (batch-norm statistics too) stays as it
    was, so the masks are those of the model without the switch."""
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.audio.num_examples = T
    cfg.model.neck.update(presence_query=True, input_norm=True)
    cfg.model.decode_head.presence = VERIFY
    cfg.model.train_only = ('decode_head.presence_verify', )
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.neck.training and not model.decode_head.sam.training
    assert model.decode_head.presence_verify.training
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = forward_loss(model, mixed_batch)
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    moved = {k for k, v in model.state_dict().items()
             if not torch.equal(v, before[k])}
    assert moved and all(k.startswith('decode_head.presence_verify.')
                         for k in moved)
    with pytest.raises(ValueError, match='train_only'):
        MODELS.build(dict(cfg.model, train_only=('decode_head.nothing', )))
