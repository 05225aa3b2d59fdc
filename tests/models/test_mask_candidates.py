"""SAM2's candidate-mask losses (``models/losses/mask_candidates.py``) and
the paper's BCE + Dice (``bce_dice.py``)."""
import pytest
import torch
import torch.nn.functional as F

from sam2love.models.losses import (
    BCEDiceLoss,
    bce_loss,
    candidate_losses,
    check_mask_candidate,
    dice_loss,
    mask_iou,
)


def test_mask_iou_of_empty_masks_is_one():
    empty = torch.zeros(2, 4, 4, dtype=torch.bool)
    full = torch.ones(2, 4, 4, dtype=torch.bool)
    assert mask_iou(empty, empty).tolist() == [1.0, 1.0]
    assert mask_iou(full, empty).tolist() == [0.0, 0.0]


def candidates():
    """Two rows, three 8 x 8 candidates each: candidate 1 is the target,
    0 its complement, 2 empty; the IoU head prefers candidate 2."""
    target = torch.zeros(2, 8, 8)
    target[:, 2:6, 2:6] = 1
    good = target * 20 - 10
    masks = torch.stack([-good, good, torch.full_like(good, -10)], 1)
    ious = torch.tensor([[0.1, 0.5, 0.9], [0.1, 0.5, 0.9]])
    return masks, ious, target


def test_min_trains_the_best_candidate_chosen_the_kept_one():
    masks, ious, target = candidates()
    loss = BCEDiceLoss()
    best, iou_loss = candidate_losses(masks, ious, target, loss, 'min')
    kept, same_iou_loss = candidate_losses(masks, ious, target, loss, 'chosen')
    assert best == pytest.approx(loss(masks[:, 1], target).mean().item())
    assert kept == pytest.approx(loss(masks[:, 2], target).mean().item())
    assert kept > best
    # every candidate's predicted IoU against its actual one: 0, 1, 0
    actual = torch.tensor([[0.0, 1.0, 0.0]]).expand(2, 3)
    assert iou_loss == pytest.approx(F.l1_loss(ious, actual).item())
    assert same_iou_loss == iou_loss


def test_candidate_losses_upsample_low_resolution_masks():
    masks, ious, target = candidates()
    big = F.interpolate(target[:, None], scale_factor=4)[:, 0]
    loss, _ = candidate_losses(masks, ious, big, BCEDiceLoss(), 'min')
    assert torch.isfinite(loss) and loss < 0.5


def test_check_mask_candidate():
    assert check_mask_candidate('chosen') == 'chosen'
    with pytest.raises(ValueError, match='mask_candidate'):
        check_mask_candidate('best')


def test_bce_dice_per_mask():
    target = torch.zeros(3, 4, 4)
    target[:, :2] = 1
    perfect = target * 40 - 20
    assert torch.allclose(bce_loss(perfect, target), torch.zeros(3), atol=1e-6)
    assert torch.allclose(dice_loss(perfect, target), torch.zeros(3),
                          atol=1e-6)
    # all logits 0: BCE log 2 per pixel; Dice 1 - (2*4 + 1) / (8 + 8 + 1)
    zero = torch.zeros(3, 4, 4)
    assert torch.allclose(bce_loss(zero, target),
                          torch.full((3, ), 0.6931), atol=1e-4)
    assert torch.allclose(dice_loss(zero, target),
                          torch.full((3, ), 1 - 9 / 17))
    weighted = BCEDiceLoss(bce_weight=2.0, dice_weight=0.5)(zero, target)
    assert torch.allclose(
        weighted, torch.full((3, ), 2 * 0.6931 + 0.5 * (1 - 9 / 17)),
        atol=1e-4)
    assert weighted.shape == (3, )
