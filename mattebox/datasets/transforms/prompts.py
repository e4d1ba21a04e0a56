"""Guidance drawn from the ground truth, for training (and seeded test prompts): boxes,
points, masks, and text from the annotations.

Random choices use the global ``np.random`` (seeded per worker by mmengine, like every
other transform), or, with ``seed=N``, a generator seeded with ``(N, sample_idx)``: the
prompt is then a function of the sample alone, whatever the order, the workers or the
number of processes (fixed test prompts). Conversions are those of
:mod:`mattebox.guidance`.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mattebox.guidance import object_box
from mattebox.registry import TRANSFORMS

from ._utils import image_2d, require_keys

MASK_OPERATIONS = ('erode', 'dilate', 'erode_dilate', 'dilate_erode')


class _Draws:
    """Random draws from the global ``np.random`` or from a per-sample generator."""

    def __init__(self, seed: Optional[int], results: dict, owner: str) -> None:
        self.rng = None
        if seed is not None:
            if 'sample_idx' not in results:
                raise KeyError(f'{owner}(seed={seed}) needs the sample_idx of the sample '
                               '(the datasets set it) to seed its prompt')
            self.rng = np.random.default_rng([int(seed), int(results['sample_idx'])])

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high) if self.rng else np.random.uniform(low, high))

    def random(self, size=None):
        return self.rng.random(size) if self.rng else np.random.random(size)

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high)."""
        return int(self.rng.integers(low, high) if self.rng else np.random.randint(low, high))

    def choice(self, n: int, size: int) -> np.ndarray:
        """``size`` distinct indices of ``range(n)``."""
        return self.rng.choice(n, size=size, replace=False) if self.rng else \
            np.random.choice(n, size=size, replace=False)


def _check_seed(seed, owner: str) -> Optional[int]:
    if seed is not None and not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f'{owner}: seed must be None or an int >= 0, got {seed!r}')
    return seed


def _number_pair(value, name: str, owner: str, low: float, high: float) -> Tuple[float, float]:
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
          and low <= value[0] <= value[1] <= high)
    if not ok:
        raise ValueError(f'{owner}: {name} must be a (min, max) pair with {low} <= min <= '
                         f'max <= {high}, got {value!r}')
    return float(value[0]), float(value[1])


