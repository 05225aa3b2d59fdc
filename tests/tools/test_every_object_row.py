"""The quick start's "every object" row and results JSON, end to end:
``tools/test.py`` on the stage-1 config with ``model.test_prompt=
all_objects`` and ``test_evaluator.per_kind=True``, then
``refavs_table.py --json``."""
import json
import os
import os.path as osp
import subprocess
import sys

import torch
from tool_loader import load_tool

from sam2love.datasets.synthetic import PRESETS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGE1 = osp.join(ROOT, 'configs', 'sam2_small_1xb4-stage1_synthetic.py')


def stage1_checkpoint(path: str) -> str:
    """A random-init stage-1 model saved as mmengine does."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import sam2love.models.segmentors.sam2_tracker_pretrainer  # noqa: F401
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(STAGE1).model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_every_object_row_from_tools_test(tmp_path):
    from sam2love.datasets import make_synthetic_refavs
    tree = str(tmp_path / 'tree')
    make_synthetic_refavs(tree, seed=1, **PRESETS['tiny'])
    ckpt = stage1_checkpoint(str(tmp_path / 'stage1.pth'))
    work_dir = str(tmp_path / 'every_object')
    env = dict(os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, 'tools/test.py', STAGE1, ckpt, '--work-dir',
         work_dir, '--cfg-options', 'model.test_prompt=all_objects',
         'test_evaluator.per_kind=True',
         'test_dataloader.dataset.split=[test_s,test_u,test_n]',
         f'test_dataloader.dataset.data_root={tree}',
         f"test_dataloader.dataset.num_frames={PRESETS['tiny']['num_frames']}",
         'test_dataloader.batch_size=4', 'test_dataloader.num_workers=0',
         'test_dataloader.persistent_workers=False'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    assert 'Ref-AVS J&F per expression kind' in result.stdout + \
        result.stderr

    table = load_tool('analysis_tools/refavs_table')
    out = str(tmp_path / 'results.json')
    assert table.main([f'every object={work_dir}', '--json', out]) == 0
    with open(out) as f:
        metrics = json.load(f)['rows'][0]['metrics']
    assert {'test_s/J&F', 'test_u/J&F', 'mix/J&F', 'test_n/S'} <= set(metrics)
    kinds = {k.split('/')[2] for k in metrics if '/J&F/' in k}
    assert kinds and kinds <= {'vision', 'audio', 'mixed', 'temporal'}
    assert all(f'test_s/J&F/{k}' in metrics or f'test_u/J&F/{k}' in metrics
               for k in kinds)
    assert 0 <= metrics['test_n/S'] <= 1
    # the null split: S per null type
    null_types = {k.split('/')[2] for k in metrics if k.startswith('test_n/S/')}
    assert null_types and null_types <= {
        'silent-scene', 'mismatched-audio', 'absent-referent'}
