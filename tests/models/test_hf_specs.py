"""Config kwargs of the named encoders: the paper's sizes."""
import torch
from transformers import RobertaConfig, RobertaModel, ViTConfig, ViTModel

from sam2love.models.backbones.hf.specs import DISTILROBERTA, VIT_B16


def test_paper_size_configs():
    """ViT-B/16 and DistilRoBERTa as in the paper, built on the meta device."""
    with torch.device('meta'):
        vit = ViTModel(ViTConfig(**VIT_B16), add_pooling_layer=False)
        roberta = RobertaModel(RobertaConfig(**DISTILROBERTA),
                               add_pooling_layer=False)
    assert sum(p.numel() for p in vit.parameters()) == 85_798_656
    assert sum(p.numel() for p in roberta.parameters()) == 81_527_808
