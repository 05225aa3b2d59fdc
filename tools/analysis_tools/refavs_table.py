"""Print Ref-AVS test results as a table (J, F, J&F per split, S on test_n).

J, F and J&F are shown x100 (as published), S as the fraction it is.

    python tools/analysis_tools/refavs_table.py NAME=WORK_DIR [NAME=WORK_DIR ...]
        [--markdown] [--json OUT.json] [--extra NAME=JSON_FILE ...]

Each ``WORK_DIR`` is the ``--work-dir`` of a ``tools/test.py`` run: the
metrics of its latest run are read from the JSON log mmengine writes there
(``WORK_DIR/<timestamp>/[vis_data/]<timestamp>.json``). ``NAME`` labels the row, e.g.::

    python tools/analysis_tools/refavs_table.py \\
        "stage 1 (GT mask prompt, ceiling)"=work_dirs/stage1_test \\
        "SAM2-LOVE"=work_dirs/stage2_test \\
        --extra modality_swap=work_dirs/stage2_swap.json --json results.json

Tables printed:

1. one row per run: J, F, J&F of every split, mix, S of test_n;
2. when a run has them (``RefAVSMetric(per_kind=True)`` on synthetic
   data), J&F per expression kind: one row per run and split, one column
   per kind (vision, audio, mixed, temporal);
3. per ``--extra`` written by ``tools/analysis_tools/modality_swap.py
   --out``: its variants (as is, text swapped, audio swapped) with their
   J&F per split, ``changed`` (mean 1 - IoU against as is) and
   ``unswapped`` (samples that kept their own modality).

``--json OUT`` writes everything as one JSON object::

    {"units": {"J": "percent", ...},
     "rows": [{"name": NAME, "work_dir": WORK_DIR,
               "metrics": {"test_s/J": 40.7, "test_s/F": ..., "test_s/J&F": ...,
                           "test_u/...", "mix/J&F": ..., "test_n/S": 0.33,
                           "test_s/J&F/audio": ..., ...}}, ...],
     "extras": {NAME: <the JSON of JSON_FILE>, ...}}

``metrics`` holds every ``refavs/*`` key of the run without the prefix.
"""
import argparse
import glob
import json
import os.path as osp
import sys

SPLITS = ('test_s', 'test_u', 'mix', 'test_n', 'val')
#: Expression kinds in the order they are shown (others follow, sorted).
KINDS = ('vision', 'audio', 'mixed', 'temporal')
UNITS = {'J': 'percent', 'F': 'percent', 'J&F': 'percent',
         'S': 'fraction, lower is better',
         'J&F/<kind>': 'percent, the protocol on the rows of that kind',
         'S/<null type>': 'fraction, S of the null rows of that type',
         'changed': 'fraction: mean 1 - IoU against the unswapped masks'}


def latest_metrics(work_dir: str) -> dict[str, float]:
    """Metrics of the newest ``tools/test.py`` run in ``work_dir``."""
    runs = glob.glob(osp.join(work_dir, '*', '*.json'))
    runs += glob.glob(osp.join(work_dir, '*', 'vis_data', '*.json'))
    runs = sorted((r for r in runs if osp.basename(r) != 'scalars.json'),
                  key=osp.getmtime)
    for path in reversed(runs):
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for record in reversed(lines):
            keys = [k for k in record if k.startswith('refavs/')]
            if keys:
                return {k[len('refavs/'):]: record[k] for k in keys}
    raise FileNotFoundError(
        f'{work_dir}: no tools/test.py metrics (refavs/* keys in '
        f'{work_dir}/<timestamp>/<timestamp>.json)')


def columns(rows: dict[str, dict]) -> list[str]:
    present = set().union(*rows.values())
    cols = []
    for split in SPLITS:
        for name in ('J', 'F', 'J&F', 'S'):
            if f'{split}/{name}' in present:
                cols.append(f'{split}/{name}')
    return cols


def render(header: list[str], body: list[list[str]],
           markdown: bool = False) -> str:
    """A plain-text (first column left-aligned) or Markdown table."""
    if markdown:
        lines = ['| ' + ' | '.join(header) + ' |',
                 '|' + '---|' * len(header)]
        lines += ['| ' + ' | '.join(r) + ' |' for r in body]
        return '\n'.join(lines)
    widths = [max(len(r[i]) for r in [header] + body)
              for i in range(len(header))]

    def line(cells):
        return '  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(header), '-' * (sum(widths) + 2 * len(widths) - 2)]
    out += [line(r) for r in body]
    return '\n'.join(out)


def format_table(rows: dict[str, dict], markdown: bool = False) -> str:
    cols = columns(rows)
    header = ['model'] + [c.replace('/', ' ') for c in cols]

    def cell(metrics, col):
        if col not in metrics:
            return '-'
        # J, F, J&F are percentages; S (test_n) is a fraction, lower is better
        return f'{metrics[col]:.3f}' if col.endswith('/S') else \
            f'{metrics[col]:.1f}'

    body = [[name] + [cell(m, c) for c in cols] for name, m in rows.items()]
    return render(header, body, markdown)


