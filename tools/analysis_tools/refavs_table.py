"""Print Ref-AVS test results as a table (J, F, J&F per split, S on test_n).

J, F and J&F are shown x100 (as published), S as the fraction it is.

    python tools/analysis_tools/refavs_table.py NAME=WORK_DIR [NAME=WORK_DIR ...]
        [--markdown]

Each ``WORK_DIR`` is the ``--work-dir`` of a ``tools/test.py`` run: the
metrics of its latest run are read from the JSON log mmengine writes there
(``WORK_DIR/<timestamp>/[vis_data/]<timestamp>.json``). ``NAME`` labels the row, e.g.::

    python tools/analysis_tools/refavs_table.py \\
        "stage 1 (GT mask prompt, ceiling)"=work_dirs/stage1_test \\
        "SAM2-LOVE"=work_dirs/stage2_test
"""
import argparse
import glob
import json
import os.path as osp
import sys

SPLITS = ('test_s', 'test_u', 'mix', 'test_n', 'val')


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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('runs', nargs='+', metavar='NAME=WORK_DIR')
    parser.add_argument('--markdown', action='store_true',
                        help='print a Markdown table')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rows = {}
    for run in args.runs:
        name, sep, work_dir = run.rpartition('=')
        if not sep:
            name = work_dir = run
        try:
            rows[name] = latest_metrics(work_dir)
        except FileNotFoundError as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
    print(format_table(rows, args.markdown))
    return 0


if __name__ == '__main__':
    sys.exit(main())
