"""tools/analysis_tools/refavs_table.py reads tools/test.py's JSON logs."""
import importlib.util
import json
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'refavs_table', osp.join(ROOT, 'tools', 'analysis_tools', 'refavs_table.py'))
refavs_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refavs_table)


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
