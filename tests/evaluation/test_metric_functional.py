"""mattebox.evaluation.functional: fast implementations against plain transcriptions."""
import math

import numpy as np
import pytest
import torch

from mattebox.evaluation import functional as F

try:  # tests/evaluation as a package or as a plain folder on sys.path
    from . import dim_reference as R
    from .metric_test_utils import EXACT_LEVELS, random_case, tie_case
except ImportError:
    import dim_reference as R
    from metric_test_utils import EXACT_LEVELS, random_case, tie_case

KINDS = ('smooth', 'levels', 'noise', 'binary', 'ties')
SEEDS = range(8)
# The reference works in float32 like the MATLAB code, ours in float64 / exact integers.
# Grad and Conn sum differences of float32 values near 1 (each off by up to ~1e-7), so a
# small total can be off by more than 1e-5 relative in the reference: allow that much.
REL = 1e-5
ABS = 1e-9
F32_PER_PIXEL = 2.5e-7


def _float32_slack(trimap, region='unknown') -> float:
    n = trimap.size if region == 'all' else int((trimap == 128).sum())
    return ABS + F32_PER_PIXEL * n


def _dim_fast(pred, gt, trimap, region='unknown'):
    return {
        'sad': F.sad(pred, gt, trimap, region=region),
        'mse': F.mse(pred, gt, trimap, region=region),
        'grad': F.gradient_error(pred, gt, trimap, region=region, norm_const=1),
        'conn': F.connectivity_error(pred, gt, trimap, region=region, norm_const=1),
    }


def _dim_reference(pred, gt, trimap):
    return {
        'sad': R.dim_sad(pred, gt, trimap),
        'mse': R.dim_mse(pred, gt, trimap),
        'grad': R.dim_gradient(pred, gt, trimap),
        'conn': R.dim_connectivity(pred, gt, trimap),
    }


def _assert_close(fast: dict, ref: dict, rel: float, abs_: float, what: str,
                  slack: float = 0.0) -> None:
    """``slack``: extra absolute tolerance for the cancelling sums (grad, conn)."""
    for key, expected in ref.items():
        value = fast[key]
        tol = abs_ + (slack if key in ('grad', 'conn') else 0.0)
        if math.isnan(expected):
            assert math.isnan(value), f'{what} {key}: expected NaN, got {value}'
        else:
            assert value == pytest.approx(expected, rel=rel, abs=tol), (
                f'{what} {key}: fast {value!r} vs reference {expected!r}')


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('kind', KINDS)
def test_fast_matches_matlab_transcription(kind, seed):
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    pred, gt, trimap = random_case(rng, kind)
    if seed % 3 == 0:  # blocky upscaled mattes: larger components, long runs
        factor = np.ones((int(rng.integers(2, 5)),) * 2, np.uint8)
        pred, gt, trimap = (np.kron(x, factor) for x in (pred, gt, trimap))
    _assert_close(_dim_fast(pred, gt, trimap), _dim_reference(pred, gt, trimap), REL, ABS,
                  f'{kind}/{seed} {pred.shape}', slack=_float32_slack(trimap))


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('kind', KINDS)
def test_region_all_matches_transcription_with_all_unknown_trimap(kind, seed):
    rng = np.random.default_rng([seed, KINDS.index(kind), 1])
    pred, gt, _ = random_case(rng, kind)
    all_unknown = np.full(pred.shape, 128, np.uint8)
    fast = _dim_fast(pred, gt, None, region='all')
    _assert_close(fast, _dim_reference(pred, gt, all_unknown), REL, ABS, f'{kind}/{seed}',
                  slack=_float32_slack(all_unknown))
    # a trimap, when given, does not change region='all'
    rng_trimap = rng.choice(np.array([0, 128, 255], np.uint8), pred.shape)
    assert _dim_fast(pred, gt, rng_trimap, region='all') == fast


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('kind', KINDS)
def test_mmagic_convention_matches_mmagic_transcription(kind, seed):
    rng = np.random.default_rng([seed, KINDS.index(kind), 2])
    pred, gt, trimap = random_case(rng, kind)
    fast = {
        'sad': F.sad(pred, gt, trimap, convention='mmagic'),
        'mse': F.mse(pred, gt, trimap, convention='mmagic'),
        'grad': F.gradient_error(pred, gt, trimap, convention='mmagic'),
        'conn': F.connectivity_error(pred, gt, trimap, convention='mmagic'),
    }
    ref = {
        'sad': R.mmagic_sad(pred, gt, trimap),
        'mse': R.mmagic_mse(pred, gt, trimap),
        'grad': R.mmagic_gradient(pred, gt, trimap),
        'conn': R.mmagic_connectivity(pred, gt, trimap),
    }
    _assert_close(fast, ref, 1e-9, 1e-12, f'{kind}/{seed}')


