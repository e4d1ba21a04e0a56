"""Online composition: backgrounds, fg/bg merging and colour augmentation.

Matting models train on foregrounds composited over random backgrounds on the fly:
load ``fg`` and ``alpha``, optionally mix in a second foreground (``CompositeFg``),
draw a background (``RandomLoadResizeBg``), augment, crop, then ``MergeFgAndBg``.
"""
import numbers
import os
from typing import Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS

from ._utils import image_2d, require_keys, same_size
from .geometry import _interp, resize_image
from .loading import read_image

# ----------------------------------------------------------------------------- helpers
def _image_files(folder: str, what: str) -> List[str]:
    """Sorted paths of the images directly inside ``folder``
    (:func:`mattebox.datasets.background.list_images`); an empty folder is an error.

    Raises:
        FileNotFoundError: ``folder`` is not a directory.
        ValueError: ``folder`` holds no image file.
    """
    from mattebox.datasets.background import IMG_SUFFIXES, list_images
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{what}: folder not found: {folder}')
    names = list_images(folder)
    if not names:
        raise ValueError(f'{what}: no image files ({", ".join(IMG_SUFFIXES)}) in {folder}')
    return [os.path.join(folder, n) for n in names]


def _check_probability(value: float, name: str, owner: str) -> float:
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not 0 <= value <= 1):
        raise ValueError(f'{owner}: {name} must be a number in [0, 1], got {value!r}')
    return float(value)


