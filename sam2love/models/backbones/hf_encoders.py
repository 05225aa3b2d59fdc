"""Frozen vision and text encoders built on Hugging Face ``transformers``.

SAM2-LOVE (section 3.2) encodes each frame with an ImageNet ViT and the
expression with DistilRoBERTa, both frozen; Table 2 swaps in CLIP's vision
and text towers.

* :class:`HFVisionEncoder` (``MODELS``): frames in the clip preprocessor's
  ImageNet normalisation -> ViT patch tokens and [cls] token per frame.
* :class:`HFTextEncoder` (``MODELS``): expressions -> token features and
  their padding mask, tokenised as the Ref-AVS baseline does (25 tokens,
  padded and truncated).

Any Hugging Face encoder can be used (``model_type='auto'``: BERT / MiniLM,
XLM-R, SigLIP, DINOv2, ...): ``AutoConfig`` / ``AutoModel`` /
``AutoTokenizer`` build it from a local folder, the vision or text tower of
a dual encoder (CLIP, SigLIP) when the folder holds one, with the image
normalisation of the folder's ``preprocessor_config.json``. The named types
(``'vit'``, ``'clip_vision'``, ``'roberta'``, ``'clip_text'``) build their
classes directly, as the paper's configs do.

Weights come only from local Hugging Face folders (``pretrained=``, loaded
with ``local_files_only=True``); without one the model is built from a
config dict with random weights (``'auto'``: the dict names its
``model_type``, e.g. ``dict(model_type='bert', hidden_size=32, ...)``),
and the text encoder gets a byte-level BPE tokenizer trained on the fly on
a fixed corpus (:func:`build_bpe_tokenizer`), so tests and demos need no
download.
"""
import inspect
import json
import os.path as osp
from contextlib import nullcontext
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModel,
    PretrainedConfig,
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
#: transformers' ImageNet default (``IMAGENET_DEFAULT_MEAN`` / ``_STD``),
#: the ``'auto'`` fallback when a folder has no processor config.
IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
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


#: Files holding a tokenizer's vocabulary (one is needed in a folder).
TOKENIZER_FILES = ('tokenizer.json', 'vocab.txt', 'vocab.json',
                   'sentencepiece.bpe.model', 'spiece.model', 'tokenizer.model')


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


# --- any Hugging Face encoder (model_type='auto') ---------------------------

#: ``model_type`` value that builds through the Auto classes.
AUTO = 'auto'


def read_auto_config(folder: str, owner: str) -> PretrainedConfig:
    """``AutoConfig`` of a local folder; an unknown architecture is an
    error naming the folder's config.json."""
    check_folder(folder, owner)
    try:
        return AutoConfig.from_pretrained(folder, local_files_only=True)
    except (ValueError, KeyError) as err:
        raise ValueError(
            f'{owner}: {osp.join(folder, "config.json")}: unsupported '
            f'architecture for transformers\' AutoConfig ({str(err)[:200]})'
        ) from err


def tower_config(config: PretrainedConfig, tower: str) -> PretrainedConfig:
    """The ``vision`` / ``text`` tower's config of a dual encoder (CLIP,
    SigLIP: ``config.vision_config``), else ``config`` itself."""
    sub = getattr(config, f'{tower}_config', None)
    return sub if isinstance(sub, PretrainedConfig) else config


def auto_spec(config: PretrainedConfig, owner: str, source: str) -> ModelSpec:
    """The ``AutoModel`` class of a (tower) config, built without a pooler
    when the class has one to drop (only the hidden states are read)."""
    if getattr(config, 'is_encoder_decoder', False):
        raise ValueError(
            f'{owner}: {source}: {config.model_type!r} is an encoder-decoder '
            'model; give a folder of an encoder (e.g. T5EncoderModel)')
    try:
        model_cls = AutoModel._model_mapping[type(config)]
    except KeyError as err:
        raise ValueError(
            f'{owner}: {source}: transformers has no AutoModel class for '
            f'model_type {config.model_type!r}') from err
    if isinstance(model_cls, (list, tuple)):
        model_cls = model_cls[0]
    kwargs = {}
    if 'add_pooling_layer' in inspect.signature(model_cls.__init__).parameters:
        kwargs['add_pooling_layer'] = False
    return ModelSpec(type(config), model_cls, kwargs)


