"""Writing a feature cache: how a split is cut into shards, and the writer
that stores them shard by shard, resumably (layout:
:mod:`sam2love.feature_cache`)."""
import json
import os
import os.path as osp
import shutil

import numpy as np

from ..utils.fingerprint import to_jsonable
from .keys import is_mask_key
from .manifest import (
    FeatureCacheError,
    check_entries,
    manifest_path,
    new_manifest,
    read_json,
    read_manifest,
    write_json,
)

DTYPES = {'fp32': np.float32, 'fp16': np.float16}


class SplitPlan:
    """How a split's samples are cut into shards (deterministic).

    Clips are taken in order of first appearance in the data set and cut
    into shards of ``shard_size``; a shard holds the rows (expressions) of
    its clips, in data set order.

    Args:
        data_list (list[dict]): the data set's ``data_list``
            (``RefAVSDataset``: ``clip_name``, ``metadata_line``, ``uid``,
            ``text`` per row).
        shard_size (int): clips per shard.
    """

    def __init__(self, data_list: list[dict], shard_size: int) -> None:
        if shard_size < 1:
            raise ValueError(f'shard_size must be >= 1, got {shard_size}')
        self.shard_size = shard_size
        self.first_row: dict[str, int] = {}
        for i, info in enumerate(data_list):
            self.first_row.setdefault(info['clip_name'], i)
        clips = list(self.first_row)
        self.shards = [clips[k:k + shard_size]
                       for k in range(0, len(clips), shard_size)]
        shard_of = {c: k for k, names in enumerate(self.shards)
                    for c in names}
        self.rows: list[list[dict]] = [[] for _ in self.shards]
        for i, info in enumerate(data_list):
            self.rows[shard_of[info['clip_name']]].append(dict(
                index=i, line=int(info['metadata_line']), uid=info['uid'],
                clip=info['clip_name'], text=info['text']))

    @property
    def num_clips(self) -> int:
        return len(self.first_row)

    @property
    def num_rows(self) -> int:
        return sum(len(r) for r in self.rows)


