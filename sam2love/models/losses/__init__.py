from .bce_dice import BCEDiceLoss, bce_loss, dice_loss
from .referent_alignment import ReferentAlignmentLoss, mask_cell_shares
from .shape_readout import PrototypeShapeLoss, silhouettes

__all__ = ['BCEDiceLoss', 'bce_loss', 'dice_loss', 'ReferentAlignmentLoss',
           'mask_cell_shares', 'PrototypeShapeLoss', 'silhouettes']
