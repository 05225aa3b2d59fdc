"""TriModalBackbone: the three encoders in one forward, frozen, and cached
features in their place (each HF encoder: ``test_hf_*.py``)."""
import os

os.environ['HF_HUB_OFFLINE'] = '1'

import pytest
import torch

import sam2love.models.backbones.vggish  # noqa: F401  (VGGishEncoder)
from sam2love.models.backbones.hf.specs import TINY_ROBERTA, TINY_VIT
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


@pytest.mark.parametrize('noise', [0.0, 0.003])
def test_rows_marked_silent_get_silence_raw_or_cached(noise):
    """``silent_audio`` gives the marked rows what the encoder makes of
    N seconds of :meth:`silence` (zeros plus a fixed noise floor), from
    raw audio and from cached features alike."""
    backbone = tiny_backbone(silence_noise=noise)
    inputs, _ = clip_batch()
    plain = backbone(inputs, TEXTS)['audio']
    n = plain.size(1)  # N examples: N seconds of silence
    silence = backbone.silence(n * 16000)
    assert silence.std().item() == pytest.approx(noise, rel=0.05, abs=1e-9)
    want = backbone.run(backbone.audio_encoder, silence)[0]
    mark = torch.tensor([False, True])
    raw = backbone(dict(inputs, silent_audio=mark), TEXTS)['audio']
    cached = backbone(dict(inputs, audio_feats=plain, silent_audio=mark),
                      TEXTS)['audio']
    for got in (raw, cached):
        assert torch.equal(got[0], plain[0])
        torch.testing.assert_close(got[1], want)
    assert not torch.allclose(want, plain[1])


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
