"""Loading images, alphas and trimaps from disk."""
import os
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS

_IMREAD_FLAGS = {
    'color': cv2.IMREAD_COLOR,
    'grayscale': cv2.IMREAD_GRAYSCALE,
    'unchanged': cv2.IMREAD_UNCHANGED,
}


def read_image(path: str, color_type: str = 'color', key: Optional[str] = None) -> np.ndarray:
    """Read one image with OpenCV and fail with a message that names the file.

    Args:
        path: file to read.
        color_type: ``'color'`` (H x W x 3 uint8, BGR), ``'grayscale'`` (H x W uint8)
            or ``'unchanged'``.
        key: the results key the file belongs to, only for the error message.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file exists but cannot be decoded as an image.
    """
    if color_type not in _IMREAD_FLAGS:
        raise ValueError(f'color_type must be one of {sorted(_IMREAD_FLAGS)}, '
                         f'got {color_type!r}')
    where = f' (key {key!r})' if key else ''
    if not os.path.isfile(path):
        raise FileNotFoundError(f'image file not found{where}: {path}')
    buf = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(buf, _IMREAD_FLAGS[color_type]) if buf.size else None
    if img is None:
        raise ValueError(f'cannot decode image file{where}: {path} (truncated or not '
                         'an image?)')
    return img


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Load one image (merged, fg, bg, alpha or trimap) from ``results[key + '_path']``.

    Keys read: ``{key}_path``.
    Keys written: ``{key}`` (uint8; H x W x 3 BGR for color, H x W for grayscale),
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
