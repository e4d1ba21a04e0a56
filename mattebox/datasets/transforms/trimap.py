"""Trimaps made from alpha mattes."""
from typing import Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS

from ._utils import require_keys

TRIMAP_VALUES = (0, 128, 255)


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
    """

    def __init__(self, kernel_size: Union[int, Tuple[int, int]] = (1, 30),
                 iterations: Union[int, Tuple[int, int]] = (1, 2), random: bool = True) -> None:
        self.kernel_size = _range(kernel_size, 'kernel_size')
        self.iterations = _range(iterations, 'iterations')
        self.random = random
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
        eroded = cv2.erode(alpha, erode_k, iterations=iterations)
        dilated = cv2.dilate(alpha, dilate_k, iterations=iterations)
        trimap = np.full_like(alpha, 128)
        trimap[eroded >= 255] = 255
        trimap[dilated <= 0] = 0
        results['trimap'] = trimap
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(kernel_size={self.kernel_size}, '
                f'iterations={self.iterations}, random={self.random})')
