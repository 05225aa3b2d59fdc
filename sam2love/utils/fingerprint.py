"""Fingerprints of frozen weights, configs and files, and how two differ.

A frozen-feature cache (``tools/extract_features.py``) is valid only for
the frozen model parts and the data it was computed from. Both sides
describe themselves as JSON-able dicts (hashes, configs); the cache's
``manifest.json`` stores the extraction's, and :func:`check_entries`
compares them entry by entry when training starts, naming every entry
that differs with the expected (current) and the found (cached) value.
"""
import hashlib
import json
import os.path as osp

import torch
from torch import nn

#: Config keys that name a weights file or folder. They are recorded in a
#: manifest but not compared: the weights' hash is (a moved checkpoint with
#: the same weights stays valid; a changed one does not).
PATH_KEYS = frozenset({'checkpoint', 'pretrained', 'pca_checkpoint',
                       'tokenizer'})


class FeatureCacheError(ValueError):
    """A feature cache that cannot be used: missing, unfinished, stale."""


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


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:197] + '...'


def check_entries(expected: dict, found: dict, prefix: str, source: str,
                  what: str, hint: str = '') -> None:
    """Raise :class:`FeatureCacheError` listing every entry of ``found``
    (read from the file ``source``) that differs from ``expected``
    (``what`` names the current side, e.g. ``'the model'``)."""
    diffs = diff_entries(expected, found, prefix)
    if not diffs:
        return
    lines = [f'  {key}: expected {_short(e)} ({what}), found {_short(f)} '
             '(the cache)' for key, e, f in diffs]
    raise FeatureCacheError(
        f'{source}: the feature cache does not match {what}; '
        f'{len(diffs)} entr{"y differs" if len(diffs) == 1 else "ies differ"}'
        ':\n' + '\n'.join(lines) + (f'\n{hint}' if hint else ''))


# ------------------------------------------------------------ the manifest
MANIFEST = 'manifest.json'
CACHE_FORMAT = 'sam2love-feature-cache'
CACHE_VERSION = 1


def manifest_path(cache_dir: str) -> str:
    return osp.join(cache_dir, MANIFEST)


def read_manifest(cache_dir: str) -> dict:
    """The cache's ``manifest.json``, checked to be one of ours."""
    path = manifest_path(cache_dir)
    if not osp.isfile(path):
        raise FeatureCacheError(
            f'{path}: not found; {cache_dir!r} is not a feature cache (make '
            'it with tools/extract_features.py CONFIG --out DIR)')
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise FeatureCacheError(f'{path}: unreadable ({e})') from e
    if not isinstance(manifest, dict) or \
            manifest.get('format') != CACHE_FORMAT:
        raise FeatureCacheError(f'{path}: not a {CACHE_FORMAT} manifest')
    if manifest.get('version') != CACHE_VERSION:
        raise FeatureCacheError(
            f'{path}: cache format version {manifest.get("version")}, this '
            f'code reads version {CACHE_VERSION}; extract it again')
    return manifest


def check_frozen_parts(cache_dir: str, fingerprint: dict) -> dict:
    """Refuse a cache whose frozen parts differ from ``fingerprint`` (the
    model's, :meth:`~sam2love.models.SAM2LOVE.frozen_fingerprint`).

    Returns:
        dict: the manifest.
    """
    manifest = read_manifest(cache_dir)
    check_entries(fingerprint, manifest.get('frozen', {}), 'frozen.',
                  manifest_path(cache_dir), 'the model',
                  'Extract the cache again for this model '
                  '(tools/extract_features.py CONFIG --out DIR) or point '
                  'feature_cache to one made for it.')
    return manifest
