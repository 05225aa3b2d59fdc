"""``tools/analysis_tools/modality_swap.py``: swapped expressions / audio."""
import json

import pytest
import torch
from inference_helpers import (
    CONFIG,
    OBJ_SCORE_BIAS,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)
from tool_loader import load_tool

TOOL = 'analysis_tools/modality_swap'


def test_partners_differ_in_every_given_key(tool):
    assert tool.partners(['a', 'a', 'b', 'c']) == [2, 2, 3, 0]
    assert tool.partners(['a', 'a']) == [0, 1]  # nobody differs: own
    # different text but the same clip is not a partner for audio swaps
    assert tool.partners(['x', 'y', 'z'], differ=[1, 1, 2]) == [2, 2, 0]


def test_changed_fraction_is_one_minus_iou_per_frame(tool):
    a = torch.zeros(2, 4, 4, dtype=torch.uint8)
    b = a.clone()
    a[0, :2] = 1
    b[0, :1] = 1  # frame 0: IoU 0.5; frame 1: both empty, unchanged
    assert tool.changed_fraction(a, b) == pytest.approx(0.25)


def tiny_checkpoint(path: str, **neck) -> str:
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    cfg.model.neck.update(neck)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.state_dict()[OBJ_SCORE_BIAS].add_(20.0)
    return save_checkpoint(model, path)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return make_tiny_tree(str(tmp_path_factory.mktemp('swap') / 'tree'))


def run_tool(tree, ckpt, out, **neck):
    dataset = tiny_dataset(tree, 'val')
    options = [f'test_dataloader.dataset.data_root={tree}',
               f'test_dataloader.dataset.num_frames={dataset.num_frames}',
               'test_dataloader.num_workers=0',
               'test_dataloader.persistent_workers=False']
    options += [f'model.neck.{k}={v}' for k, v in neck.items()]
    return load_tool(TOOL).main([
        CONFIG, ckpt, '--split', 'val', '--batch-size', '4', '--out', out,
        '--cfg-options', *options])


def test_a_removed_modality_changes_nothing(tree, tmp_path):
    """Without text and audio in the fusion, swapping them leaves every
    mask and metric exactly as it was."""
    ckpt = tiny_checkpoint(str(tmp_path / 'blind.pth'), use_text=False,
                           use_audio=False)
    results = run_tool(tree, ckpt, str(tmp_path / 'out.json'),
                       use_text=False, use_audio=False)
    assert set(results) == {'as is', 'text swapped', 'audio swapped'}
    for name in ('text swapped', 'audio swapped'):
        assert results[name]['changed'] == 0
        assert results[name]['metrics'] == results['as is']['metrics']
    assert 'refavs/val/J&F' in results['as is']['metrics']
    with open(tmp_path / 'out.json') as f:
        written = json.load(f)
    assert written['tool'] == 'modality_swap'
    assert written['splits'] == ['val'] and written['batch_size'] == 4
    assert written['samples'] == len(tiny_dataset(tree, 'val'))
    assert written['checkpoint'] == ckpt and written['config'] == CONFIG
    assert list(written['variants']) == ['as is', 'text swapped',
                                         'audio swapped']
    for name, variant in written['variants'].items():
        assert set(variant) == {'metrics', 'changed', 'unswapped'}
        assert variant['changed'] == results[name]['changed']
        assert variant['unswapped'] == results[name]['unswapped']
        assert variant['metrics'] == {
            k[len('refavs/'):]: v for k, v in results[name]['metrics'].items()}
    assert 'val/J&F' in written['variants']['as is']['metrics']
    # refavs_table.py --extra reads it as a modality-swap file
    table = load_tool('analysis_tools/refavs_table')
    assert table.is_modality_swap(written)
    assert 'text swapped' in table.format_swap_table('swap', written)


def test_the_full_model_reacts_to_its_expression(tree, tmp_path):
    ckpt = tiny_checkpoint(str(tmp_path / 'full.pth'))
    results = run_tool(tree, ckpt, str(tmp_path / 'out.json'))
    assert results['as is']['changed'] == 0
    assert 0 < results['text swapped']['changed'] <= 1
    assert results['text swapped']['unswapped'] < len(tiny_dataset(tree, 'val'))
