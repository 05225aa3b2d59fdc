"""Frozen vision and text encoders built on Hugging Face ``transformers``.

SAM2-LOVE (section 3.2) encodes each frame with an ImageNet ViT and the
expression with DistilRoBERTa, both frozen; Table 2 swaps in CLIP's vision
and text towers.

* :class:`HFVisionEncoder` (``MODELS``): frames in the clip preprocessor's
  ImageNet normalisation -> ViT patch tokens and [cls] token per frame.
* :class:`HFTextEncoder` (``MODELS``): expressions -> token features and
  their padding mask, tokenised as the Ref-AVS baseline does (25 tokens,
  padded and truncated).

Weights come only from local Hugging Face folders (``pretrained=``, loaded
with ``local_files_only=True``); without one the model is built from a
config dict with random weights, and the text encoder gets a byte-level BPE
tokenizer trained on the fly on a fixed corpus (:func:`build_bpe_tokenizer`),
so tests and demos need no download.
"""
import json
import os.path as osp
from contextlib import nullcontext
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from torch import nn
from transformers import (
    AutoTokenizer,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaModel,
    ViTConfig,
    ViTModel,
)

#: ImageNet mean / std on the 0-255 scale (``ClipDataPreprocessor``).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
#: ``google/vit-*`` processors normalise [0, 1] images with 0.5 / 0.5.
VIT_MEAN = (0.5, 0.5, 0.5)
VIT_STD = (0.5, 0.5, 0.5)
#: OpenAI CLIP's normalisation of [0, 1] images.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# --- model configs (kwargs of the config classes) ---------------------------

#: A tiny ViT for tests and the CPU demo: 32x32 images, 4x4 patches of 8.
TINY_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, image_size=32, patch_size=8)
#: ViT-B/16 at 224 (``google/vit-base-patch16-224``): 196 patches, 768-d.
VIT_B16 = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
               intermediate_size=3072, image_size=224, patch_size=16,
               hidden_act='gelu', layer_norm_eps=1e-12, qkv_bias=True)
#: A tiny CLIP vision tower (Table 2 ablation, tests).
TINY_CLIP_VISION = dict(hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        image_size=32, patch_size=8, projection_dim=32)
#: CLIP ViT-B/16's vision tower (``openai/clip-vit-base-patch16``).
CLIP_VIT_B16 = dict(hidden_size=768, num_hidden_layers=12,
                    num_attention_heads=12, intermediate_size=3072,
                    image_size=224, patch_size=16, projection_dim=512,
                    hidden_act='quick_gelu', layer_norm_eps=1e-5)

#: A tiny RoBERTa; ``vocab_size`` and ``pad_token_id`` come from the
#: tokenizer. RoBERTa's positions start at ``pad_token_id + 1``, so
#: ``max_position_embeddings`` must exceed ``max_length + pad_token_id``.
TINY_ROBERTA = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=64,
                    type_vocab_size=1)
#: DistilRoBERTa (``distilroberta-base``): 6 layers, 768-d, 82M parameters.
#: Built without weights it can use the generated tokenizer: its ids are a
#: subset of the 50265-row embedding (``pad_token_id`` 1 in both).
DISTILROBERTA = dict(hidden_size=768, num_hidden_layers=6, num_attention_heads=12,
                     intermediate_size=3072, vocab_size=50265,
                     max_position_embeddings=514, type_vocab_size=1,
                     pad_token_id=1, bos_token_id=0, eos_token_id=2,
                     layer_norm_eps=1e-5, hidden_act='gelu')
#: A tiny CLIP text tower; ids of the special tokens come from the tokenizer.
TINY_CLIP_TEXT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=32,
                      projection_dim=32)
#: CLIP ViT-B/16's text tower (vocab 49408, 77 positions, 512-d).
CLIP_TEXT_B16 = dict(hidden_size=512, num_hidden_layers=12, num_attention_heads=8,
                     intermediate_size=2048, max_position_embeddings=77,
                     vocab_size=49408, projection_dim=512,
                     hidden_act='quick_gelu', layer_norm_eps=1e-5)