@TRANSFORMS.register_module()
class GenerateBoxPrompt(BaseTransform):
    """A box around the object of the alpha (SDMatte's ``GenBBox``).

    The box holds every pixel with ``alpha > 0``, or only the largest connected
    component when it is at least ``dominance`` times larger than the second. Its sides
    are then jittered as SDMatte does: ``c ~ U(0, jitter)``, and each side moves in or
    out (at random) by ``int(c * height)`` (top, bottom) or ``int(c * width)`` (left,
    right) of the box; the box is clipped to the image. An empty alpha gives no box
    (``boxes`` is 0 x 4).

    Keys read: ``alpha`` (H x W, 0-255). Keys written: ``boxes`` (float32 1 x 4:
    x0, y0, x1, y1 pixel edges, see :mod:`mattebox.guidance`).

    Args:
        jitter: the largest side shift as a fraction of the box's size (0: the tight
            box).
        dominance: area ratio above which the largest component alone is boxed.
        inclusive_max: give the last row / column *index* as ``x1`` / ``y1``, which
            leaves that row and column outside the box, as SDMatte's ``GenBBox`` does
            (its released weights were trained so); False: the tight box.
        seed: None (global ``np.random``) or a seed for per-sample draws (module doc).
    """

    def __init__(self, jitter: float = 0.0, dominance: float = 10.0,
                 inclusive_max: bool = False, seed: Optional[int] = None) -> None:
        self.seed = _check_seed(seed, 'GenerateBoxPrompt')
        if not (isinstance(jitter, (int, float)) and 0 <= jitter <= 1):
            raise ValueError(f'GenerateBoxPrompt: jitter must be in [0, 1], got {jitter!r}')
        if not (isinstance(dominance, (int, float)) and dominance >= 1):
            raise ValueError(f'GenerateBoxPrompt: dominance must be >= 1, got {dominance!r}')
        self.jitter, self.dominance = float(jitter), float(dominance)
        self.inclusive_max = bool(inclusive_max)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = image_2d(self, results, 'alpha')
        h, w = alpha.shape
        box = object_box(alpha, self.dominance, 1, self.inclusive_max)
        if box is None:
            results['boxes'] = np.zeros((0, 4), np.float32)
            return results
        x0, y0, x1, y1 = (int(v) for v in box)
        draw = _Draws(self.seed, results, 'GenerateBoxPrompt')
        coe = draw.uniform(0, self.jitter) if self.jitter else 0.0
        pad_y, pad_x = int(coe * (y1 - y0)), int(coe * (x1 - x0))
        signs = np.where(draw.random(4) < 0.5, 1, -1) if self.jitter else np.ones(4)
        y0, y1 = max(0, y0 + signs[0] * pad_y), min(h, y1 + signs[1] * pad_y)
        x0, x1 = max(0, x0 + signs[2] * pad_x), min(w, x1 + signs[3] * pad_x)
        if x1 <= x0 or y1 <= y0:  # jittered away: keep the tight box
            x0, y0, x1, y1 = (int(v) for v in box)
        results['boxes'] = np.array([[x0, y0, x1, y1]], np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(jitter={self.jitter}, dominance={self.dominance}, '
                f'inclusive_max={self.inclusive_max}, seed={self.seed})')


@TRANSFORMS.register_module()
class GeneratePointPrompt(BaseTransform):
    """Foreground clicks drawn from the alpha (SDMatte's ``GenPoint``).

    ``num_points`` distinct pixels with ``alpha > threshold * 255`` are drawn
    uniformly; with fewer such pixels, all of them (SDMatte gives no point then: a
    deliberate deviation). The label of each is 1. SDMatte's Gaussian point map is
    :func:`mattebox.guidance.point_heatmap` of these points.

    Keys read: ``alpha`` (H x W, 0-255). Keys written: ``points`` (float32 K x 3:
    x, y, label).

    Args:
        num_points: how many points (an int, or a ``(min, max)`` range, max included).
        threshold: alpha threshold on the 0-1 scale (SDMatte: 0.8).
        seed: None (global ``np.random``) or a seed for per-sample draws (module doc).
    """

    def __init__(self, num_points=10, threshold: float = 0.0,
                 seed: Optional[int] = None) -> None:
        self.seed = _check_seed(seed, 'GeneratePointPrompt')
        if isinstance(num_points, int) and not isinstance(num_points, bool):
            num_points = (num_points, num_points)
        lo, hi = _number_pair(num_points, 'num_points', 'GeneratePointPrompt', 1, 1e9)
        if lo != int(lo) or hi != int(hi):
            raise ValueError(f'GeneratePointPrompt: num_points must be integers, got '
                             f'{num_points!r}')
        if not (isinstance(threshold, (int, float)) and 0 <= threshold < 1):
            raise ValueError(f'GeneratePointPrompt: threshold must be in [0, 1), got '
                             f'{threshold!r}')
        self.num_points = (int(lo), int(hi))
        self.threshold = float(threshold)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = image_2d(self, results, 'alpha')
        lo, hi = self.num_points
        draw = _Draws(self.seed, results, 'GeneratePointPrompt')
        count = lo if lo == hi else draw.integer(lo, hi + 1)
        ys, xs = np.nonzero(alpha > self.threshold * 255)
        if len(ys) > count:
            pick = draw.choice(len(ys), count)
            ys, xs = ys[pick], xs[pick]
        points = np.stack([xs, ys, np.ones(len(xs))], axis=1) if len(xs) else np.zeros((0, 3))
        results['points'] = points.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_points={self.num_points}, '
                f'threshold={self.threshold}, seed={self.seed})')


