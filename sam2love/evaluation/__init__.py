"""Ref-AVS evaluation: J, F, S by the benchmark's protocol (and J&F per
expression kind on synthetic data)."""
from .functional import (
    ExpressionStats,
    expression_stats,
    hard_masks_to_logits,
    probs_to_logits,
    refavs_score,
    refavs_score_per_expression,
    score_stats,
)
from .kinds import (
    expression_kinds,
    refavs_score_by_kind,
    score_stats_by_kind,
)
from .refavs_metric import RefAVSMetric

__all__ = [
    'refavs_score', 'refavs_score_per_expression', 'RefAVSMetric',
    'probs_to_logits', 'hard_masks_to_logits', 'ExpressionStats',
    'expression_stats', 'score_stats', 'expression_kinds',
    'score_stats_by_kind', 'refavs_score_by_kind'
]
