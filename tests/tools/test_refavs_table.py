"""tools/analysis_tools/refavs_table.py reads tools/test.py's JSON logs."""
import json

import pytest
from tool_loader import load_tool

refavs_table = load_tool('analysis_tools/refavs_table')


def write_run(work_dir, stamp, metrics, vis_data=False):
    run = work_dir / stamp / ('vis_data' if vis_data else '')
    run.mkdir(parents=True, exist_ok=True)
    with open(run / f'{stamp}.json', 'w') as f:
        f.write(json.dumps({'lr': 0.1, 'step': 1}) + '\n')
        f.write(json.dumps({f'refavs/{k}': v for k, v in metrics.items()}
                           | {'time': 1.0}) + '\n')


def test_table_of_latest_runs(tmp_path, capsys):
    one, two = tmp_path / 'one', tmp_path / 'two'
    write_run(one, '20260101_000000', {'test_s/J&F': 10.0})
    write_run(one, '20260102_000000',
              {'test_s/J': 40.71, 'test_s/F': 45.79, 'test_s/J&F': 43.25,
               'mix/J&F': 42.1, 'test_n/S': 0.3325}, vis_data=True)
    write_run(two, '20260101_000000', {'test_s/J': 65.27, 'test_s/F': 72.47,
                                       'test_s/J&F': 68.87})
    assert refavs_table.main([f'model={one}', f'ceiling={two}',
                              '--markdown']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == ('| model | test_s J | test_s F | test_s J&F | '
                        'mix J&F | test_n S |')
    assert lines[2] == '| model | 40.7 | 45.8 | 43.2 | 42.1 | 0.333 |'
    assert lines[3] == '| ceiling | 65.3 | 72.5 | 68.9 | - | - |'


def test_missing_metrics_are_an_error(tmp_path, capsys):
    assert refavs_table.main([f'x={tmp_path}']) == 1
    assert 'no tools/test.py metrics' in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        refavs_table.latest_metrics(str(tmp_path))


SWAP = {
    'tool': 'modality_swap', 'splits': ['test_s'], 'batch_size': 8,
    'variants': {
        'as is': {'metrics': {'test_s/J': 40.0, 'test_s/F': 46.0,
                              'test_s/J&F': 43.0}, 'changed': 0.0,
                  'unswapped': 0},
        'text swapped': {'metrics': {'test_s/J': 39.0, 'test_s/F': 45.0,
                                     'test_s/J&F': 42.0}, 'changed': 0.125,
                         'unswapped': 3},
        'audio swapped': {'metrics': {'test_s/J': 40.0, 'test_s/F': 46.0,
                                      'test_s/J&F': 43.0}, 'changed': 0.0,
                          'unswapped': 1}}}


def test_kind_table_extras_and_json(tmp_path, capsys):
    """Per-kind J&F get their own table (a row per model and split), a
    modality-swap file its own, and --json holds every figure."""
    model, floor = tmp_path / 'model', tmp_path / 'floor'
    metrics = {'test_s/J': 40.71, 'test_s/F': 45.79, 'test_s/J&F': 43.25,
               'test_u/J&F': 41.0, 'mix/J&F': 42.1, 'test_n/S': 0.3325,
               'test_s/J&F/vision': 50.0, 'test_s/J&F/audio': 30.04,
               'test_u/J&F/temporal': 20.0, 'mix/J&F/vision': 51.0}
    write_run(model, '20260102_000000', metrics)
    write_run(floor, '20260102_000000', {'test_s/J&F': 20.0,
                                         'test_s/J&F/audio': 10.0})
    swap = tmp_path / 'swap.json'
    swap.write_text(json.dumps(SWAP))
    other = tmp_path / 'other.json'
    other.write_text(json.dumps({'note': 1}))
    out = tmp_path / 'results.json'
    assert refavs_table.main([
        f'SAM2-LOVE={model}', f'every object={floor}', '--json', str(out),
        '--extra', f'modality_swap={swap}', '--extra', f'misc={other}']) == 0
    printed = capsys.readouterr().out
    main, kinds, swaps = printed.split('\n\n')[:3]
    assert 'J&F vision' not in main and 'test_s J&F' in main
    lines = kinds.splitlines()
    assert lines[0].startswith('J&F per expression kind')
    assert lines[1].split() == ['model', 'split', 'J&F', 'vision', 'J&F',
                                'audio', 'J&F', 'temporal']
    assert lines[3].split() == ['SAM2-LOVE', 'test_s', '50.0', '30.0', '-']
    assert lines[4].split() == ['SAM2-LOVE', 'test_u', '-', '-', '20.0']
    assert lines[5].split() == ['SAM2-LOVE', 'mix', '51.0', '-', '-']
    assert lines[6].split() == ['every', 'object', 'test_s', '-', '10.0', '-']
    swap_lines = swaps.splitlines()
    assert swap_lines[0].startswith('modality_swap')
    assert swap_lines[1].split() == ['modality_swap', 'test_s', 'J&F',
                                     'changed', 'unswapped']
    assert swap_lines[4].split() == ['text', 'swapped', '42.0', '0.125', '3']
    assert f'results written to {out}' in printed
    results = json.loads(out.read_text())
    assert set(results) == {'units', 'rows', 'extras'}
    assert [r['name'] for r in results['rows']] == ['SAM2-LOVE',
                                                    'every object']
    assert results['rows'][0]['work_dir'] == str(model)
    assert results['rows'][0]['metrics'] == metrics
    assert results['extras'] == {'modality_swap': SWAP, 'misc': {'note': 1}}
    assert results['units']['S'].startswith('fraction')


def test_bad_extras_are_named(tmp_path, capsys):
    run = tmp_path / 'run'
    write_run(run, '20260102_000000', {'test_s/J&F': 20.0})
    assert refavs_table.main([f'x={run}', '--extra', 'nofile']) == 1
    assert 'expected NAME=JSON_FILE' in capsys.readouterr().err
    assert refavs_table.main([f'x={run}', '--extra',
                              f'a={tmp_path / "none.json"}']) == 1
    assert 'none.json: missing' in capsys.readouterr().err
    bad = tmp_path / 'bad.json'
    bad.write_text('{')
    assert refavs_table.main([f'x={run}', '--extra', f'a={bad}']) == 1
    assert 'bad.json: not JSON' in capsys.readouterr().err


def test_null_type_table(tmp_path, capsys):
    """S per null type (RefAVSMetric(per_kind=True) on test_n) gets its
    own table, a row per model that has it."""
    with_switch, without = tmp_path / 'with', tmp_path / 'without'
    write_run(with_switch, '20260102_000000', {
        'test_s/J&F': 40.0, 'test_n/S': 0.1, 'test_n/S/silent-scene': 0.0,
        'test_n/S/absent-referent': 0.1234})
    write_run(without, '20260102_000000', {'test_s/J&F': 41.0})
    assert refavs_table.main([f'switch={with_switch}',
                              f'paper={without}']) == 0
    tables = capsys.readouterr().out.split('\n\n')
    lines = tables[-1].splitlines()
    assert lines[0] == 'S per null type (lower is better):'
    assert lines[1].split() == ['model', 'test_n', 'S', 'absent-referent',
                                'test_n', 'S', 'silent-scene']
    assert lines[3].split() == ['switch', '0.123', '0.000']
    assert len(lines) == 4  # no row for the model without the types
