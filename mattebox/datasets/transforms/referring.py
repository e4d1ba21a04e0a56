"""Transforms of the referring (text-grounded) data: the alpha of an instance from a file
or from COCO polygons / RLE, and a horizontal flip that keeps "left" / "right" true."""
import re
from typing import Sequence

from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS

from .geometry import Flip
from ._utils import require_keys
from .loading import read_image


@TRANSFORMS.register_module()
class LoadReferringAlpha(BaseTransform):
    """The instance's alpha: read from ``alpha_path``, or drawn from a COCO
    ``segmentation`` (RefCOCO: polygons or RLE, 0 / 255).

    Keys read: ``alpha_path``, or ``segmentation`` + ``img_height`` + ``img_width``.
    Keys written: ``alpha`` (uint8 H x W), ``ori_alpha`` (with ``save_original_img``),
    ``ori_alpha_shape``, ``ori_shape`` (if not set).

    Args:
        save_original_img: keep an untouched copy as ``ori_alpha`` (for metrics).
    """

    def __init__(self, save_original_img: bool = False) -> None:
        self.save_original_img = save_original_img

    def transform(self, results: dict) -> dict:
        if 'alpha_path' in results:
            alpha = read_image(results['alpha_path'], 'grayscale', key='alpha')
        elif 'segmentation' in results:
            from ..refcoco import segmentation_to_mask
            missing = [k for k in ('img_height', 'img_width') if k not in results]
            if missing:
                raise KeyError(f'LoadReferringAlpha: a segmentation needs {missing} (the '
                               f'image size) in the sample; found keys {sorted(results)}')
            try:
                alpha = segmentation_to_mask(results['segmentation'], results['img_height'],
                                             results['img_width'])
            except ValueError as e:
                raise ValueError(f'LoadReferringAlpha: instance '
                                 f'{results.get("instance_id", "?")} of '
                                 f'{results.get("merged_path", "?")}: {e}') from e
        else:
            raise KeyError(f'LoadReferringAlpha needs alpha_path or segmentation in the '
                           f'sample; found keys {sorted(results)}')
        results['alpha'] = alpha
        results['ori_alpha_shape'] = alpha.shape[:2]
        results.setdefault('ori_shape', alpha.shape[:2])
        if self.save_original_img:
            results['ori_alpha'] = alpha.copy()
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(save_original_img={self.save_original_img})'


_LEFT_RIGHT = re.compile(r'\b(left|right|leftmost|rightmost)\b', re.IGNORECASE)
_SWAP = {'left': 'right', 'right': 'left', 'leftmost': 'rightmost', 'rightmost': 'leftmost'}


def swap_left_right(text: str) -> str:
    """``text`` with the words left / right (and leftmost / rightmost) swapped, keeping
    their capitalisation: what a horizontal flip does to a referring expression."""
    def repl(m):
        word = m.group(0)
        new = _SWAP[word.lower()]
        if word.isupper():
            return new.upper()
        return new.capitalize() if word[0].isupper() else new
    return _LEFT_RIGHT.sub(repl, text)


@TRANSFORMS.register_module()
class ReferringFlip(Flip):
    """:class:`Flip` for referring data: a horizontal flip also swaps "left" and
    "right" (and "leftmost" / "rightmost") in ``text`` and ``expressions``, so that the
    expression still names the same object.

    Other words that depend on the side (e.g. "east", "clockwise") are not changed;
    pass ``flip_ratio=0`` (or leave the flip out) for data that uses them.

    Keys read / written: those of :class:`Flip`, plus ``text`` and ``expressions``.
    """

    def __init__(self, keys: Sequence[str], flip_ratio: float = 0.5,
                 direction: str = 'horizontal') -> None:
        super().__init__(keys, flip_ratio, direction)

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if results['flip'] and self.direction == 'horizontal':
            if isinstance(results.get('text'), str):
                results['text'] = swap_left_right(results['text'])
            if 'expressions' in results:
                results['expressions'] = [swap_left_right(t) for t in results['expressions']]
        return results



@TRANSFORMS.register_module()
class UseAsOriginal(BaseTransform):
    """Make the current (resized) images the "original" ones, so that the prediction is
    returned and scored at this size: the RefMatte protocol evaluates at 512 x 512.

    Keys read: ``keys``. Keys written: ``ori_{key}`` (a copy of each key) and
    ``ori_shape`` (the current H, W).

    Args:
        keys: images to copy (e.g. ``['alpha']``; add ``'trimap'`` when one is loaded).
    """

    def __init__(self, keys: Sequence[str] = ('alpha',)) -> None:
        self.keys = list(keys)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, self.keys)
        for key in self.keys:
            results[f'ori_{key}'] = results[key].copy()
        results['ori_shape'] = tuple(results[self.keys[0]].shape[:2])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={self.keys})'


@TRANSFORMS.register_module()
class BinarizeAlpha(BaseTransform):
    """Turn the alpha into a binary mask (0 / 255) and flag the sample ``binary_gt``:
    segmentation-like data from a matting set (e.g. a stand-in for RefCOCO in tiny
    configs), so that the losses treat it as RefCOCO (TDM's SG loss).

    Keys read: ``alpha``. Keys written: ``alpha``, ``binary_gt`` (True).

    Args:
        threshold: alpha values ``>= threshold`` become 255, the others 0.
    """

    def __init__(self, threshold: int = 128) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) \
                or not 1 <= threshold <= 255:
            raise ValueError(f'BinarizeAlpha: threshold must be an int in 1..255, got '
                             f'{threshold!r}')
        self.threshold = threshold

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = results['alpha']
        results['alpha'] = ((alpha >= self.threshold) * 255).astype(alpha.dtype)
        results['binary_gt'] = True
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(threshold={self.threshold})'