class FeatureCacheWriter:
    """Writes a cache folder shard by shard, resumably.

    Rank 0 calls :meth:`open` (creates or checks the manifest) before any
    shard is written and :meth:`finish` after all are; every process
    writes its own shards with :meth:`write_shard`, each made whole by its
    ``done.json`` (written last), and skips those :meth:`is_done` finds.

    Args:
        root (str): the cache folder.
        dtype (str): ``'fp32'`` or ``'fp16'``.
        frozen (dict): the model's ``frozen_fingerprint()``.
    """

    def __init__(self, root: str, dtype: str, frozen: dict) -> None:
        if dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got '
                             f'{dtype!r}')
        self.root = root
        self.dtype = dtype
        self.np_dtype = DTYPES[dtype]
        self.frozen = to_jsonable(frozen)

    @property
    def manifest_path(self) -> str:
        return manifest_path(self.root)

    def shard_dir(self, split: str, k: int) -> str:
        return osp.join(self.root, split, f'shard-{k:05d}')

    # -- rank 0
    def open(self, fingerprints: dict, shard_size: int | None) -> dict:
        """Create the manifest, or check an existing one (resume, or a new
        split in the same cache): same frozen parts, dtype, and for a split
        already there, same data and shard size.

        Args:
            fingerprints (dict): split -> :func:`~sam2love.feature_cache.
                pipeline.data_fingerprint`.
            shard_size (int | None): clips per shard; None takes a resumed
                split's, else 32.

        Returns:
            dict: split -> the shard size to use.
        """
        path = self.manifest_path
        hint = (f'{self.root} holds a cache of another configuration: use '
                'another --out, or delete the folder to extract anew.')
        if osp.exists(path):
            manifest = read_manifest(self.root)
            check_entries(self.frozen, manifest.get('frozen', {}), 'frozen.',
                          path, 'the model', hint)
            check_entries(dict(dtype=np.dtype(self.np_dtype).name),
                          dict(dtype=manifest.get('dtype')), '', path,
                          'the requested --dtype', hint)
        else:
            os.makedirs(self.root, exist_ok=True)
            manifest = new_manifest(np.dtype(self.np_dtype).name,
                                    self.frozen)
        sizes = {}
        for split, fingerprint in fingerprints.items():
            entry = manifest['splits'].get(split)
            if entry is not None:
                check_entries(to_jsonable(fingerprint), entry['data'],
                              f'splits.{split}.data.', path,
                              'the data set', hint)
                if shard_size not in (None, entry['shard_size']):
                    raise FeatureCacheError(
                        f'{path}: split {split!r} was started with '
                        f'--shard-size {entry["shard_size"]}; resume it with '
                        'the same (or none)')
                sizes[split] = entry['shard_size']
            else:
                sizes[split] = shard_size or 32
                manifest['splits'][split] = dict(
                    data=to_jsonable(fingerprint), shard_size=sizes[split],
                    complete=False)
        write_json(path, manifest)
        return sizes

    def finish(self, split: str, plan: SplitPlan) -> dict:
        """Check every shard of ``split``, write its index, mark it
        complete in the manifest. Returns the manifest entry."""
        missing = [k for k in range(len(plan.shards))
                   if not self.is_done(split, k, plan)]
        manifest = read_manifest(self.root)
        entry = manifest['splits'][split]
        if missing:
            raise FeatureCacheError(
                f'{self.manifest_path}: split {split!r} misses shards '
                f'{missing[:10]}{" ..." if len(missing) > 10 else ""}')
        clips, rows, shards, shapes = {}, {}, [], None
        for k in range(len(plan.shards)):
            done = read_json(osp.join(self.shard_dir(split, k), 'done.json'))
            shards.append(osp.basename(self.shard_dir(split, k)))
            for offset, (name, size) in enumerate(zip(done['clips'],
                                                      done['ori_shapes'])):
                clips[name] = [k, offset, size]
            for offset, row in enumerate(done['rows']):
                rows[str(row['line'])] = [k, offset, row['clip'], row['uid'],
                                          row['text']]
            if shapes is None:
                shapes = done['shapes']
            elif done['shapes'] != shapes:
                raise FeatureCacheError(
                    f'{self.shard_dir(split, k)}: array shapes '
                    f'{done["shapes"]} differ from shard 0\'s {shapes}')
        write_json(osp.join(self.root, split, 'index.json'),
                    dict(split=split, shards=shards, clips=clips, rows=rows))
        entry.update(complete=True, num_clips=plan.num_clips,
                     num_rows=plan.num_rows, shapes=shapes,
                     bytes=folder_bytes(osp.join(self.root, split)))
        write_json(self.manifest_path, manifest)
        return entry

    # -- every rank
    def plans(self, data_lists: dict) -> dict:
        """split -> its :class:`SplitPlan` (``data_lists``: split -> the
        data set's ``data_list``), cut at the shard size that :meth:`open`
        settled in the manifest (read from the shared folder)."""
        splits = read_manifest(self.root)['splits']
        return {split: SplitPlan(data_list, splits[split]['shard_size'])
                for split, data_list in data_lists.items()}

    def pending(self, plans: dict, rank: int = 0,
                world_size: int = 1) -> list[tuple[str, int]]:
        """``(split, k)`` of the shards of process ``rank``'s share
        (shards rank, rank + world_size, ...) not yet written whole."""
        return [(split, k) for split, plan in plans.items()
                for k in range(rank, len(plan.shards), world_size)
                if not self.is_done(split, k, plan)]

    def is_done(self, split: str, k: int, plan: SplitPlan) -> bool:
        """Whether shard ``k`` was written whole for this plan."""
        path = osp.join(self.shard_dir(split, k), 'done.json')
        if not osp.isfile(path):
            return False
        try:
            done = read_json(path)
        except (OSError, json.JSONDecodeError):
            return False
        return done.get('clips') == plan.shards[k] and \
            [r['line'] for r in done.get('rows', [])] == \
            [r['line'] for r in plan.rows[k]] and \
            done.get('dtype') == np.dtype(self.np_dtype).name

    def write_shard(self, split: str, k: int, plan: SplitPlan,
                    clip_arrays: dict, row_arrays: dict,
                    ori_shapes: list) -> None:
        """Write shard ``k``: ``clip_arrays`` (key -> (n, ...) arrays for
        the shard's n clips), ``row_arrays`` (key -> (m, ...) for its m
        rows), the clips' frame sizes; ``done.json`` last."""
        folder = self.shard_dir(split, k)
        if osp.isdir(folder):  # a partial shard of a killed run
            shutil.rmtree(folder)
        os.makedirs(folder)
        shapes = {}
        for key, array in {**clip_arrays, **row_arrays}.items():
            array = np.asarray(array)
            if not is_mask_key(key):
                array = self._cast(array, key, folder)
            np.save(osp.join(folder, f'{key}.npy'), array)
            shapes[key] = dict(shape=list(array.shape[1:]),
                               dtype=array.dtype.name)
        write_json(osp.join(folder, 'done.json'), dict(
            clips=plan.shards[k], ori_shapes=[list(s) for s in ori_shapes],
            rows=plan.rows[k], dtype=np.dtype(self.np_dtype).name,
            shapes=shapes))

    def _cast(self, array: np.ndarray, key: str, folder: str) -> np.ndarray:
        if not np.isfinite(array).all():
            raise FeatureCacheError(
                f'{folder}: {key} has non-finite values: the frozen parts '
                'give NaN / inf on these clips')
        with np.errstate(over='ignore'):
            out = array.astype(self.np_dtype)
        if not np.isfinite(out).all():
            raise FeatureCacheError(
                f'{folder}: {key} has values beyond the {self.dtype} range '
                f'(max |x| {np.abs(array).max():.4g}); extract with '
                '--dtype fp32')
        return out


def folder_bytes(folder: str) -> int:
    """Total size of the files under ``folder``."""
    return sum(osp.getsize(osp.join(d, f))
               for d, _, files in os.walk(folder) for f in files)
