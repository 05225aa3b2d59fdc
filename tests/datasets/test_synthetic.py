"""The synthetic Ref-AVS generator: layout, ground truth, determinism."""
import csv
import json
import os
import os.path as osp
from collections import defaultdict

import numpy as np
import pytest
import soundfile
from PIL import Image
from tool_loader import load_tool

from sam2love.datasets.synthetic import (
    CATEGORIES,
    EXPRESSION_KINDS,
    PRESETS,
    UNSEEN_CATEGORIES,
    make_synthetic_refavs,
    split_counts,
)

TINY = PRESETS['tiny']
T = TINY['num_frames']
SPLITS = ('train', 'val', 'test_s', 'test_u', 'test_n')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A tiny data set (seed 0): (root, summary)."""
    root = str(tmp_path_factory.mktemp('synthetic') / 'seed0')
    return root, make_synthetic_refavs(root, seed=0, **TINY)


def read_rows(root: str) -> list:
    with open(osp.join(root, 'metadata.csv'), newline='') as f:
        return list(csv.DictReader(f))


def read_info(root: str) -> dict:
    with open(osp.join(root, 'synthetic_info.json')) as f:
        return json.load(f)


def name_of(row: dict) -> str:
    return row['uid'].rsplit('_', 2)[0]


def mask_stack(root: str, name: str, fid) -> np.ndarray:
    folder = osp.join(root, 'gt_mask', name, f'fid_{fid}')
    return np.stack([np.asarray(Image.open(osp.join(folder, f'{t:05d}.png')))
                     for t in range(T)])


def all_files(root: str) -> dict:
    """{relative path: bytes} of every file under root."""
    out = {}
    for folder, _, files in os.walk(root):
        for fname in files:
            path = osp.join(folder, fname)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def test_metadata_columns_and_names(tiny):
    root, summary = tiny
    with open(osp.join(root, 'metadata.csv')) as f:
        assert f.readline().strip() == 'vid,uid,split,fid,exp'
    rows = read_rows(root)
    assert len(rows) == summary['rows'] and summary['clips'] == 12
    for row in rows:
        name, category, k = row['uid'].rsplit('_', 2)
        assert int(k) >= 1 and int(row['fid']) >= 0
        assert row['vid'].endswith(f'_0_{T * 1000}')
        assert row['vid'].split('_')[0].startswith('syn0-')
        if category == 'null':
            assert name in (f'null_m-{row["vid"]}', f'null_c-{row["vid"]}')
            assert row['fid'] == '0'
        else:
            assert name == row['vid'] and category in CATEGORIES
    assert len({r['uid'] for r in rows}) == len(rows)


def test_layout_frames_audio_masks(tiny):
    root, _ = tiny
    rows = read_rows(root)
    for name in {name_of(r) for r in rows}:
        frames = osp.join(root, 'media', name, 'frames')
        assert sorted(os.listdir(frames)) == sorted(f'{t}.jpg'
                                                    for t in range(T))
        size = Image.open(osp.join(frames, '0.jpg')).size
        audio, rate = soundfile.read(osp.join(root, 'media', name,
                                              'audio.wav'))
        info = soundfile.info(osp.join(root, 'media', name, 'audio.wav'))
        assert rate == 16000 and audio.ndim == 1 and info.channels == 1
        assert len(audio) == T * 16000 and info.subtype == 'PCM_16'
        fids = {r['fid'] for r in rows if name_of(r) == name}
        assert sorted(os.listdir(osp.join(root, 'gt_mask', name))) == \
            sorted(f'fid_{fid}' for fid in fids)
        for fid in fids:
            img = Image.open(osp.join(root, 'gt_mask', name, f'fid_{fid}',
                                      '00000.png'))
            assert img.mode == 'L' and img.size == size
            masks = mask_stack(root, name, fid)
            assert set(np.unique(masks)) <= {0, 255}
            if name.startswith('null_'):
                assert not masks.any()
            else:
                assert masks.any()


def test_splits(tiny):
    root, summary = tiny
    rows = read_rows(root)
    assert {r['split'] for r in rows} == set(SPLITS)
    assert all(name_of(r).startswith('null_') for r in rows
               if r['split'] == 'test_n')
    for split in SPLITS:
        assert summary['rows_per_split'][split] == sum(
            r['split'] == split for r in rows)
    clips_split = defaultdict(set)
    for r in rows:
        clips_split[r['vid']].add(r['split'])
    assert all(len(s) == 1 for s in clips_split.values())
    for n in (5, 10, 11, 13, 57, 400):
        counts = split_counts(n)
        assert sum(counts.values()) == n and min(counts.values()) >= 1
    assert split_counts(400)['train'] > 0.65 * 400


def test_unseen_categories_only_in_test_u(tiny):
    root, _ = tiny
    info = read_info(root)
    rows = read_rows(root)
    for r in rows:
        referent = info['rows'][r['uid']]['referent']
        if r['split'] == 'test_u':
            assert referent in UNSEEN_CATEGORIES
        elif referent is not None:
            assert referent not in UNSEEN_CATEGORIES
    for clip in info['clips'].values():
        if clip['split'] != 'test_u':
            assert not set(clip['categories']) & set(UNSEEN_CATEGORIES)
            assert not set(clip['heard'] or []) & set(UNSEEN_CATEGORIES)


def test_info_kinds_and_ground_truth(tiny):
    """Every row has a kind; a few templates agree with the scene."""
    root, _ = tiny
    info = read_info(root)
    rows = read_rows(root)
    assert set(info['rows']) == {r['uid'] for r in rows}
    for r in rows:
        row_info = info['rows'][r['uid']]
        assert row_info['kind'] in EXPRESSION_KINDS
        assert (row_info['kind'] == 'null') == name_of(r).startswith('null_')
        if row_info['kind'] == 'null':
            continue
        clip = info['clips'][name_of(r)]
        fid, cats = int(r['fid']), clip['categories']
        sounds = np.array(clip['schedule']) > 0  # (n, T)
        assert row_info['referent'] == cats[fid]
        if r['exp'] == 'The object making a sound.':
            assert sounds[fid].any() and sounds.any(1).sum() == 1
        elif r['exp'] == 'The silent object.':
            assert not sounds[fid].any() and (~sounds.any(1)).sum() == 1
        elif r['exp'] == f'The {CATEGORIES[cats[fid]].text}.':
            assert cats.count(cats[fid]) == 1


def test_lookalikes_one_sounding(tiny):
    """Some clip has two identical-looking objects and only one sounds."""
    info = read_info(tiny[0])
    found = False
    for clip in info['clips'].values():
        cats, sounds = clip['categories'], np.array(clip['schedule']) > 0
        for c in set(cats):
            same = [i for i, x in enumerate(cats) if x == c]
            found |= len(same) >= 2 and sounds[same].any(1).sum() == 1
    assert found


def test_nproc_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match='nproc'):
        make_synthetic_refavs(str(tmp_path / 'x'), seed=0, nproc=0, **TINY)


def test_deterministic(tiny, tmp_path):
    """The same seed gives the same bytes, written by 1 or 2 processes."""
    root, _ = tiny
    again = str(tmp_path / 'again')
    make_synthetic_refavs(again, seed=0, nproc=2, **TINY)
    first, second = all_files(root), all_files(again)
    assert sorted(first) == sorted(second)
    assert any(p.endswith('.jpg') for p in first)
    assert any(p.endswith('.wav') for p in first)
    for path in first:
        assert first[path] == second[path], path

    other = str(tmp_path / 'other')
    make_synthetic_refavs(other, seed=1, **TINY)
    third = all_files(other)
    assert third['metadata.csv'] != first['metadata.csv']
    jpgs = sorted(v for p, v in first.items() if p.endswith('0.jpg'))
    assert jpgs != sorted(v for p, v in third.items() if p.endswith('0.jpg'))


def test_text_matters(tiny):
    """Same frames, different text, different referent."""
    fids = defaultdict(set)
    for r in read_rows(tiny[0]):
        if not name_of(r).startswith('null_'):
            fids[name_of(r)].add(r['fid'])
    assert any(len(f) >= 2 for f in fids.values())


def test_audio_matters(tiny):
    """Same scene (twin clips), same text, different audio: the referent
    changes. Twins hold the same objects on the same paths, so their masks
    of one object agree; only who sounds differs."""
    root, _ = tiny
    info = read_info(root)
    rows = [r for r in read_rows(root) if not name_of(r).startswith('null_')]
    by_clip_text = {(name_of(r), r['exp']): r for r in rows}
    pairs = 0
    for name, clip in info['clips'].items():
        twin = clip['twin']
        if twin is None or twin < name:
            continue
        assert info['clips'][twin]['categories'] == clip['categories']
        assert info['clips'][twin]['schedule'] != clip['schedule']
        for (clip_name, text), row in by_clip_text.items():
            other = by_clip_text.get((twin, text))
            if clip_name != name or other is None:
                continue
            if row['fid'] != other['fid']:
                pairs += 1
                assert info['rows'][row['uid']]['kind'] != 'vision'
                # same object in both clips: same masks (same scene) ...
                if osp.isdir(osp.join(root, 'gt_mask', twin,
                                      f'fid_{row["fid"]}')):
                    np.testing.assert_array_equal(
                        mask_stack(root, name, row['fid']),
                        mask_stack(root, twin, row['fid']))
                # ... but the referred objects differ
                assert not np.array_equal(mask_stack(root, name, row['fid']),
                                          mask_stack(root, twin, other['fid']))
    assert pairs >= 1


def test_refuses_to_overwrite(tiny, tmp_path):
    root = str(tmp_path / 'out')
    os.makedirs(root)
    with open(osp.join(root, 'keep.txt'), 'w') as f:
        f.write('x')
    with pytest.raises(FileExistsError):
        make_synthetic_refavs(root, seed=0, **TINY)
    make_synthetic_refavs(root, seed=0, overwrite=True, **TINY)
    assert osp.exists(osp.join(root, 'keep.txt'))
    with open(osp.join(root, 'metadata.csv'), 'rb') as f, \
            open(osp.join(tiny[0], 'metadata.csv'), 'rb') as g:
        assert f.read() == g.read()


def test_cli(tmp_path, capsys):
    cli = load_tool('make_synthetic_refavs')
    out = str(tmp_path / 'cli')
    args = ['--out', out, '--preset', 'tiny', '--clips', '10', '--seed', '3',
            '--no-progress']
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert '"clips": 10' in printed and 'wall time' in printed
    assert len({r['split'] for r in read_rows(out)}) == 5
    assert cli.main(args) == 2  # refuses a non-empty --out
    assert cli.main(args + ['--overwrite']) == 0
    capsys.readouterr()
    # more null clips in train / val on request
    assert cli.main(args + ['--overwrite', '--null-prob', '0.5']) == 0
    summary = json.loads(capsys.readouterr().out.split('wall time')[0])
    nulls, rows = summary['null_rows_per_split'], summary['rows_per_split']
    assert nulls['train'] > 0 and nulls['test_n'] == rows['test_n']
    assert cli.main(args + ['--overwrite', '--null-prob', '1.5']) == 2
    assert 'null_prob must be in [0, 1]' in capsys.readouterr().err


def test_read_referents_gives_kind_and_category_indices(tiny):
    from sam2love.datasets import read_referents
    root, _ = tiny
    rows, colours, shapes = read_referents(root)
    info = read_info(root)
    assert set(rows) == set(info['rows'])
    for uid, row in info['rows'].items():
        kind, colour, shape = rows[uid]
        assert kind == row['kind']
        if row.get('referent') is None:
            assert colour is None and shape is None
        else:
            assert row['referent'] == f'{colours[colour]}-{shapes[shape]}'


def test_read_referents_needs_synthetic_info(tmp_path):
    from sam2love.datasets import read_referents
    with pytest.raises(FileNotFoundError, match='synthetic_info.json'):
        read_referents(str(tmp_path))


def test_every_object_mask_of_each_clip(tiny):
    """``synthetic_extras/all_objects/<name>/00000.png`` is the union of
    the clip's objects on frame 0: it holds every referred mask, exactly
    their union where the rows refer to every object, and null clips get
    theirs too."""
    from sam2love.datasets.synthetic import (
        all_objects_mask_path,
        load_all_objects_mask,
    )
    root, _ = tiny
    info = read_info(root)
    assert 'all_objects' in info['extras']
    fids = defaultdict(set)
    for r in read_rows(root):
        fids[name_of(r)].add(int(r['fid']))
    exact = 0
    for name, clip in info['clips'].items():
        path = all_objects_mask_path(root, name)
        assert path == osp.join(root, 'synthetic_extras', 'all_objects',
                                name, '00000.png')
        with Image.open(path) as img:
            assert img.mode == 'L' and list(img.size) == clip['size']
            assert set(np.unique(np.asarray(img))) <= {0, 255}
        union = load_all_objects_mask(root, name)
        assert union.any(), name  # 2-4 objects start inside the frame
        if clip['type'] != 'ordinary':
            continue
        referred = np.zeros_like(union)
        for fid in fids[name]:
            mask0 = mask_stack(root, name, fid)[0] > 0
            assert not (mask0 & ~union).any(), (name, fid)
            referred |= mask0
        if fids[name] == set(range(len(clip['categories']))):
            assert np.array_equal(referred, union), name
            exact += 1
    assert exact >= 1  # some clip's rows refer to every object


def test_every_object_mask_errors(tmp_path):
    from sam2love.datasets.synthetic import load_all_objects_mask
    with pytest.raises(FileNotFoundError,
                       match='all_objects/clip/00000.png: missing'):
        load_all_objects_mask(str(tmp_path), 'clip')


def test_overwrite_replaces_the_extras(tiny, tmp_path):
    root = str(tmp_path / 'out')
    stale = osp.join(root, 'synthetic_extras', 'all_objects', 'stale')
    os.makedirs(stale)
    make_synthetic_refavs(root, seed=0, overwrite=True, **TINY)
    assert not osp.exists(stale)
    assert sorted(os.listdir(osp.join(root, 'synthetic_extras',
                                      'all_objects'))) == \
        sorted(read_info(root)['clips'])
