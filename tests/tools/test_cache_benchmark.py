"""tools/analysis_tools/cache_benchmark.py runs both paths and reports."""
import json

from inference_helpers import CONFIG, make_tiny_tree
from tool_loader import load_tool

from sam2love.datasets.synthetic import PRESETS


def test_benchmark_times_both_paths_and_writes_json(tmp_path):
    tree = make_tiny_tree(str(tmp_path / 'tree'))
    out = str(tmp_path / 'bench.json')
    result = load_tool('analysis_tools/cache_benchmark').main(
        [CONFIG, '--iters', '1', '--batch-size', '2', '--out', out,
         '--cfg-options', f'train_dataloader.dataset.data_root={tree}',
         'train_dataloader.dataset.num_frames='
         f'{PRESETS["tiny"]["num_frames"]}'])
    with open(out) as f:
        assert json.load(f) == json.loads(json.dumps(result))
    for kind in ('uncached', 'cached'):
        assert result[kind]['total']['mean'] > 0
    assert result['speedup_mean'] > 0
    cache = result['cache']
    assert cache['per_clip_bytes'] > cache['per_row_bytes'] > 0
    assert cache['shapes']['text_mask'] == [25]
