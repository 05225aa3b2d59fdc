"""``HFTextEncoder``: token features of a frozen Hugging Face text encoder
(SAM2-LOVE's DistilRoBERTa, CLIP's text tower in Table 2, or any
``AutoModel``), tokenised as the Ref-AVS baseline does."""
import torch
from mmseg.registry import MODELS

from .frozen_encoder import FrozenEncoder
from .loading import build_encoder_model
from .specs import TEXT_MODELS, lookup
from .tokenizer import load_tokenizer


@MODELS.register_module()
class HFTextEncoder(FrozenEncoder):
    """Token features of any Hugging Face text encoder (DistilRoBERTa,
    CLIP's text tower, BERT / MiniLM, XLM-R, ...).

    Args:
        pretrained (str | None): local Hugging Face folder with the model
            and its tokenizer, e.g. a copy of ``distilroberta-base`` or
            ``sentence-transformers/all-MiniLM-L6-v2``.
        config (dict | None): kwargs of ``RobertaConfig`` /
            ``CLIPTextConfig`` (``'auto'``: of ``AutoConfig.for_model``,
            ``model_type`` included) for a randomly initialised model (see
            :data:`TINY_ROBERTA`, :data:`DISTILROBERTA`); ``vocab_size``,
            ``pad_token_id`` (and CLIP's ``bos/eos_token_id``) default to
            the tokenizer's. With ``pretrained``, overrides of the folder's
            config.
        model_type (str): ``'roberta'`` (``RobertaModel``, no pooler),
            ``'clip_text'`` (``CLIPTextModel``) or ``'auto'`` (any
            architecture ``AutoModel`` knows, its tokenizer from
            ``AutoTokenizer``; a dual encoder's text tower).
        tokenizer (str | None): local tokenizer folder. Defaults to
            ``pretrained``'s, else the generated :func:`build_bpe_tokenizer`.
        max_length (int): tokens per expression, ``<s>`` and ``</s>``
            included; shorter ones are padded, longer ones truncated (Ref-AVS
            baseline: 25).
        frozen (bool): freeze the model. Defaults to True.

    Shapes:
        texts: list of B strings.
        output: ``(tokens (B, P, D), mask (B, P) bool)``, ``P = max_length``,
        mask True on real tokens (special ones included), False on padding.
    """

    def __init__(self,
                 pretrained: str | None = None,
                 config: dict | None = None,
                 model_type: str = 'roberta',
                 tokenizer: str | None = None,
                 max_length: int = 25,
                 frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(frozen, init_cfg)
        lookup(TEXT_MODELS, model_type, 'HFTextEncoder')  # a known type
        self.model_type = model_type
        self.max_length = max_length
        self.tokenizer = load_tokenizer(tokenizer or pretrained)
        if pretrained is None and config is not None:
            config = self._complete_config(config)
        model, _ = build_encoder_model(TEXT_MODELS, model_type, 'text',
                                       'HFTextEncoder', pretrained, config)
        self.set_model(model)
        if frozen:
            self.freeze()

    def _complete_config(self, config: dict) -> dict:
        """Fill the config's vocabulary and special ids from the tokenizer
        and check that they agree with it."""
        tokenizer = self.tokenizer
        config = dict(config)
        config.setdefault('vocab_size', len(tokenizer))
        config.setdefault('pad_token_id', tokenizer.pad_token_id)
        family = config.get('model_type', self.model_type)
        if family in ('clip_text', 'clip'):
            config.setdefault('bos_token_id', tokenizer.bos_token_id)
            config.setdefault('eos_token_id', tokenizer.eos_token_id)
        if config['vocab_size'] < len(tokenizer):
            raise ValueError(
                f'HFTextEncoder: vocab_size {config["vocab_size"]} is smaller '
                f'than the tokenizer ({len(tokenizer)} tokens)')
        if config['pad_token_id'] != tokenizer.pad_token_id:
            raise ValueError(
                f'HFTextEncoder: pad_token_id {config["pad_token_id"]} differs '
                f"from the tokenizer's ({tokenizer.pad_token_id})")
        needed = self.max_length
        if family in ('roberta', 'xlm-roberta', 'camembert'):
            # positions start after padding_idx
            needed += config['pad_token_id'] + 1
        if config.get('max_position_embeddings', needed) < needed:
            raise ValueError(
                f'HFTextEncoder: max_position_embeddings must be >= {needed} '
                f'for max_length {self.max_length}')
        return config

    def tokenize(self, texts: list[str]) -> dict:
        """``input_ids`` and ``attention_mask``, both (B, max_length)."""
        if isinstance(texts, str):
            raise TypeError('HFTextEncoder: texts must be a list of strings, '
                            'got one string')
        return self.tokenizer(
            list(texts), padding='max_length', truncation=True,
            max_length=self.max_length, return_tensors='pt')

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """B strings -> (tokens (B, P, D), mask (B, P) bool)."""
        encoded = self.tokenize(texts)
        device = self.model.get_input_embeddings().weight.device
        input_ids = encoded['input_ids'].to(device)
        attention_mask = encoded['attention_mask'].to(device)
        with self.grad_context():
            tokens = self.model(input_ids=input_ids,
                                attention_mask=attention_mask).last_hidden_state
        return tokens, attention_mask.bool()
