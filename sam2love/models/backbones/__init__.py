from .hf_encoders import HFTextEncoder, HFVisionEncoder, build_bpe_tokenizer
from .tri_modal import TriModalBackbone, cat_features
from .vggish import VGGish, VGGishEncoder, VGGishLogMel

__all__ = [
    'HFTextEncoder', 'HFVisionEncoder', 'build_bpe_tokenizer',
    'TriModalBackbone', 'cat_features', 'VGGish', 'VGGishEncoder', 'VGGishLogMel'
]
