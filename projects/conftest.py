"""The projects' tests: the repository root on ``sys.path`` (a project's
package is imported as ``projects.<name>.<package>``, as its config's
``custom_imports`` says) with the helpers of ``tests/``
(:mod:`projects.project_test_helpers`), and a tiny synthetic tree."""
import os
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
for _path in (osp.join(ROOT, 'tests'), ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')


@pytest.fixture(scope='session')
def tiny_tree(tmp_path_factory) -> str:
    """The ``tiny`` synthetic preset (12 clips of 4 frames)."""
    from inference_helpers import make_tiny_tree
    return make_tiny_tree(str(tmp_path_factory.mktemp('synthetic')))
