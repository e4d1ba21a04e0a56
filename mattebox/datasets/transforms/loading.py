"""Loading images, alphas and trimaps from disk."""
import os
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.engine.errors import DataFileError, MissingDataFileError
from mattebox.registry import TRANSFORMS

_IMREAD_FLAGS = {
    'color': cv2.IMREAD_COLOR,
    'grayscale': cv2.IMREAD_GRAYSCALE,
    'unchanged': cv2.IMREAD_UNCHANGED,
}
#: keys read as mattes: 'grayscale' keeps their depth and refuses mixed colour channels
MATTE_KEYS = frozenset({'alpha', 'trimap', 'mask', 'seg', 'soft_seg'})
# keeps the depth (16-bit mattes) and tells grey from colour files; unlike
# IMREAD_UNCHANGED it applies the EXIF orientation, as IMREAD_GRAYSCALE does
_MATTE_FLAG = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
#: 16-bit values -> the pipeline's 0..255 scale (65535 -> 255.0 exactly in float32)
_SCALE_16_TO_8 = np.float32(255) / np.float32(65535)


def single_channel(img: np.ndarray, path: str, key: Optional[str] = None) -> np.ndarray:
    """A decoded grey file as H x W on the 0..255 scale.

    A colour file is accepted only if its colour channels are equal (a grey image
    saved as RGB); 16-bit values ``v`` become float32 ``v * 255 / 65535`` (16-bit
    precision kept); 8-bit stays uint8.

    Raises:
        DataFileError: differing colour channels, or an unsupported depth.
    """
    what = key or 'grayscale image'
    if img.ndim == 3:
        colour = img[..., :3]
        if colour.shape[2] > 1 and not (colour == colour[..., :1]).all():
            raise DataFileError(
                f'{path}: the {what} has {img.shape[2]} colour channels that differ; it must '
                'be single-channel (grey). Converting it would mix the channels: save the '
                'intended channel as a grey image.')
        img = np.ascontiguousarray(img[..., 0])
    if img.dtype == np.uint16:
        return img.astype(np.float32) * _SCALE_16_TO_8
    if img.dtype != np.uint8:
        raise DataFileError(f'{path}: the {what} is {img.dtype}; expected an 8- or 16-bit '
                            'image')
    return img


def read_image(path: str, color_type: str = 'color', key: Optional[str] = None) -> np.ndarray:
    """Read one image with OpenCV and fail with a message that names the file.

    Args:
        path: file to read.
        color_type: ``'color'`` (H x W x 3 uint8, BGR), ``'grayscale'`` (H x W uint8;
            for a matte key, see below) or ``'unchanged'``.
        key: the results key the file belongs to. For the matte keys
            (:data:`MATTE_KEYS`: alpha, trimap, mask, ...) ``'grayscale'`` means a
            single-channel file: 16-bit files keep their precision (float32 on the
            0..255 scale) and a colour file is accepted only when its channels are
            equal (:func:`single_channel`); other keys are converted to grey.

    Raises:
        MissingDataFileError: the file does not exist (a ``FileNotFoundError``).
        DataFileError: the file cannot be decoded, or is not a grey image for
            ``'grayscale'`` (a ``ValueError``).
    """
    if color_type not in _IMREAD_FLAGS:
        raise ValueError(f'color_type must be one of {sorted(_IMREAD_FLAGS)}, '
                         f'got {color_type!r}')
    where = f' (key {key!r})' if key else ''
    if not os.path.isfile(path):
        raise MissingDataFileError(f'image file not found{where}: {path}')
    matte = color_type == 'grayscale' and key in MATTE_KEYS
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, _MATTE_FLAG if matte else _IMREAD_FLAGS[color_type]) \
        if buf.size else None
    if img is None:
        raise DataFileError(f'cannot decode image file{where}: {path} (truncated or not '
                            'an image?)')
    return single_channel(img, path, key) if matte else img


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Load one image (merged, fg, bg, alpha or trimap) from ``results[key + '_path']``.

    Keys read: ``{key}_path``.
    Keys written: ``{key}`` (uint8; H x W x 3 BGR for color, H x W for grayscale; a
    16-bit alpha / trimap / mask becomes float32 on the 0..255 scale, so that its
    precision is kept, see :func:`read_image`),
    ``ori_{key}`` (a copy, when ``save_original_img``), ``ori_shape`` (H, W; set by the
    first image loaded) and ``ori_{key}_shape``.

    Args:
        key: name of the image, e.g. ``'merged'``, ``'alpha'``, ``'trimap'``.
        color_type: ``'color'``, ``'grayscale'`` or ``'unchanged'``.
        save_original_img: keep an untouched copy as ``ori_{key}`` (for test-time
            metrics, which need the alpha and trimap exactly as on disk).
    """

    def __init__(self, key: str, color_type: str = 'color',
                 save_original_img: bool = False) -> None:
        if color_type not in _IMREAD_FLAGS:
            raise ValueError(f'LoadImageFromFile: color_type must be one of '
                             f'{sorted(_IMREAD_FLAGS)}, got {color_type!r}')
        self.key = key
        self.color_type = color_type
        self.save_original_img = save_original_img

    def transform(self, results: dict) -> dict:
        path_key = f'{self.key}_path'
        if path_key not in results:
            raise KeyError(f'LoadImageFromFile(key={self.key!r}) needs {path_key!r} in '
                           f'the sample; found keys {sorted(results)}')
        img = read_image(results[path_key], self.color_type, key=self.key)
        results[self.key] = img
        results[f'ori_{self.key}_shape'] = img.shape[:2]
        results.setdefault('ori_shape', img.shape[:2])
        if self.save_original_img:
            results[f'ori_{self.key}'] = img.copy()
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(key={self.key!r}, color_type={self.color_type!r}, '
                f'save_original_img={self.save_original_img})')