@pytest.mark.parametrize('seed', range(6))
def test_ties_go_to_the_first_component_in_column_major_order(seed):
    pred, gt, trimap = tie_case(np.random.default_rng([seed, 99]))
    dim = F.connectivity_error(pred, gt, trimap, norm_const=1)
    mmagic = F.connectivity_error(pred, gt, trimap, convention='mmagic') * 1000
    assert dim == pytest.approx(R.dim_connectivity(pred, gt, trimap), rel=REL)
    assert mmagic == pytest.approx(R.mmagic_connectivity(pred, gt, trimap) * 1000, rel=1e-9)
    # the construction makes the two orders pick different components
    assert abs(dim - mmagic) > 0.05


def test_connectivity_threshold_rule():
    """An 8-bit v passes k / 10 exactly when v >= 25.5 k, as single(v) / 255 >= k / 10."""
    n, thresholds, _ = F._threshold_levels('dim', 0.1)
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    level = F._level_map(v, 'dim', n, thresholds).ravel()
    single = np.float32(np.arange(256)) / np.float32(255)
    expected = sum((single >= np.float32(k * 0.1)).astype(int) for k in range(1, 11))
    np.testing.assert_array_equal(level, expected)
    np.testing.assert_array_equal(level, np.minimum(2 * np.arange(256) // 51, 10))
    assert level[153] == 6 and level[152] == 5
    # MMagic's float64 np.arange thresholds: 153 / 255.0 < 0.6000000000000001
    n_m, thresholds_m, _ = F._threshold_levels('mmagic', 0.1)
    assert F._level_map(v, 'mmagic', n_m, thresholds_m).ravel()[153] == 5


def test_values_on_thresholds_match_transcription():
    rng = np.random.default_rng(7)
    gt = np.kron(rng.choice(EXACT_LEVELS, (12, 12)), np.ones((3, 3), np.uint8))
    pred = np.kron(rng.choice(EXACT_LEVELS, (12, 12)), np.ones((3, 3), np.uint8))
    trimap = np.full(gt.shape, 128, np.uint8)
    assert F.connectivity_error(pred, gt, trimap, norm_const=1) == pytest.approx(
        R.dim_connectivity(pred, gt, trimap), rel=REL)


def test_known_region_pixels_shape_components():
    """Components are taken over the whole image: pred in the known region matters."""
    gt = np.zeros((20, 30), np.uint8)
    gt[5:15, 5:25] = 255
    gt[5:15, 14:16] = 150  # a soft seam splitting the foreground into two halves
    trimap = np.zeros_like(gt)
    trimap[5:15, 14:16] = 128
    pred = gt.copy()
    pred[5:15, 14:16] = 120
    joined = pred.copy()
    joined[0:3, :] = 255  # a bar in the known background joining more pixels
    gt_joined = gt.copy()
    gt_joined[0:3, :] = 255
    for p, g in ((pred, gt), (joined, gt_joined)):
        assert F.connectivity_error(p, g, trimap, norm_const=1) == pytest.approx(
            R.dim_connectivity(p, g, trimap), rel=REL, abs=ABS)
        assert F.gradient_error(p, g, trimap, norm_const=1) == pytest.approx(
            R.dim_gradient(p, g, trimap), rel=REL, abs=ABS)


@pytest.mark.parametrize('where', ['corner', 'edge', 'interior', 'single_row'])
def test_gradient_window_near_and_away_from_borders(where):
    rng = np.random.default_rng(3)
    pred = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    gt = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    trimap = np.zeros((40, 50), np.uint8)
    region = {'corner': (slice(0, 3), slice(47, 50)), 'edge': (slice(10, 14), slice(0, 2)),
              'interior': (slice(20, 21), slice(30, 31)),
              'single_row': (slice(39, 40), slice(5, 45))}[where]
    trimap[region] = 128
    assert F.gradient_error(pred, gt, trimap, norm_const=1) == pytest.approx(
        R.dim_gradient(pred, gt, trimap), rel=REL)


# ----------------------------------------------------------------------------- inputs
@pytest.mark.parametrize('seed', range(4))
def test_float_and_uint8_inputs_agree_exactly(seed):
    pred, gt, trimap = random_case(np.random.default_rng([seed, 5]), 'smooth')
    funcs = (F.sad, F.mse, F.mad, F.gradient_error, F.connectivity_error)
    expected = [f(pred, gt, trimap) for f in funcs]
    variants = [
        (pred / 255.0, gt / 255.0),
        (pred.astype(np.float32) / 255, gt.astype(np.float32) / 255),
        (torch.from_numpy(pred), torch.from_numpy(gt)),
        (torch.from_numpy(pred).float() / 255, torch.from_numpy(gt).double() / 255),
        (pred[None], gt[:, :, None]),
        (pred.astype(np.int64), gt.astype(np.uint16)),
    ]
    for p, g in variants:
        got = [f(p, g, torch.from_numpy(trimap)) for f in funcs]
        np.testing.assert_array_equal(got, expected)


def test_non_8bit_float_mattes_use_float_path():
    rng = np.random.default_rng(11)
    gt = rng.random((30, 40))
    pred = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1)
    trimap = np.full(gt.shape, 128, np.uint8)
    diff = pred - gt
    assert F.sad(pred, gt, trimap) == pytest.approx(np.abs(diff).sum() / 1000, rel=1e-12)
    assert F.mse(pred, gt, trimap) == pytest.approx((diff ** 2).mean(), rel=1e-12)
    assert F.mad(pred, gt, trimap, scale=1e3) == pytest.approx(np.abs(diff).mean() * 1e3,
                                                                rel=1e-12)
    # Grad / Conn of a float matte equal those of its 8-bit rounding to within rounding
    p8, g8 = (pred * 255).round().astype(np.uint8), (gt * 255).round().astype(np.uint8)
    assert F.gradient_error(pred, gt, trimap) == pytest.approx(
        F.gradient_error(p8, g8, trimap), rel=0.05)


def test_bool_mattes_are_0_and_255():
    gt = np.zeros((8, 8), bool)
    gt[2:6, 2:6] = True
    trimap = np.full((8, 8), 128, np.uint8)
    pred = np.zeros((8, 8), np.uint8)
    assert F.sad(pred, gt, trimap) == 16 / 1000
    assert F.sad(pred, gt.astype(np.uint8) * 255, trimap) == 16 / 1000


def test_closed_form_values_and_options():
    pred = np.zeros((10, 20), np.uint8)
    gt = np.full((10, 20), 255, np.uint8)
    trimap = np.zeros((10, 20), np.uint8)
    trimap[:, :5] = 128  # 50 unknown pixels
    assert F.sad(pred, gt, trimap) == 50 / 1000
    assert F.sad(pred, gt, trimap, norm_const=1) == 50
    assert F.sad(pred, gt, trimap, region='all') == 200 / 1000
    assert F.sad(pred, gt, trimap, convention='mmagic') == 200 / 1000
    assert F.mse(pred, gt, trimap) == 1.0
    assert F.mse(pred, gt, trimap, scale=1e3) == 1000.0
    assert F.mad(pred, gt, trimap) == 1.0
    assert F.mse(pred, gt, None, region='all') == 1.0
    assert F.mse(pred, gt, trimap, convention='mmagic') == 200 / 50  # whole-image sum / 50
    half = np.full((10, 20), 51, np.uint8)  # 0.2 everywhere
    assert F.mse(half, gt, None, region='all') == pytest.approx(0.64)
    assert F.mad(half, gt, None, region='all', scale=1e3) == pytest.approx(800)


def test_empty_unknown_region():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    gt = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    trimap = np.where(gt > 127, 255, 0).astype(np.uint8)
    assert F.sad(pred, gt, trimap) == 0.0
    assert F.gradient_error(pred, gt, trimap) == 0.0
    assert F.connectivity_error(pred, gt, trimap) == 0.0
    assert math.isnan(F.mse(pred, gt, trimap))
    assert math.isnan(F.mad(pred, gt, trimap))
    assert F.mse(pred, gt, trimap, convention='mmagic') == 0.0


def test_constant_images_have_zero_gradient():
    trimap = np.full((9, 9), 128, np.uint8)
    const = np.full((9, 9), 77, np.uint8)
    ramp = np.tile(np.arange(0, 90, 10, dtype=np.uint8), (9, 1))
    assert F.gradient_error(const, const, trimap) == 0.0
    assert F.gradient_error(const, ramp, trimap, norm_const=1) == pytest.approx(
        R.dim_gradient(const, ramp, trimap), rel=REL)


def test_errors_say_what_was_expected_and_found():
    a = np.zeros((4, 5), np.uint8)
    tri = np.full((4, 5), 128, np.uint8)
    with pytest.raises(ValueError, match=r'same shape, got \(4, 5\) and \(5, 4\)'):
        F.sad(a, a.T, tri)
    with pytest.raises(ValueError, match=r'trimap: expected shape \(4, 5\).*got \(4, 4\)'):
        F.sad(a, a, tri[:, :4])
    bad = tri.copy()
    bad[0, :2] = 127
    with pytest.raises(ValueError, match=r'0, 128 and 255 only, found 2 pixels .*\[127\]'):
        F.mse(a, a, bad)
    with pytest.raises(ValueError, match=r'pred: float mattes must lie in \[0, 1\], found '
                                         r'0\.\.200.*divide it by 255'):
        F.sad(np.where(np.arange(5) > 0, 200.0, 0.0) * np.ones((4, 1)), a, tri)
    big = np.zeros((4, 5), np.int32)
    big[1, 2] = 1000
    with pytest.raises(ValueError, match=r'gt: integer mattes must be on the 0..255 scale, '
                                         r'found values 0..1000 \(int32\)'):
        F.sad(a, big, tri)
    with pytest.raises(ValueError, match=r'pred: expected a 2-D H x W array.*\(3, 4, 5\)'):
        F.sad(np.zeros((3, 4, 5)), a, tri)
    with pytest.raises(ValueError, match=r"region must be one of \('unknown', 'all'\), "
                                         r"got 'trimap'"):
        F.sad(a, a, tri, region='trimap')
    with pytest.raises(ValueError, match=r"convention must be one of .*got 'matlab'"):
        F.connectivity_error(a, a, tri, convention='matlab')
    with pytest.raises(ValueError, match=r'trimap is required'):
        F.gradient_error(a, a, None)
    with pytest.raises(ValueError, match=r"mmagic.*leave region at 'unknown'"):
        F.sad(a, a, tri, region='all', convention='mmagic')
    with pytest.raises(ValueError, match=r'1 / step to be an integer.*0.3'):
        F.connectivity_error(a, a, tri, step=0.3)
    with pytest.raises(ValueError, match=r'sigma: expected a positive number, got -1'):
        F.gradient_error(a, a, tri, sigma=-1)
    with pytest.raises(ValueError, match=r'float matte contains NaN'):
        F.sad(np.full((4, 5), np.nan), a, tri)
