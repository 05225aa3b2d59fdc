from .hf import HFTextEncoder, HFVisionEncoder, build_bpe_tokenizer
from .log_mel_stats import LogMelStatsEncoder
from .sam2_vision import SAM2VisionEncoder
from .tri_modal import TriModalBackbone, cat_features
from .vggish import VGGish, VGGishEncoder
from .vggish_log_mel import VGGishLogMel

__all__ = [
    'HFTextEncoder', 'HFVisionEncoder', 'build_bpe_tokenizer',
    'LogMelStatsEncoder',
    'SAM2VisionEncoder',
    'TriModalBackbone', 'cat_features', 'VGGish', 'VGGishEncoder', 'VGGishLogMel'
]