def kinds_of(rows: dict[str, dict]) -> tuple[list[str], list[str]]:
    """Splits and kinds with a ``{split}/J&F/{kind}`` metric in any row."""
    found = [key.split('/') for m in rows.values() for key in m
             if key.count('/') == 2 and key.split('/')[1] == 'J&F']
    splits = [s for s in SPLITS if any(f[0] == s for f in found)]
    splits += sorted({f[0] for f in found} - set(splits))
    kinds = [k for k in KINDS if any(f[2] == k for f in found)]
    kinds += sorted({f[2] for f in found} - set(kinds))
    return splits, kinds


def format_kind_table(rows: dict[str, dict], markdown: bool = False) -> str:
    """J&F per expression kind: a row per model and split; '' if none."""
    splits, kinds = kinds_of(rows)
    if not kinds:
        return ''
    body = []
    for name, metrics in rows.items():
        for split in splits:
            values = [metrics.get(f'{split}/J&F/{k}') for k in kinds]
            if any(v is not None for v in values):
                body.append([name, split] + [
                    '-' if v is None else f'{v:.1f}' for v in values])
    return render(['model', 'split'] + [f'J&F {k}' for k in kinds], body,
                  markdown)


def format_null_table(rows: dict[str, dict], markdown: bool = False) -> str:
    """S per null type (``{split}/S/{type}``): a row per model; '' if
    none."""
    found = sorted({tuple(key.split('/')) for m in rows.values() for key in m
                    if key.count('/') == 2 and key.split('/')[1] == 'S'})
    if not found:
        return ''
    keys = ['/'.join(f) for f in found]
    body = [[name] + ['-' if k not in m else f'{m[k]:.3f}' for k in keys]
            for name, m in rows.items() if any(k in m for k in keys)]
    return render(['model'] + [f'{f[0]} S {f[2]}' for f in found], body,
                  markdown)


def is_modality_swap(extra) -> bool:
    return isinstance(extra, dict) and \
        extra.get('tool') == 'modality_swap' and 'variants' in extra


def format_swap_table(name: str, extra: dict, markdown: bool = False) -> str:
    """The variants of a ``modality_swap.py --out`` file."""
    variants = extra['variants']
    keys = []
    for variant in variants.values():
        keys += [k for k in variant['metrics']
                 if k.endswith(('/J&F', '/S')) and k not in keys]
    header = [name] + [k.replace('/', ' ') for k in keys] + [
        'changed', 'unswapped']
    body = []
    for variant, result in variants.items():
        metrics = result['metrics']
        body.append([variant] + [
            '-' if k not in metrics else f'{metrics[k]:.3f}'
            if k.endswith('/S') else f'{metrics[k]:.1f}' for k in keys]
            + [f"{result['changed']:.3f}", str(result['unswapped'])])
    return render(header, body, markdown)


def read_extra(path: str):
    """The JSON of an ``--extra`` file, with an error naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: missing (--extra)') from None
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not JSON (--extra): {e}') from None


def results_json(rows: dict[str, dict], work_dirs: dict[str, str],
                 extras: dict) -> dict:
    """The ``--json`` object (see the module docstring)."""
    return dict(units=UNITS,
                rows=[dict(name=name, work_dir=work_dirs[name],
                           metrics=metrics)
                      for name, metrics in rows.items()],
                extras=extras)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', metavar='NAME=WORK_DIR')
    parser.add_argument('--markdown', action='store_true',
                        help='print Markdown tables')
    parser.add_argument('--json', metavar='OUT',
                        help='also write every row\'s metrics (and the '
                        'extras) as JSON to this file')
    parser.add_argument('--extra', action='append', default=[],
                        metavar='NAME=JSON_FILE',
                        help='a JSON file to include under extras.NAME '
                        '(repeatable); modality_swap.py --out files are '
                        'also printed as a table')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rows, work_dirs, extras = {}, {}, {}
    try:
        for run in args.runs:
            name, sep, work_dir = run.rpartition('=')
            if not sep:
                name = work_dir = run
            rows[name] = latest_metrics(work_dir)
            work_dirs[name] = work_dir
        for extra in args.extra:
            name, sep, path = extra.partition('=')
            if not sep or not name or not path:
                raise ValueError(f'--extra {extra!r}: expected NAME=JSON_FILE')
            extras[name] = read_extra(path)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    tables = [format_table(rows, args.markdown)]
    kind_table = format_kind_table(rows, args.markdown)
    if kind_table:
        tables.append('J&F per expression kind (x100):\n' + kind_table)
    null_table = format_null_table(rows, args.markdown)
    if null_table:
        tables.append('S per null type (lower is better):\n' + null_table)
    for name, extra in extras.items():
        if is_modality_swap(extra):
            tables.append(f'{name} (x100; changed a fraction):\n' +
                          format_swap_table(name, extra, args.markdown))
    print('\n\n'.join(tables))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results_json(rows, work_dirs, extras), f, indent=2)
        print(f'results written to {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
