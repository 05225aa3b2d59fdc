"""Building the encoders' models: local folders (missing, incomplete) and
``model_type='auto'``, any Hugging Face encoder through the Auto classes
(random tiny models saved to local folders; the real pretrained check is
``test_hf_text_encoder_pretrained.py``)."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, CLIPConfig, CLIPModel

from sam2love.models.backbones import HFTextEncoder, HFVisionEncoder
from sam2love.models.backbones.hf.specs import (
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TINY_VIT,
)

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64)
TINY_IMAGE = dict(TINY, image_size=32, patch_size=8)
TEXTS = ['the red circle on the left', 'what makes a sound first?']


def frames(b: int = 2, t: int = 3, size: int = 40) -> torch.Tensor:
    """(B, T, 3, H, W) in the clip preprocessor's normalisation."""
    torch.manual_seed(1)
    raw = torch.rand(b, t, 3, size, size) * 255
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    return (raw - mean) / std


def save_and_reload(encoder_cls: type, folder, config: dict,
                    model_type: str) -> tuple:
    """A random (seed 0) encoder of ``config``, its model and tokenizer (if
    it has one) saved to ``folder``, and the encoder loaded from there."""
    torch.manual_seed(0)
    encoder = encoder_cls(config=config, model_type=model_type)
    encoder.model.save_pretrained(folder)
    if hasattr(encoder, 'tokenizer'):
        encoder.tokenizer.save_pretrained(folder)
    return encoder, encoder_cls(pretrained=str(folder), model_type=model_type)


def save_auto(folder, model_type: str, **kwargs) -> torch.nn.Module:
    """A random ``AutoModel`` of ``model_type`` saved to ``folder``."""
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **kwargs))
    model.save_pretrained(folder)
    return model


def drop_weight(folder, key: str) -> None:
    """Delete ``key`` from the folder's ``model.safetensors``."""
    weights = load_file(folder / 'model.safetensors')
    del weights[key]
    save_file(weights, folder / 'model.safetensors',
              metadata={'format': 'pt'})


@pytest.mark.parametrize('model_type, kwargs, special', [
    ('dinov2', TINY_IMAGE, 1),                     # [cls] + patches
    ('dinov2_with_registers', dict(TINY_IMAGE, num_register_tokens=2), 3),
    ('siglip_vision_model', TINY_IMAGE, 0),        # patches only
])
def test_vision_auto_folder(tmp_path, model_type, kwargs, special):
    model = save_auto(tmp_path, model_type, **kwargs).eval()
    encoder = HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    assert encoder.embed_dim == 32 and not encoder.model.training
    x = frames()
    patches, cls = encoder(x)
    assert patches.shape == (2, 3, 16, 32) and cls.shape == (2, 3, 32)
    with torch.no_grad():
        hidden = model(pixel_values=encoder.prepare(x.flatten(0, 1))
                       ).last_hidden_state
    assert hidden.size(1) == 16 + special
    torch.testing.assert_close(patches.flatten(0, 1), hidden[:, special:])
    expected = hidden[:, 0] if special else hidden[:, special:].mean(1)
    torch.testing.assert_close(cls.flatten(0, 1), expected)
    # no processor config: ImageNet's normalisation
    assert encoder.mean.flatten().tolist() == pytest.approx(
        IMAGENET_DEFAULT_MEAN)


def test_vision_auto_convolutional_map(tmp_path):
    save_auto(tmp_path, 'convnext', hidden_sizes=[8, 16], depths=[1, 1],
              num_stages=2)
    encoder = HFVisionEncoder(pretrained=str(tmp_path), model_type='auto',
                              image_size=32)
    patches, cls = encoder(frames())
    # stem /4, one downsampling /2: 4x4 cells of the last width
    assert encoder.embed_dim == 16
    assert patches.shape == (2, 3, 16, 16)
    torch.testing.assert_close(cls, patches.mean(2))


def test_vision_auto_processor_config(tmp_path):
    save_auto(tmp_path, 'dinov2', **dict(TINY_IMAGE, image_size=64))
    processor = dict(image_mean=[0.1, 0.2, 0.3], image_std=[0.4, 0.5, 0.6],
                     do_center_crop=True, crop_size=dict(height=32, width=32))
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(processor))
    encoder = HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    assert encoder.image_size == 32  # the processor's crop, not config's 64
    assert encoder.mean.flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert encoder.std.flatten().tolist() == pytest.approx([0.4, 0.5, 0.6])
    assert encoder(frames())[0].shape == (2, 3, 16, 32)


