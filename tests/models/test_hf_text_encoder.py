"""HFTextEncoder: padding and truncation, local folders, a config checked
against the tokenizer (``model_type='auto'``: ``test_hf_loading.py``; a real
pretrained MiniLM: ``test_hf_text_encoder_pretrained.py``)."""
import pytest
import torch
from test_hf_loading import save_and_reload
from test_tri_modal_backbone import TEXTS

from sam2love.models.backbones.hf.specs import TINY_CLIP_TEXT, TINY_ROBERTA
from sam2love.models.backbones.hf.text_encoder import HFTextEncoder


@pytest.fixture(scope='module')
def text_encoder() -> HFTextEncoder:
    torch.manual_seed(0)
    return HFTextEncoder(config=TINY_ROBERTA)


def test_long_expression_is_truncated(text_encoder):
    tokens, mask = text_encoder([' '.join(['sound'] * 40)])
    assert tokens.shape == (1, 25, 32) and mask.all()


@pytest.mark.parametrize('model_type, config', [
    ('roberta', TINY_ROBERTA), ('clip_text', TINY_CLIP_TEXT)])
def test_text_loads_pretrained_folder(tmp_path, model_type, config):
    encoder, loaded = save_and_reload(HFTextEncoder, tmp_path, config,
                                      model_type)
    assert torch.equal(loaded.tokenize(TEXTS)['input_ids'],
                       encoder.tokenize(TEXTS)['input_ids'])
    (tokens, mask), (tokens2, mask2) = encoder(TEXTS), loaded(TEXTS)
    torch.testing.assert_close(tokens, tokens2, atol=1e-6, rtol=0)
    assert torch.equal(mask, mask2)


def test_text_config_must_fit_the_tokenizer():
    with pytest.raises(ValueError, match='vocab_size'):
        HFTextEncoder(config=dict(TINY_ROBERTA, vocab_size=10))
    with pytest.raises(ValueError, match='max_position_embeddings'):
        HFTextEncoder(config=dict(TINY_ROBERTA, max_position_embeddings=26))