class ModelSpec(NamedTuple):
    """How to build one kind of encoder."""
    config_cls: type
    model_cls: type
    model_kwargs: dict
    mean: tuple = VIT_MEAN
    std: tuple = VIT_STD


VISION_MODELS = {
    'vit': ModelSpec(ViTConfig, ViTModel, dict(add_pooling_layer=False)),
    'clip_vision': ModelSpec(CLIPVisionConfig, CLIPVisionModel, {},
                             CLIP_MEAN, CLIP_STD),
}
TEXT_MODELS = {
    'roberta': ModelSpec(RobertaConfig, RobertaModel,
                         dict(add_pooling_layer=False)),
    'clip_text': ModelSpec(CLIPTextConfig, CLIPTextModel, {}),
}


# --- the generated tokenizer -------------------------------------------------

#: RoBERTa's special tokens; in this order they get RoBERTa's ids for
#: ``<s>`` (0), ``<pad>`` (1), ``</s>`` (2) and ``<unk>`` (3).
SPECIAL_TOKENS = ('<s>', '<pad>', '</s>', '<unk>', '<mask>')

#: Words of the synthetic expressions (``sam2love.datasets.synthetic``);
#: without them in the corpus "triangle" was cut into eight pieces.
SYNTHETIC_WORDS = (
    'The red, green, blue and yellow square, circle, triangle, diamond, '
    'star and cross; the sounding or silent object on the left, right, '
    'top or bottom with the higher-pitched, lower-pitched, highest-pitched '
    'or lowest-pitched sound; it starts second, keeps making sound at all '
    'times, makes a sound before or after the other stops.')
#: Expressions in the style of Ref-AVS, the corpus of the generated BPE.
#: Changing it changes every id: keep it fixed.
BPE_CORPUS = (
    'The object making the sound.',
    'The one making the most intense sound.',
    'The object making the loudest sound in the video.',
    'The instrument being played on the left.',
    'The guitar played by the man on the right.',
    'The piano being played by a woman.',
    'The person singing a song in the middle.',
    'The first object to make a sound.',
    'The last object to make a sound.',
    'The object sounding with the longest duration.',
    'The object sounding with the shortest duration.',
    'The instrument playing faster than the others.',
    'The one with the lowest volume.',
    'The boy holding a violin near the girl.',
    'The cello held by the person sitting on a chair.',
    'The drum at the front of the stage.',
    'The dog barking behind the car.',
    'The cat appearing through the entire video.',
    'The man wearing black clothes and glasses.',
    'The woman in a white dress with long hair.',
    'The baby speaking on the couch.',
    'The ukulele that keeps a continuous rhythm.',
    'The saxophone player standing under the red light.',
    'The object that makes no sound at any time.',
    'The entity emitting the sound after the flute.',
    'The biggest source of noise before the bell.',
    'The accordion, clarinet, harp, marimba, tabla and sitar.',
    'The yellow, green, blue, brown and pink objects.',
    'The two boats seated far over the table.',
    'The slowest, the slower, the faster and the fastest one.',
    'The one which did not make a sound; it was silent!',
    'What is making the sound? Who is singing? 0 1 2 3 4 5 6 7 8 9',
    'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    # the embedded synthetic set's words, whole as a pretrained tokenizer
    # has them (merges need min_frequency 2: the sentence twice)
    *(2 * (SYNTHETIC_WORDS, )),
)


@lru_cache(maxsize=4)
def _trained_bpe(vocab_size: int) -> str:
    """Train the byte-level BPE once per process; its JSON serialisation."""
    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(BPE_CORPUS, trainer)
    return tokenizer.to_str()


