from .hf_encoders import HFTextEncoder, HFVisionEncoder, build_bpe_tokenizer
from .log_mel_stats import LogMelStatsEncoder
from .sam2_vision import SAM2VisionEncoder
from .tri_modal import TriModalBackbone, cat_features
from .vggish import VGGish, VGGishEncoder, VGGishLogMel

__all__ = [
    'HFTextEncoder', 'HFVisionEncoder', 'build_bpe_tokenizer',
    'LogMelStatsEncoder',
    'SAM2VisionEncoder',
    'TriModalBackbone', 'cat_features', 'VGGish', 'VGGishEncoder', 'VGGishLogMel'
]
