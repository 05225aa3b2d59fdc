"""sam2love.utils.fingerprint: JSON-able descriptions, hashes of bytes,
tensors and modules, and the entries in which two descriptions differ."""
import hashlib
import json

import pytest
import torch
from mmengine.config import ConfigDict
from torch import nn

from sam2love.utils.fingerprint import (
    PATH_KEYS,
    bytes_sha256,
    diff_entries,
    flatten,
    module_sha256,
    tensors_sha256,
    to_jsonable,
)


def test_to_jsonable_gives_plain_json_types():
    class Thing:
        def __repr__(self):
            return 'Thing()'

    obj = ConfigDict(a=(1, 2.5, [None, True]), b={3: 'x'},
                     cls=nn.Linear, fn=json.dumps, other=Thing())
    got = to_jsonable(obj)
    assert got == {'a': [1, 2.5, [None, True]], 'b': {'3': 'x'},
                   'cls': 'torch.nn.modules.linear.Linear',
                   'fn': 'json.dumps', 'other': 'Thing()'}
    assert type(got) is dict and json.loads(json.dumps(got)) == got


def test_bytes_sha256_is_the_hex_digest():
    assert bytes_sha256(b'sam2love') == hashlib.sha256(b'sam2love').hexdigest()
    assert len(bytes_sha256(b'')) == 64


def test_tensors_sha256_is_equal_iff_every_tensor_is_identical():
    a, b = torch.arange(6.0).view(2, 3), torch.ones(4, dtype=torch.int64)
    ref = tensors_sha256([('a', a), ('b', b)])
    # order of the pairs, memory layout and autograd do not matter
    assert tensors_sha256([('b', b), ('a', a.t().contiguous().t())]) == ref
    assert tensors_sha256([('a', a.clone().requires_grad_()),
                           ('b', b)]) == ref
    # names, values, dtypes and shapes do
    changed = a.clone()
    changed[1, 2] += 1e-6
    for other in ([('c', a), ('b', b)], [('a', changed), ('b', b)],
                  [('a', a.double()), ('b', b)], [('a', a.view(3, 2)),
                                                  ('b', b)],
                  [('a', a)]):
        assert tensors_sha256(other) != ref
    # an empty tensor still counts by its name, dtype and shape
    assert tensors_sha256([('e', torch.zeros(0, 3))]) != \
        tensors_sha256([('e', torch.zeros(3, 0))])


def test_module_sha256_covers_parameters_and_all_buffers():
    def module(seed: int = 0):
        torch.manual_seed(seed)
        m = nn.Linear(3, 2)
        m.register_buffer('mean', torch.zeros(3), persistent=False)
        return m

    ref = module_sha256(module())
    assert module_sha256(module()) == ref
    assert module_sha256(module(seed=1)) != ref
    shifted = module()
    shifted.mean += 1  # not in the state_dict, in the hash
    assert 'mean' not in shifted.state_dict()
    assert module_sha256(shifted) != ref


def test_flatten_dots_nested_dicts_and_lists_of_dicts():
    assert flatten({'a': {'b': 1}, 'p': [{'s': 2}]}) == {
        'a.b': 1, 'p.length': 1, 'p.0.s': 2}
    # empty dicts and lists without dicts are values
    assert flatten({'e': {}, 'l': [1, 2], 'n': None}, 'x.') == {
        'x.e': {}, 'x.l': [1, 2], 'x.n': None}


def test_diff_entries_names_every_differing_leaf():
    expected = {'model': {'depth': 2, 'dims': (4, 8)}, 'seed': 0,
                'steps': [{'type': 'A'}, {'type': 'B'}]}
    found = {'model': {'depth': 3, 'dims': [4, 8]}, 'extra': 1,
             'steps': [{'type': 'A'}]}
    assert diff_entries(expected, found, 'frozen.') == [
        ('frozen.extra', '<missing>', 1),
        ('frozen.model.depth', 2, 3),
        ('frozen.seed', 0, '<missing>'),
        ('frozen.steps.1.type', 'B', '<missing>'),
        ('frozen.steps.length', 2, 1),
    ]
    assert diff_entries(expected, expected) == []


@pytest.mark.parametrize('key', sorted(PATH_KEYS))
def test_diff_entries_skips_paths_to_weights(key):
    expected = {'encoder': {key: '/old/place', 'sha256': 'abc'}}
    moved = {'encoder': {key: '/new/place', 'sha256': 'abc'}}
    assert diff_entries(expected, moved) == []
    assert diff_entries(expected, moved, ignore=frozenset()) == [
        (f'encoder.{key}', '/old/place', '/new/place')]
