"""Frozen vision and text encoders built on Hugging Face ``transformers``.

SAM2-LOVE (section 3.2) encodes each frame with an ImageNet ViT and the
expression with DistilRoBERTa, both frozen; Table 2 swaps in CLIP's vision
and text towers.

* :class:`HFVisionEncoder` (``MODELS``, :mod:`.vision_encoder`): frames in
  the clip preprocessor's ImageNet normalisation -> ViT patch tokens and
  [cls] token per frame.
* :class:`HFTextEncoder` (``MODELS``, :mod:`.text_encoder`): expressions ->
  token features and their padding mask, tokenised as the Ref-AVS baseline
  does (25 tokens, padded and truncated).

Any Hugging Face encoder can be used (``model_type='auto'``: BERT / MiniLM,
XLM-R, SigLIP, DINOv2, ...): ``AutoConfig`` / ``AutoModel`` /
``AutoTokenizer`` build it from a local folder (:mod:`.loading`), the vision
or text tower of a dual encoder (CLIP, SigLIP) when the folder holds one,
with the image normalisation of the folder's ``preprocessor_config.json``
(:mod:`.image_processor`). The named types (``'vit'``, ``'clip_vision'``,
``'roberta'``, ``'clip_text'``; :mod:`.specs`) build their classes
directly, as the paper's configs do.

Weights come only from local Hugging Face folders (``pretrained=``, loaded
with ``local_files_only=True``); without one the model is built from a
config dict with random weights (``'auto'``: the dict names its
``model_type``, e.g. ``dict(model_type='bert', hidden_size=32, ...)``),
and the text encoder gets a byte-level BPE tokenizer trained on the fly on
a fixed corpus (:func:`build_bpe_tokenizer`, :mod:`.tokenizer`,
:mod:`.bpe_corpus`), so tests and demos need no download.
"""
from .frozen_encoder import FrozenEncoder
from .text_encoder import HFTextEncoder
from .tokenizer import build_bpe_tokenizer
from .vision_encoder import HFVisionEncoder

__all__ = ['FrozenEncoder', 'HFTextEncoder', 'HFVisionEncoder',
           'build_bpe_tokenizer']
