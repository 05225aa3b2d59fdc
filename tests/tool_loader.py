"""The one way the tests load a script of ``tools/`` as a module."""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')


def load_tool(name: str):
    """``tools/<name>.py`` (e.g. ``'demo'``,
    ``'analysis_tools/refavs_table'``) as a fresh module, run in-process
    (spares a second import of torch); it is not ``__main__``, so only its
    definitions run. ``tools/`` is not put on ``sys.path``, where
    ``tools/test.py`` would shadow the standard library's ``test``."""
    path = osp.join(TOOLS, *name.split('/')) + '.py'
    if not osp.isfile(path):
        raise FileNotFoundError(f'no tool {path}')
    spec = importlib.util.spec_from_file_location(
        'sam2love_tool_' + name.replace('/', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