def _cast_like(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Return the float ``img`` in ``like``'s dtype: uint8 is rounded and clipped to
    0-255; anything else becomes float32."""
    if like.dtype == np.uint8:
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img.astype(np.float32, copy=False)


def _color_image(transform: object, results: dict, key: str) -> np.ndarray:
    img = np.asarray(results[key])
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{type(transform).__name__} needs {key!r} as an H x W x 3 BGR '
                         f'image, got shape {img.shape} '
                         f'(file: {results.get(f"{key}_path", "?")})')
    return img


# ------------------------------------------------------------------------ transforms
@TRANSFORMS.register_module()
class MergeFgAndBg(BaseTransform):
    """Composite the foreground over the background: ``fg * a + bg * (1 - a)``.

    ``a = alpha / 255``; the result is computed and kept in float32 (0-255 scale, not
    rounded), as in MMagic; ``PackMattingInputs`` takes float images as they are. Meant
    to run on small crops, so it allocates one H x W x 3 float32 array and nothing
    bigger.

    Keys read: ``alpha`` (H x W, 0-255), ``fg`` and ``bg`` (H x W x 3, uint8 or
    float32, same shape). Keys written: ``merged`` (H x W x 3 float32).
    """

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha', 'fg', 'bg'])
        same_size(self, results, ['alpha', 'fg', 'bg'])
        fg, bg = results['fg'], results['bg']
        if fg.shape != bg.shape:
            raise ValueError(f'MergeFgAndBg: fg and bg must have the same shape, got fg '
                             f'{fg.shape} and bg {bg.shape} (files: '
                             f'{results.get("fg_path", "?")}, {results.get("bg_path", "?")})')
        a = np.divide(image_2d(self, results, 'alpha'), np.float32(255), dtype=np.float32)
        if fg.ndim == 3:
            a = a[..., None]
        # bg + (fg - bg) * a: one float32 allocation; exact where a is 0 or 1.
        merged = np.subtract(fg, bg, dtype=np.float32)
        merged *= a
        merged += bg
        results['merged'] = merged
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@TRANSFORMS.register_module()
class CompositeFg(BaseTransform):
    """With probability ``p``, mix a random second foreground into the sample (GCA).

    A second (fg, alpha) pair is read from ``fg_dirs`` / ``alpha_dirs`` (files paired
    by name without extension), resized to the sample's size and combined with it::

        alpha = 1 - (1 - a1) * (1 - a2)
        fg    = fg1 * a1 + fg2 * (1 - a1)                      (blend='mmagic')
        fg    = (fg1 * a1 + fg2 * a2 * (1 - a1)) / alpha       (blend='over', alpha > 0)

    where ``(fg1, a1)`` is the current sample and ``a = alpha / 255``. ``'mmagic'`` is
    the formula of GCA-Matting and MMagic; ``'over'`` is the physically exact layering
    of fg1 over fg2 (where ``alpha == 0`` it falls back to ``fg2``). If the combined
    alpha would be 1 everywhere, the sample is left unchanged (as in MMagic).

    Keys read: ``fg`` (H x W x 3), ``alpha`` (H x W). Keys written: ``fg`` and
    ``alpha`` (same dtypes as read; uint8 results are rounded).

    Args:
        fg_dirs: a folder, or a list of folders, of foreground images.
        alpha_dirs: the matching alpha folder(s), one per fg folder.
        p: probability of compositing (MMagic uses 0.5).
        interpolation: interpolation used to resize the second pair
            (``'nearest'`` as in MMagic).
        blend: ``'mmagic'`` or ``'over'`` (see above).
    """

    BLENDS = ('mmagic', 'over')

    def __init__(self, fg_dirs: Union[str, Sequence[str]],
                 alpha_dirs: Union[str, Sequence[str]], p: float = 0.5,
                 interpolation: str = 'nearest', blend: str = 'mmagic') -> None:
        self.fg_dirs = [fg_dirs] if isinstance(fg_dirs, str) else list(fg_dirs)
        self.alpha_dirs = [alpha_dirs] if isinstance(alpha_dirs, str) else list(alpha_dirs)
        if not self.fg_dirs or len(self.fg_dirs) != len(self.alpha_dirs):
            raise ValueError(f'CompositeFg: fg_dirs and alpha_dirs must be non-empty and of '
                             f'the same length, got {self.fg_dirs} and {self.alpha_dirs}')
        self.p = _check_probability(p, 'p', 'CompositeFg')
        _interp(interpolation)
        self.interpolation = interpolation
        if blend not in self.BLENDS:
            raise ValueError(f'CompositeFg: blend must be one of {self.BLENDS}, got {blend!r}')
        self.blend = blend
        self.fg_files, self.alpha_files = [], []
        for fg_dir, alpha_dir in zip(self.fg_dirs, self.alpha_dirs):
            fgs = self._by_stem(_image_files(fg_dir, 'CompositeFg fg_dirs'), fg_dir)
            alphas = self._by_stem(_image_files(alpha_dir, 'CompositeFg alpha_dirs'),
                                   alpha_dir)
            unpaired = sorted(set(fgs) ^ set(alphas))
            if unpaired:
                raise ValueError(f'CompositeFg: {fg_dir} and {alpha_dir} must hold the same '
                                 f'file names (extension aside); {len(unpaired)} have no '
                                 f'pair, e.g. {unpaired[:5]}')
            for stem in sorted(fgs):
                self.fg_files.append(fgs[stem])
                self.alpha_files.append(alphas[stem])

    @staticmethod
    def _by_stem(paths: List[str], folder: str) -> Dict[str, str]:
        stems: Dict[str, str] = {}
        for path in paths:
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem in stems:
                raise ValueError(f'CompositeFg: two images named {stem!r} in {folder} '
                                 f'({os.path.basename(stems[stem])}, '
                                 f'{os.path.basename(path)}); cannot pair fg and alpha')
            stems[stem] = path
        return stems

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['fg', 'alpha'])
        h, w = same_size(self, results, ['fg', 'alpha'])
        fg1 = _color_image(self, results, 'fg')
        alpha1 = image_2d(self, results, 'alpha')
        if np.random.rand() >= self.p:
            return results
        idx = np.random.randint(len(self.fg_files))
        fg2 = read_image(self.fg_files[idx], 'color', key='fg')
        alpha2 = read_image(self.alpha_files[idx], 'grayscale', key='alpha')
        fg2 = resize_image(fg2, (h, w), self.interpolation).astype(np.float32)
        a2 = resize_image(alpha2, (h, w), self.interpolation).astype(np.float32) / 255
        a1 = alpha1.astype(np.float32) / 255
        alpha = 1 - (1 - a1) * (1 - a2)
        if not np.any(alpha < 1):  # fully opaque: nothing of fg2 would show
            return results
        a1_, a2_ = a1[..., None], a2[..., None]
        if self.blend == 'mmagic':
            fg = fg1 * a1_ + fg2 * (1 - a1_)
        else:
            fg = fg1 * a1_ + fg2 * (a2_ * (1 - a1_))
            np.divide(fg, alpha[..., None], out=fg2, where=alpha[..., None] > 0)
            fg = fg2
        results['fg'] = _cast_like(fg, fg1)
        results['alpha'] = _cast_like(alpha * 255, alpha1)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fg_dirs={self.fg_dirs}, alpha_dirs='
                f'{self.alpha_dirs}, p={self.p}, interpolation={self.interpolation!r}, '
                f'blend={self.blend!r})')


@TRANSFORMS.register_module()
class RandomLoadResizeBg(BaseTransform):
    """Read a random background from a folder and resize it to the foreground's size.

    The folder is listed once, at construction (image files only, sorted); the image
    is resized with bicubic interpolation, as in MMagic.

    Keys read: ``fg``. Keys written: ``bg`` (H x W x 3 uint8 BGR for ``'color'``) and
    ``bg_path``.

    Args:
        bg_dir: folder of background images.
        flag: ``'color'``, ``'grayscale'`` or ``'unchanged'``.
    """

    FLAGS = ('color', 'grayscale', 'unchanged')

    def __init__(self, bg_dir: str, flag: str = 'color') -> None:
        if flag not in self.FLAGS:
            raise ValueError(f'RandomLoadResizeBg: flag must be one of {self.FLAGS}, got '
                             f'{flag!r}')
        self.bg_dir = bg_dir
        self.flag = flag
        self.bg_files = _image_files(bg_dir, 'RandomLoadResizeBg bg_dir')

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['fg'])
        h, w = np.asarray(results['fg']).shape[:2]
        path = self.bg_files[np.random.randint(len(self.bg_files))]
        bg = read_image(path, self.flag, key='bg')
        results['bg'] = resize_image(bg, (h, w), 'bicubic')
        results['bg_path'] = path
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(bg_dir={self.bg_dir!r}, flag={self.flag!r})'


@TRANSFORMS.register_module()
class PerturbBg(BaseTransform):
    """Randomly add Gaussian noise to the background or change its gamma (MMagic).

    With probability ``gamma_ratio`` the background is gamma-corrected,
    ``255 * (bg / 255) ** gamma`` with ``gamma ~ N(1, 0.12)``; otherwise Gaussian
    noise ``N(mu, sigma)`` is added, ``mu`` drawn from the integers in [-7, 7) and
    ``sigma`` from [2, 6). The result is clipped to 0-255 and keeps the dtype of
    ``bg`` (uint8 is rounded).

    Keys read: ``bg``. Keys written: ``out_key`` (``'noisy_bg'``, as in MMagic, where it
    is a perturbed copy of the background given to background-aware models; set
    ``out_key='bg'`` to perturb the background that ``MergeFgAndBg`` will use).

    Args:
        gamma_ratio: probability of a gamma change instead of noise.
        out_key: key to write the perturbed background to.
    """

    def __init__(self, gamma_ratio: float = 0.6, out_key: str = 'noisy_bg') -> None:
        self.gamma_ratio = _check_probability(gamma_ratio, 'gamma_ratio', 'PerturbBg')
        if not isinstance(out_key, str) or not out_key:
            raise ValueError(f'PerturbBg: out_key must be a non-empty string, got {out_key!r}')
        self.out_key = out_key

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['bg'])
        bg = np.asarray(results['bg'])
        if np.random.rand() >= self.gamma_ratio:
            mu = np.random.randint(-7, 7)
            sigma = np.random.randint(2, 6)
            noisy = bg.astype(np.float32)
            noisy += np.random.normal(mu, sigma, bg.shape).astype(np.float32)
        else:
            gamma = max(float(np.random.normal(1, 0.12)), 1e-3)
            noisy = np.clip(bg.astype(np.float32), 0, 255) / np.float32(255)
            noisy = np.power(noisy, np.float32(gamma)) * np.float32(255)
        results[self.out_key] = _cast_like(np.clip(noisy, 0, 255), bg)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(gamma_ratio={self.gamma_ratio}, '
                f'out_key={self.out_key!r})')


@TRANSFORMS.register_module()
class RandomJitter(BaseTransform):
    """Randomly jitter the foreground's hue, saturation and value (GCA / MMagic).

    The hue of the whole ``fg`` is shifted by a random integer in ``hue_range``
    (degrees, wrapped to [0, 360)). Saturation and value are shifted by
    ``(1.1 - m) * U(-0.1, 0.1)``, where ``m`` is their mean over the foreground region
    ``alpha > 0``, and reflected back into [0, 1]. Only the statistics come from
    ``alpha > 0``: pixels outside it do not influence the jitter. A sample whose alpha
    is 0 everywhere is left unchanged (as in GCA-Matting).

    Keys read: ``fg`` (H x W x 3 BGR, 0-255), ``alpha`` (H x W). Keys written: ``fg``
    (same dtype as read; uint8 is rounded).

    Args:
        hue_range: ``h`` for the range ``(-h, h)``, or a ``(min, max)`` pair; integer
            bounds draw an integer shift in ``[min, max)`` as in MMagic, float bounds a
            uniform one.
    """

    def __init__(self, hue_range: Union[float, Tuple[float, float]] = 40) -> None:
        def is_num(v) -> bool:
            return isinstance(v, numbers.Real) and not isinstance(v, bool)

        if is_num(hue_range):
            if hue_range < 0:
                raise ValueError(f'RandomJitter: a single hue_range must be >= 0, got '
                                 f'{hue_range!r}')
            hue_range = (-hue_range, hue_range)
        elif not (isinstance(hue_range, (tuple, list)) and len(hue_range) == 2
                  and all(is_num(v) for v in hue_range) and hue_range[0] <= hue_range[1]):
            raise ValueError(f'RandomJitter: hue_range must be a number >= 0 or a (min, '
                             f'max) pair with min <= max, got {hue_range!r}')
        self.hue_range = tuple(hue_range)

    def _hue_shift(self) -> float:
        lo, hi = self.hue_range
        if lo == hi:
            return float(lo)
        if all(isinstance(v, (int, np.integer)) for v in (lo, hi)):
            return float(np.random.randint(lo, hi))
        return float(np.random.uniform(lo, hi))

    @staticmethod
    def _jitter_channel(channel: np.ndarray, mask: np.ndarray) -> None:
        """Shift one HSV channel (0-1) in place by (1.1 - mean) * U(-0.1, 0.1), with the
        mean over ``mask``; reflect values above 1 back into [0, 1]."""
        jitter = (1.1 - channel[mask].mean()) * (np.random.rand() * 0.2 - 0.1)
        shifted = np.abs(channel + np.float32(jitter))
        over = shifted > 1
        shifted[over] = 2 - shifted[over]
        channel[...] = shifted

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['fg', 'alpha'])
        same_size(self, results, ['fg', 'alpha'])
        fg = _color_image(self, results, 'fg')
        mask = image_2d(self, results, 'alpha') > 0
        if not mask.any():
            return results
        hsv = cv2.cvtColor(fg.astype(np.float32) / np.float32(255), cv2.COLOR_BGR2HSV)
        hsv[..., 0] = np.remainder(hsv[..., 0] + np.float32(self._hue_shift()), 360)
        self._jitter_channel(hsv[..., 1], mask)
        self._jitter_channel(hsv[..., 2], mask)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        out *= np.float32(255)
        results['fg'] = _cast_like(np.clip(out, 0, 255), fg)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(hue_range={self.hue_range})'


@TRANSFORMS.register_module()
class RandomGray(BaseTransform):
    """With probability ``p``, turn the images into grayscale (all keys together).

    The luma (OpenCV's BGR -> gray weights) is repeated over the three channels, so the
    images keep their H x W x 3 shape and dtype (float64 becomes float32).

    Keys read: ``keys`` (H x W x 3 BGR). Keys written: ``keys`` and ``gray`` (bool).

    Args:
        keys: images to convert together, e.g. ``['fg']`` or ``['merged']``.
        p: probability of converting.
    """

    def __init__(self, keys: Sequence[str], p: float = 0.2) -> None:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise ValueError(f'RandomGray: keys must be a non-empty list of strings, got '
                             f'{keys!r}')
        self.keys = keys
        self.p = _check_probability(p, 'p', 'RandomGray')

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        images = {k: _color_image(self, results, k) for k in self.keys}
        gray = bool(np.random.rand() < self.p)
        if gray:
            for key, img in images.items():
                if img.dtype not in (np.uint8, np.uint16, np.float32):
                    img = img.astype(np.float32)
                luma = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
                results[key] = cv2.merge([luma, luma, luma])
        results['gray'] = gray
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={self.keys}, p={self.p})'
