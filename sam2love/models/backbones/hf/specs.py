"""What each named Hugging Face encoder is: its classes, its image
normalisation and the config kwargs of its sizes.

``model_type`` of :class:`~.HFVisionEncoder` / :class:`~.HFTextEncoder`
names a :class:`ModelSpec` of :data:`VISION_MODELS` / :data:`TEXT_MODELS`,
or is :data:`AUTO` (any architecture, see :mod:`.loading`).
"""
from typing import NamedTuple

from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPVisionConfig,
    CLIPVisionModel,
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

def transformer_sizes(hidden: int, layers: int, heads: int, mlp: int,
                      **extra) -> dict:
    """Config kwargs of a transformer's sizes, then ``extra``.

    Args:
        hidden (int): ``hidden_size``, the token width D.
        layers (int): ``num_hidden_layers``.
        heads (int): ``num_attention_heads``.
        mlp (int): ``intermediate_size``, the MLP's hidden width.
        **extra: further kwargs of the config class.

    Returns:
        dict: the four sizes, in this order, then ``extra``.
    """
    return dict(hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=mlp, **extra)


#: A tiny ViT for tests and the CPU demo: 32x32 images, 4x4 patches of 8.
TINY_VIT = transformer_sizes(32, 2, 2, 64, image_size=32, patch_size=8)
#: ViT-B/16 at 224 (``google/vit-base-patch16-224``): 196 patches, 768-d.
VIT_B16 = transformer_sizes(768, 12, 12, 3072, image_size=224, patch_size=16,
                            hidden_act='gelu', layer_norm_eps=1e-12,
                            qkv_bias=True)
#: A tiny CLIP vision tower (Table 2 ablation, tests).
TINY_CLIP_VISION = transformer_sizes(32, 2, 2, 64, image_size=32,
                                     patch_size=8, projection_dim=32)
#: CLIP ViT-B/16's vision tower (``openai/clip-vit-base-patch16``).
CLIP_VIT_B16 = transformer_sizes(768, 12, 12, 3072, image_size=224,
                                 patch_size=16, projection_dim=512,
                                 hidden_act='quick_gelu', layer_norm_eps=1e-5)

#: A tiny RoBERTa; ``vocab_size`` and ``pad_token_id`` come from the
#: tokenizer. RoBERTa's positions start at ``pad_token_id + 1``, so
#: ``max_position_embeddings`` must exceed ``max_length + pad_token_id``.
TINY_ROBERTA = transformer_sizes(32, 2, 2, 64, max_position_embeddings=64,
                                 type_vocab_size=1)
#: DistilRoBERTa (``distilroberta-base``): 6 layers, 768-d, 82M parameters.
#: Built without weights it can use the generated tokenizer: its ids are a
#: subset of the 50265-row embedding (``pad_token_id`` 1 in both).
DISTILROBERTA = transformer_sizes(
    768, 6, 12, 3072, vocab_size=50265, max_position_embeddings=514,
    type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    layer_norm_eps=1e-5, hidden_act='gelu')
#: A tiny CLIP text tower; ids of the special tokens come from the tokenizer.
TINY_CLIP_TEXT = transformer_sizes(32, 2, 2, 64, max_position_embeddings=32,
                                   projection_dim=32)
#: CLIP ViT-B/16's text tower (vocab 49408, 77 positions, 512-d).
CLIP_TEXT_B16 = transformer_sizes(
    512, 12, 8, 2048, max_position_embeddings=77, vocab_size=49408,
    projection_dim=512, hidden_act='quick_gelu', layer_norm_eps=1e-5)


# --- named model types -------------------------------------------------------

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

#: ``model_type`` value that builds through the Auto classes.
AUTO = 'auto'


def lookup(table: dict, model_type: str, owner: str) -> ModelSpec | None:
    """The named spec of ``model_type``; None for ``'auto'``."""
    if model_type == AUTO:
        return None
    if model_type not in table:
        raise ValueError(f'{owner}: model_type must be {AUTO!r} or one of '
                         f'{sorted(table)}, got {model_type!r}')
    return table[model_type]