def build_bpe_tokenizer(vocab_size: int = 1000,
                        model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """A RoBERTa-style byte-level BPE tokenizer that needs no file.

    It is trained on :data:`BPE_CORPUS` (fixed) with RoBERTa's special
    tokens and post-processing (``<s> ... </s>``), so the same
    ``tokenizers`` version always gives the same ids. Any text can be
    encoded (byte-level: no unknown tokens). The trained vocabulary is
    smaller than ``vocab_size`` when the corpus runs out of merges.

    Args:
        vocab_size (int): upper bound of the vocabulary.
        model_max_length (int): longest input the tokenizer accepts.

    Returns:
        PreTrainedTokenizerFast: can be saved with ``save_pretrained``.
    """
    tokenizer = Tokenizer.from_str(_trained_bpe(vocab_size))
    tokenizer.post_processor = processors.RobertaProcessing(
        ('</s>', tokenizer.token_to_id('</s>')),
        ('<s>', tokenizer.token_to_id('<s>')),
        trim_offsets=True, add_prefix_space=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=model_max_length,
        bos_token='<s>', eos_token='</s>', sep_token='</s>', cls_token='<s>',
        unk_token='<unk>', pad_token='<pad>', mask_token='<mask>')


# --- loading -------------------------------------------------------------------

def check_folder(path: str, owner: str) -> None:
    """Raise a clear error when a local model folder is missing."""
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'{owner}: pretrained folder {path!r} does not exist (a local '
            'Hugging Face model folder is needed: nothing is downloaded)')
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(
            f'{owner}: pretrained folder {path!r} has no config.json; '
            'save the model there with save_pretrained()')


def load_pretrained(spec: ModelSpec, owner: str, folder: str,
                    overrides: dict | None = None) -> nn.Module:
    """``spec.model_cls`` from a local folder, every weight loaded.

    ``overrides`` update the folder's model config. Checkpoint keys the
    model lacks (a classification head, ViT's pooler) are ignored; weights
    the checkpoint lacks are an error, as a frozen encoder would otherwise
    keep them random.
    """
    check_folder(folder, owner)
    model, info = spec.model_cls.from_pretrained(
        folder, local_files_only=True, dtype=torch.float32,
        output_loading_info=True, **(overrides or {}), **spec.model_kwargs)
    missing = sorted(info['missing_keys'])
    mismatched = sorted(str(k) for k in info['mismatched_keys'])
    if missing or mismatched:
        raise RuntimeError(
            f'{owner}: {folder!r} is not a complete '
            f'{spec.model_cls.__name__} checkpoint; missing: {missing[:5]}'
            f'{" ..." if len(missing) > 5 else ""}, wrong shape: '
            f'{mismatched[:5]}')
    return model


def build_model(spec: ModelSpec, owner: str, pretrained: str | None,
                config: dict | None) -> nn.Module:
    """Load ``spec.model_cls`` from a local folder (``config`` entries, if
    any, override the folder's), or build it randomly initialised from
    ``config`` (kwargs of ``spec.config_cls``)."""
    if pretrained is not None:
        return load_pretrained(spec, owner, pretrained, config)
    if config is None:
        raise ValueError(f'{owner}: give `pretrained` (a local folder) or '
                         '`config` (a dict of model config kwargs)')
    return spec.model_cls(spec.config_cls(**config), **spec.model_kwargs)


def read_image_stats(folder: str | None) -> dict:
    """``image_mean`` / ``image_std`` of ``folder/preprocessor_config.json``
    (empty when there is no such file)."""
    if folder is None:
        return {}
    path = osp.join(folder, 'preprocessor_config.json')
    if not osp.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        processor = json.load(f)
    return {key: processor[key] for key in ('image_mean', 'image_std')
            if key in processor}


def lookup(table: dict, model_type: str, owner: str) -> ModelSpec:
    if model_type not in table:
        raise ValueError(f'{owner}: model_type must be one of '
                         f'{sorted(table)}, got {model_type!r}')
    return table[model_type]


