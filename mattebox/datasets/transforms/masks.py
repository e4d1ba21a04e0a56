"""Coarse masks made from alpha mattes, for mask-guided models (MMagic's GenerateSeg /
GenerateSoftSeg, after Background Matting)."""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.guidance import unknown_region
from mattebox.registry import TRANSFORMS

from ._utils import image_2d, require_keys, same_size


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int_range(value, name: str, owner: str, minimum: int = 0) -> Tuple[int, int]:
    """A ``(min, max)`` pair of ints with ``minimum <= min < max`` (max excluded)."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(_is_int(v) for v in value) and minimum <= value[0] < value[1]):
        raise ValueError(f'{owner}: {name} must be a (min, max) pair of ints with '
                         f'{minimum} <= min < max (max excluded), got {value!r}')
    return int(value[0]), int(value[1])


def _sizes(value, name: str, owner: str, odd: bool = False) -> list:
    """A non-empty list of (h, w) pairs of positive (odd) ints."""
    def ok(pair) -> bool:
        return (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(_is_int(v) and v > 0 and (not odd or v % 2 == 1) for v in pair))

    if isinstance(value, (tuple, list)) and value and all(ok(p) for p in value):
        return [(int(p[0]), int(p[1])) for p in value]
    kind = 'positive odd' if odd else 'positive'
    raise ValueError(f'{owner}: {name} must be a non-empty list of (h, w) pairs of {kind} '
                     f'ints, got {value!r}')


def _positive_int(value, name: str, owner: str) -> int:
    if not (_is_int(value) and value > 0):
        raise ValueError(f'{owner}: {name} must be a positive int, got {value!r}')
    return int(value)


def _to_uint8(mask01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(mask01 * 255), 0, 255).astype(np.uint8)


def _hole_top_left(unknown: np.ndarray, hole_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Top-left corner of a hole centred on a random unknown pixel, preferring pixels
    where the whole hole fits; the image centre when nothing is unknown."""
    h, w = unknown.shape
    half_h, half_w = hole_hw[0] // 2, hole_hw[1] // 2
    inner = np.zeros_like(unknown)
    inner[half_h:h - half_h, half_w:w - half_w] = True
    candidates = unknown & inner
    if not candidates.any():
        candidates = unknown
    ys, xs = np.nonzero(candidates)
    if len(ys) == 0:
        ys, xs = np.array([h // 2]), np.array([w // 2])
    i = np.random.randint(len(ys))
    top = max(0, min(int(ys[i]) - half_h, h - hole_hw[0]))
    left = max(0, min(int(xs[i]) - half_w, w - hole_hw[1]))
    return top, left


@TRANSFORMS.register_module()
class GenerateSeg(BaseTransform):
    """Make a coarse segmentation mask from the alpha matte (MMagic / Background Matting).

    The foreground ``alpha > 0`` is eroded, then dilated, with an elliptical kernel
    (random numbers of iterations); ``num_holes`` rectangles (random sizes from
    ``hole_sizes``) centred on random unknown pixels are zeroed; the mask is then
    Gaussian-blurred with a random kernel from ``blur_ksizes``.

    Keys read: ``alpha`` (H x W, 0-255) and, when holes are possible
    (``num_holes_range[1] > 1``), ``trimap`` (unknown = 128; it is not modified).
    Keys written: ``seg`` (uint8 H x W, 0-255) and ``num_holes``.

    Args:
        kernel_size: size of the elliptical erosion / dilation kernel.
        erode_iter_range: ``(min, max)`` erosion iterations, max excluded.
        dilate_iter_range: ``(min, max)`` dilation iterations, max excluded.
        num_holes_range: ``(min, max)`` number of holes, max excluded.
        hole_sizes: candidate hole sizes, (h, w) pairs.
        blur_ksizes: candidate Gaussian kernel sizes, (h, w) pairs of odd ints.
    """

    def __init__(self, kernel_size: int = 5, erode_iter_range: Tuple[int, int] = (10, 20),
                 dilate_iter_range: Tuple[int, int] = (15, 30),
                 num_holes_range: Tuple[int, int] = (0, 3),
                 hole_sizes: Sequence[Tuple[int, int]] = ((15, 15), (25, 25), (35, 35),
                                                          (45, 45)),
                 blur_ksizes: Sequence[Tuple[int, int]] = ((21, 21), (31, 31), (41, 41))
                 ) -> None:
        owner = 'GenerateSeg'
        self.kernel_size = _positive_int(kernel_size, 'kernel_size', owner)
        self.erode_iter_range = _int_range(erode_iter_range, 'erode_iter_range', owner)
        self.dilate_iter_range = _int_range(dilate_iter_range, 'dilate_iter_range', owner)
        self.num_holes_range = _int_range(num_holes_range, 'num_holes_range', owner)
        self.hole_sizes = _sizes(hole_sizes, 'hole_sizes', owner)
        self.blur_ksizes = _sizes(blur_ksizes, 'blur_ksizes', owner, odd=True)
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                (self.kernel_size, self.kernel_size))

    def transform(self, results: dict) -> dict:
        holes_possible = self.num_holes_range[1] > 1
        keys = ['alpha', 'trimap'] if holes_possible else ['alpha']
        require_keys(self, results, keys)
        same_size(self, results, keys)
        alpha = image_2d(self, results, 'alpha')
        seg = (alpha > 0).astype(np.float32)
        seg = cv2.erode(seg, self.kernel, iterations=np.random.randint(*self.erode_iter_range))
        seg = cv2.dilate(seg, self.kernel,
                         iterations=np.random.randint(*self.dilate_iter_range))
        num_holes = int(np.random.randint(*self.num_holes_range))
        if num_holes:
            unknown = unknown_region(image_2d(self, results, 'trimap'))  # a new array
            for _ in range(num_holes):
                hole_h, hole_w = self.hole_sizes[np.random.randint(len(self.hole_sizes))]
                top, left = _hole_top_left(unknown, (hole_h, hole_w))
                seg[top:top + hole_h, left:left + hole_w] = 0
                unknown[top:top + hole_h, left:left + hole_w] = False
        ksize = self.blur_ksizes[np.random.randint(len(self.blur_ksizes))]
        seg = cv2.GaussianBlur(seg, (ksize[1], ksize[0]), 0)
        results['seg'] = _to_uint8(seg)
        results['num_holes'] = num_holes
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(kernel_size={self.kernel_size}, '
                f'erode_iter_range={self.erode_iter_range}, '
                f'dilate_iter_range={self.dilate_iter_range}, '
                f'num_holes_range={self.num_holes_range}, hole_sizes={self.hole_sizes}, '
                f'blur_ksizes={self.blur_ksizes})')


@TRANSFORMS.register_module()
class GenerateSoftSeg(BaseTransform):
    """Make a soft segmentation mask from a segmentation mask (MMagic / Background
    Matting).

    Values above ``fg_thr`` (on a 0-1 scale) become 1; the mask is padded at the bottom
    by ``border_width`` replicated rows (so that a subject cut by the bottom edge is not
    eroded from below), eroded and dilated with elliptical kernels (random numbers of
    iterations), Gaussian-blurred with a random kernel from ``blur_ksizes``, and the
    padding is removed.

    Keys read: ``seg`` (H x W, 0-255; e.g. from ``GenerateSeg``). Keys written:
    ``soft_seg`` (uint8 H x W, 0-255).

    Args:
        fg_thr: threshold (0-1) above which the mask is set to 1.
        border_width: rows of bottom padding (>= 0).
        erode_ksize: size of the elliptical erosion kernel.
        dilate_ksize: size of the elliptical dilation kernel.
        erode_iter_range: ``(min, max)`` erosion iterations, max excluded.
        dilate_iter_range: ``(min, max)`` dilation iterations, max excluded.
        blur_ksizes: candidate Gaussian kernel sizes, (h, w) pairs of odd ints.
    """

    def __init__(self, fg_thr: float = 0.2, border_width: int = 25, erode_ksize: int = 3,
                 dilate_ksize: int = 5, erode_iter_range: Tuple[int, int] = (10, 20),
                 dilate_iter_range: Tuple[int, int] = (3, 7),
                 blur_ksizes: Sequence[Tuple[int, int]] = ((21, 21), (31, 31), (41, 41))
                 ) -> None:
        owner = 'GenerateSoftSeg'
        if (not isinstance(fg_thr, (int, float)) or isinstance(fg_thr, bool)
                or not 0 <= fg_thr <= 1):
            raise ValueError(f'{owner}: fg_thr must be a number in [0, 1], got {fg_thr!r}')
        if not (_is_int(border_width) and border_width >= 0):
            raise ValueError(f'{owner}: border_width must be an int >= 0, got '
                             f'{border_width!r}')
        self.fg_thr = float(fg_thr)
        self.border_width = int(border_width)
        self.erode_ksize = _positive_int(erode_ksize, 'erode_ksize', owner)
        self.dilate_ksize = _positive_int(dilate_ksize, 'dilate_ksize', owner)
        self.erode_iter_range = _int_range(erode_iter_range, 'erode_iter_range', owner)
        self.dilate_iter_range = _int_range(dilate_iter_range, 'dilate_iter_range', owner)
        self.blur_ksizes = _sizes(blur_ksizes, 'blur_ksizes', owner, odd=True)
        self.erode_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (self.erode_ksize, self.erode_ksize))
        self.dilate_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (self.dilate_ksize, self.dilate_ksize))

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['seg'])
        seg = image_2d(self, results, 'seg').astype(np.float32) / 255
        height = seg.shape[0]
        seg[seg > self.fg_thr] = 1
        if self.border_width:
            seg = cv2.copyMakeBorder(seg, 0, self.border_width, 0, 0, cv2.BORDER_REPLICATE)
        seg = cv2.erode(seg, self.erode_kernel,
                        iterations=np.random.randint(*self.erode_iter_range))
        seg = cv2.dilate(seg, self.dilate_kernel,
                         iterations=np.random.randint(*self.dilate_iter_range))
        ksize = self.blur_ksizes[np.random.randint(len(self.blur_ksizes))]
        seg = cv2.GaussianBlur(seg, (ksize[1], ksize[0]), 0)
        results['soft_seg'] = _to_uint8(seg[:height])
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fg_thr={self.fg_thr}, '
                f'border_width={self.border_width}, erode_ksize={self.erode_ksize}, '
                f'dilate_ksize={self.dilate_ksize}, '
                f'erode_iter_range={self.erode_iter_range}, '
                f'dilate_iter_range={self.dilate_iter_range}, '
                f'blur_ksizes={self.blur_ksizes})')
