"""``RefAVSMetric`` scores each split in dataset order, whatever the ranks."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import METRICS
from mmseg.structures import SegDataSample

import sam2love  # noqa: F401
import sam2love.evaluation  # noqa: F401
from sam2love.evaluation import RefAVSMetric, refavs_metric, refavs_score

#: A dataset of several splits, rows interleaved as in a csv.
SPLIT_OF_ROW = (['val'] * 3 + ['test_s'] * 2 + ['test_u'] + ['test_n'] * 2) * 3 \
    + ['test_s', 'test_u', 'val']
SIZE = (4, 16, 16)  # (T, H, W), small for speed; the metric takes any size


def make_rows(seed=0):
    """(split, logits, masks) per sample, in dataset order."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, split in enumerate(SPLIT_OF_ROW):
        masks = np.zeros(SIZE, bool)
        if split != 'test_n' and i % 5 != 4:  # some val rows are null rows
            y, x = rng.integers(0, 8, 2)
            masks[:, y:y + 6, x:x + 7] = True
            masks[i % SIZE[0]] = False  # and an empty frame
        logits = (rng.normal(0, 2, SIZE) + 2.5 * (2 * masks - 1)).astype(
            np.float32)
        rows.append((split, logits, masks))
    return rows


def data_sample(idx, split, logits, masks):
    sample = SegDataSample()
    sample.set_metainfo(dict(sample_idx=idx, split=split, uid=f'uid_{idx}',
                             is_null=not masks.any()))
    sample.pred_eval_logits = PixelData(data=torch.from_numpy(logits))
    sample.gt_eval_masks = PixelData(data=torch.from_numpy(masks))
    return sample


def expected(rows):
    """``refavs_score`` per split in dataset order, J / F in percent."""
    want = {}
    for split in dict.fromkeys(s for s, _, _ in rows):
        logits = [x for s, x, _ in rows if s == split]
        masks = [m for s, _, m in rows if s == split]
        if split == 'test_n':
            want['test_n/S'] = refavs_score(logits, masks, null=True)['S']
        else:
            for k, v in refavs_score(logits, masks).items():
                want[f'{split}/{k}'] = 100 * v
    return want


def run_two_ranks(rows, as_dict):
    """Shuffle, deal the samples to two ranks in batches of 2, process, and
    gather the ranks' results (what mmengine's collect_results returns)."""
    samples = [data_sample(i, *row) for i, row in enumerate(rows)]
    order = np.random.default_rng(1).permutation(len(samples))
    ranks = [RefAVSMetric(), RefAVSMetric()]
    for b, start in enumerate(range(0, len(order), 2)):
        batch = [samples[i] for i in order[start:start + 2]]
        if as_dict:  # what mmengine's Evaluator passes
            batch = [s.to_dict() for s in batch]
        ranks[b % 2].process(None, batch)
    gathered = [r for pair in zip(*(m.results for m in ranks)) for r in pair]
    gathered += ranks[0].results[len(ranks[1].results):]
    assert len(gathered) == len(rows)
    return ranks[0].compute_metrics(gathered)


@pytest.mark.parametrize('as_dict', [True, False])
def test_shuffled_ranks_give_metadata_order_scores(as_dict):
    rows = make_rows()
    got = run_two_ranks(rows, as_dict)
    want = expected(rows)
    s, u = 'test_s', 'test_u'
    for k in ('J', 'F', 'J&F'):
        want[f'mix/{k}'] = (want[f'{s}/{k}'] + want[f'{u}/{k}']) / 2
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-9), k
    assert 'test_n/J' not in got and 'val/S' not in got
    assert 0 <= got['test_n/S'] <= 1 and 1 < got['val/J'] <= 100


def test_order_matters_so_sorting_is_needed():
    """F depends on the batches: scoring in the shuffled order would give
    another number, so the metric must sort."""
    rows = [r for r in make_rows() if r[0] == 'val']
    order = np.random.default_rng(1).permutation(len(rows))
    shuffled = [rows[i] for i in order]
    assert refavs_score([x for _, x, _ in shuffled],
                        [m for _, _, m in shuffled])['F'] != pytest.approx(
        refavs_score([x for _, x, _ in rows], [m for _, _, m in rows])['F'])


def test_no_mix_without_both_test_splits():
    rows = [r for r in make_rows() if r[0] in ('val', 'test_s')]
    metric = RefAVSMetric()
    metric.process(None, [data_sample(i, *r) for i, r in enumerate(rows)])
    got = metric.compute_metrics(metric.results)
    assert set(got) == {'val/J', 'val/F', 'val/J&F', 'test_s/J', 'test_s/F',
                        'test_s/J&F'}


