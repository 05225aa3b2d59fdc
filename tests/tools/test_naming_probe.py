"""``tools/analysis_tools/naming_probe.py``: does the token name its
referent among its clip's objects?"""
import json

import pytest
import torch
import torch.nn.functional as F
from inference_helpers import (
    CONFIG,
    make_tiny_tree,
    save_checkpoint,
    tiny_dataset,
)

TOOL = 'analysis_tools/naming_probe'


def row(clip: str, fid: int, token, prototype, uid: str = '') -> dict:
    return dict(uid=uid or f'{clip}_{fid}', text='t', clip=clip, fid=fid,
                token=F.normalize(torch.tensor(token, dtype=torch.float),
                                  dim=0),
                prototype=F.normalize(
                    torch.tensor(prototype, dtype=torch.float), dim=0))


def test_a_hit_is_the_referent_most_similar_among_its_clip_objects(tool):
    rows = [
        row('a', 0, [1, 0.1, 0], [1, 0, 0]),   # names object 0: a hit
        row('a', 1, [1, 0, 0.2], [0, 1, 0]),   # names object 0: a miss
        row('a', 1, [0, 1, 0], [0, 1, 0], 'a_1_bis'),  # a twin row: a hit
        row('b', 0, [0, 0, 1], [1, 0, 0]),     # a clip of one object
    ]
    scored, skipped = tool.name_referents(rows)
    assert skipped == 1
    assert [r['hit'] for r in scored] == [True, False, True]
    assert [r['candidates'] for r in scored] == [2, 2, 2]
    assert scored[1]['cosine'] == pytest.approx(0.0)
    figures = tool.summarise(scored)
    assert figures == dict(rows=3, hit=pytest.approx(2 / 3),
                           chance=pytest.approx(0.5))


def test_scores_a_checkpoint_per_expression_kind(tool, tmp_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    tree = make_tiny_tree(str(tmp_path / 'tree'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    ckpt = save_checkpoint(model, str(tmp_path / 'model.pth'))
    out = tmp_path / 'naming.json'
    dataset = tiny_dataset(tree, 'train')
    result = tool.main([
        CONFIG, ckpt, '--split', 'train', '--batch-size', '4',
        '--out', str(out), '--cfg-options',
        f'test_dataloader.dataset.data_root={tree}',
        f'test_dataloader.dataset.num_frames={dataset.num_frames}'])
    written = json.loads(out.read_text())
    assert written['tool'] == 'naming_probe' and written['split'] == 'train'
    assert 0 < written['rows'] == len(written['per_row'])
    # every row of the split is scored, left out or counted as empty
    assert written['rows'] + written['skipped'] + written['empty'] == \
        len(dataset)
    assert 0 <= written['hit'] <= 1 and 0 < written['chance'] <= 0.5
    assert set(written['kinds']) <= {'vision', 'audio', 'mixed', 'temporal'}
    assert sum(k['rows'] for k in written['kinds'].values()) == \
        written['rows']
    assert set(written['colour']) <= {'unique', 'shared'}
    assert sum(g['rows'] for g in written['colour'].values()) == \
        written['rows']
    assert result['hit'] == written['hit']
    assert {'uid', 'text', 'hit', 'candidates', 'cosine'} == \
        set(written['per_row'][0])
