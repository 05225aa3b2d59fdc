"""HFVisionEncoder: each named type's normalisation, local folders and their
preprocessor config (``model_type='auto'``: ``test_hf_loading.py``)."""
import json

import pytest
import torch
import torch.nn.functional as F
from test_hf_loading import save_and_reload
from test_tri_modal_backbone import SIZE, B, T, clip_batch

from sam2love.models.backbones.hf.specs import (
    CLIP_MEAN,
    CLIP_STD,
    TINY_CLIP_VISION,
    TINY_VIT,
)
from sam2love.models.backbones.hf.vision_encoder import HFVisionEncoder


@pytest.mark.parametrize('model_type, config, mean, std', [
    ('vit', TINY_VIT, (0.5,) * 3, (0.5,) * 3),
    ('clip_vision', TINY_CLIP_VISION, CLIP_MEAN,
     CLIP_STD),
])
@pytest.mark.parametrize('height, width', [(SIZE, SIZE), (48, 40)])
def test_vision_receives_its_own_normalisation(model_type, config, mean, std,
                                               height, width):
    torch.manual_seed(0)
    encoder = HFVisionEncoder(config=config, model_type=model_type)
    received = []
    encoder.model.embeddings.register_forward_pre_hook(
        lambda module, args, kwargs: received.append(
            args[0] if args else kwargs['pixel_values']), with_kwargs=True)
    inputs, frames = clip_batch(height, width)
    patches, cls = encoder(inputs['frames'])

    rgb = frames.flatten(0, 1).float() / 255
    if (height, width) != (SIZE, SIZE):
        rgb = F.interpolate(rgb, size=(SIZE, SIZE), mode='bilinear',
                            align_corners=False, antialias=True)
    reference = (rgb - torch.tensor(mean).view(1, 3, 1, 1)) / \
        torch.tensor(std).view(1, 3, 1, 1)
    assert len(received) == 1
    torch.testing.assert_close(received[0], reference, atol=1e-5, rtol=0)
    assert patches.shape == (B, T, 16, 32) and cls.shape == (B, T, 32)


@pytest.mark.parametrize('model_type, config', [
    ('vit', TINY_VIT), ('clip_vision', TINY_CLIP_VISION)])
def test_vision_loads_pretrained_folder(tmp_path, model_type, config):
    encoder, loaded = save_and_reload(HFVisionEncoder, tmp_path, config,
                                      model_type)
    # a base config merged into a derived one: entries override the folder's
    overridden = HFVisionEncoder(pretrained=str(tmp_path), config=config,
                                 model_type=model_type)
    frames = clip_batch()[0]['frames']
    for ours, theirs, third in zip(encoder(frames), loaded(frames),
                                   overridden(frames)):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours, third, atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_vision_reads_preprocessor_config(tmp_path):
    HFVisionEncoder(config=TINY_VIT).model.save_pretrained(tmp_path)
    stats = dict(image_mean=[0.1, 0.2, 0.3], image_std=[0.4, 0.5, 0.6])
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(stats))
    loaded = HFVisionEncoder(pretrained=str(tmp_path))
    assert loaded.mean.flatten().tolist() == pytest.approx(stats['image_mean'])
    assert loaded.std.flatten().tolist() == pytest.approx(stats['image_std'])
