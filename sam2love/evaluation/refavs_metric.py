"""``RefAVSMetric``: the Ref-AVS J / F / S metrics for mmengine evaluators."""
import logging
import os
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS
from PIL import Image
from prettytable import PrettyTable

from ..datasets.layout import data_root_of_frames
from ..datasets.metadata import SPLITS
from .functional import BATCH_SIZE, ExpressionStats, expression_stats, score_stats
from .kinds import (
    INFO_FILE,
    expression_kinds,
    has_expression_kinds,
    kinds_of_uids,
    null_types,
    score_null_stats_by_type,
    score_stats_by_kind,
    sorted_kinds,
)

SEEN, UNSEEN, NULL = 'test_s', 'test_u', 'test_n'


def _labels_of_rows(rows: list[dict],
                    labels_by_root: dict[str, dict[str, str]]) -> list[str]:
    """Each row's label (expression kind or null type) from the table of
    its own data root (:func:`~sam2love.evaluation.kinds.kinds_of_uids`)."""
    return [label for r in rows
            for label in kinds_of_uids([r['uid']],
                                       labels_by_root[r['data_root']],
                                       r['data_root'])]


def save_probabilities(logits: torch.Tensor, folder: str) -> None:
    """Write sigmoid((T, H, W) logits) as 8-bit PNGs 00000.png ..."""
    probs = (logits.float().sigmoid() * 255).round().to(torch.uint8).cpu()
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(probs.numpy()):
        Image.fromarray(frame, 'L').save(osp.join(folder, f'{i:05d}.png'))


def _field(sample, key: str):
    """``sample.key`` of a SegDataSample or ``sample[key]`` of its dict."""
    if isinstance(sample, dict):
        return sample.get(key)
    return getattr(sample, key, None)


def _pixel_data(sample, key: str, uid: str, hint: str) -> torch.Tensor:
    field = _field(sample, key)
    data = _field(field, 'data') if field is not None else None
    if data is None:
        raise KeyError(f'RefAVSMetric: sample {uid!r} has no {key}; {hint}')
    return data


