"""``ReferentAlignmentLoss``: the fused token told where its referent is."""
import pytest
import torch
import torch.nn.functional as F
from test_sam2love_segmentor import build_model, forward_loss

from sam2love.models.losses import ReferentAlignmentLoss, mask_cell_shares


def features_and_masks():
    """Two frames of 4 x 4 cells, 8-d features; each mask covers one cell
    of a 16 x 16 frame."""
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 8, 4, 4, generator=gen)
    masks = torch.zeros(2, 16, 16)
    masks[0, 0:4, 4:8] = 1  # cell (0, 1)
    masks[1, 8:12, 12:16] = 1  # cell (2, 3)
    return feats, masks


def test_cell_shares_sum_to_one_and_locate_the_mask():
    _, masks = features_and_masks()
    shares = mask_cell_shares(masks, (4, 4))
    assert torch.allclose(shares.sum(1), torch.ones(2))
    assert shares[0].argmax() == 1 and shares[1].argmax() == 2 * 4 + 3
    assert mask_cell_shares(torch.zeros(1, 16, 16), (4, 4)).sum() == 0


@pytest.mark.parametrize('mode', ['pixel', 'prototype'])
def test_a_token_at_its_referent_scores_lower(mode):
    """A token equal to its referent's features beats a token equal to
    another place of the frame (pixel) or to another row's referent
    (prototype)."""
    feats, masks = features_and_masks()
    loss = ReferentAlignmentLoss(mode=mode, temperature=0.1)
    right = torch.stack([feats[0, :, 0, 1], feats[1, :, 2, 3]])
    wrong = torch.stack([feats[0, :, 3, 3], feats[1, :, 0, 0]]) \
        if mode == 'pixel' else right.flip(0)
    assert loss(right, feats, masks) < loss(wrong, feats, masks)


def test_rows_of_one_referent_are_each_others_positives():
    """Two rows naming the same object share a prototype: with
    ``referent_ids`` each is the other's positive, without them each is
    the other's negative."""
    feats, masks = features_and_masks()
    feats = torch.cat([feats, feats[:1]])
    masks = torch.cat([masks, masks[:1]])
    tokens = torch.stack([feats[0, :, 0, 1], feats[1, :, 2, 3],
                          feats[0, :, 0, 1]])
    loss = ReferentAlignmentLoss(mode='prototype', temperature=0.1)
    same = loss(tokens, feats, masks, torch.tensor([0, 1, 0]))
    apart = loss(tokens, feats, masks)
    assert same < apart
    # one column per referent: as if the twin row's column were not there
    logits = torch.stack([F.normalize(t, dim=0) for t in tokens]) @ \
        torch.stack([F.normalize(f, dim=0) for f in
                     (feats[0, :, 0, 1], feats[1, :, 2, 3])]).T / 0.1
    assert torch.allclose(same, F.cross_entropy(logits,
                                                torch.tensor([0, 1, 0])))
    assert torch.allclose(loss(tokens, feats, masks, torch.arange(3)), apart)


def test_null_rows_are_left_out():
    feats, masks = features_and_masks()
    loss = ReferentAlignmentLoss(mode='pixel', loss_weight=2.0)
    tokens = torch.randn(2, 8, requires_grad=True)
    with_null = torch.stack([masks[0], torch.zeros(16, 16)])
    assert torch.allclose(loss(tokens, feats, with_null),
                          loss(tokens[:1], feats[:1], masks[:1]))
    none = loss(tokens, feats, torch.zeros(2, 16, 16))
    assert none == 0
    none.backward()  # still connected to the token
    assert tokens.grad is not None


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='mode'):
        ReferentAlignmentLoss(mode='patch')
    with pytest.raises(ValueError, match='temperature'):
        ReferentAlignmentLoss(temperature=0)


def test_head_switch_trains_the_token_path(referent_batch):
    """With ``loss_align`` the head reports ``loss_align`` and its gradient
    reaches the neck; without it the losses are the paper's."""
    align = dict(type='ReferentAlignmentLoss', mode='pixel')
    model = build_model(seed=0, loss_align=align)
    model.train()
    losses = forward_loss(model, referent_batch)
    assert 'loss_align' in losses and losses['loss_align'] > 0
    losses['loss_align'].backward()
    grads = [p.grad for p in model.neck.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    for p in model.decode_head.sam.parameters():  # the token path only
        assert p.grad is None or not p.grad.any()
    paper = forward_loss(build_model(seed=0), referent_batch)
    assert 'loss_align' not in paper


def test_teacher_decodes_the_referents_prototypes(referent_batch):
    """``teacher_weight``: frame 0 is also decoded from each referent's
    prototype as the token; its mask loss trains the decoder, not the
    token path."""
    align = dict(type='ReferentAlignmentLoss', mode='prototype',
                 teacher_weight=2.0)
    model = build_model(seed=0, loss_align=align)
    model.train()
    losses = forward_loss(model, referent_batch)
    assert losses['loss_mask_teacher'] > 0
    losses['loss_mask_teacher'].backward()
    decoder = model.decode_head.sam.sam_mask_decoder
    assert any(p.grad is not None and p.grad.any()
               for p in decoder.parameters())
    assert all(p.grad is None or not p.grad.any()
               for p in model.neck.parameters())
