"""Geometric transforms: crops (around the unknown region, the centre, the foreground),
flip, resize and random affine warps."""
import math
import numbers
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.guidance import (affine_boxes, affine_points, flip_matrix, scale_matrix,
                               shift_matrix, unknown_region)
from mattebox.registry import TRANSFORMS

from ._utils import require_keys, same_size

INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}


_CV2_FLIP_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16,
                                                np.int32, np.float32, np.float64))


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


def compose(*matrices: np.ndarray) -> np.ndarray:
    """The 2 x 3 matrix of applying ``matrices`` in order (first one first)."""
    out = np.eye(3)
    for m in matrices:
        out = np.vstack([np.asarray(m, np.float64), [0, 0, 1]]) @ out
    return out[:2]


def move_guidance(results: dict, matrix: np.ndarray, out_shape: Tuple[int, int]) -> None:
    """Move ``points`` and ``boxes`` (when present) with the pixels: ``matrix`` is the
    2 x 3 pixel-index matrix of the transform (as ``cv2.warpAffine`` takes it),
    ``out_shape`` the (H, W) after it. Points that leave the image and boxes left empty
    are dropped (:func:`mattebox.guidance.affine_points` / ``affine_boxes``)."""
    if 'points' in results:
        results['points'] = affine_points(results['points'], matrix, out_shape)
    if 'boxes' in results:
        results['boxes'] = affine_boxes(results['boxes'], matrix, out_shape)


def random_unknown_pixel(source: np.ndarray, trimap: bool) -> Optional[Tuple[int, int]]:
    """(y, x) of a uniformly drawn unknown pixel, or None if there is none.

    Unknown is what :func:`mattebox.guidance.unknown_region` says: strictly between
    background (0) and foreground (255); for a 0 / 128 / 255 trimap that is 128, for an
    alpha ``0 < alpha < 255``, so ``trimap`` only names the source in messages.

    It is the very pixel ``ys[i], xs[i]`` that ``ys, xs = np.nonzero(unknown)`` and
    ``i = np.random.randint(len(ys))`` give for the same random state (one
    ``randint(number of unknown pixels)`` draw, the i-th unknown pixel in row-major
    order), without listing every unknown pixel: one pass makes the mask, a second
    counts it per row, and only the chosen row is searched (~0.2 ms instead of ~8 ms
    on a 1080p alpha).
    """
    if source.ndim == 2 and source.dtype == np.uint8:
        mask = cv2.inRange(source, 1, 254)  # unknown_region, in a form cv2.reduce takes
        per_row = cv2.reduce(mask, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
    else:
        mask = unknown_region(source)
        if mask.ndim != 2:
            raise ValueError(f'the unknown-region source ({"trimap" if trimap else "alpha"}) '
                             f'must be H x W, got shape {source.shape}')
        per_row = np.count_nonzero(mask, axis=1)
    cumulative = np.cumsum(per_row)
    total = int(cumulative[-1]) if len(cumulative) else 0
    if total == 0:
        return None
    i = np.random.randint(total)
    row = int(np.searchsorted(cumulative, i, side='right'))
    before = int(cumulative[row - 1]) if row else 0
    col = int(np.flatnonzero(mask[row])[i - before])
    return row, col


@TRANSFORMS.register_module()
class CropAroundUnknown(BaseTransform):
    """Crop a random square around a random pixel of the unknown region (DIM).

    A crop size is drawn from ``crop_sizes``; images smaller than it are first
    upscaled (keeping the aspect ratio) so that the crop fits. The crop is centred
    on a random unknown pixel and shifted to stay inside the image.

    Keys read: ``keys`` and ``unknown_source`` (``'alpha'``: 0 < alpha < 255;
    ``'trimap'``: trimap == 128).
    Keys written: ``keys`` (cropped), ``points`` / ``boxes`` when present (moved with the
    pixels), ``crop_bbox`` ([left, top, width, height] in the possibly rescaled image).

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
        upscale = np.eye(3)[:2]
        if h < crop or w < crop:
            scale = max(crop / h, crop / w)
            h0, w0 = h, w
            h, w = max(crop, int(round(h * scale))), max(crop, int(round(w * scale)))
            upscale = scale_matrix(w / w0, h / h0)
            for key, interp in zip(self.keys, self.interpolations):
                results[key] = resize_image(results[key], (h, w), interp)

        picked = random_unknown_pixel(results[self.unknown_source],
                                      self.unknown_source == 'trimap')
        if picked is not None:
            cy, cx = picked
        else:  # no unknown pixel: crop around the image centre
            cy, cx = h // 2, w // 2
        top = int(np.clip(cy - crop // 2, 0, h - crop))
        left = int(np.clip(cx - crop // 2, 0, w - crop))
        for key in self.keys:
            results[key] = results[key][top:top + crop, left:left + crop].copy()
        move_guidance(results, compose(upscale, shift_matrix(-left, -top)), (crop, crop))
        results['crop_bbox'] = [left, top, crop, crop]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, crop_sizes={self.crop_sizes}, '
                f'unknown_source={self.unknown_source!r}, '
                f'interpolations={self.interpolations})')


@TRANSFORMS.register_module()
class Flip(BaseTransform):
    """Flip images together with probability ``flip_ratio``.

    Keys read: ``keys``. Keys written: ``keys``, ``points`` / ``boxes`` when present
    (moved with the pixels), ``flip`` (bool), ``flip_direction``.

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
            move_guidance(results, flip_matrix(self.direction, np.shape(results[self.keys[0]])),
                          np.shape(results[self.keys[0]])[:2])
            axis = 1 if self.direction == 'horizontal' else 0
            for key in self.keys:
                img = results[key]
                if img.dtype in _CV2_FLIP_DTYPES:  # ~40x faster than np.flip + copy
                    results[key] = cv2.flip(img, axis).reshape(img.shape)
                else:
                    results[key] = np.ascontiguousarray(np.flip(img, axis=axis))
        results['flip'] = flip
        results['flip_direction'] = self.direction
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, flip_ratio={self.flip_ratio}, '
                f'direction={self.direction!r})')


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize images to a fixed size, or keep the ratio so that they fit in it.

    Keys read: ``keys``. Keys written: ``keys``, ``points`` / ``boxes`` when present
    (moved with the pixels) and ``img_shape`` (H, W after resizing).

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
        move_guidance(results, scale_matrix(tw / w, th / h), (th, tw))
        results['img_shape'] = (th, tw)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, scale={self.scale}, '
                f'keep_ratio={self.keep_ratio}, interpolation={self.interpolation})')


