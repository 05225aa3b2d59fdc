"""tools/analysis_tools/benchmark.py: stages against bare SAM2 and K
expressions, in one run, written as JSON."""
import json

from inference_helpers import CONFIG
from tool_loader import load_tool


def test_benchmark_times_the_stages_and_bare_sam2(tmp_path, capsys):
    tool = load_tool('analysis_tools/benchmark')
    out = str(tmp_path / 'bench.json')
    tool.main([CONFIG, '--frames', '4', '--track-frames', '3', '--repeat',
               '1', '--expressions', '1', '2', '--device', 'cpu',
               '--out', out])
    printed = capsys.readouterr().out
    assert 'overhead ratio' in printed and 'bare SAM2' in printed
    with open(out) as f:
        report = json.load(f)
    stages = report['stages']
    love, bare = stages['sam2love'], stages['bare_sam2']
    for key in ('encoders', 'fusion', 'sam2_frame0', 'tracking_per_frame'):
        assert love[key] > 0
    assert set(bare) == {'sam2_frame0', 'tracking_per_frame', 'total', 'fps'}
    assert abs(love['total'] - (love['encoders'] + love['fusion']
               + love['sam2_frame0'] + 2 * love['tracking_per_frame'])) \
        < 1e-9
    assert stages['overhead_ratio'] == love['total'] / bare['total']
    assert stages['peak_rss_mb'] > 0
    rows = report['expressions']
    assert [r['k'] for r in rows] == [1, 2]
    assert rows[0]['vs_k_times_one'] == 1.0
    assert rows[1]['vs_k_times_one'] == rows[1]['seconds'] / (
        2 * rows[0]['seconds'])
