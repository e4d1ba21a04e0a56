"""The public metric vectors: values of the official MATLAB code, matched to 1e-5 relative.

The vectors live in ``<repo>/../shared/metric_vectors/public`` (or
``$MATTEBOX_SHARED/metric_vectors/public``); without them these tests are skipped.
"""
import math

import numpy as np
import pytest
from PIL import Image

from mattebox.evaluation import functional as F
try:  # tests/evaluation as a package or as a plain folder on sys.path
    from .metric_test_utils import (load_case, load_reference_values, public_vectors_dir,
                                    read_png_uint8)
except ImportError:
    from metric_test_utils import (load_case, load_reference_values, public_vectors_dir,
                                   read_png_uint8)

REL = 1e-5

if public_vectors_dir() is None:
    CASES = [pytest.param(None, marks=pytest.mark.skip(
        reason='public metric vectors not found: expected <repo>/../shared/metric_vectors/'
               'public/metrics.json, or set MATTEBOX_SHARED'))]
    REFERENCE = {}
else:
    REFERENCE = load_reference_values()
    CASES = sorted(REFERENCE)

# (json key, function, options): the values evaluate.m prints and the raw function values
CHECKS = {
    'sad_reported': (F.sad, {}),
    'mse_reported': (F.mse, {}),
    'grad_reported': (F.gradient_error, {}),
    'conn_reported': (F.connectivity_error, {}),
    'sad': (F.sad, {}),  # compute_sad_loss already divides by 1000
    'mse': (F.mse, {}),
    'grad': (F.gradient_error, {'norm_const': 1}),
    'conn': (F.connectivity_error, {'norm_const': 1}),
}


def _assert_matches(value: float, expected, what: str) -> None:
    if expected is None:
        assert math.isnan(value), f'{what}: expected NaN (null), got {value}'
    else:
        assert value == pytest.approx(expected, rel=REL, abs=0), (
            f'{what}: got {value!r}, official {expected!r}, rel diff '
            f'{abs(value - expected) / abs(expected) if expected else abs(value):.3g}')


def test_vector_set_is_complete():
    if not REFERENCE:
        pytest.skip('public metric vectors not found')
    assert len(REFERENCE) == 22
    for name, ref in REFERENCE.items():
        assert set(CHECKS) | {'n_unknown', 'height', 'width'} <= set(ref), name


@pytest.mark.parametrize('case', CASES)
def test_official_values(case):
    pred, gt, trimap = load_case(case)
    ref = REFERENCE[case]
    assert pred.shape == gt.shape == trimap.shape == (ref['height'], ref['width'])
    assert int((trimap == 128).sum()) == ref['n_unknown']
    for key, (func, options) in CHECKS.items():
        _assert_matches(func(pred, gt, trimap, **options), ref[key], f'{case} {key}')


@pytest.mark.parametrize('case', CASES)
def test_official_values_from_float_mattes(case):
    """alpha = v / 255 as float32 and float64 gives the same numbers as uint8."""
    pred, gt, trimap = load_case(case)
    ref = REFERENCE[case]
    keys = ('sad_reported', 'mse_reported', 'grad_reported', 'conn_reported')
    exact_values = {key: CHECKS[key][0](pred, gt, trimap) for key in keys}
    for dtype in (np.float32, np.float64):
        p = pred.astype(dtype) / dtype(255)
        g = gt.astype(dtype) / dtype(255)
        for key in keys:
            func, options = CHECKS[key]
            value = func(p, g, trimap, **options)
            exact = exact_values[key]
            if math.isnan(exact):
                assert math.isnan(value)
            else:
                assert value == exact, f'{case} {key} {dtype.__name__}: {value} != {exact}'
            _assert_matches(value, ref[key], f'{case} {key} ({dtype.__name__} input)')


def test_png_reading_handles_bilevel_images(tmp_path):
    """A 0/255 image saved as a 1-bit PNG reads back as uint8 0/255, not 0/1."""
    if not REFERENCE:
        pytest.skip('public metric vectors not found')
    pred, _, _ = load_case('gt05_threshold_masked')
    assert set(np.unique(pred).tolist()) == {0, 255}
    path = tmp_path / 'bilevel.png'
    Image.fromarray(pred > 127).save(path)  # mode '1'
    with Image.open(path) as im:
        assert im.mode == '1'
    np.testing.assert_array_equal(read_png_uint8(path), pred)