# ------------------------------------------------------------------ affine and crops
WARP_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'lanczos')


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _symmetric_range(value, name: str, owner: str) -> Tuple[float, float]:
    """``v`` -> ``(-v, v)`` (v >= 0); a ``(min, max)`` pair is checked and kept."""
    if _is_number(value):
        if value < 0:
            raise ValueError(f'{owner}: a single {name} must be >= 0, got {value!r}')
        return -float(value), float(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(_is_number(v) for v in value) and value[0] <= value[1]):
        return float(value[0]), float(value[1])
    raise ValueError(f'{owner}: {name} must be a number >= 0 or a (min, max) pair with '
                     f'min <= max, got {value!r}')


def _pair_in(value, name: str, owner: str, low: float, high: float,
             low_inclusive: bool = True) -> Tuple[float, float]:
    """A pair of numbers within [low, high] (or (low, high] if not low_inclusive)."""
    def ok(v) -> bool:
        return _is_number(v) and (v >= low if low_inclusive else v > low) and v <= high

    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(ok(v) for v in value)):
        bound = '[' if low_inclusive else '('
        raise ValueError(f'{owner}: {name} must be a pair of numbers in {bound}{low}, '
                         f'{high}], got {value!r}')
    return float(value[0]), float(value[1])


@TRANSFORMS.register_module()
class RandomAffine(BaseTransform):
    """Warp images with one random affine matrix (GCA-Matting / MMagic).

    The same matrix is applied to every key, so alpha and fg stay aligned. The matrix
    maps a point ``p`` to ``A (p - c) + c + t``, with ``c`` the centre of the pixel grid
    (``((w - 1) / 2, (h - 1) / 2)``; MMagic's ``(w / 2 + 0.5, h / 2 + 0.5)`` shifts a
    flip by 2 pixels, a deliberate deviation), ``t`` the
    translation and ``A = R_shear(angle, shear) @ diag(sx * fx, sy * fy)``: flip
    (``fx, fy`` = -1 or 1), then scale, then rotation with x-shear, as in MMagic. Pixels
    that come from outside the image are 0.

    As in GCA-Matting, images whose longer side is below ``rotate_min_size`` are not
    rotated (``degrees`` is then ignored) to avoid large empty corners; set it to 0 to
    rotate every image.

    Keys read: ``keys`` (same H x W). Keys written: ``keys`` (same shape and dtype),
    ``points`` / ``boxes`` when present (moved with the pixels; points warped outside
    the image are dropped, boxes become the bounding box of the warped box).

    Args:
        keys: images to warp together, e.g. ``['alpha', 'fg']``.
        degrees: rotation range in degrees, ``d`` for ``(-d, d)`` or ``(min, max)``.
        translate: ``(a, b)``, maximum horizontal / vertical shift as fractions of the
            width / height (each in [0, 1]); None for no shift.
        scale: ``(min, max)`` range of scale factors (> 0), drawn independently for x
            and y; None for no scaling.
        shear: x-shear range in degrees, ``s`` for ``(-s, s)`` or ``(min, max)``.
        flip_ratio: probability of a horizontal flip and, independently, of a vertical
            flip; None for no flip.
        resample: interpolation (``'nearest'``, ``'bilinear'``, ``'bicubic'``,
            ``'lanczos'``), one for all keys or one per key; MMagic uses ``'nearest'``.
        rotate_min_size: see above (1024 in GCA-Matting and MMagic).
    """

    def __init__(self, keys: Sequence[str], degrees: Union[float, Tuple[float, float]],
                 translate: Optional[Tuple[float, float]] = None,
                 scale: Optional[Tuple[float, float]] = None,
                 shear: Optional[Union[float, Tuple[float, float]]] = None,
                 flip_ratio: Optional[float] = None,
                 resample: Union[str, Sequence[str]] = 'nearest',
                 rotate_min_size: int = 1024) -> None:
        owner = 'RandomAffine'
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys:
            raise ValueError(f'{owner}: keys must not be empty')
        self.keys = keys
        self.degrees = _symmetric_range(degrees, 'degrees', owner)
        self.translate = None if translate is None else _pair_in(
            translate, 'translate', owner, 0, 1)
        self.scale = None if scale is None else _pair_in(
            scale, 'scale', owner, 0, math.inf, low_inclusive=False)
        if self.scale is not None and self.scale[0] > self.scale[1]:
            raise ValueError(f'{owner}: scale must be (min, max) with min <= max, got {scale}')
        self.shear = None if shear is None else _symmetric_range(shear, 'shear', owner)
        if flip_ratio is not None and not (_is_number(flip_ratio) and 0 <= flip_ratio <= 1):
            raise ValueError(f'{owner}: flip_ratio must be None or a number in [0, 1], got '
                             f'{flip_ratio!r}')
        self.flip_ratio = None if flip_ratio is None else float(flip_ratio)
        self.resample = _per_key(resample, self.keys, 'resample')
        for name in self.resample:
            if name not in WARP_INTERPOLATIONS:
                raise ValueError(f'{owner}: resample must be one of {WARP_INTERPOLATIONS} '
                                 f'(one, or one per key), got {name!r}')
        if (not isinstance(rotate_min_size, (int, np.integer)) or isinstance(rotate_min_size, bool)
                or rotate_min_size < 0):
            raise ValueError(f'{owner}: rotate_min_size must be an int >= 0, got '
                             f'{rotate_min_size!r}')
        self.rotate_min_size = int(rotate_min_size)

    def _matrix(self, h: int, w: int) -> np.ndarray:
        """Draw the parameters (in MMagic's order) and return the 2 x 3 forward matrix."""
        degrees = self.degrees if max(h, w) >= self.rotate_min_size else (0.0, 0.0)
        angle = math.radians(np.random.uniform(*degrees))
        tx = ty = 0.0
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            tx = float(np.round(np.random.uniform(-max_dx, max_dx)))
            ty = float(np.round(np.random.uniform(-max_dy, max_dy)))
        sx = sy = 1.0
        if self.scale is not None:
            sx, sy = np.random.uniform(*self.scale), np.random.uniform(*self.scale)
        shear = 0.0 if self.shear is None else math.radians(np.random.uniform(*self.shear))
        flip = np.where(np.random.rand(2) < (self.flip_ratio or 0.0), -1.0, 1.0)

        linear = np.array([[math.cos(angle + shear), -math.sin(angle + shear)],
                           [math.sin(angle), math.cos(angle)]]) @ np.diag(
                               [sx * flip[0], sy * flip[1]])
        # The centre of the pixel grid. GCA / MMagic use (w * 0.5 + 0.5, h * 0.5 + 0.5),
        # which moves a pure flip by 2 pixels (column 0 samples column w + 1); this
        # deliberate deviation keeps flips and rotations exact.
        centre = np.array([w * 0.5 - 0.5, h * 0.5 - 0.5])
        offset = centre + np.array([tx, ty]) - linear @ centre
        return np.hstack([linear, offset[:, None]])

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        h, w = same_size(self, results, self.keys)
        matrix = self._matrix(h, w)
        for key, interp in zip(self.keys, self.resample):
            img = results[key]
            warped = cv2.warpAffine(img, matrix, (w, h), flags=INTERPOLATIONS[interp],
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if img.ndim == 3 and warped.ndim == 2:  # OpenCV drops a single channel
                warped = warped[..., None]
            results[key] = warped
        move_guidance(results, matrix, (h, w))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, degrees={self.degrees}, '
                f'translate={self.translate}, scale={self.scale}, shear={self.shear}, '
                f'flip_ratio={self.flip_ratio}, resample={self.resample}, '
                f'rotate_min_size={self.rotate_min_size})')


