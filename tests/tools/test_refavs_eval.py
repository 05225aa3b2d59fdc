"""tools/refavs_eval.py scores saved predictions like ``refavs_score``."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tool_loader import load_tool

import sam2love  # noqa: F401
import sam2love.evaluation  # noqa: F401
from sam2love.datasets import read_metadata
from sam2love.datasets.layout import mask_files
from sam2love.datasets.media import load_eval_mask
from sam2love.evaluation import probs_to_logits, refavs_score

refavs_eval = load_tool('refavs_eval')

T = 10
SPLITS = ['val', 'test_s', 'test_u', 'test_n']


def split_rows(root, split):
    return [r for r in read_metadata(osp.join(root, 'metadata.csv'))
            if r.split == split]


def ground_truth(root, row):
    files = mask_files(root, row.name, row.fid, T)
    if row.is_null and not osp.isdir(files['mask_dir']):
        return np.zeros((T, 256, 256), bool)
    return np.stack([load_eval_mask(p) for p in files['mask_paths']])


def write_predictions(root, pred_dir, seed=0):
    """Per uid, PNG probabilities (even rows) or .npy logits (odd rows, one
    of them at another size). Returns {uid: logits (T, 256, 256)} as the
    tool must read them."""
    rng = np.random.default_rng(seed)
    logits = {}
    rows = [r for s in SPLITS for r in split_rows(root, s)]
    for k, row in enumerate(rows):
        if row.uid in logits:  # a duplicated uid: one prediction for both
            continue
        gt = ground_truth(root, row)
        if k % 2 == 0:
            noise = rng.integers(-90, 90, gt.shape)
            values = np.clip(np.where(gt, 200, 40) + noise, 0, 255).astype(
                np.uint8)
            folder = osp.join(pred_dir, row.uid)
            os.makedirs(folder)
            for t in range(T):
                Image.fromarray(values[t], 'L').save(
                    osp.join(folder, f'{t:05d}.png'))
            logits[row.uid] = probs_to_logits(values / 255)
        else:
            size = (48, 80) if k == 1 else (256, 256)
            x = rng.normal(0, 2, (T, *size)).astype(np.float32)
            if size == (256, 256):
                x += 3 * (2 * gt - 1)
            np.save(osp.join(pred_dir, f'{row.uid}.npy'), x)
            logits[row.uid] = F.interpolate(
                torch.from_numpy(x)[None], size=(256, 256), mode='bilinear',
                align_corners=False)[0].numpy()
    return logits


def expected(root, logits):
    want = {}
    for split in SPLITS:
        rows = split_rows(root, split)
        scores = refavs_score([logits[r.uid] for r in rows],
                              [ground_truth(root, r) for r in rows],
                              null=split == 'test_n')
        for k, v in scores.items():
            want[f'{split}/{k}'] = v if k == 'S' else 100 * v
    for k in ('J', 'F', 'J&F'):
        want[f'mix/{k}'] = (want[f'test_s/{k}'] + want[f'test_u/{k}']) / 2
    return want


def run(root, pred_dir, *splits):
    return refavs_eval.main([
        '--data-root', root, '--split', *splits, '--pred-dir', pred_dir,
        '--no-progress'])


def test_scores_equal_refavs_score(small_tree, tmp_path, capsys):
    pred_dir = str(tmp_path / 'pred')
    logits = write_predictions(small_tree, pred_dir)
    got = run(small_tree, pred_dir, *SPLITS)
    want = expected(small_tree, logits)
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-9), k
    out = capsys.readouterr().out
    assert f'test_s: J {want["test_s/J"]:.2f}' in out
    assert f'test_n: S {want["test_n/S"]:.4f}' in out
    assert 'mix: J' in out and 'val: J' in out
    # one split alone gives the same numbers
    alone = run(small_tree, pred_dir, 'val')
    assert alone == {k: v for k, v in got.items() if k.startswith('val/')}


def test_binary_pngs_are_hard_masks_not_logits(small_tree, tmp_path):
    """0/255 PNGs equal to the ground truth score J = F = 100 (as 0/1
    logits they would turn every pixel foreground)."""
    pred_dir = str(tmp_path / 'pred')
    for row in split_rows(small_tree, 'test_s'):
        folder = osp.join(pred_dir, row.uid)
        if osp.isdir(folder):
            continue
        os.makedirs(folder)
        for t, mask in enumerate(ground_truth(small_tree, row)):
            Image.fromarray(mask.astype(np.uint8) * 255, 'L').save(
                osp.join(folder, f'{t:05d}.png'))
    got = run(small_tree, pred_dir, 'test_s')
    # saw_4 is listed twice with different objects, and both rows read the
    # one prediction: only one of them can be perfect
    rows = split_rows(small_tree, 'test_s')
    first = {}
    for r in rows:
        first.setdefault(r.uid, r)
    want = refavs_score(
        [(2 * ground_truth(small_tree, first[r.uid]) - 1) * 100.0
         for r in rows], [ground_truth(small_tree, r) for r in rows])
    assert got['test_s/J'] == pytest.approx(100 * want['J'], abs=1e-9)
    assert got['test_s/F'] == pytest.approx(100 * want['F'], abs=1e-9)
    assert got['test_s/J'] > 80


def test_missing_prediction_names_the_uid(small_tree, tmp_path):
    pred_dir = str(tmp_path / 'pred')
    write_predictions(small_tree, pred_dir)
    uid = split_rows(small_tree, 'test_u')[2].uid
    path = osp.join(pred_dir, uid)
    if osp.isdir(path):
        for name in os.listdir(path):
            os.remove(osp.join(path, name))
        os.rmdir(path)
    else:
        os.remove(path + '.npy')
    with pytest.raises(refavs_eval.PredictionError,
                       match=f'{uid}.*no prediction') as e:
        run(small_tree, pred_dir, 'test_u')
    assert e.value.uid == uid and e.value.path == path + '.npy'


def test_bad_predictions_are_named(small_tree, tmp_path):
    pred_dir = str(tmp_path / 'pred')
    write_predictions(small_tree, pred_dir)
    rows = split_rows(small_tree, 'val')
    png_uid, npy_uid = rows[0].uid, rows[1].uid
    # a frame missing from a PNG folder
    os.remove(osp.join(pred_dir, png_uid, '00007.png'))
    with pytest.raises(refavs_eval.PredictionError,
                       match=f'{png_uid}.*00007.png.*missing'):
        run(small_tree, pred_dir, 'val')
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(
        osp.join(pred_dir, png_uid, '00007.png'))
    # hard masks saved as an integer array
    np.save(osp.join(pred_dir, f'{npy_uid}.npy'), np.zeros((T, 256, 256),
                                                           np.uint8))
    with pytest.raises(refavs_eval.PredictionError,
                       match=f'{npy_uid}.*float logits'):
        run(small_tree, pred_dir, 'val')
    # too few frames
    np.save(osp.join(pred_dir, f'{npy_uid}.npy'), np.zeros((3, 256, 256),
                                                           np.float32))
    with pytest.raises(refavs_eval.PredictionError, match=r'shape \(3, '):
        run(small_tree, pred_dir, 'val')
    # both forms present
    os.makedirs(osp.join(pred_dir, npy_uid))
    with pytest.raises(refavs_eval.PredictionError, match='keep one'):
        run(small_tree, pred_dir, 'val')
