"""Image-matting metrics as pure functions: SAD, MSE, MAD, Grad and Conn.

Every function has the form ``f(pred, gt, trimap, **options) -> float`` and, with its
defaults, returns the per-image number that the official Deep Image Matting MATLAB
code (``evaluate.m``) prints:

=======================  ===================================================================
function                 default value (``convention='dim'``, ``region='unknown'``)
=======================  ===================================================================
:func:`sad`              sum over the unknown region of ``|a_p - a_g|``, divided by 1000
:func:`mse`              mean over the unknown region of ``(a_p - a_g)^2``; NaN without one
:func:`mad`              mean over the unknown region of ``|a_p - a_g|``; NaN without one
:func:`gradient_error`   sum over the unknown region of ``(|grad a_p| - |grad a_g|)^2``
                         (Gaussian-derivative filters, sigma 1.4), divided by 1000
:func:`connectivity_error`  sum over the unknown region of ``|phi(a_p) - phi(a_g)|``
                         (thresholds in steps of 0.1), divided by 1000
=======================  ===================================================================

where ``a = v / 255`` for an 8-bit value ``v`` and the unknown region is
``trimap == 128``. Filters and connected components always see the whole image; only
the sums are restricted to the region.

Inputs:
    ``pred`` and ``gt`` are H x W arrays (NumPy arrays or CPU torch tensors; a
    singleton channel axis, 1 x H x W or H x W x 1, is dropped), either integer on the
    0..255 scale (uint8, or any integer type holding 0..255; bool means 0 / 255) or
    float on the 0..1 scale. A float matte ``a`` is the 8-bit matte ``v = a * 255``:
    float values within 1e-4 / 255 of a multiple of 1 / 255 are snapped onto it, so a
    float matte made from an 8-bit one gives exactly the 8-bit result. ``trimap`` is an
    H x W array with values 0 (background), 128 (unknown) and 255 (foreground) only; it
    may be ``None`` when ``region='all'``.

Options:
    region: ``'unknown'`` (default; ``trimap == 128``) or ``'all'`` (every pixel, as in
        trimap-free, interactive and referring matting). MSE and MAD then average over
        all H x W pixels.
    scale (MSE, MAD): multiply the result, e.g. ``scale=1e3`` for the "MSE x 1e3"
        tables of many papers. SAD, Grad and Conn take ``norm_const`` (default 1000; use
        1 for the raw sums the MATLAB functions return before ``evaluate.m`` divides).
    convention: ``'dim'`` (default, the official code) or ``'mmagic'``, which reproduces
        MMagic / mmeval (``SAD``, ``MattingMSE``, ``GradientError``,
        ``ConnectivityError``) so that old tables can be recomputed: SAD summed over the
        whole image, MSE summed over the whole image but divided by the number of
        unknown pixels (0 without any), Conn thresholds from ``np.arange`` compared in
        float64 (so an 8-bit 153 fails 0.6) and ties between equally large components
        broken in row-major order. MMagic has no matting MAD; ``mad`` under
        ``'mmagic'`` follows its MSE (whole-image sum / unknown count).

Exactness: the official code works in single precision; these functions compute in
float64 (exact integer arithmetic where possible) and agree with the official values to
about 1e-6 relative. Conn thresholds are applied exactly as the single-precision code
does (an 8-bit value ``v`` passes ``k / 10`` exactly when ``v >= 25.5 k``) and ties
between equally large components go to the first one in column-major order, like
MATLAB's ``bwconncomp``.

Speed: Grad filters only the bounding box of the region (plus the filter half-width);
Conn labels each threshold level as row runs (one pass over the image finds every run
boundary of every level), joins the runs into components with a small sparse graph and
only looks up the pixels that can contribute (inside the region, pred != gt and
max(pred, gt) >= 0.15). All four metrics for a 1920 x 1080 matte take a few
milliseconds to a few tens of milliseconds on one core; see ``docs/metrics.md``.
"""
import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mattebox.guidance import unknown_region

__all__ = ['sad', 'mse', 'mad', 'gradient_error', 'connectivity_error',
           'gaussian_derivative_kernels', 'REGIONS', 'CONVENTIONS', 'UNKNOWN_VALUE',
           'TRIMAP_VALUES']

