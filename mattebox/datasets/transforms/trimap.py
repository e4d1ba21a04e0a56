"""Trimaps made from alpha mattes, and trimap encodings (labels / one-hot)."""
from typing import Optional, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.guidance import (band_width_for, trimap_regions, trimap_from_alpha,
                               trimap_from_alpha_distance, trimap_from_mask)
from mattebox.registry import TRANSFORMS

from ._utils import image_2d, require_keys


def _range(value: Union[int, Tuple[int, int]], name: str) -> Tuple[int, int]:
    """Normalise an int or a [min, max) pair into a validated pair."""
    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if is_int(value):
        lo, hi = int(value), int(value) + 1
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(is_int(v) for v in value)):
        lo, hi = int(value[0]), int(value[1])
    else:
        raise ValueError(f'{name} must be a positive int or a (min, max) pair of ints, '
                         f'got {value!r}')
    if not (1 <= lo < hi):
        raise ValueError(f'{name} must be a positive int or a (min, max) pair with '
                         f'1 <= min < max (max excluded), got {value!r}')
    return int(lo), int(hi)


@TRANSFORMS.register_module()
class GenerateTrimap(BaseTransform):
    """Make a trimap by eroding and dilating the alpha matte (DIM training).

    The foreground is where the alpha, eroded by a random elliptical kernel, is 255;
    the background is where the alpha, dilated by another random kernel, is 0; the
    rest is unknown (128). Kernel sizes are drawn from ``range(*kernel_size)``, as
    in MMagic.

    Keys read: ``alpha`` (uint8 H x W). Keys written: ``trimap`` (uint8 H x W with
    values 0 / 128 / 255).

    Args:
        kernel_size: an int, or a ``(min, max)`` range (max excluded) of kernel sizes.
        iterations: an int, or a ``(min, max)`` range (max excluded) of iterations.
        random: draw kernel and iterations at random; otherwise use the smallest.
        fg_threshold: the eroded alpha at or above which a pixel is foreground (255).
        bg_threshold: the dilated alpha at or below which a pixel is background (0).
            SDMatte / GCA's ``GenTrimap`` is ``kernel_size=(15, 30), fg_threshold=243,
            bg_threshold=12`` (:func:`mattebox.guidance.trimap_from_alpha`).
    """

    def __init__(self, kernel_size: Union[int, Tuple[int, int]] = (1, 30),
                 iterations: Union[int, Tuple[int, int]] = (1, 2), random: bool = True,
                 fg_threshold: int = 255, bg_threshold: int = 0) -> None:
        self.kernel_size = _range(kernel_size, 'kernel_size')
        self.iterations = _range(iterations, 'iterations')
        self.random = random
        if not (0 <= bg_threshold < fg_threshold <= 255):
            raise ValueError(f'GenerateTrimap: need 0 <= bg_threshold < fg_threshold <= 255, '
                             f'got {bg_threshold} and {fg_threshold}')
        self.fg_threshold, self.bg_threshold = int(fg_threshold), int(bg_threshold)
        self.kernels = [cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s, s))
                        for s in range(*self.kernel_size)]

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = results['alpha']
        if alpha.ndim != 2 or alpha.dtype != np.uint8:
            raise ValueError(f'GenerateTrimap needs a uint8 H x W alpha, got dtype '
                             f'{alpha.dtype} shape {alpha.shape} '
                             f'(file: {results.get("alpha_path", "?")})')
        if self.random:
            erode_k = self.kernels[np.random.randint(len(self.kernels))]
            dilate_k = self.kernels[np.random.randint(len(self.kernels))]
            iterations = np.random.randint(*self.iterations)
        else:
            erode_k = dilate_k = self.kernels[0]
            iterations = self.iterations[0]
        results['trimap'] = trimap_from_alpha(alpha, erode_k, dilate_k, iterations,
                                              self.fg_threshold, self.bg_threshold)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(kernel_size={self.kernel_size}, '
                f'iterations={self.iterations}, random={self.random}, '
                f'fg_threshold={self.fg_threshold}, bg_threshold={self.bg_threshold})')


