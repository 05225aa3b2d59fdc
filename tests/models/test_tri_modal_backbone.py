"""TriModalBackbone and its Hugging Face vision / text encoders."""
import os

os.environ['HF_HUB_OFFLINE'] = '1'

import builtins
import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import RobertaConfig, RobertaModel, ViTConfig, ViTModel

import sam2love.models.backbones.vggish  # noqa: F401  (VGGishEncoder)
from sam2love.models.backbones import hf_encoders
from sam2love.models.backbones.hf_encoders import (
    DISTILROBERTA,
    TINY_CLIP_TEXT,
    TINY_CLIP_VISION,
    TINY_ROBERTA,
    TINY_VIT,
    VIT_B16,
    HFTextEncoder,
    HFVisionEncoder,
    build_bpe_tokenizer,
)
from sam2love.models.backbones.tri_modal import TriModalBackbone
from sam2love.models.data_preprocessor import ClipDataPreprocessor

TINY_AUDIO = dict(type='VGGishEncoder', num_examples=3,
                  channels=(4, 8, 8, 8, 8, 8), hidden=16)
TEXTS = ['The guitar.',
         'The object making the loudest sound on the left of the stage.']
B, T, SIZE, SECONDS = 2, 3, 32, 3


def tiny_backbone(**kwargs) -> TriModalBackbone:
    torch.manual_seed(0)
    return TriModalBackbone(
        audio=TINY_AUDIO,
        vision=dict(type='HFVisionEncoder', config=TINY_VIT),
        text=dict(type='HFTextEncoder', config=TINY_ROBERTA), **kwargs)


def clip_batch(height: int = SIZE, width: int = SIZE) -> tuple[dict, torch.Tensor]:
    """A preprocessed 2-clip batch and its uint8 frames (B, T, 3, H, W)."""
    gen = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (B, T, 3, height, width), generator=gen,
                           dtype=torch.uint8)
    audio = 0.1 * torch.randn(B, 16000 * SECONDS, generator=gen)
    data = dict(inputs=dict(frames=list(frames), audio=list(audio)))
    return ClipDataPreprocessor()(data)['inputs'], frames


@pytest.fixture(scope='module')
def backbone() -> TriModalBackbone:
    return tiny_backbone()


@pytest.fixture(scope='module')
def outputs(backbone) -> dict:
    inputs, _ = clip_batch()
    return backbone(inputs, TEXTS)