@TRANSFORMS.register_module()
class GenerateMaskPrompt(BaseTransform):
    """A coarse mask from the alpha (SDMatte's ``GenMask``).

    The alpha is thresholded (``alpha >= t * 255``, ``t ~ U(threshold_range)``) to a
    0 / 255 mask, then one of ``operations`` is drawn and applied with elliptical
    kernels whose sizes are drawn from ``kernel_range`` (max excluded):
    ``'erode'``, ``'dilate'``, ``'erode_dilate'`` or ``'dilate_erode'``. With
    ``threshold_range=None`` the alpha's grey levels are kept; with no operations the
    mask is not changed further (``threshold_range=None, operations=()`` gives the
    alpha itself, e.g. for testing an alpha prior).

    Keys read: ``alpha`` (H x W, 0-255). Keys written: ``mask`` (uint8 H x W).

    Args:
        threshold_range: ``(min, max)`` of the threshold on the 0-1 scale (SDMatte:
            (0.01, 1.0)), or None.
        operations: the morphological operations to draw from.
        kernel_range: ``(min, max)`` kernel sizes, max excluded (SDMatte: (15, 30)).
        seed: None (global ``np.random``) or a seed for per-sample draws (module doc).
    """

    def __init__(self, threshold_range: Optional[Tuple[float, float]] = (0.01, 1.0),
                 operations: Sequence[str] = MASK_OPERATIONS,
                 kernel_range: Tuple[int, int] = (15, 30), seed: Optional[int] = None) -> None:
        owner = 'GenerateMaskPrompt'
        self.seed = _check_seed(seed, owner)
        self.threshold_range = None if threshold_range is None else _number_pair(
            threshold_range, 'threshold_range', owner, 0, 1)
        operations = [operations] if isinstance(operations, str) else list(operations)
        bad = [op for op in operations if op not in MASK_OPERATIONS]
        if bad:
            raise ValueError(f'{owner}: operations must be among {MASK_OPERATIONS}, got {bad}')
        self.operations = operations
        lo, hi = _number_pair(kernel_range, 'kernel_range', owner, 1, 1e6)
        if lo != int(lo) or hi != int(hi) or hi <= lo:
            raise ValueError(f'{owner}: kernel_range must be integers (min, max) with '
                             f'min < max (max excluded), got {kernel_range!r}')
        self.kernel_range = (int(lo), int(hi))

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['alpha'])
        alpha = image_2d(self, results, 'alpha')
        draw = _Draws(self.seed, results, 'GenerateMaskPrompt')
        if self.threshold_range is None:
            mask = np.ascontiguousarray(alpha, dtype=np.uint8)
        else:
            thr = draw.uniform(*self.threshold_range)
            mask = np.where(alpha >= thr * 255, np.uint8(255), np.uint8(0))
        if self.operations:
            op = self.operations[draw.integer(0, len(self.operations))]
            for step in op.split('_'):
                morph = cv2.erode if step == 'erode' else cv2.dilate
                size = draw.integer(*self.kernel_range)
                mask = morph(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        results['mask'] = mask
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(threshold_range={self.threshold_range}, '
                f'operations={self.operations}, kernel_range={self.kernel_range}, '
                f'seed={self.seed})')


@TRANSFORMS.register_module()
class LoadText(BaseTransform):
    """Pick the referring expression of a sample from its annotation.

    The annotation's ``key`` holds a string or a list of strings (e.g. a RefMatte
    instance's expressions). ``'random'`` draws one (training), ``'first'`` and
    ``'last'`` take that one (fixed test prompts), ``'index'`` takes
    ``results['text_index']`` (set by a dataset that lists every expression).

    Keys read: ``key`` (and ``text_index`` for ``'index'``). Keys written: ``text``.

    Args:
        key: the annotation key.
        mode: ``'random'``, ``'first'``, ``'last'`` or ``'index'``.
    """

    MODES = ('random', 'first', 'last', 'index')

    def __init__(self, key: str = 'text', mode: str = 'random') -> None:
        if mode not in self.MODES:
            raise ValueError(f'LoadText: mode must be one of {self.MODES}, got {mode!r}')
        self.key, self.mode = key, mode

    def transform(self, results: dict) -> dict:
        require_keys(self, results, [self.key] + (['text_index'] if self.mode == 'index'
                                                  else []))
        value = results[self.key]
        options = [value] if isinstance(value, str) else list(value)
        if not options or not all(isinstance(v, str) for v in options):
            raise ValueError(f'LoadText: {self.key!r} must be a string or a non-empty list '
                             f'of strings, got {value!r} (sample '
                             f'{results.get("merged_path", results.get("sample_idx", "?"))})')
        if self.mode == 'random':
            text = options[np.random.randint(len(options))]
        elif self.mode == 'index':
            text = options[int(results['text_index'])]
        else:
            text = options[0 if self.mode == 'first' else -1]
        results['text'] = text
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(key={self.key!r}, mode={self.mode!r})'
