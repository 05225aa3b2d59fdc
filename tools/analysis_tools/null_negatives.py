"""How many null references ``RefAVSDataset(null_negatives=)`` can make on a
data set, and, on a synthetic one, how many of them are wrong.

    python tools/analysis_tools/null_negatives.py DATA_ROOT [--split train]
        [--match word|object] [--out OUT.json]

Prints the category words (``vocabulary``, what
``SAM2LOVE(name_check=dict(vocabulary=...))`` names), the expressions
that may be lent (those naming a category word), the split's ordinary
rows that ask for a sound (audio and silence can make them null), the
csv's null rows (every split) and how many of them ask for a sound, the
absent expressions per ordinary row (min / mean), and with
``synthetic_info.json`` (``tools/make_synthetic_refavs.py``) the share of
(row, lent expression) pairs that the same ``--match`` rule would not have
made had it known every object on screen (objects no row refers to are
unknown to the sampler), and per expression kind its share of the ordinary
rows, the rows that may lend, and how often its texts are lent per
lending row (``kinds``).
"""
import argparse
import json
import os.path as osp
from collections import Counter, defaultdict

from sam2love.datasets import read_metadata
from sam2love.datasets.null_negatives import NullNegativeSampler, words


def count(data_root: str, split: str = 'train',
          match: str = 'word') -> dict:
    rows = read_metadata(osp.join(data_root, 'metadata.csv'))
    selected = [r for r in rows if r.split == split]
    sampler = NullNegativeSampler(rows, selected, match)
    ordinary = [r for r in selected if not r.is_null]
    lent = [sampler.absent_expressions(r.name) for r in ordinary]
    out = dict(split=split, match=match, rows=len(selected),
               vocabulary=sorted(sampler.vocabulary),
               ordinary_rows=len(ordinary),
               lendable_expressions=len({d.text for group in
                                         sampler.donors.values()
                                         for d in group}),
               lendable_rows=sum(map(len, sampler.donors.values())),
               rows_asking_for_sound=sum(sampler.asks_for_sound(r.exp)
                                         for r in ordinary),
               null_rows=sum(r.is_null for r in rows),
               null_rows_asking_for_sound=sum(
                   sampler.asks_for_sound(r.exp) for r in rows if r.is_null),
               rows_without_any=sum(not x for x in lent),
               absent_per_row_min=min(map(len, lent), default=0),
               absent_per_row_mean=sum(map(len, lent)) / max(len(lent), 1))
    info_path = osp.join(data_root, 'synthetic_info.json')
    if osp.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
        clips = info['clips']
        pairs = wrong = 0
        for row, donors in zip(ordinary, lent):
            shown = [words(c) for c in clips[row.name]['categories']]
            for donor in donors:
                pairs += 1
                named = sampler.named(donor.text)
                wrong += any(named <= c if match == 'object' else named & c
                             for c in shown)
        out.update(pairs=pairs, wrong_pairs=wrong,
                   wrong_share=wrong / max(pairs, 1),
                   kinds=lent_kinds(sampler, rows, ordinary, lent,
                                    info['rows']))
    return out


def lent_kinds(sampler: NullNegativeSampler, rows: list, ordinary: list,
               lent: list, info_rows: dict) -> dict:
    """Per expression kind of the synthetic set: its ordinary rows, those
    that may lend (they name something), the expected number of null rows
    made with its texts when every ordinary row borrows once, and that
    number per lending row."""
    kind_of_line = {r.line: info_rows[r.uid]['kind'] for r in rows
                    if r.uid in info_rows}
    drawn: dict = defaultdict(float)
    for donors in lent:
        for donor in donors:
            drawn[kind_of_line[donor.line]] += 1 / len(donors)
    counts = Counter(kind_of_line[r.line] for r in ordinary)
    lending = Counter(kind_of_line[d.line] for group in
                      sampler.donors.values() for d in group)
    return {kind: dict(ordinary_rows=counts[kind],
                       lending_rows=lending[kind], lent=drawn[kind],
                       lent_per_lending_row=drawn[kind] / lending[kind]
                       if lending[kind] else 0.0)
            for kind in sorted(counts)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--split', default='train')
    parser.add_argument('--match', default='word',
                        choices=NullNegativeSampler.MATCHES)
    parser.add_argument('--out', help='write the counts as JSON')
    args = parser.parse_args(argv)
    counts = count(args.data_root, args.split, args.match)
    for key, value in counts.items():
        if key == 'kinds':
            for kind, got in value.items():
                print(f'kind {kind:19s} rows {got["ordinary_rows"]:5d}  '
                      f'lending {got["lending_rows"]:5d}  lent '
                      f'{got["lent"]:7.1f}  per lending row '
                      f'{got["lent_per_lending_row"]:.2f}')
        elif key == 'vocabulary':
            print(f'{key:24s} {" ".join(value)}')
        else:
            print(f'{key:24s} {value:.4f}' if isinstance(value, float)
                  else f'{key:24s} {value}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(counts, f, indent=1)
    return counts


if __name__ == '__main__':
    main()