def test_output_shapes(backbone, outputs):
    assert outputs['audio'].shape == (B, SECONDS, 128)
    assert outputs['text'].shape == (B, 25, 32)
    assert outputs['text_mask'].shape == (B, 25)
    assert outputs['text_mask'].dtype == torch.bool
    assert outputs['patches'].shape == (B, T, (SIZE // 8) ** 2, 32)
    assert outputs['cls'].shape == (B, T, 32)
    assert backbone.out_dims == dict(audio_dim=128, text_dim=32, vision_dim=32)


def test_text_mask_marks_padding(backbone, outputs):
    tokenizer = backbone.text_encoder.tokenizer
    for text, mask in zip(TEXTS, outputs['text_mask']):
        num_tokens = len(tokenizer(text)['input_ids'])  # with <s> and </s>
        assert 2 < num_tokens < 25
        assert mask[:num_tokens].all() and not mask[num_tokens:].any()
    assert outputs['text_mask'][0].sum() < outputs['text_mask'][1].sum()


def test_long_expression_is_truncated(backbone):
    tokens, mask = backbone.text_encoder([' '.join(['sound'] * 40)])
    assert tokens.shape == (1, 25, 32) and mask.all()


def test_frozen(backbone, outputs):
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not any(v.requires_grad for v in outputs.values())
    backbone.train()
    try:
        assert backbone.training
        for encoder in backbone.encoders():
            assert not any(m.training for m in encoder.modules())
    finally:
        backbone.eval()


def test_encoders_frozen_on_their_own():
    torch.manual_seed(0)
    vision = HFVisionEncoder(config=TINY_VIT).train()
    assert not vision.model.training
    assert not any(p.requires_grad for p in vision.parameters())
    trainable = HFTextEncoder(config=TINY_ROBERTA, frozen=False).train()
    assert trainable.model.training
    tokens, _ = trainable(TEXTS)
    assert tokens.requires_grad


def test_init_weights_keeps_weights(backbone):
    """mmengine's Runner calls init_weights(): it must not redraw them."""
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    backbone.init_weights()
    after = backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def fail(*args, **kwargs):
    raise AssertionError('the encoder ran despite cached features')


@pytest.mark.parametrize('cached', ['audio', 'text', 'vision', 'all'])
def test_cached_features_replace_encoders(backbone, outputs, cached,
                                          monkeypatch):
    inputs, _ = clip_batch()
    if cached in ('audio', 'all'):
        inputs['audio_feats'] = outputs['audio']
        monkeypatch.setattr(backbone.audio_encoder, 'forward', fail)
    if cached in ('text', 'all'):
        inputs['text_feats'] = outputs['text']
        inputs['text_mask'] = outputs['text_mask'].long()
        monkeypatch.setattr(backbone.text_encoder, 'forward', fail)
    if cached in ('vision', 'all'):
        inputs['patch_feats'] = outputs['patches']
        inputs['cls_feats'] = outputs['cls']
        monkeypatch.setattr(backbone.vision_encoder, 'forward', fail)
    if cached == 'all':
        inputs = {k: v for k, v in inputs.items() if k.endswith(('_feats',
                                                                 '_mask'))}
    texts = None if cached in ('text', 'all') else TEXTS
    result = backbone(inputs, texts)
    assert result.keys() == outputs.keys()
    for key in outputs:
        assert result[key].dtype == outputs[key].dtype
        assert torch.equal(result[key], outputs[key]), key


def test_cached_features_need_their_pair(backbone, outputs):
    inputs, _ = clip_batch()
    with pytest.raises(KeyError, match='cls_feats'):
        backbone(dict(inputs, patch_feats=outputs['patches']), TEXTS)
    with pytest.raises(ValueError, match='width'):
        backbone(dict(inputs, audio_feats=outputs['audio'][..., :7]), TEXTS)


@pytest.mark.parametrize('model_type, config, mean, std', [
    ('vit', TINY_VIT, (0.5,) * 3, (0.5,) * 3),
    ('clip_vision', TINY_CLIP_VISION, hf_encoders.CLIP_MEAN,
     hf_encoders.CLIP_STD),
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
    torch.manual_seed(0)
    encoder = HFVisionEncoder(config=config, model_type=model_type)
    encoder.model.save_pretrained(tmp_path)
    loaded = HFVisionEncoder(pretrained=str(tmp_path), model_type=model_type)
    # a base config merged into a derived one: entries override the folder's
    overridden = HFVisionEncoder(pretrained=str(tmp_path), config=config,
                                 model_type=model_type)
    frames = clip_batch()[0]['frames']
    for ours, theirs, third in zip(encoder(frames), loaded(frames),
                                   overridden(frames)):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours, third, atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in loaded.parameters())


def test_incomplete_checkpoint_is_an_error(tmp_path):
    HFVisionEncoder(config=TINY_VIT).model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / 'model.safetensors')
    del weights['layernorm.weight']
    save_file(weights, tmp_path / 'model.safetensors',
              metadata={'format': 'pt'})
    with pytest.raises(RuntimeError, match='layernorm.weight'):
        HFVisionEncoder(pretrained=str(tmp_path))


def test_vision_reads_preprocessor_config(tmp_path):
    HFVisionEncoder(config=TINY_VIT).model.save_pretrained(tmp_path)
    stats = dict(image_mean=[0.1, 0.2, 0.3], image_std=[0.4, 0.5, 0.6])
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(stats))
    loaded = HFVisionEncoder(pretrained=str(tmp_path))
    assert loaded.mean.flatten().tolist() == pytest.approx(stats['image_mean'])
    assert loaded.std.flatten().tolist() == pytest.approx(stats['image_std'])


@pytest.mark.parametrize('model_type, config', [
    ('roberta', TINY_ROBERTA), ('clip_text', TINY_CLIP_TEXT)])
def test_text_loads_pretrained_folder(tmp_path, model_type, config):
    torch.manual_seed(0)
    encoder = HFTextEncoder(config=config, model_type=model_type)
    encoder.model.save_pretrained(tmp_path)
    encoder.tokenizer.save_pretrained(tmp_path)
    loaded = HFTextEncoder(pretrained=str(tmp_path), model_type=model_type)
    assert torch.equal(loaded.tokenize(TEXTS)['input_ids'],
                       encoder.tokenize(TEXTS)['input_ids'])
    (tokens, mask), (tokens2, mask2) = encoder(TEXTS), loaded(TEXTS)
    torch.testing.assert_close(tokens, tokens2, atol=1e-6, rtol=0)
    assert torch.equal(mask, mask2)


def test_missing_folder_is_named(tmp_path):
    missing = str(tmp_path / 'no_such_model')
    with pytest.raises(FileNotFoundError, match='no_such_model'):
        HFVisionEncoder(pretrained=missing)
    with pytest.raises(FileNotFoundError, match='no_such_model'):
        HFTextEncoder(pretrained=missing)
    with pytest.raises(FileNotFoundError, match='config.json'):
        HFVisionEncoder(pretrained=str(tmp_path))


def test_generated_tokenizer_is_deterministic(monkeypatch):
    def no_files(*args, **kwargs):
        raise AssertionError('the generated tokenizer opened a file')

    hf_encoders._trained_bpe.cache_clear()
    with monkeypatch.context() as patch:
        patch.setattr(builtins, 'open', no_files)
        first = build_bpe_tokenizer()
    hf_encoders._trained_bpe.cache_clear()
    second = build_bpe_tokenizer()
    assert first.get_vocab() == second.get_vocab()
    assert first(TEXTS)['input_ids'] == second(TEXTS)['input_ids']
    assert [first.bos_token_id, first.pad_token_id, first.eos_token_id,
            first.unk_token_id] == [0, 1, 2, 3]  # RoBERTa's ids
    ids = first('The piano.')['input_ids']
    assert ids[0] == 0 and ids[-1] == 2
    assert first.decode(ids, skip_special_tokens=True) == 'The piano.'
    # The same in every process (checked across hash seeds) with the pinned
    # tokenizers release; a change here invalidates random-init text features.
    assert first('The object making the loudest sound.')['input_ids'] == [
        0, 267, 293, 322, 265, 414, 271, 72, 294, 276, 18, 2]


def test_text_config_must_fit_the_tokenizer():
    with pytest.raises(ValueError, match='vocab_size'):
        HFTextEncoder(config=dict(TINY_ROBERTA, vocab_size=10))
    with pytest.raises(ValueError, match='max_position_embeddings'):
        HFTextEncoder(config=dict(TINY_ROBERTA, max_position_embeddings=26))


def test_paper_size_configs():
    """ViT-B/16 and DistilRoBERTa as in the paper, built on the meta device."""
    with torch.device('meta'):
        vit = ViTModel(ViTConfig(**VIT_B16), add_pooling_layer=False)
        roberta = RobertaModel(RobertaConfig(**DISTILROBERTA),
                               add_pooling_layer=False)
    assert sum(p.numel() for p in vit.parameters()) == 85_798_656
    assert sum(p.numel() for p in roberta.parameters()) == 81_527_808


def test_cat_features_pads_text_to_the_longest():
    from sam2love.models.backbones import cat_features
    parts = [dict(text=torch.ones(2, 3, 4), text_mask=torch.ones(2, 3).bool(),
                  cls=torch.zeros(2, 5, 4)),
             dict(text=torch.ones(1, 5, 4), text_mask=torch.ones(1, 5).bool(),
                  cls=torch.ones(1, 5, 4))]
    out = cat_features(parts)
    assert out['text'].shape == (3, 5, 4)
    assert out['text_mask'].tolist() == [[True] * 3 + [False] * 2] * 2 \
        + [[True] * 5]
    assert out['text'][:2, 3:].abs().sum() == 0
    assert out['cls'][:, 0, 0].tolist() == [0, 0, 1]
