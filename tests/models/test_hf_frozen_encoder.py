"""FrozenEncoder: frozen HF encoders stay in eval mode without gradients;
``frozen=False`` trains."""
import torch
from test_tri_modal_backbone import TEXTS

from sam2love.models.backbones.hf.specs import TINY_ROBERTA, TINY_VIT
from sam2love.models.backbones.hf.text_encoder import HFTextEncoder
from sam2love.models.backbones.hf.vision_encoder import HFVisionEncoder


def test_encoders_frozen_on_their_own():
    torch.manual_seed(0)
    vision = HFVisionEncoder(config=TINY_VIT).train()
    assert not vision.model.training
    assert not any(p.requires_grad for p in vision.parameters())
    trainable = HFTextEncoder(config=TINY_ROBERTA, frozen=False).train()
    assert trainable.model.training
    tokens, _ = trainable(TEXTS)
    assert tokens.requires_grad