@TRANSFORMS.register_module()
class GenerateTrimapWithDistTransform(BaseTransform):
    """Make a trimap whose unknown band is found with Euclidean distance transforms.

    Foreground is alpha == 255, background alpha == 0. A pixel is unknown if it lies
    within ``d`` pixels (Euclidean) of a non-foreground pixel *and* within ``d`` of a
    non-background pixel: every semi-transparent pixel, plus a band of ``d`` pixels
    on both sides of each fg/bg border. ``d`` is drawn from ``[1, dist_thr)`` when
    ``random`` (as in MMagic), otherwise ``d = dist_thr``.

    For mattes whose foreground never touches the background directly this equals
    MMagic's ``GenerateTrimapWithDistTransform`` (band of ``d`` around the
    semi-transparent pixels); a hard edge (255 next to 0) also gets a band here, where
    MMagic would mark nothing unknown.

    Keys read: ``alpha`` (H x W, 0-255). Keys written: ``trimap`` (uint8 H x W, values
    0 / 128 / 255).

    Args:
        dist_thr: band width in pixels (>= 1; >= 2 when ``random``).
        random: draw the band width from ``[1, dist_thr)``.
    """

    def __init__(self, dist_thr: int = 20, random: bool = True) -> None:
        if (not isinstance(dist_thr, (int, np.integer)) or isinstance(dist_thr, bool)
                or dist_thr < (2 if random else 1)):
            raise ValueError(f'GenerateTrimapWithDistTransform: dist_thr must be an int '
                             f'>= {2 if random else 1} (random={random}: widths are drawn '
                             f'from [1, dist_thr)), got {dist_thr!r}')
        self.dist_thr = int(dist_thr)
        self.random = bool(random)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = image_2d(self, results, 'alpha')
        dist = np.random.randint(1, self.dist_thr) if self.random else self.dist_thr
        results['trimap'] = trimap_from_alpha_distance(alpha, dist)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(dist_thr={self.dist_thr}, random={self.random})'


@TRANSFORMS.register_module()
class FormatTrimap(BaseTransform):
    """Encode the 0 / 128 / 255 trimap as labels 0 / 1 / 2, or one-hot (MMagic).

    Values <= 0 are background (label 0), >= 255 foreground (label 2) and anything in
    between unknown (label 1) (:func:`mattebox.guidance.trimap_regions`). The data
    preprocessor decodes formatted trimaps back to the batch's one trimap encoding (the
    ``format_trimap`` metainfo says which), so models see the same trimap either way.
    Formatting a trimap twice is an error.

    Keys read: ``trimap`` (H x W). Keys written: ``trimap`` (uint8; H x W labels, or
    H x W x 3 one-hot with channels background / unknown / foreground),
    ``format_trimap`` (``'label'`` or ``'onehot'``) and ``format_trimap_to_onehot``
    (bool, MMagic's name for the same flag).

    Args:
        to_onehot: one-hot H x W x 3 instead of H x W labels.
    """

    def __init__(self, to_onehot: bool = False) -> None:
        if not isinstance(to_onehot, (bool, np.bool_)):
            raise ValueError(f'FormatTrimap: to_onehot must be a bool, got {to_onehot!r}')
        self.to_onehot = bool(to_onehot)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['trimap'])
        if 'format_trimap' in results:
            raise ValueError(f'FormatTrimap: the trimap is already formatted as '
                             f'{results["format_trimap"]!r}; remove the second FormatTrimap')
        trimap = image_2d(self, results, 'trimap')
        background, _, foreground = trimap_regions(trimap)
        labels = np.ones(trimap.shape, np.uint8)
        labels[background] = 0
        labels[foreground] = 2
        if self.to_onehot:
            results['trimap'] = np.eye(3, dtype=np.uint8)[labels]
        else:
            results['trimap'] = labels
        results['format_trimap'] = 'onehot' if self.to_onehot else 'label'
        results['format_trimap_to_onehot'] = self.to_onehot
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(to_onehot={self.to_onehot})'


@TRANSFORMS.register_module()
class GenerateTrimapFromMask(BaseTransform):
    """Make a trimap from a coarse mask: an unknown band on both sides of its edge
    (:func:`mattebox.guidance.trimap_from_mask`), e.g. to run a trimap model on masks.

    Keys read: ``mask`` (H x W, 0-255). Keys written: ``trimap`` (uint8 0 / 128 / 255).

    Args:
        band_width: half-width of the band in pixels, or None to scale it to the image
            (``band_fraction`` of the longer side).
        band_fraction: see ``band_width``.
        threshold: the mask is the object where ``mask >= threshold`` (0-255).
    """

    def __init__(self, band_width: Optional[int] = None, band_fraction: float = 0.015,
                 threshold: int = 128) -> None:
        if band_width is not None and not (isinstance(band_width, int) and band_width >= 0):
            raise ValueError(f'GenerateTrimapFromMask: band_width must be None or an int '
                             f'>= 0, got {band_width!r}')
        if not 0 < band_fraction < 1:
            raise ValueError(f'GenerateTrimapFromMask: band_fraction must be in (0, 1), got '
                             f'{band_fraction!r}')
        self.band_width, self.band_fraction = band_width, float(band_fraction)
        self.threshold = int(threshold)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['mask'])
        mask = image_2d(self, results, 'mask')
        band = self.band_width if self.band_width is not None else band_width_for(
            mask.shape, self.band_fraction)
        results['trimap'] = trimap_from_mask(mask, band, self.threshold)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(band_width={self.band_width}, '
                f'band_fraction={self.band_fraction}, threshold={self.threshold})')