def test_evaluate_adds_prefix_and_logs_table(monkeypatch):
    logged = []
    monkeypatch.setattr(refavs_metric, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    rows = make_rows()
    metric = METRICS.build(dict(type='RefAVSMetric'))
    metric.process(None, [data_sample(i, *r).to_dict()
                          for i, r in enumerate(rows)])
    got = metric.evaluate(len(rows))
    want = expected(rows)
    assert got['refavs/test_n/S'] == pytest.approx(want['test_n/S'])
    assert got['refavs/val/J&F'] == pytest.approx(want['val/J&F'])
    assert 'refavs/mix/J' in got
    table = logged[-1].splitlines()
    assert table[0].startswith('Ref-AVS results')
    assert [c.strip() for c in table[2].split('|')[1:-1]] == [
        'split', 'expressions', 'J', 'F', 'J&F', 'S']
    line = next(t for t in table if ' test_n ' in t)
    assert f'{want["test_n/S"]:.4f}' in line
    line = next(t for t in table if ' val ' in t)
    assert f'{want["val/J&F"]:.2f}' in line and ' 10 ' in line
    custom = RefAVSMetric(prefix='ref')
    custom.process(None, [data_sample(0, *rows[0])])
    assert set(custom.evaluate(1)) == {'ref/val/J', 'ref/val/F',
                                       'ref/val/J&F'}


def test_repeated_samples_are_kept_once():
    rows = make_rows()
    samples = [data_sample(i, *r) for i, r in enumerate(rows)]
    metric = RefAVSMetric()
    metric.process(None, samples + samples[:3])
    assert metric.compute_metrics(metric.results) == pytest.approx(
        expected(rows) | {
            f'mix/{k}': (expected(rows)[f'test_s/{k}'] +
                         expected(rows)[f'test_u/{k}']) / 2
            for k in ('J', 'F', 'J&F')})


def test_missing_fields_are_named():
    split, logits, masks = make_rows()[0]
    sample = data_sample(0, split, logits, masks)
    del sample.gt_eval_masks
    with pytest.raises(KeyError, match='uid_0.*LoadClipMasks'):
        RefAVSMetric().process(None, [sample.to_dict()])
    sample = data_sample(0, split, logits, masks)
    del sample.pred_eval_logits
    with pytest.raises(KeyError, match='pred_eval_logits'):
        RefAVSMetric().process(None, [sample])


# ------------------------------------------------------------ per kind
KINDS = ('vision', 'audio', 'mixed', 'temporal')


def kind_of_row(i, split, masks):
    return 'null' if split == 'test_n' or not masks.any() else \
        KINDS[(i * 7 // 3) % len(KINDS)]


NULL_TYPES = ('absent-referent', 'mismatched-audio')


def row_info(i, split, masks):
    """A row of ``synthetic_info.json``: null rows get a null type."""
    kind = kind_of_row(i, split, masks)
    if kind == 'null':
        return dict(kind=kind, referent=None,
                    null_type=NULL_TYPES[i % len(NULL_TYPES)])
    return dict(kind=kind, referent='red-square')


def write_kinds(root, rows, skip=()):
    """A ``synthetic_info.json`` giving every row of ``rows`` a kind."""
    import json
    import os
    os.makedirs(root, exist_ok=True)
    info = dict(categories={'red-square': dict(colour='red',
                                               shape='square')},
                rows={f'uid_{i}': row_info(i, s, m)
                      for i, (s, _, m) in enumerate(rows) if i not in skip})
    with open(f'{root}/synthetic_info.json', 'w') as f:
        json.dump(info, f)


def kind_sample(root, i, *row):
    sample = data_sample(i, *row)
    sample.set_metainfo(dict(frame_paths=[
        f'{root}/media/clip_{i}/frames/{t}.jpg' for t in range(SIZE[0])]))
    return sample


def test_per_kind_scores_each_kinds_rows_alone(tmp_path):
    """``{split}/J&F/{kind}`` is the protocol on that kind's rows in
    metadata order, whatever the order of processing; null rows (and the
    null split) get none; ``mix/J&F/{kind}`` averages test_s and test_u."""
    from sam2love.evaluation import score_stats_by_kind
    root = str(tmp_path / 'tree')
    rows = make_rows()
    write_kinds(root, rows)
    samples = [kind_sample(root, i, *r) for i, r in enumerate(rows)]
    metric = METRICS.build(dict(type='RefAVSMetric', per_kind=True))
    order = np.random.default_rng(2).permutation(len(samples))
    metric.process(None, [samples[i].to_dict() for i in order])
    got = metric.compute_metrics(metric.results)
    plain = RefAVSMetric()
    plain.process(None, samples)
    base = plain.compute_metrics(plain.results)
    assert {k: got[k] for k in base} == base  # the usual keys unchanged
    kind_keys = set(got) - set(base)
    for split in ('val', 'test_s', 'test_u'):
        index = [i for i, (s, _, _) in enumerate(rows) if s == split]
        for kind in KINDS:
            mine = [i for i in index if kind_of_row(i, *rows[i][::2]) == kind]
            key = f'{split}/J&F/{kind}'
            if not mine:
                assert key not in got
                continue
            want = refavs_score([rows[i][1] for i in mine],
                                [rows[i][2] for i in mine])['J&F']
            assert got[key] == pytest.approx(100 * want, abs=1e-9), key
            kind_keys.discard(key)
    for kind in KINDS:
        key = f'mix/J&F/{kind}'
        if f'test_s/J&F/{kind}' in got and f'test_u/J&F/{kind}' in got:
            assert got[key] == pytest.approx(
                (got[f'test_s/J&F/{kind}'] + got[f'test_u/J&F/{kind}']) / 2)
            kind_keys.discard(key)
    # the null split: S of each null type's rows alone
    nulls = [i for i, (s, _, _) in enumerate(rows) if s == 'test_n']
    for null_type in NULL_TYPES:
        mine = [i for i in nulls if row_info(i, *rows[i][::2])['null_type']
                == null_type]
        want = refavs_score([rows[i][1] for i in mine],
                            [rows[i][2] for i in mine], null=True)['S']
        key = f'test_n/S/{null_type}'
        assert mine and got[key] == pytest.approx(want, abs=1e-12), key
        kind_keys.discard(key)
    assert not kind_keys  # nothing else: no null kind, no J&F of test_n
    assert any(k.startswith('test_s/J&F/') for k in got)
    # the shared function gives the same numbers (and counts the rows)
    val = [i for i, (s, _, _) in enumerate(rows) if s == 'val']
    from sam2love.evaluation import expression_stats
    by_kind = score_stats_by_kind(
        [expression_stats(rows[i][1], rows[i][2]) for i in val],
        [kind_of_row(i, *rows[i][::2]) for i in val])
    assert list(by_kind) == [k for k in KINDS if k in by_kind]
    assert sum(v['count'] for v in by_kind.values()) == sum(
        rows[i][2].any() for i in val)
    for kind, score in by_kind.items():
        assert 100 * score['J&F'] == pytest.approx(got[f'val/J&F/{kind}'])


def test_per_kind_logs_a_table(tmp_path, monkeypatch):
    logged = []
    monkeypatch.setattr(refavs_metric, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    root = str(tmp_path / 'tree')
    rows = make_rows()
    write_kinds(root, rows)
    metric = RefAVSMetric(per_kind=True, data_root=root)
    metric.process(None, [data_sample(i, *r) for i, r in enumerate(rows)])
    got = metric.compute_metrics(metric.results)
    table = logged[-1].splitlines()
    assert table[0].startswith('Ref-AVS J&F per expression kind')
    line = next(t for t in table if ' test_s ' in t)
    kind = next(k for k in KINDS if f'test_s/J&F/{k}' in got)
    assert f'{got[f"test_s/J&F/{kind}"]:.2f} (' in line


def test_per_kind_without_the_info_file(tmp_path):
    """``True`` fails at the first sample, naming the file; ``'auto'``
    scores as without the option."""
    root = str(tmp_path / 'release')
    rows = make_rows()
    samples = [kind_sample(root, i, *r) for i, r in enumerate(rows)]
    with pytest.raises(FileNotFoundError,
                       match='release/synthetic_info.json is missing.*'
                       'make_synthetic_refavs'):
        RefAVSMetric(per_kind=True).process(None, samples[:1])
    auto = RefAVSMetric(per_kind='auto')
    auto.process(None, samples)
    plain = RefAVSMetric()
    plain.process(None, samples)
    assert auto.compute_metrics(auto.results) == \
        plain.compute_metrics(plain.results)
    with pytest.raises(ValueError, match='per_kind'):
        RefAVSMetric(per_kind='yes')


def test_per_kind_errors_name_the_problem(tmp_path):
    root = str(tmp_path / 'tree')
    rows = make_rows()
    write_kinds(root, rows, skip={3})
    metric = RefAVSMetric(per_kind=True)
    metric.process(None, [kind_sample(root, i, *r)
                          for i, r in enumerate(rows)])
    with pytest.raises(KeyError, match="uid_3.*synthetic_info.json"):
        metric.compute_metrics(metric.results)
    with pytest.raises(KeyError, match='frame_paths.*data_root'):
        RefAVSMetric(per_kind=True).process(None, [data_sample(0, *rows[0])])
