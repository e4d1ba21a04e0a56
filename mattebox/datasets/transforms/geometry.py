"""Geometric transforms: crop around the unknown region, flip, resize."""
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS

from ._utils import require_keys, same_size

INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}


def _interp(name: str) -> int:
    if name not in INTERPOLATIONS:
        raise ValueError(f'interpolation must be one of {sorted(INTERPOLATIONS)}, '
                         f'got {name!r}')
    return INTERPOLATIONS[name]


def _per_key(value: Union[str, Sequence[str]], keys: Sequence[str], what: str) -> list:
    values = [value] * len(keys) if isinstance(value, str) else list(value)
    if len(values) != len(keys):
        raise ValueError(f'{what} must be one string or one per key ({len(keys)} keys '
                         f'{list(keys)}), got {value!r}')
    return values


def resize_image(img: np.ndarray, size_hw: Tuple[int, int], interpolation: str) -> np.ndarray:
    """Resize an H x W (x C) image to ``size_hw`` with a named interpolation."""
    h, w = size_hw
    return cv2.resize(img, (w, h), interpolation=_interp(interpolation))


@TRANSFORMS.register_module()
class CropAroundUnknown(BaseTransform):
    """Crop a random square around a random pixel of the unknown region (DIM).

    A crop size is drawn from ``crop_sizes``; images smaller than it are first
    upscaled (keeping the aspect ratio) so that the crop fits. The crop is centred
    on a random unknown pixel and shifted to stay inside the image.

    Keys read: ``keys`` and ``unknown_source`` (``'alpha'``: 0 < alpha < 255;
    ``'trimap'``: trimap == 128).
    Keys written: ``keys`` (cropped), ``crop_bbox`` ([left, top, width, height] in the
    possibly rescaled image).

    Args:
        keys: images to crop together.
        crop_sizes: candidate square crop sizes, e.g. ``[320, 480, 640]``.
        unknown_source: ``'alpha'`` or ``'trimap'``.
        interpolations: interpolation per key (or one for all) for the upscaling; give
            ``'nearest'`` for a trimap key so that it keeps only 0 / 128 / 255.
    """

    def __init__(self, keys: Sequence[str], crop_sizes: Sequence[int],
                 unknown_source: str = 'alpha',
                 interpolations: Union[str, Sequence[str]] = 'bilinear') -> None:
        if unknown_source not in ('alpha', 'trimap'):
            raise ValueError(f"unknown_source must be 'alpha' or 'trimap', got "
                             f'{unknown_source!r}')
        if unknown_source not in keys:
            raise ValueError(f'unknown_source {unknown_source!r} must be one of keys {keys}')
        crop_sizes = [crop_sizes] if np.isscalar(crop_sizes) else list(crop_sizes)
        if not crop_sizes or any(not isinstance(s, (int, np.integer)) or isinstance(s, bool)
                                 or s <= 0 for s in crop_sizes):
            raise ValueError(f'crop_sizes must be positive integers, got {crop_sizes}')
        crop_sizes = [int(s) for s in crop_sizes]
        self.keys = list(keys)
        self.crop_sizes = crop_sizes
        self.unknown_source = unknown_source
        self.interpolations = _per_key(interpolations, self.keys, 'interpolations')
        for name in self.interpolations:
            _interp(name)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        h, w = same_size(self, results, self.keys)
        crop = self.crop_sizes[np.random.randint(len(self.crop_sizes))]
        if h < crop or w < crop:
            scale = max(crop / h, crop / w)
            h, w = max(crop, int(round(h * scale))), max(crop, int(round(w * scale)))
            for key, interp in zip(self.keys, self.interpolations):
                results[key] = resize_image(results[key], (h, w), interp)

        source = results[self.unknown_source]
        unknown = (source == 128) if self.unknown_source == 'trimap' else (
            (source > 0) & (source < 255))
        ys, xs = np.nonzero(unknown)
        if len(ys):
            i = np.random.randint(len(ys))
            cy, cx = int(ys[i]), int(xs[i])
        else:  # no unknown pixel: crop around the image centre
            cy, cx = h // 2, w // 2
        top = int(np.clip(cy - crop // 2, 0, h - crop))
        left = int(np.clip(cx - crop // 2, 0, w - crop))
        for key in self.keys:
            results[key] = results[key][top:top + crop, left:left + crop].copy()
        results['crop_bbox'] = [left, top, crop, crop]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, crop_sizes={self.crop_sizes}, '
                f'unknown_source={self.unknown_source!r}, '
                f'interpolations={self.interpolations})')


@TRANSFORMS.register_module()
class Flip(BaseTransform):
    """Flip images together with probability ``flip_ratio``.

    Keys read: ``keys``. Keys written: ``keys``, ``flip`` (bool), ``flip_direction``.

    Args:
        keys: images to flip together.
        flip_ratio: probability of flipping.
        direction: ``'horizontal'`` or ``'vertical'``.
    """

    def __init__(self, keys: Sequence[str], flip_ratio: float = 0.5,
                 direction: str = 'horizontal') -> None:
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        if not 0 <= flip_ratio <= 1:
            raise ValueError(f'flip_ratio must be in [0, 1], got {flip_ratio}')
        self.keys = list(keys)
        self.flip_ratio = flip_ratio
        self.direction = direction

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        flip = bool(np.random.random() < self.flip_ratio)
        if flip:
            axis = 1 if self.direction == 'horizontal' else 0
            for key in self.keys:
                results[key] = np.ascontiguousarray(np.flip(results[key], axis=axis))
        results['flip'] = flip
        results['flip_direction'] = self.direction
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, flip_ratio={self.flip_ratio}, '
                f'direction={self.direction!r})')


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize images to a fixed size, or keep the ratio so that they fit in it.

    Keys read: ``keys``. Keys written: ``keys`` and ``img_shape`` (H, W after resizing).

    Args:
        keys: images to resize.
        scale: target (width, height) as in OpenCV / MMagic.
        keep_ratio: if True, scale so that the image fits in ``scale``.
        interpolation: interpolation name (``'bilinear'``, ``'nearest'``, ...), one for
            all keys or one per key.
    """

    def __init__(self, keys: Sequence[str], scale: Tuple[int, int], keep_ratio: bool = False,
                 interpolation: Union[str, Sequence[str]] = 'bilinear') -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'scale must be a positive (width, height), got {scale}')
        self.keys = list(keys)
        self.scale = tuple(int(s) for s in scale)
        self.keep_ratio = keep_ratio
        self.interpolation = _per_key(interpolation, self.keys, 'interpolation')
        for name in self.interpolation:
            _interp(name)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        h, w = same_size(self, results, self.keys)
        tw, th = self.scale
        if self.keep_ratio:
            ratio = min(tw / w, th / h)
            th, tw = max(1, int(round(h * ratio))), max(1, int(round(w * ratio)))
        for key, interp in zip(self.keys, self.interpolation):
            results[key] = resize_image(results[key], (th, tw), interp)
        results['img_shape'] = (th, tw)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, scale={self.scale}, '
                f'keep_ratio={self.keep_ratio}, interpolation={self.interpolation})')