class FrozenEncoder(BaseModule):
    """A wrapped Hugging Face model (``self.model``), frozen by default.

    Frozen: no parameter requires grad, the model stays in eval mode
    through ``train()``, and ``forward`` builds no graph.
    """

    def __init__(self, frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.frozen = frozen

    def set_model(self, model: nn.Module) -> None:
        """Hold ``model``; mmengine's ``init_weights`` is to leave it alone.

        ``BaseModule.init_weights`` calls the ``init_weights`` of every
        child not marked ``is_init``. A Hugging Face model's re-runs its
        own initialisation, which only internal flags of transformers keep
        from redrawing loaded weights (5.24 does keep them); the model was
        fully set up at construction, so it is marked as initialised.
        """
        self.model = model
        self.model.is_init = True

    def freeze(self) -> None:
        self.model.requires_grad_(False)
        self.model.eval()

    def train(self, mode: bool = True) -> 'FrozenEncoder':
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    @property
    def embed_dim(self) -> int:
        """Width of the output features."""
        return self.model.config.hidden_size

    def grad_context(self):
        """No graph through a frozen model."""
        return torch.no_grad() if self.frozen else nullcontext()


@MODELS.register_module()
class HFVisionEncoder(FrozenEncoder):
    """Per-frame patch and [cls] tokens of a ViT (or CLIP's vision tower).

    Frames arrive in the clip preprocessor's normalisation; they are turned
    back into [0, 1] RGB, resized to the encoder's input size (bilinear,
    antialiased: as the HF image processors' PIL resize) and normalised as
    the encoder was trained.

    Args:
        pretrained (str | None): local Hugging Face model folder, e.g. a
            copy of ``google/vit-base-patch16-224``.
        config (dict | None): kwargs of ``ViTConfig`` / ``CLIPVisionConfig``
            for a randomly initialised model (see :data:`TINY_VIT`,
            :data:`VIT_B16`); with ``pretrained``, overrides of the folder's
            config (a checkpoint that no longer fits is an error).
        model_type (str): ``'vit'`` (``ViTModel``, no pooler) or
            ``'clip_vision'`` (``CLIPVisionModel``).
        image_size (int | None): side of the square encoder input.
            Defaults to the model config's ``image_size``; another size
            interpolates the position embeddings.
        mean, std (Sequence[float] | None): the encoder's normalisation of
            [0, 1] RGB. Defaults: ``preprocessor_config.json`` of the
            ``pretrained`` folder when present, else the model type's
            (0.5 / 0.5 for ViT, OpenAI's for CLIP).
        input_mean, input_std (Sequence[float]): the normalisation of the
            incoming frames, 0-255 scale (``ClipDataPreprocessor``'s).
        frozen (bool): freeze the model. Defaults to True.

    Shapes:
        frames: (B, T, 3, H, W).
        output: ``(patches (B, T, HW, D), cls (B, T, D))`` with
        ``HW = (image_size / patch_size) ** 2`` patch tokens in row-major
        order and ``D`` = hidden size. Both are the last hidden state (after
        ViT's final LayerNorm; CLIP's ``post_layernorm`` is not applied).
    """

    def __init__(self,
                 pretrained: str | None = None,
                 config: dict | None = None,
                 model_type: str = 'vit',
                 image_size: int | None = None,
                 mean=None,
                 std=None,
                 input_mean=IMAGENET_MEAN,
                 input_std=IMAGENET_STD,
                 frozen: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(frozen, init_cfg)
        spec = lookup(VISION_MODELS, model_type, 'HFVisionEncoder')
        self.model_type = model_type
        self.set_model(build_model(spec, 'HFVisionEncoder', pretrained, config))
        model_size = self.model.config.image_size
        self.image_size = int(image_size or model_size)
        self.interpolate_pos_encoding = self.image_size != model_size
        stats = read_image_stats(pretrained)
        mean = mean if mean is not None else stats.get('image_mean', spec.mean)
        std = std if std is not None else stats.get('image_std', spec.std)
        self._register_stats('mean', mean)
        self._register_stats('std', std)
        self._register_stats('input_mean', input_mean)
        self._register_stats('input_std', input_std)
        if frozen:
            self.freeze()

    def _register_stats(self, name: str, values) -> None:
        if len(values) != 3:
            raise ValueError(f'HFVisionEncoder: {name} needs 3 values (RGB)')
        self.register_buffer(name, torch.tensor(values, dtype=torch.float32)
                             .view(1, 3, 1, 1), persistent=False)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessor-normalised (N, 3, H, W) -> encoder input
        (N, 3, S, S), S = ``image_size``."""
        rgb = (images.float() * self.input_std + self.input_mean) / 255.0
        if tuple(rgb.shape[-2:]) != (self.image_size, self.image_size):
            rgb = F.interpolate(rgb, size=(self.image_size, self.image_size),
                                mode='bilinear', align_corners=False,
                                antialias=True)
        return (rgb - self.mean) / self.std

    def forward(self, frames: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) -> (patches (B, T, HW, D), cls (B, T, D))."""
        if frames.dim() != 5 or frames.size(2) != 3:
            raise ValueError('HFVisionEncoder: frames must be (B, T, 3, H, W),'
                             f' got {tuple(frames.shape)}')
        b, t = frames.shape[:2]
        pixels = self.prepare(frames.flatten(0, 1))
        with self.grad_context():
            hidden = self.model(
                pixel_values=pixels,
                interpolate_pos_encoding=self.interpolate_pos_encoding,
            ).last_hidden_state
        hidden = hidden.unflatten(0, (b, t))
        return hidden[:, :, 1:], hidden[:, :, 0]


@MODELS.register_module()
class HFTextEncoder(FrozenEncoder):
    """Token features of DistilRoBERTa (or CLIP's text tower).

    Args:
        pretrained (str | None): local Hugging Face folder with the model
            and its tokenizer, e.g. a copy of ``distilroberta-base``.
        config (dict | None): kwargs of ``RobertaConfig`` /
            ``CLIPTextConfig`` for a randomly initialised model (see
            :data:`TINY_ROBERTA`, :data:`DISTILROBERTA`); ``vocab_size``,
            ``pad_token_id`` (and CLIP's ``bos/eos_token_id``) default to
            the tokenizer's. With ``pretrained``, overrides of the folder's
            config.
        model_type (str): ``'roberta'`` (``RobertaModel``, no pooler) or
            ``'clip_text'`` (``CLIPTextModel``).
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
        spec = lookup(TEXT_MODELS, model_type, 'HFTextEncoder')
        self.model_type = model_type
        self.max_length = max_length
        self.tokenizer = self._build_tokenizer(tokenizer or pretrained)
        if pretrained is None and config is not None:
            config = self._complete_config(config)
        self.set_model(build_model(spec, 'HFTextEncoder', pretrained, config))
        if frozen:
            self.freeze()

    @staticmethod
    def _build_tokenizer(folder: str | None) -> PreTrainedTokenizerFast:
        if folder is None:
            return build_bpe_tokenizer()
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'HFTextEncoder: tokenizer folder {folder!r} does not exist '
                '(a local Hugging Face folder is needed: nothing is '
                'downloaded)')
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)

    def _complete_config(self, config: dict) -> dict:
        """Fill the config's vocabulary and special ids from the tokenizer
        and check that they agree with it."""
        tokenizer = self.tokenizer
        config = dict(config)
        config.setdefault('vocab_size', len(tokenizer))
        config.setdefault('pad_token_id', tokenizer.pad_token_id)
        if self.model_type == 'clip_text':
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
        if self.model_type == 'roberta':  # positions start after padding_idx
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
