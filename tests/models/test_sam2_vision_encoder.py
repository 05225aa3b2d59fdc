"""SAM2VisionEncoder: SAM2's image encoder as the fusion's vision encoder."""
import pytest
import torch
import torch.nn.functional as F

from sam2love.models.backbones import SAM2VisionEncoder, TriModalBackbone
from sam2love.models.sam2.build import (
    build_sam2_model,
    small_sam2_overrides,
)

SMALL = dict(sam2_config='sam2.1_hiera_t', sam2_overrides='small',
             image_size=64)


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(3)
    sam = build_sam2_model('sam2.1_hiera_t', image_size=64,
                           overrides=small_sam2_overrides())
    path = tmp_path_factory.mktemp('sam2') / 'sam2.pt'
    torch.save(dict(model=sam.state_dict()), path)
    return str(path)


def test_patches_are_the_stride16_features(checkpoint):
    encoder = SAM2VisionEncoder(checkpoint=checkpoint, **SMALL)
    frames = torch.randn(2, 3, 3, 64, 64)
    patches, cls = encoder(frames)
    assert encoder.embed_dim == 128
    assert patches.shape == (2, 3, 16, 128) and cls.shape == (2, 3, 128)
    sam = build_sam2_model('sam2.1_hiera_t', checkpoint, 64,
                           small_sam2_overrides())
    with torch.no_grad():
        want = sam.image_encoder(frames[1, 2:3])['vision_features']
    assert torch.allclose(patches[1, 2], want[0].flatten(1).T, atol=1e-5)
    assert torch.allclose(cls, patches.mean(2))


def test_frames_of_another_size_are_resized(checkpoint):
    encoder = SAM2VisionEncoder(checkpoint=checkpoint, **SMALL)
    frames = torch.randn(1, 2, 3, 48, 80)
    resized = F.interpolate(frames[0], size=(64, 64), mode='bilinear',
                            align_corners=False)[None]
    assert torch.equal(encoder(frames)[0], encoder(resized)[0])
    with pytest.raises(ValueError, match=r'\(B, T, 3, H, W\)'):
        encoder(frames[0])


def test_frozen_and_kept_by_init_weights(checkpoint):
    backbone = TriModalBackbone(
        audio=dict(type='VGGishEncoder', num_examples=2,
                   channels=(4, 8, 8, 8, 8, 8), hidden=16),
        vision=dict(type='SAM2VisionEncoder', checkpoint=checkpoint,
                    **SMALL),
        text=dict(type='HFTextEncoder', config=dict(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=64,
            type_vocab_size=1), model_type='roberta'))
    before = {k: v.clone() for k, v in
              backbone.vision_encoder.state_dict().items()}
    backbone.init_weights()
    backbone.train()
    encoder = backbone.vision_encoder
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())
    assert all(torch.equal(v, before[k])
               for k, v in encoder.state_dict().items())
    assert backbone.out_dims['vision_dim'] == 128