@METRICS.register_module()
class RefAVSMetric(BaseMetric):
    """Ref-AVS J, F and J&F per split (and S on the null split).

    Follows the benchmark's protocol exactly (see
    :mod:`sam2love.evaluation.functional`): each split's expressions are
    taken in dataset (= metadata) order, by ``sample_idx``, whatever the
    rank that processed them, and grouped into consecutive batches of
    ``batch_size`` = 4.

    Each data sample must carry ``pred_eval_logits`` ((T, 256, 256) logits,
    written by ``SAM2LOVE.predict``), ``gt_eval_masks`` ((T, 256, 256) bool,
    from ``LoadClipMasks(eval_size=(256, 256))``) and the metainfo
    ``sample_idx``, ``split`` and ``uid``.

    Memory: instead of the logits (10 x 256 x 256 x 4 B = 2.6 MB per
    expression in float32, 6 GB for test_s) ``process`` keeps the exact
    per-frame statistics the metrics are made of
    (:class:`~sam2love.evaluation.functional.ExpressionStats`: J per frame
    and the 255-point F curve per frame, float32, plus two pixel counts),
    about 10 KB per expression, computed on the device of the logits. The
    numbers are identical to :func:`~sam2love.evaluation.refavs_score` on
    the logits, and no float16 rounding is involved.

    Results (``compute_metrics``), before mmengine adds the prefix:

    - ``{split}/J``, ``{split}/F``, ``{split}/J&F`` in percent (x 100, as in
      published tables) for every split but the null ones; null rows of
      train / val are scored with the others, as the README's protocol
      takes every expression of a split (their empty frames enter J by the
      empty-mask rule and are left out of F);
    - ``test_n/S`` as a fraction (lower is better) for the null split(s);
    - ``mix/J``, ``mix/F``, ``mix/J&F``: mean of test_s and test_u, when
      both were evaluated;
    - with ``per_kind`` (synthetic data only), ``{split}/J&F/{kind}`` in
      percent for every split but the null ones and every expression kind
      of the split but ``null`` (``vision``, ``audio``, ``mixed``,
      ``temporal``): the protocol applied to that kind's rows alone
      (:func:`~sam2love.evaluation.kinds.score_stats_by_kind`: metadata
      order, batches of ``batch_size`` of them), and ``mix/J&F/{kind}``,
      the mean of test_s and test_u, when both have the kind; for the
      null split, ``{split}/S/{null_type}`` (S of that null type's rows
      alone, see :func:`~sam2love.evaluation.kinds.null_types`).

    A table of the numbers is logged to the current ``MMLogger`` (and one
    of the per-kind J&F with their row counts).

    Args:
        batch_size (int): expressions per batch of the official protocol.
            Defaults to 4.
        null_splits (Sequence[str]): splits scored with S. Defaults to
            ``('test_n',)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): prefix of every key. Defaults to
            ``default_prefix`` = ``'refavs'``, giving e.g.
            ``refavs/test_s/J&F`` (mmengine's convention, like
            ``coco/bbox_mAP``; it groups the keys in loggers).
        collect_dir (str, optional): mmengine's tmp dir for cpu gathering.
        output_dir (str, optional): also save each expression's predicted
            probabilities as 8-bit PNGs ``output_dir/<uid>/00000.png ...``
            (256 x 256, what is scored), the layout ``tools/refavs_eval.py``
            reads (``tools/test.py --out``). A uid listed twice in the
            metadata keeps the prediction of its last row.
    """

    default_prefix = 'refavs'

    def __init__(self,
                 batch_size: int = BATCH_SIZE,
                 null_splits: Sequence[str] = (NULL, ),
                 collect_device: str = 'cpu',
                 prefix: str | None = None,
                 collect_dir: str | None = None,
                 output_dir: str | None = None,
                 per_kind: bool | str = False,
                 data_root: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        self.output_dir = output_dir
        if per_kind not in (False, True, 'auto'):
            raise ValueError("per_kind must be False, True or 'auto', got "
                             f'{per_kind!r}')
        self.per_kind = per_kind
        self.data_root = data_root
        self._checked_roots: set[str] = set()
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.batch_size = batch_size
        self.null_splits = tuple(null_splits)

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Reduce every sample to its statistics and keep them.

        Args:
            data_batch: unused.
            data_samples: ``SegDataSample`` or their ``to_dict()`` (what
                mmengine's ``Evaluator`` passes).
        """
        for sample in data_samples:
            uid = _field(sample, 'uid') or '?'
            for key in ('sample_idx', 'split'):
                if _field(sample, key) is None:
                    raise KeyError(f'RefAVSMetric: sample {uid!r} has no '
                                   f'{key} metainfo')
            logits = _pixel_data(
                sample, 'pred_eval_logits', uid,
                'the model must write it (SAM2LOVE.predict does)')
            masks = _pixel_data(
                sample, 'gt_eval_masks', uid,
                'add LoadClipMasks(eval_size=(256, 256)) to the test '
                'pipeline')
            stats = expression_stats(logits, masks, name=str(uid))
            if self.output_dir is not None:
                save_probabilities(logits, osp.join(self.output_dir, str(uid)))
            result = dict(
                sample_idx=int(_field(sample, 'sample_idx')),
                split=str(_field(sample, 'split')),
                uid=str(uid),
                stats=stats.cpu())
            if self.per_kind:
                result['data_root'] = self._data_root_of(sample, uid)
            self.results.append(result)

    def _data_root_of(self, sample, uid: str) -> str:
        """The sample's data root; checks its info file once per root."""
        root = self.data_root
        if root is None:
            paths = _field(sample, 'frame_paths')
            if not paths:
                raise KeyError(
                    f'RefAVSMetric(per_kind={self.per_kind!r}): sample '
                    f'{uid!r} has no frame_paths metainfo to find its data '
                    'root; pass data_root=')
            root = data_root_of_frames(paths[0])
        if root not in self._checked_roots:
            self._check_kinds_file(root)
            self._checked_roots.add(root)
        return root

    def _check_kinds_file(self, root: str) -> bool:
        """Whether ``root`` has its kinds; with ``per_kind=True`` a root
        without them is an error."""
        if has_expression_kinds(root):
            return True
        if self.per_kind == 'auto':
            return False
        raise FileNotFoundError(
            f'RefAVSMetric(per_kind=True): {osp.join(root, INFO_FILE)} is '
            'missing. J&F per expression kind needs a data set written by '
            'tools/make_synthetic_refavs.py (the Ref-AVS release has no '
            "expression kinds); set per_kind=False, or 'auto' to score the "
            'kinds only where the file exists')

    @staticmethod
    def _in_dataset_order(results: list[dict]) -> dict[str, list[dict]]:
        """Results per split (splits in the release's order), sorted by
        ``sample_idx``, one per index."""
        by_index = {}
        for r in results:
            by_index.setdefault(r['sample_idx'], r)
        if len(by_index) < len(results):
            # only a sampler that repeats samples does this (mmengine drops
            # the padding of its own samplers); a sample scores the same
            # each time, so one copy is kept
            print_log(f'RefAVSMetric: {len(results) - len(by_index)} '
                      'repeated sample(s) ignored', logger='current',
                      level=logging.WARNING)
        per_split = defaultdict(list)
        for idx in sorted(by_index):
            per_split[by_index[idx]['split']].append(by_index[idx])
        known = {s: i for i, s in enumerate(SPLITS)}
        return {s: per_split[s] for s in sorted(
            per_split, key=lambda s: (known.get(s, len(known)), s))}

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Score each split from the gathered results of all ranks.

        Returns:
            dict: see the class docstring (keys without the prefix).
        """
        per_split = self._in_dataset_order(results)
        metrics, counts = {}, {}
        for split, rows in per_split.items():
            stats: list[ExpressionStats] = [r['stats'] for r in rows]
            counts[split] = len(stats)
            if split in self.null_splits:
                metrics[f'{split}/S'] = score_stats(
                    stats, null=True, batch_size=self.batch_size)['S']
            else:
                scores = score_stats(stats, batch_size=self.batch_size)
                for name in ('J', 'F', 'J&F'):
                    metrics[f'{split}/{name}'] = 100 * scores[name]
        both = SEEN in counts and UNSEEN in counts \
            and SEEN not in self.null_splits \
            and UNSEEN not in self.null_splits
        if both:
            for name in ('J', 'F', 'J&F'):
                metrics[f'mix/{name}'] = (metrics[f'{SEEN}/{name}'] +
                                          metrics[f'{UNSEEN}/{name}']) / 2
        self._log_table(metrics, counts)
        if self.per_kind:
            by_kind = self._scores_by_kind(per_split)
            if by_kind is not None:
                metrics.update(self._kind_metrics(by_kind, both))
                self._log_kind_table(by_kind)
        return metrics

    def _scores_by_kind(self, per_split: dict[str, list[dict]]
                        ) -> dict | None:
        """split -> kind -> ``score_stats_by_kind``'s dict, for the
        non-null splits; None when ``'auto'`` finds no kinds."""
        roots = dict.fromkeys(r['data_root'] for rows in per_split.values()
                              for r in rows)
        missing = [root for root in roots
                   if not self._check_kinds_file(root)]
        if missing:  # per_kind='auto' (True raised)
            print_log(f"RefAVSMetric(per_kind='auto'): no {INFO_FILE} in "
                      f'{", ".join(missing)}; no J&F per expression kind',
                      logger='current')
            return None
        kinds = {root: expression_kinds(root) for root in roots}
        nulls = {root: null_types(root) for root in roots}
        out = {}
        for split, rows in per_split.items():
            stats = [r['stats'] for r in rows]
            if split in self.null_splits:
                out[split] = score_null_stats_by_type(
                    stats, _labels_of_rows(rows, nulls), self.batch_size)
            else:
                out[split] = score_stats_by_kind(
                    stats, _labels_of_rows(rows, kinds), self.batch_size)
        return out

    @staticmethod
    def _kind_metrics(by_kind: dict, both: bool) -> dict[str, float]:
        """``{split}/J&F/{kind}`` (and ``mix/J&F/{kind}``) in percent."""
        metrics = {}
        for split, scores in by_kind.items():
            for kind, score in scores.items():
                if 'S' in score:  # a null type
                    metrics[f'{split}/S/{kind}'] = score['S']
                else:
                    metrics[f'{split}/J&F/{kind}'] = 100 * score['J&F']
        if both:
            for kind in by_kind[SEEN]:
                if kind in by_kind[UNSEEN]:
                    metrics[f'mix/J&F/{kind}'] = (
                        metrics[f'{SEEN}/J&F/{kind}'] +
                        metrics[f'{UNSEEN}/J&F/{kind}']) / 2
        return metrics

    @staticmethod
    def _log_kind_table(by_kind: dict) -> None:
        kinds = sorted_kinds({k for scores in by_kind.values()
                              for k in scores})
        if not kinds:
            return
        table = PrettyTable()
        table.field_names = ['split'] + kinds

        def cell(score: dict) -> str:
            value = f"S {score['S']:.4f}" if 'S' in score \
                else f"{100 * score['J&F']:.2f}"
            return f"{value} ({score['count']})"

        for split, scores in by_kind.items():
            table.add_row([split] + [cell(scores[k]) if k in scores else ''
                                     for k in kinds])
        print_log('Ref-AVS J&F per expression kind (%) and S per null type '
                  '(rows in parentheses):\n' + table.get_string(),
                  logger=MMLogger.get_current_instance())

    @staticmethod
    def _log_table(metrics: dict[str, float], counts: dict[str, int]) -> None:
        rows = list(counts) + (['mix'] if 'mix/J' in metrics else [])
        names = [n for n in ('J', 'F', 'J&F', 'S')
                 if any(f'{r}/{n}' in metrics for r in rows)]
        table = PrettyTable()
        table.field_names = ['split', 'expressions'] + names
        for split in rows:
            values = [metrics.get(f'{split}/{n}') for n in names]
            table.add_row([split, counts.get(split, '')] + [
                '' if v is None else f'{v:.4f}' if n == 'S' else f'{v:.2f}'
                for n, v in zip(names, values)])
        print_log('Ref-AVS results (J, F, J&F in %; S a fraction, lower is '
                  'better):\n' + table.get_string(),
                  logger=MMLogger.get_current_instance())