def build_auto_model(owner: str, tower: str, pretrained: str | None,
                     config: dict | None) -> nn.Module:
    """Any Hugging Face encoder through ``AutoConfig`` / ``AutoModel``.

    Args:
        owner (str): the encoder class, for error messages.
        tower (str): ``'vision'`` or ``'text'``: the tower taken from a
            dual-encoder folder.
        pretrained (str | None): local folder (``config.json`` + weights),
            loaded with ``local_files_only=True``, every weight required.
        config (dict | None): with ``pretrained``, attributes set on the
            folder's (tower) config; without, the config of a randomly
            initialised model, ``model_type`` included (kwargs of
            ``AutoConfig.for_model``).
    """
    if pretrained is not None:
        full = read_auto_config(pretrained, owner)
        sub = tower_config(full, tower)
        for key, value in (config or {}).items():
            setattr(sub, key, value)
        spec = auto_spec(sub, owner, osp.join(pretrained, 'config.json'))
        return load_pretrained(spec, owner, pretrained, dict(config=sub))
    if config is None or 'model_type' not in config:
        raise ValueError(
            f"{owner}: model_type='auto' needs `pretrained` (a local folder) "
            "or `config` with its `model_type` (e.g. dict(model_type='bert', "
            'hidden_size=32, ...))')
    kwargs = dict(config)
    name = kwargs.pop('model_type')
    try:
        full = AutoConfig.for_model(name, **kwargs)
    except ValueError as err:
        raise ValueError(f'{owner}: unsupported model_type {name!r} '
                         f'({str(err)[:120]} ...)') from err
    sub = tower_config(full, tower)
    spec = auto_spec(sub, owner, f'config model_type {name!r}')
    return spec.model_cls(sub, **spec.model_kwargs)


def read_processor_config(folder: str | None) -> dict:
    """``folder/preprocessor_config.json`` (empty when there is none)."""
    if folder is None:
        return {}
    path = osp.join(folder, 'preprocessor_config.json')
    if not osp.isfile(path):
        return {}
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'{path}: not valid JSON ({err})') from err


def read_image_stats(folder: str | None) -> dict:
    """``image_mean`` / ``image_std`` of ``folder/preprocessor_config.json``
    (empty when there is no such file; 0 / 1 when it says
    ``do_normalize: false``)."""
    processor = read_processor_config(folder)
    if processor.get('do_normalize') is False:
        return dict(image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0))
    return {key: processor[key] for key in ('image_mean', 'image_std')
            if key in processor}


def processor_image_size(folder: str | None) -> int | None:
    """Side of the square input the folder's image processor makes
    (``crop_size`` when it crops, else ``size``), or None."""
    processor = read_processor_config(folder)
    for key in ('crop_size', 'size'):
        if key == 'crop_size' and processor.get('do_center_crop') is False:
            continue
        size = processor.get(key)
        if isinstance(size, int):
            return size
        if isinstance(size, dict):
            if 'height' in size and size['height'] == size.get('width'):
                return int(size['height'])
            if 'shortest_edge' in size:
                return int(size['shortest_edge'])
    return None


def lookup(table: dict, model_type: str, owner: str) -> ModelSpec | None:
    """The named spec of ``model_type``; None for ``'auto'``."""
    if model_type == AUTO:
        return None
    if model_type not in table:
        raise ValueError(f'{owner}: model_type must be {AUTO!r} or one of '
                         f'{sorted(table)}, got {model_type!r}')
    return table[model_type]


def build_encoder_model(table: dict, model_type: str, tower: str, owner: str,
                        pretrained: str | None,
                        config: dict | None) -> tuple[nn.Module, ModelSpec | None]:
    """A named spec's model (:func:`build_model`) or, for ``'auto'``,
    :func:`build_auto_model`'s; returned with the spec (None for auto)."""
    spec = lookup(table, model_type, owner)
    if spec is None:
        return build_auto_model(owner, tower, pretrained, config), None
    return build_model(spec, owner, pretrained, config), spec


