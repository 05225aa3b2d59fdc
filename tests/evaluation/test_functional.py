"""``refavs_score`` against an independent reading of the protocol.

The reference below is written from ``shared/refavs/README.md`` ("Evaluation
protocol") in plain numpy, looping over batches, frames and thresholds, and
shares nothing with ``sam2love.evaluation``.

Most inputs are *grid* logits: probabilities at midpoints between the F
thresholds k / 254, so that no pixel lies within rounding distance of a
threshold (0.4, 0.5 or any t_k). Float32 sigmoids (numpy's vs torch's) and
float32 linspaces (numpy's vs torch's) differ by one ulp on some values, and
only there could the two implementations take different sides of a
threshold; away from thresholds they must agree to 1e-6.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import sam2love  # noqa: F401
import sam2love.evaluation  # noqa: F401
from sam2love.evaluation import (
    hard_masks_to_logits,
    probs_to_logits,
    refavs_score,
    refavs_score_per_expression,
)

TOL = 1e-6


# --- the reference: the README's protocol, literally ------------------------

def ref_sigmoid(x):
    return (1 / (1 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)


REF_THRESHOLDS = np.linspace(0, 1 - 1e-10, 255).astype(np.float32)


def ref_frame_j(p, g):
    b = p > 0.4
    if g.any():
        return (b & g).sum() / ((b | g).sum() + 1e-7)
    return (~b & ~g).sum() / (g.size + 1e-7)


def ref_frame_f_curve(p, g):
    b = p.ravel()[None] >= REF_THRESHOLDS[:, None]  # (255, H*W): B_k
    tp = (b & g.ravel()[None]).sum(1)
    prec = tp / (b.sum(1) + 1e-20)
    rec = tp / (g.sum() + 1e-20)
    with np.errstate(invalid='ignore'):
        curve = 1.3 * prec * rec / (0.3 * prec + rec)
    return np.nan_to_num(curve, nan=0.0)


def ref_score(logits, masks, null=False, batch_size=4):
    """J, F, J&F or S, batch by batch, frame by frame."""
    js, fs, ss = [], [], []
    for start in range(0, len(logits), batch_size):
        probs = [ref_sigmoid(x) for x in logits[start:start + batch_size]]
        gts = [np.asarray(m) != 0 for m in masks[start:start + batch_size]]
        frames = [(p[t], g[t]) for p, g in zip(probs, gts)
                  for t in range(p.shape[0])]
        if null:
            fg = sum(int((p > 0.5).sum()) for p, _ in frames)
            total = sum(p.size for p, _ in frames)
            ss.append(math.sqrt(fg / total))
            continue
        js.append(np.mean([ref_frame_j(p, g) for p, g in frames]))
        curves = [ref_frame_f_curve(p, g) for p, g in frames if g.any()]
        fs.append(np.mean(curves, axis=0).max() if curves else 0.0)
    if null:
        return {'S': np.mean(ss)}
    j, f = np.mean(js), np.mean(fs)
    return {'J': j, 'F': f, 'J&F': (j + f) / 2}


# --- inputs ------------------------------------------------------------------

def grid_logits(rng, shape):
    """Logits whose probabilities sit between F thresholds (see module doc)
    plus a few saturated pixels (+-100: probability 0 and exactly 1)."""
    mid = (np.arange(254) + 0.5) / 254
    p = mid[rng.integers(0, 254, shape)]
    logits = np.log(p) - np.log1p(-p)
    sat = rng.random(shape)
    logits[sat < 0.02] = -100.0
    logits[sat > 0.98] = 100.0
    return logits.astype(np.float32)


def blob_masks(rng, num_frames, h, w, empty_frames=()):
    """Rectangles moving over the frames; listed frames are empty."""
    masks = np.zeros((num_frames, h, w), bool)
    for t in range(num_frames):
        if t in empty_frames:
            continue
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        masks[t, y:y + h // 3 + 1, x:x + w // 3 + 1] = True
    return masks


def correlated_logits(rng, masks):
    """Grid logits that lean towards the mask (a plausible prediction)."""
    logits = grid_logits(rng, masks.shape)
    shift = np.where(masks, 2.0, -2.0) * rng.random(masks.shape[0])[:, None,
                                                                       None]
    # snap back onto the grid so that no probability nears a threshold
    mid = (np.arange(254) + 0.5) / 254
    p = 1 / (1 + np.exp(-(logits.astype(np.float64) + shift)))
    p = mid[np.clip(np.round(p * 254 - 0.5), 0, 253).astype(int)]
    return (np.log(p) - np.log1p(-p)).astype(np.float32)


def make_split(seed, num_expr=10, num_frames=3, h=17, w=23):
    """10 expressions -> batches 4, 4, 2. Expressions 4-7 (the whole second
    batch) have no object; others have some empty frames."""
    rng = np.random.default_rng(seed)
    logits, masks = [], []
    for i in range(num_expr):
        empty = range(num_frames) if 4 <= i < 8 else (
            {i % num_frames} if i % 3 == 0 else ())
        m = blob_masks(rng, num_frames, h, w, empty)
        masks.append(m)
        logits.append(correlated_logits(rng, m) if i % 2 else
                      grid_logits(rng, m.shape))
    return logits, masks


def assert_scores(got, want, tol=TOL):
    assert set(got) == set(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=tol), k


# --- against the reference ---------------------------------------------------

@pytest.mark.parametrize('seed', [0, 1])
def test_matches_reference_small(seed):
    logits, masks = make_split(seed)
    assert_scores(refavs_score(logits, masks), ref_score(logits, masks))
    assert_scores(refavs_score(logits, masks, null=True),
                  ref_score(logits, masks, null=True))


def test_batch_without_object_scores_zero_f_and_counts():
    logits, masks = make_split(0)
    got = refavs_score(logits[4:8], masks[4:8])
    assert got['F'] == 0.0
    # the batch of no object drags F down: it counts as a 0
    first, last = refavs_score(logits[:4], masks[:4]), refavs_score(
        logits[8:], masks[8:])
    assert refavs_score(logits, masks)['F'] == pytest.approx(
        (first['F'] + 0.0 + last['F']) / 3, abs=1e-12)


def test_matches_reference_full_size():
    """T = 10 at 256x256; 5 expressions -> batches 4 and 1."""
    rng = np.random.default_rng(3)
    masks = [blob_masks(rng, 10, 256, 256, empty_frames=(2, 7) if i == 1
                        else ()) for i in range(5)]
    logits = [correlated_logits(rng, m) for m in masks]
    assert_scores(refavs_score(logits, masks), ref_score(logits, masks))
    assert_scores(refavs_score(logits, masks, null=True),
                  ref_score(logits, masks, null=True))


def test_continuous_logits_close_to_reference():
    """Ordinary float logits: one-ulp sigmoid differences at thresholds
    stay far below the tolerance."""
    rng = np.random.default_rng(4)
    masks = [blob_masks(rng, 4, 64, 64, empty_frames=(1, ) if i == 2 else ())
             for i in range(5)]
    logits = [(rng.normal(0, 3, m.shape) + 3 * (2 * m - 1)).astype(np.float32)
              for m in masks]
    assert_scores(refavs_score(logits, masks), ref_score(logits, masks))


def test_per_expression_variant_is_batches_of_one():
    logits, masks = make_split(5)
    got = refavs_score_per_expression(logits, masks)
    assert_scores(got, ref_score(logits, masks, batch_size=1))
    # F depends on the grouping: the variant is not the official number
    assert got['F'] != pytest.approx(refavs_score(logits, masks)['F'])


# --- hand-computed cases -------------------------------------------------------

def test_perfect_prediction():
    rng = np.random.default_rng(0)
    masks = [blob_masks(rng, 10, 32, 32) for _ in range(3)]
    got = refavs_score([hard_masks_to_logits(m) for m in masks], masks)
    assert_scores(got, {'J': 1.0, 'F': 1.0, 'J&F': 1.0})


def test_empty_ground_truth_and_background_prediction():
    masks = [np.zeros((10, 16, 16), bool)]
    got = refavs_score([np.full((10, 16, 16), -5.0, np.float32)], masks)
    assert_scores(got, {'J': 1.0, 'F': 0.0, 'J&F': 0.5})
    # one foreground pixel in each frame: J = 255 / 256
    logits = np.full((10, 16, 16), -5.0, np.float32)
    logits[:, 0, 0] = 5.0
    assert refavs_score([logits], masks)['J'] == pytest.approx(255 / 256)


def test_all_foreground_prediction_of_half_the_image():
    mask = np.zeros((2, 8, 8), bool)
    mask[:, :4] = True
    got = refavs_score([np.full((2, 8, 8), 5.0, np.float32)], [mask])
    # every threshold but the last selects all: prec 0.5, rec 1
    assert got['J'] == pytest.approx(0.5)
    assert got['F'] == pytest.approx(1.3 * 0.5 / (0.3 * 0.5 + 1))


def test_j_threshold_is_0_4_and_s_threshold_0_5():
    p = np.array([0.39, 0.41, 0.49, 0.51])
    logits = np.log(p / (1 - p)).astype(np.float32).reshape(1, 2, 2)
    full = np.ones((1, 2, 2), bool)
    assert refavs_score([logits], [full])['J'] == pytest.approx(0.75)
    assert refavs_score([logits], [full], null=True)['S'] == pytest.approx(
        math.sqrt(1 / 4))


def test_s_known_values():
    """Per batch sqrt(#fg / #pixels), then mean over batches."""
    shape = (10, 8, 8)
    fg_counts = [0, 64, 160, 320, 40]  # 5 expressions: batches 4 and 1
    logits = []
    for n in fg_counts:
        x = np.full(shape[0] * 64, -3.0, np.float32)
        x[:n] = 3.0
        logits.append(x.reshape(shape))
    masks = [np.zeros(shape, bool)] * 5
    want = (math.sqrt(544 / 2560) + math.sqrt(40 / 640)) / 2
    got = refavs_score(logits, masks, null=True)
    assert set(got) == {'S'}
    assert got['S'] == pytest.approx(want, abs=1e-12)


# --- the hard-mask trap --------------------------------------------------------

def test_hard_masks_as_logits_fall_into_the_trap():
    rng = np.random.default_rng(1)
    masks = [blob_masks(rng, 10, 64, 64) for _ in range(4)]
    with pytest.warns(UserWarning, match='hard_masks_to_logits'):
        trapped = refavs_score([m.astype(np.float32) for m in masks], masks)
    assert trapped['J'] < 0.25  # sigmoid(0) = 0.5 > 0.4: all foreground
    fixed = refavs_score([hard_masks_to_logits(m) for m in masks], masks)
    assert fixed['J'] == pytest.approx(1.0)


def test_integer_or_bool_logits_are_refused():
    m = np.ones((2, 4, 4), bool)
    for bad in (m, m.astype(np.uint8), torch.from_numpy(m)):
        with pytest.raises(TypeError, match='hard_masks_to_logits'):
            refavs_score([bad], [m])


def test_hard_masks_to_logits_keeps_type():
    m = np.array([[0, 1], [2, 0]], np.uint8)
    out = hard_masks_to_logits(m)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[-100, 100], [100, -100]])
    t = hard_masks_to_logits(torch.from_numpy(m) != 0)
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), out)


