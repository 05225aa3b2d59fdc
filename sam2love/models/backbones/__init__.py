from .hf_encoders import HFTextEncoder, HFVisionEncoder, build_bpe_tokenizer
from .tri_modal import TriModalBackbone
from .vggish import VGGish, VGGishEncoder, VGGishLogMel

__all__ = [
    'HFTextEncoder', 'HFVisionEncoder', 'build_bpe_tokenizer',
    'TriModalBackbone', 'VGGish', 'VGGishEncoder', 'VGGishLogMel'
]
