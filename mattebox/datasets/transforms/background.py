"""Fitting a background of any size to its foreground (online composition)."""
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.datasets.background import _INTERP, background_window_range, fit_background
from mattebox.registry import TRANSFORMS

from ._utils import require_keys


@TRANSFORMS.register_module()
class FitBgToFg(BaseTransform):
    """Give ``bg`` the size of the foreground with DIM's rule: upscale it (keeping its
    ratio, bicubic) only if it is smaller than the foreground in either side, then crop
    a foreground-sized window (the top-left one, as DIM's composition script does).

    Place it right after loading, before any crop or resize: without upscaling the new
    ``bg`` is a view of the loaded one (no copy); with upscaling only the rows and
    columns that the window needs are resized (:func:`~mattebox.datasets.background.
    fit_background`, the function ``tools/dataset_converters/comp1k/prepare.py`` uses,
    so online and offline composition make the same backgrounds).

    Keys read: ``bg`` and ``ref_key``. Keys written: ``bg``, ``bg_window``
    ([left, top, width, height] in the possibly upscaled background).

    Args:
        ref_key: the image whose size the background takes (``'fg'`` or ``'alpha'``).
        interpolation: upscaling interpolation (``'bicubic'`` as DIM).
        position: ``'top_left'`` (DIM) or ``'random'`` (a random window: more
            backgrounds seen, no longer DIM's composition).
    """

    def __init__(self, ref_key: str = 'fg', interpolation: str = 'bicubic',
                 position: str = 'top_left') -> None:
        if interpolation not in _INTERP:
            raise ValueError(f'interpolation must be one of {sorted(_INTERP)}, '
                             f'got {interpolation!r}')
        if position not in ('top_left', 'random'):
            raise ValueError(f"position must be 'top_left' or 'random', got {position!r}")
        self.ref_key = ref_key
        self.interpolation = interpolation
        self.position = position

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['bg', self.ref_key])
        bg = results['bg']
        h, w = results[self.ref_key].shape[:2]
        top = left = 0
        if self.position == 'random':
            max_y, max_x = background_window_range(bg.shape[:2], (h, w))
            top, left = np.random.randint(max_y + 1), np.random.randint(max_x + 1)
        results['bg'] = fit_background(bg, (h, w), self.interpolation, (top, left))
        results['bg_window'] = [int(left), int(top), int(w), int(h)]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ref_key={self.ref_key!r}, '
                f'interpolation={self.interpolation!r}, position={self.position!r})')
