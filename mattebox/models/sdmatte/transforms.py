"""SDMatte's training composition: two copies of the foreground, one labelled."""
from typing import Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.datasets.transforms._utils import image_2d, require_keys, same_size
from mattebox.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CompositeTwoCopies(BaseTransform):
    """Paste the foreground twice, side by side, over one background, and label only one
    copy (SDMatte's ``composition``): the prompt, not the appearance, must select the
    instance.

    With probability ``p`` the foreground and the alpha are repeated horizontally
    (H x 2W) and the background is resized to H x 2W; otherwise one copy over the
    background resized to H x W. With probability ``blur_prob`` the background is
    box-blurred with a size drawn from ``blur_sizes``. ``merged = fg * a + bg * (1 - a)``
    (float32, 0-255); then, for two copies, the alpha of one copy (left or right, at
    random) is set to 0.

    Keys read: ``fg``, ``bg`` (H x W x 3), ``alpha`` (H x W uint8). Keys written:
    ``merged`` (float32), ``fg``, ``bg``, ``alpha`` (at the new width) and
    ``labelled_copy`` (``'left'``, ``'right'`` or ``'single'``).

    Args:
        p: probability of two copies (1 in SDMatte).
        blur_prob: probability of blurring the background (0.5).
        blur_sizes: box-filter sizes to draw from (20 ... 60).
    """

    def __init__(self, p: float = 1.0, blur_prob: float = 0.5,
                 blur_sizes: Sequence[int] = (20, 30, 40, 50, 60)) -> None:
        for name, value in (('p', p), ('blur_prob', blur_prob)):
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise ValueError(f'CompositeTwoCopies: {name} must be in [0, 1], got {value!r}')
        sizes = list(blur_sizes)
        if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ValueError(f'CompositeTwoCopies: blur_sizes must be positive ints, got '
                             f'{blur_sizes!r}')
        self.p, self.blur_prob, self.blur_sizes = float(p), float(blur_prob), sizes

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['fg', 'bg', 'alpha'])
        same_size(self, results, ['fg', 'alpha'])
        alpha = image_2d(self, results, 'alpha')
        fg = results['fg']
        h, w = alpha.shape
        two = bool(np.random.random() < self.p)
        if two:
            alpha = np.concatenate([alpha, alpha], axis=1)
            fg = np.concatenate([fg, fg], axis=1)
        bg = cv2.resize(results['bg'], (alpha.shape[1], h), interpolation=cv2.INTER_LINEAR)
        if np.random.random() < self.blur_prob:
            size = self.blur_sizes[np.random.randint(len(self.blur_sizes))]
            bg = cv2.blur(bg, (size, size))
        a = alpha.astype(np.float32)[..., None] / 255
        merged = fg.astype(np.float32) * a + bg.astype(np.float32) * (1 - a)
        labelled = 'single'
        if two:
            alpha = alpha.copy()
            if np.random.random() < 0.5:
                alpha[:, :w] = 0
                labelled = 'right'
            else:
                alpha[:, w:] = 0
                labelled = 'left'
        results.update(merged=merged, fg=fg, bg=bg, alpha=alpha, labelled_copy=labelled)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(p={self.p}, blur_prob={self.blur_prob}, '
                f'blur_sizes={self.blur_sizes})')
