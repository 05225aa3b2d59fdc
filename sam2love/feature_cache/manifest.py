"""A cache's ``manifest.json``: its format, reading and writing, and the
checks of a cache against the model and the data set.

The frozen model parts and the data set describe themselves as JSON-able
dicts (``SAM2LOVE.frozen_fingerprint``,
:func:`~sam2love.feature_cache.pipeline.data_fingerprint`); the manifest
stores the extraction's, and :func:`check_entries` compares them entry by
entry when training starts, naming every entry that differs with the
expected (current) and the found (cached) value.
"""
import json
import os
import os.path as osp

from ..utils.fingerprint import diff_entries

MANIFEST = 'manifest.json'
CACHE_FORMAT = 'sam2love-feature-cache'
CACHE_VERSION = 1


class FeatureCacheError(ValueError):
    """A feature cache that cannot be used: missing, unfinished, stale."""


def write_json(path: str, obj) -> None:
    """Atomically: a reader sees the old file or the new one, whole."""
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def read_json(path: str):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


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
        manifest = read_json(path)
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


def new_manifest(dtype: str, frozen: dict) -> dict:
    """The manifest of a new cache of ``dtype`` (a numpy name) for the
    frozen parts ``frozen``, with no split yet."""
    return dict(format=CACHE_FORMAT, version=CACHE_VERSION, dtype=dtype,
                frozen=frozen, splits={})


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


def check_cache_data(cache_dir: str, fingerprints: dict) -> dict:
    """Refuse a cache whose splits are missing, unfinished or made from
    other data (``fingerprints``: split ->
    :func:`~sam2love.feature_cache.pipeline.data_fingerprint` of the data
    set now). Returns the manifest."""
    manifest = read_manifest(cache_dir)
    path = manifest_path(cache_dir)
    for split, fingerprint in fingerprints.items():
        entry = split_entry(manifest, split, cache_dir)
        check_entries(fingerprint, entry.get('data', {}),
                      f'splits.{split}.data.', path, 'the data set',
                      'The data set or its pipeline changed since the '
                      'extraction: extract the cache again '
                      f'(tools/extract_features.py CONFIG --out {cache_dir} '
                      f'--splits {split}).')
    return manifest


def split_entry(manifest: dict, split: str, cache_dir: str) -> dict:
    """A complete split's manifest entry; errors say how to get one."""
    path = manifest_path(cache_dir)
    entry = manifest.get('splits', {}).get(split)
    if entry is None:
        raise FeatureCacheError(
            f'{path}: the cache has no split {split!r} (it holds '
            f'{sorted(manifest.get("splits", {}))}); extract it with '
            f'tools/extract_features.py CONFIG --out {cache_dir} '
            f'--splits {split}')
    if not entry.get('complete'):
        raise FeatureCacheError(
            f'{path}: the extraction of split {split!r} did not finish; run '
            'tools/extract_features.py again with the same arguments to '
            'resume it')
    return entry
