"""Fingerprints of frozen weights, configs and files, and how two differ.

A frozen-feature cache (:mod:`sam2love.feature_cache`) is valid only for
the frozen model parts and the data it was computed from. Both sides
describe themselves as JSON-able dicts (hashes, configs, made with
:func:`to_jsonable`, :func:`module_sha256`, :func:`bytes_sha256`);
:func:`diff_entries` lists the entries in which two such dicts differ
(the cache's manifest checks report them:
:func:`sam2love.feature_cache.manifest.check_entries`).
"""
import hashlib

import torch
from torch import nn

#: Config keys that name a weights file or folder. They are recorded in a
#: manifest but not compared: the weights' hash is (a moved checkpoint with
#: the same weights stays valid; a changed one does not).
PATH_KEYS = frozenset({'checkpoint', 'pretrained', 'pca_checkpoint',
                       'tokenizer'})


def to_jsonable(obj):
    """Plain JSON types: dicts (``ConfigDict`` too) with str keys, lists
    (from tuples and lists), numbers, strings, None; a class or function
    becomes its qualified name, anything else its ``repr``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, type) or callable(obj):
        return f'{getattr(obj, "__module__", "")}.{obj.__qualname__}'
    return repr(obj)


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensors_sha256(named_tensors) -> str:
    """SHA-256 over ``(name, dtype, shape, bytes)`` of each tensor, in name
    order: equal iff every tensor is bit-identical."""
    digest = hashlib.sha256()
    for name, tensor in sorted(named_tensors, key=lambda item: item[0]):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'
                      .encode())
        if tensor.numel():
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def module_sha256(module: nn.Module) -> str:
    """Hash of a module's parameters and buffers, non-persistent buffers
    (e.g. a normalisation's mean / std) included: a superset of its
    ``state_dict``."""
    named = list(module.named_parameters()) + list(module.named_buffers())
    return tensors_sha256(named)


def flatten(entries: dict, prefix: str = '') -> dict:
    """``{'a': {'b': 1}, 'p': [{'s': 2}]}`` -> ``{'a.b': 1, 'p.0.s': 2}``:
    nested dicts and lists of dicts become dotted entries (a list's length
    is an entry too); other lists stay values."""
    flat = {}
    for key, value in entries.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + '.'))
        elif isinstance(value, list) and any(isinstance(v, dict)
                                             for v in value):
            flat[f'{name}.length'] = len(value)
            flat.update(flatten(dict(enumerate(value)), name + '.'))
        else:
            flat[name] = value
    return flat


def diff_entries(expected: dict, found: dict, prefix: str = '',
                 ignore: frozenset = PATH_KEYS) -> list:
    """``(entry, expected, found)`` of every leaf that differs; a leaf
    missing on one side is ``'<missing>'`` there. Leaves whose last key is
    in ``ignore`` are skipped."""
    flat_e = flatten(to_jsonable(expected), prefix)
    flat_f = flatten(to_jsonable(found), prefix)
    out = []
    for key in sorted(set(flat_e) | set(flat_f)):
        if key.rsplit('.', 1)[-1] in ignore:
            continue
        e, f = flat_e.get(key, '<missing>'), flat_f.get(key, '<missing>')
        if e != f:
            out.append((key, e, f))
    return out