def tiny_clip_folder(folder) -> CLIPModel:
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(
        text_config=dict(TINY, vocab_size=1000, max_position_embeddings=32,
                         bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=TINY_IMAGE, projection_dim=16))
    model.save_pretrained(folder)
    return model.eval()


def test_dual_encoder_folder_gives_each_tower(tmp_path):
    clip = tiny_clip_folder(tmp_path)
    HFTextEncoder(config=dict(model_type='roberta', **TINY)).tokenizer \
        .save_pretrained(tmp_path)
    vision = HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    text = HFTextEncoder(pretrained=str(tmp_path), model_type='auto')
    assert type(vision.model).__name__ == 'CLIPVisionModel'
    assert type(text.model).__name__ == 'CLIPTextModel'
    x = frames()
    with torch.no_grad():
        hidden = clip.vision_model(pixel_values=vision.prepare(
            x.flatten(0, 1))).last_hidden_state
    torch.testing.assert_close(vision(x)[1].flatten(0, 1), hidden[:, 0])
    tokens, mask = text(TEXTS)
    encoded = text.tokenize(TEXTS)
    with torch.no_grad():
        reference = clip.text_model(**encoded).last_hidden_state
    torch.testing.assert_close(tokens, reference)
    assert torch.equal(mask, encoded['attention_mask'].bool())


def test_text_auto_random_config_and_folder(tmp_path):
    torch.manual_seed(0)
    encoder = HFTextEncoder(config=dict(model_type='bert', **TINY),
                            model_type='auto')
    assert type(encoder.model).__name__ == 'BertModel'
    assert encoder.model.pooler is None  # only hidden states are read
    assert encoder.model.config.vocab_size == len(encoder.tokenizer)
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    loaded = HFTextEncoder(pretrained=str(tmp_path), model_type='auto')
    (a, mask_a), (b, mask_b) = encoder(TEXTS), loaded(TEXTS)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert torch.equal(mask_a, mask_b) and a.shape == (2, 25, 32)


def test_auto_errors_name_the_file_and_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='has no config.json'):
        HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    (tmp_path / 'config.json').write_text(json.dumps(
        dict(model_type='no_such_architecture')))
    with pytest.raises(ValueError, match=r'config\.json: unsupported '
                                         'architecture'):
        HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    with pytest.raises(ValueError, match="unsupported model_type 'nope'"):
        HFTextEncoder(config=dict(model_type='nope'), model_type='auto')
    with pytest.raises(ValueError, match='needs `pretrained`'):
        HFVisionEncoder(config=TINY_IMAGE, model_type='auto')
    with pytest.raises(ValueError, match="'auto' or one of"):
        HFVisionEncoder(config=TINY_IMAGE, model_type='dino')


def test_auto_incomplete_checkpoint_and_missing_tokenizer(tmp_path):
    save_auto(tmp_path, 'dinov2', **TINY_IMAGE)
    drop_weight(tmp_path, 'layernorm.weight')
    with pytest.raises(RuntimeError, match='not a complete Dinov2Model '
                                           "checkpoint.*layernorm.weight"):
        HFVisionEncoder(pretrained=str(tmp_path), model_type='auto')
    bert = tmp_path / 'bert'
    save_auto(bert, 'bert', **TINY)
    with pytest.raises(ValueError, match='no tokenizer AutoTokenizer can '
                                         'load in .*bert'):
        HFTextEncoder(pretrained=str(bert), model_type='auto')


def test_incomplete_checkpoint_is_an_error(tmp_path):
    HFVisionEncoder(config=TINY_VIT).model.save_pretrained(tmp_path)
    drop_weight(tmp_path, 'layernorm.weight')
    with pytest.raises(RuntimeError, match='layernorm.weight'):
        HFVisionEncoder(pretrained=str(tmp_path))


def test_missing_folder_is_named(tmp_path):
    missing = str(tmp_path / 'no_such_model')
    with pytest.raises(FileNotFoundError, match='no_such_model'):
        HFVisionEncoder(pretrained=missing)
    with pytest.raises(FileNotFoundError, match='no_such_model'):
        HFTextEncoder(pretrained=missing)
    with pytest.raises(FileNotFoundError, match='config.json'):
        HFVisionEncoder(pretrained=str(tmp_path))
