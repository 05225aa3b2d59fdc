from .bce_dice import BCEDiceLoss, bce_loss, dice_loss

__all__ = ['BCEDiceLoss', 'bce_loss', 'dice_loss']
