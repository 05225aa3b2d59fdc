"""Print a ``results.json`` of ``tools/analysis_tools/refavs_table.py
--json`` as the README's quick-start table (x100; S as a fraction):

    python projects/results_table.py work_dirs/projects/NAME/results.json
"""
import argparse
import json

HEADER = ('| model | test_s J / F / **J&F** | test_u J&F | Mix J&F | test_n S '
          '| test_s J&F vision / audio / mixed / temporal |\n'
          '|---|---|---|---|---|---|')
KINDS = ('vision', 'audio', 'mixed', 'temporal')


def cell(metrics: dict, key: str, fmt: str = '{:.1f}') -> str:
    value = metrics.get(key)
    return '–' if value is None else fmt.format(value)


def row(entry: dict) -> str:
    m = entry['metrics']
    test_s = (f'{cell(m, "test_s/J")} / {cell(m, "test_s/F")} / '
              f'**{cell(m, "test_s/J&F")}**')
    kinds = ' / '.join(cell(m, f'test_s/J&F/{k}') for k in KINDS)
    return (f'| {entry["name"]} | {test_s} | {cell(m, "test_u/J&F")} | '
            f'{cell(m, "mix/J&F")} | {cell(m, "test_n/S", "{:.3f}")} | '
            f'{kinds} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results', help='results.json of refavs_table.py')
    args = parser.parse_args()
    with open(args.results, encoding='utf-8') as f:
        results = json.load(f)
    print(HEADER)
    for entry in results['rows']:
        print(row(entry))


if __name__ == '__main__':
    main()