def test_probs_to_logits_keeps_every_8_bit_decision():
    """sigmoid(probs_to_logits(v / 255)) in float32 takes the side of 0.4,
    0.5 and of every F threshold that v / 255 takes, for v = 0..255."""
    p = np.arange(256) / 255
    logits = probs_to_logits(p)
    assert logits.dtype == np.float32
    assert logits[0] == -100 and logits[-1] == 100
    back = torch.sigmoid(torch.from_numpy(logits))
    p32 = torch.from_numpy(p.astype(np.float32))
    assert torch.equal(back > 0.4, p32 > 0.4)
    assert torch.equal(back > 0.5, p32 > 0.5)
    t = torch.linspace(0, 1 - 1e-10, 255)
    assert torch.equal(back[:, None] >= t, p32[:, None] >= t)


def test_probs_to_logits_validates():
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        probs_to_logits(np.array([0.5, 1.2]))
    with pytest.raises(TypeError, match='255'):
        probs_to_logits(np.array([0, 255], np.uint8))
    t = probs_to_logits(torch.tensor([0.0, 0.25, 1.0]))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert t[1].item() == pytest.approx(math.log(1 / 3))


# --- input forms ---------------------------------------------------------------

def test_numpy_torch_and_float16_agree():
    logits, masks = make_split(2)
    base = refavs_score(logits, masks)
    as_torch = refavs_score([torch.from_numpy(x) for x in logits],
                            [torch.from_numpy(m) for m in masks])
    assert as_torch == base
    as_uint8 = refavs_score(logits, [m.astype(np.uint8) for m in masks])
    assert as_uint8 == base
    # float16 values cast back to float32 exactly
    half = [x.astype(np.float16) for x in logits]
    assert refavs_score(half, masks) == refavs_score(
        [h.astype(np.float32) for h in half], masks)
    assert refavs_score([x.astype(np.float64) for x in logits], masks) == base


def test_deterministic():
    logits, masks = make_split(3)
    assert refavs_score(logits, masks) == refavs_score(logits, masks)


def test_bad_inputs_are_named():
    m = np.zeros((2, 4, 4), bool)
    x = np.zeros((2, 4, 4), np.float32) - 1
    with pytest.raises(ValueError, match='2 logits but 1 masks'):
        refavs_score([x, x], [m])
    with pytest.raises(ValueError, match=r'expression 1: logits \(2, 4, 5\)'):
        refavs_score([x, np.zeros((2, 4, 5), np.float32)], [m, m])
    with pytest.raises(ValueError, match=r'\(T, H, W\)'):
        refavs_score([x[0]], [m[0]])
    nan = x.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        refavs_score([nan], [m])
    with pytest.raises(ValueError, match='no expressions'):
        refavs_score([], [])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        refavs_score([x], [m])  # real logits: no hard-mask warning