def hidden_width(config: PretrainedConfig) -> int:
    """Width of a model's last hidden state: ``hidden_size``, or the last
    of ``hidden_sizes`` (convolutional models)."""
    if getattr(config, 'hidden_size', None):
        return int(config.hidden_size)
    sizes = getattr(config, 'hidden_sizes', None)
    if sizes:
        return int(sizes[-1])
    raise AttributeError(f'{type(config).__name__} has neither hidden_size '
                         'nor hidden_sizes')


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
        return hidden_width(self.model.config)

    def grad_context(self):
        """No graph through a frozen model."""
        return torch.no_grad() if self.frozen else nullcontext()


@MODELS.register_module()
class HFVisionEncoder(FrozenEncoder):
    """Per-frame patch and global tokens of any Hugging Face vision encoder.

    Frames arrive in the clip preprocessor's normalisation; they are turned
    back into [0, 1] RGB, resized to the encoder's input size (bilinear,
    antialiased: as the HF image processors' PIL resize) and normalised as
    the encoder was trained.

    Args:
        pretrained (str | None): local Hugging Face model folder, e.g. a
            copy of ``google/vit-base-patch16-224``, ``facebook/dinov2-small``
            or ``google/siglip-base-patch16-224`` (its vision tower).
        config (dict | None): kwargs of ``ViTConfig`` / ``CLIPVisionConfig``
            (``'auto'``: of ``AutoConfig.for_model``, ``model_type``
            included) for a randomly initialised model (see
            :data:`TINY_VIT`, :data:`VIT_B16`); with ``pretrained``,
            overrides of the folder's config (a checkpoint that no longer
            fits is an error).
        model_type (str): ``'vit'`` (``ViTModel``, no pooler),
            ``'clip_vision'`` (``CLIPVisionModel``) or ``'auto'`` (any
            architecture ``AutoModel`` knows; a dual encoder's vision tower).
        image_size (int | None): side of the square encoder input.
            Defaults to the model config's ``image_size`` (``'auto'``: the
            folder's processor's crop / resize size first); a size other
            than the config's interpolates the position embeddings.
        mean, std (Sequence[float] | None): the encoder's normalisation of
            [0, 1] RGB. Defaults: ``preprocessor_config.json`` of the
            ``pretrained`` folder when present, else the model type's
            (0.5 / 0.5 for ViT, OpenAI's for CLIP, ImageNet's for
            ``'auto'``, with a warning).
        input_mean, input_std (Sequence[float]): the normalisation of the
            incoming frames, 0-255 scale (``ClipDataPreprocessor``'s).
        frozen (bool): freeze the model. Defaults to True.

    Shapes:
        frames: (B, T, 3, H, W).
        output: ``(patches (B, T, HW, D), cls (B, T, D))``, ``D`` the hidden
        size. A transformer's last hidden state (N, K + HW, D) is split into
        its K leading special tokens ([cls], registers, distillation) and
        the ``HW = (image_size / patch_size) ** 2`` patch tokens (row-major);
        ``cls`` is the first special token, or the mean patch token when
        there is none (SigLIP). A convolutional model's (N, D, h, w) map
        gives ``HW = h * w`` patches and their mean. These are the last
        hidden state (after ViT's final LayerNorm; CLIP's
        ``post_layernorm`` is not applied).
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
        owner = 'HFVisionEncoder'
        model, spec = build_encoder_model(VISION_MODELS, model_type, 'vision',
                                          owner, pretrained, config)
        self.model_type = model_type
        self.set_model(model)
        model_cfg = self.model.config
        model_size = getattr(model_cfg, 'image_size', None)
        if spec is None:
            image_size = image_size or processor_image_size(pretrained)
        self.image_size = int(image_size or model_size or 0)
        if not self.image_size:
            raise ValueError(f'{owner}: {type(model_cfg).__name__} has no '
                             'image_size; give `image_size`')
        self.patch_size = getattr(model_cfg, 'patch_size', None)
        accepts = inspect.signature(self.model.forward).parameters
        self.forward_kwargs = {}
        if 'interpolate_pos_encoding' in accepts:
            self.forward_kwargs['interpolate_pos_encoding'] = (
                self.image_size != model_size)
        stats = read_image_stats(pretrained)
        default_mean, default_std = (
            (spec.mean, spec.std) if spec is not None
            else (IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD))
        if spec is None and mean is None and 'image_mean' not in stats:
            print_log(f'{owner}: no image_mean in {pretrained!r}\'s '
                      'preprocessor_config.json: ImageNet\'s mean / std '
                      'assumed (give `mean` / `std`)', logger='current',
                      level=30)
        mean = mean if mean is not None else stats.get('image_mean',
                                                       default_mean)
        std = std if std is not None else stats.get('image_std', default_std)
        self._register_stats('mean', mean)
        self._register_stats('std', std)
        self._register_stats('input_mean', input_mean)
        self._register_stats('input_std', input_std)
        if frozen:
            self.freeze()

    @property
    def interpolate_pos_encoding(self) -> bool:
        return bool(self.forward_kwargs.get('interpolate_pos_encoding'))

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

    def split_tokens(self, hidden: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden state -> (patches (N, HW, D), global (N, D)).

        (N, K + HW, D) token sequences lose their K leading special tokens;
        (N, D, h, w) maps are flattened row-major (see the class doc)."""
        if hidden.dim() == 4:
            patches = hidden.flatten(2).transpose(1, 2)
            return patches, patches.mean(1)
        if not self.patch_size:
            raise ValueError(
                f'HFVisionEncoder: {type(self.model.config).__name__} has no '
                'patch_size: its patch tokens cannot be told apart')
        num_patches = (self.image_size // self.patch_size) ** 2
        num_special = hidden.size(1) - num_patches
        if num_special < 0:
            raise ValueError(
                f'HFVisionEncoder: {hidden.size(1)} tokens for '
                f'{num_patches} patches of {self.image_size} px images')
        patches = hidden[:, num_special:]
        glob = hidden[:, 0] if num_special else patches.mean(1)
        return patches, glob

    def forward(self, frames: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, 3, H, W) -> (patches (B, T, HW, D), cls (B, T, D))."""
        if frames.dim() != 5 or frames.size(2) != 3:
            raise ValueError('HFVisionEncoder: frames must be (B, T, 3, H, W),'
                             f' got {tuple(frames.shape)}')
        b, t = frames.shape[:2]
        pixels = self.prepare(frames.flatten(0, 1))
        with self.grad_context():
            hidden = self.model(pixel_values=pixels,
                                **self.forward_kwargs).last_hidden_state
        patches, cls = self.split_tokens(hidden)
        return patches.unflatten(0, (b, t)), cls.unflatten(0, (b, t))


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
        self.tokenizer = self._build_tokenizer(tokenizer or pretrained)
        if pretrained is None and config is not None:
            config = self._complete_config(config)
        model, _ = build_encoder_model(TEXT_MODELS, model_type, 'text',
                                       'HFTextEncoder', pretrained, config)
        self.set_model(model)
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
        problem = 'it has no vocabulary file (one of ' \
            f'{", ".join(TOKENIZER_FILES)})'
        if any(osp.isfile(osp.join(folder, name)) for name in TOKENIZER_FILES):
            try:
                tokenizer = AutoTokenizer.from_pretrained(
                    folder, local_files_only=True)
            except (OSError, ValueError, KeyError) as err:
                problem = str(err)[:200]
            else:
                # transformers builds an empty-vocabulary tokenizer from a
                # config alone: every word would be unknown
                if len(tokenizer) > len(tokenizer.all_special_tokens):
                    return tokenizer
                problem = 'its vocabulary holds only special tokens'
        raise ValueError(f'HFTextEncoder: no tokenizer AutoTokenizer can load '
                         f'in {folder!r}: {problem}')

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