REGIONS = ('unknown', 'all')
CONVENTIONS = ('dim', 'mmagic')
UNKNOWN_VALUE = 128
TRIMAP_VALUES = (0, 128, 255)

#: float mattes are snapped onto the 8-bit grid within this distance (0..255 units)
_SNAP_TOL = 1e-4
#: phi(a) = 1 - (a - l) only where a - l >= this, so smaller alphas never contribute
_PHI_MIN_DIFF = 0.15


# ----------------------------------------------------------------------------- inputs
def _to_array(x: Any, name: str) -> np.ndarray:
    """A NumPy H x W view of ``x`` (NumPy array, torch tensor or nested sequence)."""
    if x is None:
        raise ValueError(f'{name}: expected an H x W array, got None')
    if hasattr(x, 'detach') and hasattr(x, 'cpu'):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[2]):
        arr = arr[0] if arr.shape[0] == 1 else arr[:, :, 0]
    if arr.ndim != 2:
        raise ValueError(f'{name}: expected a 2-D H x W array (or one with a singleton '
                         f'channel axis), got shape {tuple(arr.shape)}')
    return arr


def _to_value_scale(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` on the 0..255 scale: uint8 when it is 8-bit exact, float64 otherwise."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0 or hi > 255:
            raise ValueError(f'{name}: integer mattes must be on the 0..255 scale, found '
                             f'values {lo}..{hi} ({arr.dtype}); pass a float matte in '
                             f'[0, 1] for other bit depths')
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        v = arr.astype(np.float64) * 255.0
        if arr.size:
            if not np.isfinite(v).all():
                raise ValueError(f'{name}: float matte contains NaN or infinity')
            lo, hi = float(v.min()) / 255.0, float(v.max()) / 255.0
            if lo < -1e-6 or hi > 1 + 1e-6:
                hint = ' (a 0..255 matte stored as float? divide it by 255)' if hi > 1 else ''
                raise ValueError(f'{name}: float mattes must lie in [0, 1], found '
                                 f'{lo:g}..{hi:g}{hint}')
        snapped = np.rint(v)
        near = np.abs(v - snapped) <= _SNAP_TOL
        if near.all():
            return np.clip(snapped, 0, 255).astype(np.uint8)
        v[near] = snapped[near]
        return np.clip(v, 0.0, 255.0)
    raise TypeError(f'{name}: expected an integer (0..255) or float (0..1) matte, got '
                    f'dtype {arr.dtype}')


def _check_trimap(trimap: Any, shape: Tuple[int, int]) -> np.ndarray:
    tri = _to_array(trimap, 'trimap')
    if tri.shape != shape:
        raise ValueError(f'trimap: expected shape {shape} (the shape of pred and gt), got '
                         f'{tri.shape}')
    if tri.dtype != np.uint8:
        if not (np.issubdtype(tri.dtype, np.integer) or np.issubdtype(tri.dtype, np.floating)):
            raise TypeError(f'trimap: expected an integer array of 0/128/255, got dtype '
                            f'{tri.dtype}')
        ok_values = np.isin(tri, TRIMAP_VALUES)
        if not ok_values.all():
            bad = np.unique(tri[~ok_values])
            raise ValueError(f'trimap: expected values 0, 128 and 255 only, found '
                             f'{int((~ok_values).sum())} pixels with other values '
                             f'(e.g. {bad[:5].tolist()})')
        return tri.astype(np.uint8)
    ok = (tri == 0) | (tri == 128) | (tri == 255)
    if not ok.all():
        bad = np.unique(tri[~ok])
        raise ValueError(f'trimap: expected values 0, 128 and 255 only, found '
                         f'{int(tri.size - np.count_nonzero(ok))} pixels with other values '
                         f'(e.g. {bad[:5].tolist()})')
    return tri


@dataclass
class _Matte:
    """Validated inputs: pred and gt on the 0..255 scale and the pixels to sum over."""

    pred: np.ndarray          # uint8, or float64 where not 8-bit exact
    gt: np.ndarray            # same dtype as pred
    trimap: Optional[np.ndarray]
    region: str
    convention: str

    @property
    def shape(self) -> Tuple[int, int]:
        return self.pred.shape

    def unknown(self) -> np.ndarray:
        return unknown_region(self.trimap)  # == 128 on the validated 0/128/255 trimap

    def selection(self) -> Optional[np.ndarray]:
        """Boolean mask of the pixels summed over, or ``None`` for every pixel."""
        return None if self.region == 'all' else self.unknown()


def _prepare(pred: Any, gt: Any, trimap: Any, region: str, convention: str,
             func: str) -> _Matte:
    if region not in REGIONS:
        raise ValueError(f'{func}: region must be one of {REGIONS}, got {region!r}')
    if convention not in CONVENTIONS:
        raise ValueError(f'{func}: convention must be one of {CONVENTIONS}, got '
                         f'{convention!r}')
    if convention == 'mmagic' and region != 'unknown':
        raise ValueError(f"{func}: convention='mmagic' fixes its own regions (whole image "
                         f"for SAD/MSE sums, unknown region for Grad/Conn); leave region "
                         f"at 'unknown', got {region!r}")
    p = _to_array(pred, 'pred')
    g = _to_array(gt, 'gt')
    if p.shape != g.shape:
        raise ValueError(f'{func}: pred and gt must have the same shape, got {p.shape} '
                         f'and {g.shape}')
    p = _to_value_scale(p, 'pred')
    g = _to_value_scale(g, 'gt')
    if p.dtype != g.dtype:  # one of them is not 8-bit exact: both in float64
        p, g = p.astype(np.float64), g.astype(np.float64)
    if trimap is None:
        if region != 'all' or convention != 'dim':
            raise ValueError(f"{func}: a trimap is required unless region='all' "
                             f"(region={region!r}, convention={convention!r})")
        tri = None
    else:
        tri = _check_trimap(trimap, p.shape)
    return _Matte(p, g, tri, region, convention)


def _bbox(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """``(r0, r1, c0, c1)`` with ``mask[r0:r1, c0:c1]`` holding every True, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _selected_diffs(m: _Matte, sel: Optional[np.ndarray]) -> np.ndarray:
    """``pred - gt`` (0..255 units; int32 or float64) at the selected pixels."""
    if sel is None:
        p, g = m.pred, m.gt
    else:
        box = _bbox(sel)
        if box is None:
            return np.zeros(0, dtype=np.int32)
        r0, r1, c0, c1 = box
        inner = sel[r0:r1, c0:c1]
        p, g = m.pred[r0:r1, c0:c1][inner], m.gt[r0:r1, c0:c1][inner]
    if p.dtype == np.uint8:
        return (p.astype(np.int32) - g.astype(np.int32)).ravel()
    return (p - g).ravel()


def _sum_abs(d: np.ndarray) -> float:
    if d.dtype == np.int32:
        return float(np.abs(d).sum(dtype=np.int64))
    return float(np.abs(d).sum())


def _sum_sq(d: np.ndarray) -> float:
    if d.dtype == np.int32:
        d64 = d.astype(np.int64)
        return float(np.dot(d64, d64))
    return float(np.dot(d, d))


# ----------------------------------------------------------------------------- SAD etc.
def sad(pred: Any, gt: Any, trimap: Any = None, *, region: str = 'unknown',
        norm_const: float = 1000.0, convention: str = 'dim') -> float:
    """Sum of absolute differences ``sum |a_p - a_g| / norm_const``.

    Args:
        pred: predicted alpha matte, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha matte, same shape and conventions.
        trimap: H x W trimap, 0 / 128 / 255; may be None when ``region='all'``.
        region: ``'unknown'`` (sum over ``trimap == 128``, official) or ``'all'``.
        norm_const: divisor of the sum (1000 in every published table).
        convention: ``'dim'`` (official) or ``'mmagic'`` (sums over the whole image).

    Returns:
        The SAD, e.g. ``evaluate.m``'s per-image SAD with the defaults.
    """
    m = _prepare(pred, gt, trimap, region, convention, 'sad')
    sel = None if convention == 'mmagic' else m.selection()
    return _sum_abs(_selected_diffs(m, sel)) / 255.0 / norm_const


def _mean_error(m: _Matte, total_of, scale: float) -> float:
    if m.convention == 'mmagic':  # whole-image sum over the number of unknown pixels
        n_unknown = int(np.count_nonzero(m.unknown()))
        if n_unknown == 0:
            return 0.0
        return total_of(_selected_diffs(m, None)) / n_unknown * scale
    d = _selected_diffs(m, m.selection())
    if d.size == 0:
        return float('nan')
    return total_of(d) / d.size * scale


def mse(pred: Any, gt: Any, trimap: Any = None, *, region: str = 'unknown',
        scale: float = 1.0, convention: str = 'dim') -> float:
    """Mean squared error ``mean (a_p - a_g)^2 * scale`` over the region.

    Args:
        pred: predicted alpha matte, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha matte, same shape and conventions.
        trimap: H x W trimap, 0 / 128 / 255; may be None when ``region='all'``.
        region: ``'unknown'`` (official) or ``'all'``.
        scale: multiplier, e.g. 1e3 for "MSE x 1e3" tables.
        convention: ``'dim'`` (official) or ``'mmagic'`` (whole-image sum divided by the
            number of unknown pixels, 0 when there is none).

    Returns:
        The MSE; NaN when the region is empty (the official code computes 0 / 0).
    """
    m = _prepare(pred, gt, trimap, region, convention, 'mse')
    return _mean_error(m, lambda d: _sum_sq(d) / 65025.0, scale)


def mad(pred: Any, gt: Any, trimap: Any = None, *, region: str = 'unknown',
        scale: float = 1.0, convention: str = 'dim') -> float:
    """Mean absolute difference ``mean |a_p - a_g| * scale`` over the region.

    Args:
        pred: predicted alpha matte, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha matte, same shape and conventions.
        trimap: H x W trimap, 0 / 128 / 255; may be None when ``region='all'``.
        region: ``'unknown'`` or ``'all'`` (the usual MAD of trimap-free matting).
        scale: multiplier, e.g. 1e3 for "MAD x 1e3" tables.
        convention: ``'dim'`` or ``'mmagic'`` (MMagic has no MAD: whole-image sum divided
            by the number of unknown pixels, like its MSE).

    Returns:
        The MAD; NaN when the region is empty.
    """
    m = _prepare(pred, gt, trimap, region, convention, 'mad')
    return _mean_error(m, lambda d: _sum_abs(d) / 255.0, scale)


# ----------------------------------------------------------------------------- Grad
def gaussian_derivative_kernels(sigma: float) -> Tuple[np.ndarray, np.ndarray]:
    """The 1-D factors of ``gaussgradient.m``'s kernel: ``hx = outer(g, dg)``.

    ``gaussgradient.m`` builds ``hx(i, j) = gauss(i) * dgauss(j)`` on a square of half
    size ``ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma 0.01)))`` and scales it to unit L2
    norm; that is the outer product of the two returned vectors, each of unit norm.

    Args:
        sigma: standard deviation of the Gaussian (1.4 in the official code).

    Returns:
        ``(g, dg)``: the Gaussian and its derivative, float64, length ``2 * half + 1``.
    """
    if not (isinstance(sigma, numbers.Real) and sigma > 0):
        raise ValueError(f'sigma: expected a positive number, got {sigma!r}')
    arg = math.sqrt(2 * math.pi) * sigma * 1e-2
    if arg >= 1:
        raise ValueError(f'sigma: the kernel size formula of gaussgradient.m needs sigma < '
                         f'{1 / (math.sqrt(2 * math.pi) * 1e-2):.2f}, got {sigma}')
    half = math.ceil(sigma * math.sqrt(-2 * math.log(arg)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    dg = -x * g / sigma ** 2
    return g / np.linalg.norm(g), dg / np.linalg.norm(dg)


def _gradient_magnitude(img: np.ndarray, window: Tuple[int, int, int, int],
                        inner: Tuple[slice, slice], sel: Optional[np.ndarray],
                        g: np.ndarray, dg: np.ndarray) -> np.ndarray:
    """|grad mat2gray(img)| at the selected pixels (replicated borders, whole-image min/max).

    ``window`` is the part of the image that is filtered, ``inner`` the slices of it
    whose gradient is needed and ``sel`` (None: all) the selected pixels within those.
    """
    lo, hi = float(img.min()), float(img.max())
    if hi == lo:  # mat2gray of a constant image is constant: zero gradient
        if sel is not None:
            return np.zeros(int(np.count_nonzero(sel)))
        return np.zeros((inner[0].stop - inner[0].start) * (inner[1].stop - inner[1].start))
    r0, r1, c0, c1 = window
    sub = img[r0:r1, c0:c1]
    # Separable correlation; gaussgradient.m convolves, which only flips the sign.
    # With a window strictly inside the image the replicated border of the window only
    # reaches pixels within the half-width of its edge, which lie outside ``inner``.
    gx = cv2.sepFilter2D(sub, cv2.CV_64F, dg, g, borderType=cv2.BORDER_REPLICATE)[inner]
    gy = cv2.sepFilter2D(sub, cv2.CV_64F, g, dg, borderType=cv2.BORDER_REPLICATE)[inner]
    if sel is not None:
        gx, gy = gx[sel], gy[sel]
    # filtering is linear: filter(mat2gray(img)) = filter(img) / (max - min)
    return np.sqrt(gx * gx + gy * gy).ravel() / (hi - lo)


def gradient_error(pred: Any, gt: Any, trimap: Any = None, *, region: str = 'unknown',
                   sigma: float = 1.4, norm_const: float = 1000.0,
                   convention: str = 'dim') -> float:
    """Gradient error ``sum (|grad a_p| - |grad a_g|)^2 / norm_const``.

    Each matte is min-max normalised over the whole image (``mat2gray``), filtered with
    the first-derivative-of-Gaussian kernel pair of ``gaussgradient.m`` (replicated
    borders) and the squared difference of the gradient magnitudes is summed over the
    region.

    Args:
        pred: predicted alpha matte, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha matte, same shape and conventions.
        trimap: H x W trimap, 0 / 128 / 255; may be None when ``region='all'``.
        region: ``'unknown'`` (official) or ``'all'``.
        sigma: Gaussian standard deviation (1.4 officially).
        norm_const: divisor (``evaluate.m`` prints the sum / 1000).
        convention: ``'dim'`` or ``'mmagic'`` (the same computation in float64).

    Returns:
        The gradient error.
    """
    m = _prepare(pred, gt, trimap, region, convention, 'gradient_error')
    g, dg = gaussian_derivative_kernels(sigma)
    half = (len(g) - 1) // 2
    H, W = m.shape
    sel = m.selection()
    if sel is None:
        box = (0, H, 0, W)
    else:
        box = _bbox(sel)
        if box is None:
            return 0.0
    r0, r1, c0, c1 = box
    window = (max(r0 - half, 0), min(r1 + half, H), max(c0 - half, 0), min(c1 + half, W))
    inner = (slice(r0 - window[0], r1 - window[0]), slice(c0 - window[2], c1 - window[2]))
    sel_box = None if sel is None else sel[r0:r1, c0:c1]
    amp_p = _gradient_magnitude(m.pred, window, inner, sel_box, g, dg)
    amp_g = _gradient_magnitude(m.gt, window, inner, sel_box, g, dg)
    diff = amp_p - amp_g
    return float(np.dot(diff, diff)) / norm_const


# ----------------------------------------------------------------------------- Conn
def _threshold_levels(convention: str, step: float) -> Tuple[int, np.ndarray, np.ndarray]:
    """Thresholds of the connectivity error.

    Returns:
        ``(n, thresholds, round_down)``: the ``n`` thresholds ``t_1..t_n`` (float64) and
        the ``n + 1`` values ``l`` takes: ``t_0 = 0, ..., t_{n-1}`` and 1 for a pixel in
        the largest component at every threshold.
    """
    if not (isinstance(step, numbers.Real) and 1 / 255 <= step <= 1):
        raise ValueError(f'step: expected a number in [1/255, 1], got {step!r}')
    if convention == 'mmagic':
        steps = np.arange(0, 1 + step, step)
        n = len(steps) - 1
        if n > 255:
            raise ValueError(f'step: at most 255 thresholds are supported, got {n} for '
                             f'step={step}')
        return n, steps[1:], np.append(steps[:-1], 1.0)
    n = int(round(1 / step))
    if abs(n * step - 1) > 1e-9:
        raise ValueError(f"step: convention='dim' needs 1 / step to be an integer (the "
                         f"thresholds are k * step up to 1), got step={step}")
    k = np.arange(n + 1, dtype=np.float64)
    return n, k[1:] / n, k / n


def _level_map(m: np.ndarray, convention: str, n: int,
               thresholds: np.ndarray) -> np.ndarray:
    """Number of thresholds that ``min(pred, gt)`` passes (0..255 units), as uint8."""
    if m.dtype == np.uint8:
        v = np.arange(256)
        if convention == 'mmagic':  # MMagic: v / 255.0 >= np.arange thresholds (float64)
            lut = np.searchsorted(thresholds, v / 255.0, side='right')
        else:  # v / 255 >= k / n in exact arithmetic: n * v >= 255 * k; for n = 10
            # this is what the single-precision code does (v >= 25.5 k)
            lut = np.minimum((n * v) // 255, n)
        return cv2.LUT(m, lut.astype(np.uint8))
    if convention == 'mmagic':
        return np.searchsorted(thresholds, m / 255.0, side='right').astype(np.uint8)
    return np.clip(np.floor(m * n / 255.0), 0, n).astype(np.uint8)


class _RunLevels:
    """Row runs of every level set ``{level >= k}`` of a small-integer level map.

    One pass over the image finds each boundary between horizontally adjacent pixels of
    different levels (with a virtual level-0 column on both sides of every row). The
    runs of ``{level >= k}`` start at the boundaries where the level rises through ``k``
    and end where it falls through ``k``, so every level set is read off the boundary
    list without touching the image again.
    """

    def __init__(self, level: np.ndarray, max_level: int) -> None:
        H, W = level.shape
        self.H, self.W, self.K = H, W, W + 1
        padded = np.zeros((H, W + 2), dtype=np.uint8)
        padded[:, 1:-1] = level
        key = np.flatnonzero(padded[:, 1:] != padded[:, :-1])  # row * (W + 1) + col
        flat = padded.ravel()
        left_idx = key + key // self.K  # row * (W + 2) + col
        left = flat[left_idx]
        right = flat[left_idx + 1]
        #: levels that occur in the image (every value borders some boundary)
        self.present = np.zeros(256, dtype=bool)
        self.present[left] = True
        self.present[right] = True
        # a boundary matters for the levels k with min(left, right) < k <= max(...);
        # only levels up to ``max_level`` are ever asked for
        keep = np.minimum(left, right) < max_level
        self.key, self.left, self.right = key[keep], left[keep], right[keep]

    def runs(self, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Start and end keys (``row * (W + 1) + col``, end exclusive) of the runs of k.

        Only valid for ``k <= max_level``.
        """
        left, right = self.left, self.right
        starts = self.key[(left < k) & (right >= k)]
        ends = self.key[(right < k) & (left >= k)]
        return starts, ends


def _components(starts: np.ndarray, ends: np.ndarray, K: int) -> np.ndarray:
    """Component label of every run (4-connectivity: runs overlap in adjacent rows)."""
    n = len(starts)
    # runs of the previous row that overlap run j: end > start_j and start < end_j
    lo = np.searchsorted(ends, starts - K, side='right')
    hi = np.searchsorted(starts, ends - K, side='left')
    count = np.maximum(hi - lo, 0)  # 0 for the first row: its keys minus K are < 0
    total = int(count.sum())
    if total == 0:
        return np.arange(n)
    j = np.repeat(np.arange(n), count)
    offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    i = np.repeat(lo, count) + offsets
    graph = coo_matrix((np.ones(total, dtype=np.int8), (i, j)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels


def _largest_component(starts: np.ndarray, ends: np.ndarray, K: int, H: int,
                       column_major: bool) -> Tuple[np.ndarray, int]:
    """Run labels and the label of the largest component (ties as described)."""
    labels = _components(starts, ends, K)
    sizes = np.bincount(labels, weights=ends - starts)
    tied = np.flatnonzero(sizes == sizes.max())
    if len(tied) == 1:
        return labels, int(tied[0])
    in_tied = np.isin(labels, tied)
    if column_major:  # first pixel down the columns, left column first (bwconncomp)
        first_key = (starts % K) * H + starts // K
    else:  # first pixel in raster order (OpenCV labels, np.argmax)
        first_key = starts
    candidates = np.flatnonzero(in_tied)
    return labels, int(labels[candidates[np.argmin(first_key[candidates])]])


def _round_down_index(level: np.ndarray, n: int, query: np.ndarray,
                      column_major: bool) -> np.ndarray:
    """For the flat pixel indices ``query``, the index ``j`` of ``l = round_down[j]``.

    ``j = k - 1`` for the first threshold ``k`` at which the pixel is outside the largest
    4-connected component of ``{level >= k}`` (all pixels not yet assigned when a level
    set is empty), and ``j = n`` for a pixel inside it at every threshold.
    """
    H, W = level.shape
    result = np.full(len(query), n, dtype=np.int64)
    if len(query) == 0:
        return result
    q_level = level.ravel()[query]
    runs = _RunLevels(level, max_level=int(q_level.max()))
    K = runs.K
    q_key = (query // W) * K + query % W
    active = np.arange(len(query))
    for k in range(1, n + 1):
        if active.size == 0:
            break
        if k > 1 and not runs.present[k - 1]:
            continue  # no pixel at level k - 1: same level set, same component
        starts, ends = runs.runs(k)
        if len(starts) == 0:  # nothing passes: every pixel not yet assigned gets t_{k-1}
            result[active] = k - 1
            active = active[:0]
            break
        inside = q_level[active] >= k
        if not inside.any():  # no pixel left to look up is in the level set at all
            result[active] = k - 1
            active = active[:0]
            break
        labels, best = _largest_component(starts, ends, K, H, column_major)
        candidates = active[inside]
        run_of = np.searchsorted(starts, q_key[candidates], side='right') - 1
        inside[inside] = labels[run_of] == best
        result[active[~inside]] = k - 1
        active = active[inside]
    return result


def connectivity_error(pred: Any, gt: Any, trimap: Any = None, *, region: str = 'unknown',
                       step: float = 0.1, norm_const: float = 1000.0,
                       convention: str = 'dim') -> float:
    """Connectivity error ``sum |phi(a_p) - phi(a_g)| / norm_const``.

    For thresholds ``t_k = k * step`` the largest 4-connected component of
    ``(a_p >= t_k) & (a_g >= t_k)`` over the whole image is found; ``l(x)`` is the
    threshold before the first one at which ``x`` leaves that component (1 if it never
    does) and ``phi(a) = 1 - (a - l)`` where ``a - l >= 0.15``, else 1.

    Args:
        pred: predicted alpha matte, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha matte, same shape and conventions.
        trimap: H x W trimap, 0 / 128 / 255; may be None when ``region='all'``.
        region: ``'unknown'`` (official) or ``'all'``.
        step: threshold step (0.1 officially; ``1 / step`` must be an integer under
            ``'dim'``).
        norm_const: divisor (``evaluate.m`` prints the sum / 1000).
        convention: ``'dim'`` (single-precision thresholds, column-major tie-break) or
            ``'mmagic'`` (float64 ``np.arange`` thresholds, row-major tie-break).

    Returns:
        The connectivity error.
    """
    m = _prepare(pred, gt, trimap, region, convention, 'connectivity_error')
    n, thresholds, round_down = _threshold_levels(convention, step)
    p, g = m.pred, m.gt
    # Only pixels where phi can differ: in the region, pred != gt, max alpha >= 0.15.
    floor_v = 38 if p.dtype == np.uint8 else 38.25 - 1e-6
    contributes = (p != g) & (np.maximum(p, g) >= floor_v)
    sel = m.selection()
    if sel is not None:
        contributes &= sel
    query = np.flatnonzero(contributes)
    if query.size == 0:
        return 0.0
    level = _level_map(np.minimum(p, g), convention, n, thresholds)
    j = _round_down_index(level, n, query, column_major=(convention == 'dim'))
    l_q = round_down[j]
    a_p = p.ravel()[query] / 255.0
    a_g = g.ravel()[query] / 255.0
    d_p = a_p - l_q
    d_g = a_g - l_q
    phi_p = 1 - d_p * (d_p >= _PHI_MIN_DIFF)
    phi_g = 1 - d_g * (d_g >= _PHI_MIN_DIFF)
    return float(np.abs(phi_p - phi_g).sum()) / norm_const
