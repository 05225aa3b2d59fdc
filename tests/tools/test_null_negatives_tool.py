"""tools/analysis_tools/null_negatives.py on the tiny synthetic tree."""
import json

import pytest
from inference_helpers import make_tiny_tree

from sam2love.datasets.synthetic.categories import COLOURS, SHAPES

TOOL = 'analysis_tools/null_negatives'


def test_counts_what_can_be_made_and_the_wrong_pairs(tool, tmp_path, capsys):
    root = make_tiny_tree(str(tmp_path / 'tree'))
    out = tmp_path / 'counts.json'
    counts = tool.main([root, '--match', 'object', '--out', str(out)])
    assert json.loads(out.read_text()) == counts
    assert counts['match'] == 'object' and counts['split'] == 'train'
    assert 0 < counts['ordinary_rows'] <= counts['rows']
    assert counts['null_rows_asking_for_sound'] <= counts['null_rows']
    assert 0 <= counts['rows_asking_for_sound'] <= counts['ordinary_rows']
    assert counts['absent_per_row_min'] <= counts['absent_per_row_mean']
    assert 0 <= counts['wrong_pairs'] <= counts['pairs']
    assert counts['wrong_share'] == counts['wrong_pairs'] / counts['pairs']
    printed = capsys.readouterr().out
    assert 'wrong_share' in printed
    # the category words name_check's vocabulary is set to
    assert set(counts['vocabulary']) <= set(COLOURS) | set(SHAPES)
    assert len(counts['vocabulary']) > 2
    assert ' '.join(counts['vocabulary']) in printed
    kinds = counts['kinds']
    assert kinds and set(kinds) <= {'audio', 'vision', 'mixed', 'temporal'}
    # every ordinary row that can borrows once (audio texts name nothing:
    # never lent)
    assert sum(k['lent'] for k in kinds.values()) == pytest.approx(
        counts['ordinary_rows'] - counts['rows_without_any'])
    for k in kinds.values():
        assert k['lent_per_lending_row'] == pytest.approx(
            k['lent'] / k['lending_rows'] if k['lending_rows'] else 0)
    assert kinds.get('audio', {}).get('lending_rows', 0) == 0
