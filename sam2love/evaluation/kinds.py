"""J, F and J&F per expression kind on the synthetic Ref-AVS.

The synthetic generator records each row's expression kind (``vision``,
``audio``, ``mixed``, ``temporal``, ``null``; see
``sam2love.datasets.synthetic.EXPRESSION_KINDS``) in
``<data_root>/synthetic_info.json``. The benchmark's protocol is applied to
each kind's rows alone: in metadata order, J and F per batch of
``batch_size`` = 4 of that kind's rows, averaged over batches (so F is not
the average of the full split's batches restricted to a kind, which the
protocol cannot give). Null rows are scored with S per *null type* instead
(``mismatched-audio``: the sound comes from objects not in the clip;
``silent-scene``: nothing sounds; ``absent-referent``: the named category
or shape is not there), see :func:`null_types`.
``RefAVSMetric(per_kind=...)`` and
``tools/analysis_tools/token_probe.py --track`` both use
:func:`score_stats_by_kind`.
"""
import os.path as osp
from collections.abc import Sequence

from ..datasets.synthetic_info import read_referents, read_synthetic_info
from .functional import BATCH_SIZE, ExpressionStats, expression_stats, score_stats

#: The synthetic info file, relative to the data root.
INFO_FILE = 'synthetic_info.json'
#: The order kinds are reported in (others follow, sorted).
KIND_ORDER = ('vision', 'audio', 'mixed', 'temporal')
#: Kinds left out of the per-kind scores: null rows refer to nothing (the
#: null split is scored with S).
SKIPPED_KINDS = ('null', )


def has_expression_kinds(data_root: str) -> bool:
    """Whether ``data_root`` has the synthetic info file."""
    return osp.isfile(osp.join(data_root, INFO_FILE))


def expression_kinds(data_root: str) -> dict[str, str]:
    """``uid -> kind`` of every row of a synthetic data set.

    Raises:
        FileNotFoundError: ``<data_root>/synthetic_info.json`` is missing
            (the Ref-AVS release has no expression kinds).
    """
    return {uid: row[0] for uid, row in read_referents(data_root)[0].items()}


def null_types(data_root: str) -> dict[str, str]:
    """``uid -> null_type`` of the null rows of a synthetic data set (see
    :func:`expression_kinds` for the errors)."""
    rows = read_synthetic_info(data_root)['rows']
    return {uid: row['null_type'] for uid, row in rows.items()
            if row.get('null_type')}


def score_null_stats_by_type(stats: Sequence[ExpressionStats],
                             types: Sequence[str],
                             batch_size: int = BATCH_SIZE) -> dict:
    """S of each null type's expressions alone, by the benchmark's
    protocol (metadata order, batches of ``batch_size``).

    Returns:
        dict: null type -> ``{'count': rows, 'S'}``, types sorted.
    """
    if len(stats) != len(types):
        raise ValueError(f'{len(stats)} expressions but {len(types)} types')
    out = {}
    for kind in sorted(set(types)):
        rows = [s for s, k in zip(stats, types) if k == kind]
        out[kind] = dict(count=len(rows), **score_stats(
            rows, null=True, batch_size=batch_size))
    return out


def score_stats_by_kind(stats: Sequence[ExpressionStats],
                        kinds: Sequence[str],
                        batch_size: int = BATCH_SIZE,
                        skip: Sequence[str] = SKIPPED_KINDS) -> dict:
    """Score each kind's expressions alone, by the benchmark's protocol.

    Args:
        stats: one :class:`ExpressionStats` per expression, in metadata
            order.
        kinds: the kind of each expression (same length).
        batch_size (int): expressions per batch. Defaults to 4.
        skip: kinds not scored (default: ``null``).

    Returns:
        dict: kind -> ``{'count': rows, 'J', 'F', 'J&F'}`` (fractions in
        [0, 1]), kinds in :data:`KIND_ORDER` (others after it, sorted).
    """
    if len(stats) != len(kinds):
        raise ValueError(f'{len(stats)} expressions but {len(kinds)} kinds')
    out = {}
    for kind in sorted_kinds(set(kinds)):
        if kind in skip:
            continue
        rows = [s for s, k in zip(stats, kinds) if k == kind]
        out[kind] = dict(count=len(rows),
                         **score_stats(rows, batch_size=batch_size))
    return out


def sorted_kinds(kinds) -> list[str]:
    """``kinds`` in :data:`KIND_ORDER`, unknown ones after it, sorted."""
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(kinds, key=lambda k: (rank.get(k, len(rank)), k))


def refavs_score_by_kind(logits: Sequence, masks: Sequence,
                         kinds: Sequence[str],
                         batch_size: int = BATCH_SIZE,
                         skip: Sequence[str] = SKIPPED_KINDS) -> dict:
    """:func:`score_stats_by_kind` of (T, H, W) logits and masks (as
    :func:`~sam2love.evaluation.refavs_score` takes them)."""
    if len(logits) != len(masks):
        raise ValueError(f'{len(logits)} logits but {len(masks)} masks')
    stats = [expression_stats(lg, m, name=f'expression {i}')
             for i, (lg, m) in enumerate(zip(logits, masks))]
    return score_stats_by_kind(stats, kinds, batch_size, skip)


def kinds_of_uids(uids: Sequence[str], kinds: dict[str, str],
                  data_root: str) -> list[str]:
    """The kind of each uid; a clear error for a uid the info file lacks."""
    try:
        return [kinds[uid] for uid in uids]
    except KeyError as err:
        raise KeyError(
            f'uid {err} is not in {osp.join(data_root, INFO_FILE)}: the file '
            'describes another data set (regenerate it, or test on the tree '
            'it belongs to)') from None
