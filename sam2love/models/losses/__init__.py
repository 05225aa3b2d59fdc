from .bce_dice import BCEDiceLoss, balanced_mean, bce_loss, dice_loss
from .mask_candidates import candidate_losses, check_mask_candidate, mask_iou
from .referent_alignment import ReferentAlignmentLoss, mask_cell_shares
from .shape_readout import PrototypeShapeLoss, silhouettes

__all__ = ['BCEDiceLoss', 'balanced_mean', 'bce_loss', 'dice_loss', 'candidate_losses',
           'check_mask_candidate', 'mask_iou', 'ReferentAlignmentLoss',
           'mask_cell_shares', 'PrototypeShapeLoss', 'silhouettes']