def _crop_size_hw(crop_size, owner: str) -> Tuple[int, int]:
    def ok(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0

    if ok(crop_size):
        return int(crop_size), int(crop_size)
    if isinstance(crop_size, (tuple, list)) and len(crop_size) == 2 and all(map(ok, crop_size)):
        return int(crop_size[0]), int(crop_size[1])
    raise ValueError(f'{owner}: crop_size must be a positive int or a (height, width) pair '
                     f'of positive ints, got {crop_size!r}')


@TRANSFORMS.register_module()
class CropAroundCenter(BaseTransform):
    """Crop centred on a random unknown pixel of the image's central part (GCA-Matting).

    Images smaller than the crop are first upscaled (keeping the aspect ratio;
    ``'bicubic'`` for ``bg``, ``'nearest'`` for every other key, as in MMagic). Unknown
    pixels (trimap == 128) are looked up on a 1/4-scale trimap, only where a crop centred
    on them fits in the image; the crop is centred on one of them at random. With fewer
    than 10 such pixels the crop is placed uniformly at random.

    Keys read: ``keys`` (must include ``trimap``, values 0 / 128 / 255). Keys written:
    ``keys`` (cropped to ``crop_size``), ``points`` / ``boxes`` when present (moved with
    the pixels) and ``crop_bbox`` ([left, top, width, height] in
    the possibly upscaled image).

    Args:
        crop_size: crop size, an int for a square or a ``(height, width)`` pair.
        keys: images to crop together.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]],
                 keys: Sequence[str] = ('fg', 'bg', 'alpha', 'trimap')) -> None:
        self.crop_size = _crop_size_hw(crop_size, 'CropAroundCenter')
        keys = [keys] if isinstance(keys, str) else list(keys)
        if 'trimap' not in keys:
            raise ValueError(f"CropAroundCenter: keys must include 'trimap' (where the "
                             f'unknown pixels are found), got {keys}')
        self.keys = keys

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        h, w = same_size(self, results, self.keys)
        crop_h, crop_w = self.crop_size
        ratio = max(crop_h / h, crop_w / w)
        upscale = np.eye(3)[:2]
        if ratio > 1:
            h0, w0 = h, w
            h, w = max(int(h * ratio), crop_h), max(int(w * ratio), crop_w)
            upscale = scale_matrix(w / w0, h / h0)
            for key in self.keys:
                interp = 'bicubic' if key == 'bg' else 'nearest'
                results[key] = resize_image(results[key], (h, w), interp)

        ys = xs = np.zeros(0, dtype=np.int64)
        if h >= 4 and w >= 4:
            small = resize_image(results['trimap'], (h // 4, w // 4), 'nearest')
            margin_h, margin_w = crop_h // 2, crop_w // 2
            # a crop whose top-left is 4 * (y, x) is centred on small-trimap pixel
            # (y + margin_h / 4, x + margin_w / 4)
            area = small[margin_h // 4:(h - margin_h) // 4, margin_w // 4:(w - margin_w) // 4]
            ys, xs = np.nonzero(unknown_region(area))
        if len(ys) < 10:
            top = np.random.randint(0, h - crop_h + 1)
            left = np.random.randint(0, w - crop_w + 1)
        else:
            i = np.random.randint(len(ys))
            top, left = int(ys[i]) * 4, int(xs[i]) * 4
        top, left = int(min(top, h - crop_h)), int(min(left, w - crop_w))
        for key in self.keys:
            results[key] = results[key][top:top + crop_h, left:left + crop_w].copy()
        move_guidance(results, compose(upscale, shift_matrix(-left, -top)), (crop_h, crop_w))
        results['crop_bbox'] = [left, top, crop_w, crop_h]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size}, keys={self.keys})'


@TRANSFORMS.register_module()
class CropAroundFg(BaseTransform):
    """Crop the bounding box of the segmentation mask plus a random margin (MMagic).

    The margin on each side is ``round(r * L)`` pixels, ``r ~ U(bd_ratio_range)`` and
    ``L`` the longer side of the box; the crop is clipped to the image. In
    ``test_mode`` the box is first extended (right / down) to an L x L square. A sample
    whose ``seg`` is empty is not cropped (``crop_bbox`` is then the whole image).

    Keys read: ``keys`` (must include ``seg``; nonzero ``seg`` is foreground). Keys
    written: ``keys`` (cropped), ``points`` / ``boxes`` when present (moved with the
    pixels) and ``crop_bbox`` ([left, top, width, height]).

    Args:
        keys: images to crop together; must contain ``'seg'``.
        bd_ratio_range: ``(min, max)`` range of the margin ratio ``r`` (>= 0).
        test_mode: extend the box to a square first.
    """

    def __init__(self, keys: Sequence[str], bd_ratio_range: Tuple[float, float] = (0.1, 0.4),
                 test_mode: bool = False) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if 'seg' not in keys:
            raise ValueError(f"CropAroundFg: keys must include 'seg', got {keys}")
        self.keys = keys
        lo, hi = _pair_in(bd_ratio_range, 'bd_ratio_range', 'CropAroundFg', 0, math.inf)
        if lo > hi:
            raise ValueError(f'CropAroundFg: bd_ratio_range must be (min, max) with '
                             f'min <= max, got {bd_ratio_range!r}')
        self.bd_ratio_range = (lo, hi)
        self.test_mode = bool(test_mode)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        height, width = same_size(self, results, self.keys)
        seg = np.asarray(results['seg'])
        seg = seg.reshape(seg.shape[:2]) if seg.ndim == 3 and seg.shape[2] == 1 else seg
        ratio = np.random.uniform(*self.bd_ratio_range)
        ys, xs = np.nonzero(seg)
        if len(ys) == 0:
            results['crop_bbox'] = [0, 0, width, height]
            return results
        top, left = int(ys.min()), int(xs.min())
        bottom, right = int(ys.max()) + 1, int(xs.max()) + 1  # exclusive
        long_side = max(bottom - top, right - left)
        if self.test_mode:
            bottom, right = top + long_side, left + long_side
        boundary = int(np.round(ratio * long_side))
        top, left = max(top - boundary, 0), max(left - boundary, 0)
        bottom, right = min(bottom + boundary, height), min(right + boundary, width)
        for key in self.keys:
            results[key] = results[key][top:bottom, left:right].copy()
        move_guidance(results, shift_matrix(-left, -top), (bottom - top, right - left))
        results['crop_bbox'] = [left, top, right - left, bottom - top]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(keys={self.keys}, bd_ratio_range='
                f'{self.bd_ratio_range}, test_mode={self.test_mode})')
