"""Procedural matting data: the embedded default for demos and tests.

Every sample is drawn from a seeded random generator, so a dataset is fully described
by ``(seed, size, counts)`` and needs no download. A sample has

- an **alpha** matte made of several objects: an opaque body with hair (long curved
  locks that taper and fade) or fur (short dense strands), optional holes, soft or
  defocused edges, motion blur, a semi-transparent veil or glass blob (alpha 0.3-0.7,
  brighter rim), lace (a thin net over a faint veil) and loose hair locks. Everything is
  rendered at 2-4x the output size and area-averaged down, so edges are anti-aliased;
- a **foreground** colour image defined over the whole frame (as Composition-1k's
  ``fg``, which extends beyond the object): a smooth saturated colour field, one colour
  per object spreading smoothly beyond it, plus fine and fibrous texture;
- a **background** of a different, duller palette: noise octaves, stripes, gradients
  and blobs;
- the **merged** image ``round(fg * a + bg * (1 - a))`` with ``a = alpha / 255``.

:func:`make_synthetic_dataset` writes train/test splits in the Composition-1k layout
(``{split}/{fg,alpha,bg,merged[,trimap]}/NNNN.png`` plus ``training_list.json`` and
``test_list.json`` in the ``{"metainfo": ..., "data_list": [...]}`` form). Sample ``i``
of a split depends only on ``(seed, split, i)``, never on how many samples are asked
for. Images are BGR ``uint8`` (OpenCV convention); alpha and trimap are single-channel
``uint8``.
"""
from __future__ import annotations

import colorsys
import json
import math
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'MIN_SIZE', 'composite', 'is_synthetic_dataset_dir', 'make_sample', 'make_synthetic_dataset',
    'make_trimap'
]

#: Smallest accepted image side, in pixels.
MIN_SIZE = 32

#: Annotation file name of each split, relative to the dataset root.
ANNOTATION_FILES = {'train': 'training_list.json', 'test': 'test_list.json'}

#: Image kinds written for each split, in the order of the annotation keys.
SPLIT_KINDS = {
    'train': ('alpha', 'fg', 'bg', 'merged'),
    'test': ('alpha', 'fg', 'bg', 'merged', 'trimap'),
}

_SPLIT_CODES = {'train': 0, 'test': 1}
_STREAM_SAMPLE = 0
_STREAM_TRIMAP = 1
_SHIFT = 4  # fixed-point fractional bits for OpenCV drawing (1/16 px)
_REFERENCE_SIDE = 320.0  # lengths below are tuned for a 320-pixel side
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
_GENERATED_FILE = re.compile(r'^(train|test)/(fg|alpha|bg|merged|trimap)/\d+\.png$')

SizeLike = Union[int, Sequence[int]]
RngLike = Union[int, np.integer, np.random.Generator]


# --------------------------------------------------------------------------- checks
def _check_size(size: SizeLike) -> Tuple[int, int]:
    """Return ``(H, W)`` from an int or a pair, or raise a ValueError saying why."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        h, w = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f'size must be an int or a pair (H, W), got {size!r}') from None
    for name, v in (('H', h), ('W', w)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f'size must hold integers, got {name}={v!r} in {size!r}')
        if v < MIN_SIZE:
            raise ValueError(
                f'size must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {name}={v} '
                f'in size={tuple(size)}')
    return int(h), int(w)


def _check_dataset_args(num_train, num_test, size, seed):
    """``(num_train, num_test, (h, w), seed)`` of a dataset writer, checked."""
    num_train = _check_count('num_train', num_train)
    num_test = _check_count('num_test', num_test)
    if num_train + num_test == 0:
        raise ValueError('num_train + num_test must be > 0, got 0 and 0: nothing to write')
    hw = _check_size(size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    return num_train, num_test, hw, int(seed)


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be a non-negative integer, got {value!r}')
    if value < 0:
        raise ValueError(f'{name} must be a non-negative integer, got {value}')
    return int(value)


def _as_rng(rng_or_seed: RngLike, what: str = 'rng_or_seed') -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, (int, np.integer)) and not isinstance(rng_or_seed, bool):
        if rng_or_seed < 0:
            raise ValueError(f'{what} must be a non-negative seed, got {rng_or_seed}')
        return np.random.default_rng(int(rng_or_seed))
    raise TypeError(f'{what} must be an int seed or a numpy.random.Generator, '
                    f'got {type(rng_or_seed).__name__}')


def _sample_rng(seed: int, split: str, index: int, stream: int) -> np.random.Generator:
    """The generator of one sample: a function of ``(seed, split, index, stream)`` only."""
    seq = np.random.SeedSequence(seed, spawn_key=(_SPLIT_CODES[split], index, stream))
    return np.random.default_rng(seq)


# ---------------------------------------------------------------------- primitives
def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour in [0, 1] from hue in degrees, saturation and value in [0, 1]."""
    return np.array(colorsys.hsv_to_rgb((h % 360.0) / 360.0, s, v), np.float32)


def _value_noise(rng: np.random.Generator, shape: Tuple[int, int],
                 cells: float) -> np.ndarray:
    """Smooth noise in about [0, 1]: a random grid of ``cells`` cells per side, upsampled."""
    h, w = shape
    gh = max(2, int(round(cells * h / max(h, w))) + 2)
    gw = max(2, int(round(cells * w / max(h, w))) + 2)
    grid = rng.random((gh, gw), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _fractal_noise(rng: np.random.Generator, shape: Tuple[int, int], base_cells: float,
                   octaves: int, persistence: float) -> np.ndarray:
    """Noise octaves (sum of value noise, each twice as fine), normalised to [0, 1]."""
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for k in range(octaves):
        out += amp * _value_noise(rng, shape, base_cells * 2**k)
        amp *= persistence
    return _normalise(out)


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0.05:
        return x
    return cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def _line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised, anti-aliased line kernel (motion blur) of ``length`` pixels."""
    n = int(math.ceil(length)) | 1
    k = np.zeros((n, n), np.uint8)
    c = (n - 1) / 2.0
    dx, dy = math.cos(angle) * (length - 1) / 2, math.sin(angle) * (length - 1) / 2
    p0 = np.array([[c - dx, c - dy], [c + dx, c + dy]]) * (1 << _SHIFT)
    cv2.polylines(k, [np.round(p0).astype(np.int32)], False, 255, 1, cv2.LINE_AA, _SHIFT)
    k = k.astype(np.float32)
    return k / max(float(k.sum()), 1e-6)


class _Canvas:
    """A supersampled drawing surface for one alpha layer.

    Coordinates passed to the drawing methods are output-image pixels; the canvas holds
    coverage in [0, 1] at ``ss`` times the resolution and :meth:`resolve` area-averages
    it down, which anti-aliases every edge.
    """

    def __init__(self, shape: Tuple[int, int], ss: int) -> None:
        self.shape = shape
        self.ss = ss
        self.data = np.zeros((shape[0] * ss, shape[1] * ss), np.float32)

    def _fixed(self, pts: np.ndarray) -> np.ndarray:
        return np.round(np.asarray(pts) * (self.ss * (1 << _SHIFT))).astype(np.int32)

    def fill_polygon(self, pts: np.ndarray, value: float = 1.0) -> None:
        """Set the inside of a closed polygon ``(N, 2)`` of (x, y) points to ``value``."""
        mask = np.zeros(self.data.shape, np.uint8)
        cv2.fillPoly(mask, [self._fixed(pts)], 255, cv2.LINE_AA, _SHIFT)
        cover = mask.astype(np.float32) * (1.0 / 255)
        self.data += cover * (value - self.data)

    def cut_ellipse(self, center: Sequence[float], axes: Sequence[float],
                    angle_deg: float) -> None:
        """Punch an anti-aliased elliptical hole (coverage goes to 0 inside it)."""
        mask = np.zeros(self.data.shape, np.uint8)
        f = self.ss * (1 << _SHIFT)
        c = (int(round(center[0] * f)), int(round(center[1] * f)))
        a = (max(1, int(round(axes[0] * f))), max(1, int(round(axes[1] * f))))
        cv2.ellipse(mask, c, a, angle_deg, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        self.data *= 1.0 - mask.astype(np.float32) * (1.0 / 255)

    def add_strand(self, pts: np.ndarray, widths: np.ndarray, opacity: np.ndarray,
                   chunks: int = 8) -> None:
        """Union a tapering, fading polyline into the canvas.

        Args:
            pts: (N, 2) points (x, y) in output pixels.
            widths: (N,) stroke width in output pixels along the strand.
            opacity: (N,) opacity in [0, 1] along the strand.
            chunks: number of pieces drawn with their own width and opacity.
        """
        ss = self.ss
        hs, ws = self.data.shape
        p = np.asarray(pts, np.float64) * ss
        pad = float(widths.max()) * ss + 3
        x0 = max(0, int(math.floor(p[:, 0].min() - pad)))
        y0 = max(0, int(math.floor(p[:, 1].min() - pad)))
        x1 = min(ws, int(math.ceil(p[:, 0].max() + pad)) + 1)
        y1 = min(hs, int(math.ceil(p[:, 1].max() + pad)) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.round((p - (x0, y0)) * (1 << _SHIFT)).astype(np.int32)
        bounds = np.linspace(0, len(p) - 1, chunks + 1).round().astype(int)
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b <= a:
                continue
            mid = (a + b) // 2
            w_ss = float(widths[mid]) * ss
            thickness = max(1, int(round(w_ss)))
            # A stroke thinner than one canvas pixel is drawn 1 px wide, fainter.
            value = float(opacity[mid]) * min(1.0, w_ss)
            v = int(round(255 * min(1.0, max(0.0, value))))
            if v == 0:
                continue
            cv2.polylines(crop, [local[a:b + 1]], False, v, thickness, cv2.LINE_AA, _SHIFT)
        region = self.data[y0:y1, x0:x1]
        c = crop.astype(np.float32) * (1.0 / 255)
        region += c * (1.0 - region)  # union: 1 - (1 - a) (1 - c)

    def add_lines(self, paths: Sequence[np.ndarray], width: float, opacity: float) -> None:
        """Union many polylines of one constant width and opacity (threads of a net)."""
        w_ss = width * self.ss
        thickness = max(1, int(round(w_ss)))
        v = int(round(255 * min(1.0, max(0.0, opacity * min(1.0, w_ss)))))
        mask = np.zeros(self.data.shape, np.uint8)
        cv2.polylines(mask, [self._fixed(p) for p in paths], False, v, thickness,
                      cv2.LINE_AA, _SHIFT)
        self.data += mask.astype(np.float32) * (1.0 / 255) * (1.0 - self.data)

    def resolve(self) -> np.ndarray:
        """The layer at output resolution (box-filtered coverage), float32 in [0, 1]."""
        h, w = self.shape
        if self.ss == 1:
            return self.data.copy()
        return cv2.resize(self.data, (w, h), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------- shapes
class _Geometry:
    """Image-size-dependent constants of one sample."""

    def __init__(self, shape: Tuple[int, int]) -> None:
        self.shape = shape
        self.h, self.w = shape
        self.side = float(min(shape))
        self.scale = self.side / _REFERENCE_SIDE
        # Supersampling factor: 4x for small images, down to 2x for large ones.
        self.ss = int(min(4, max(2, 1024 // max(shape))))

    def px(self, at_320: float) -> float:
        """A length given for a 320-pixel side, scaled to this image."""
        return at_320 * self.scale

    def point(self, rng: np.random.Generator, lo: float = 0.25,
              hi: float = 0.75) -> np.ndarray:
        return np.array([rng.uniform(lo, hi) * self.w, rng.uniform(lo, hi) * self.h])


def _blob(rng: np.random.Generator, center: np.ndarray, radius: float,
          n: int = 192) -> Tuple[np.ndarray, np.ndarray]:
    """A smooth star-shaped closed outline: its points (n, 2) and outward normals."""
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += rng.uniform(0.0, 0.28 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.55, 1.0)
    rot = rng.uniform(0, np.pi)
    x, y = r * np.cos(theta) * radius, r * np.sin(theta) * radius * aspect
    c, s = math.cos(rot), math.sin(rot)
    pts = np.stack([c * x - s * y, s * x + c * y], axis=1)
    # Outward normal from the tangent of the (counter-clockwise) outline.
    tangent = np.roll(pts, -1, axis=0) - np.roll(pts, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-9
    return pts + center, normal


def _strand_path(rng: np.random.Generator, start: np.ndarray, angle: float,
                 length: float, curl: float, wave: float,
                 shared_noise: Optional[np.ndarray] = None) -> np.ndarray:
    """Points of a smooth curved path: heading changes by a smooth random curvature.

    Args:
        start: (x, y) root of the path.
        angle: initial heading in radians.
        length: path length in pixels.
        curl: constant curvature (radians per pixel) bending the whole path.
        wave: amplitude of the random, smoothly varying curvature.
        shared_noise: curvature noise shared by a lock of strands (same length as the
            path in steps), so that neighbours flow together.
    """
    step = 1.0
    n = max(6, int(length / step))
    noise = rng.normal(0.0, 1.0, n + 16)
    kernel = np.hanning(17)
    noise = np.convolve(noise, kernel / kernel.sum(), mode='valid')[:n]
    if shared_noise is not None:
        noise = 0.5 * noise + np.interp(np.linspace(0, 1, n),
                                        np.linspace(0, 1, len(shared_noise)), shared_noise)
    dtheta = (curl + wave * noise) * step
    heading = angle + np.cumsum(dtheta)
    d = np.stack([np.cos(heading), np.sin(heading)], axis=1) * step
    return start + np.concatenate([np.zeros((1, 2)), np.cumsum(d, axis=0)[:-1]])


def _draw_strand(canvas: _Canvas, rng: np.random.Generator, path: np.ndarray,
                 root_width: float, root_opacity: float) -> None:
    """Draw ``path`` as a hair: tapering width, opacity fading towards the tip."""
    t = np.linspace(0.0, 1.0, len(path))
    tip = rng.uniform(0.08, 0.25)
    widths = root_width * ((1.0 - t)**rng.uniform(0.6, 1.4) * (1 - tip) + tip)
    fade = rng.uniform(0.3, 0.9)
    opacity = root_opacity * (1.0 - fade * t**rng.uniform(1.0, 2.5))
    canvas.add_strand(path, widths, opacity, chunks=max(4, min(12, len(path) // 12)))


def _hairy_body(rng: np.random.Generator, g: _Geometry) -> np.ndarray:
    """An opaque body with hair locks or fur, optional holes, soft edge."""
    canvas = _Canvas(g.shape, g.ss)
    center = g.point(rng, 0.3, 0.7)
    radius = rng.uniform(0.14, 0.28) * g.side
    outline, normal = _blob(rng, center, radius)
    canvas.fill_polygon(outline)
    if rng.random() < 0.4:
        for _ in range(rng.integers(1, 3)):
            off = rng.uniform(-0.35, 0.35, 2) * radius
            axes = rng.uniform(0.1, 0.25, 2) * radius
            canvas.cut_ellipse(center + off, axes, rng.uniform(0, 180))
    n_pts = len(outline)
    if rng.random() < 0.65:  # long hair: a few locks over an arc of the outline
        arc_start = rng.integers(n_pts)
        arc_len = rng.integers(n_pts // 4, n_pts * 3 // 4)
        for _ in range(rng.integers(3, 7)):
            i0 = (arc_start + rng.integers(arc_len)) % n_pts
            length = rng.uniform(0.12, 0.35) * g.side
            shared = rng.normal(0.0, 1.0, 12)
            curl = rng.normal(0.0, 0.6) / length
            for _ in range(rng.integers(6, 16)):
                i = (i0 + rng.integers(-6, 7)) % n_pts
                root = center + (outline[i] - center) * rng.uniform(0.8, 0.95)
                angle = math.atan2(normal[i, 1], normal[i, 0]) + rng.normal(0.0, 0.2)
                path = _strand_path(rng, root, angle, length * rng.uniform(0.7, 1.1),
                                    curl, 0.02, shared_noise=0.6 * shared)
                _draw_strand(canvas, rng, path, rng.uniform(0.5, 1.8) * max(g.scale, 0.6),
                             rng.uniform(0.55, 1.0))
    else:  # fur: many short strands all around the outline
        for _ in range(rng.integers(60, 140)):
            i = rng.integers(n_pts)
            root = center + (outline[i] - center) * rng.uniform(0.85, 0.98)
            angle = math.atan2(normal[i, 1], normal[i, 0]) + rng.normal(0.0, 0.35)
            path = _strand_path(rng, root, angle, rng.uniform(0.03, 0.09) * g.side,
                                rng.normal(0.0, 0.01), 0.03)
            _draw_strand(canvas, rng, path, rng.uniform(0.4, 1.2) * max(g.scale, 0.6),
                         rng.uniform(0.5, 1.0))
    layer = canvas.resolve()
    return _gaussian(layer, rng.uniform(0.0, 0.8) * max(g.scale, 0.5))


def _hair_lock(rng: np.random.Generator, g: _Geometry) -> np.ndarray:
    """A loose lock of hair flowing from a root region: thin, semi-transparent strands."""
    canvas = _Canvas(g.shape, g.ss)
    root = g.point(rng, 0.2, 0.8)
    to_center = np.array([g.w / 2, g.h / 2]) - root
    angle = math.atan2(to_center[1], to_center[0]) + rng.normal(0.0, 0.8)
    length = rng.uniform(0.2, 0.45) * g.side
    spread = rng.uniform(0.02, 0.08) * g.side
    shared = rng.normal(0.0, 1.0, 10)
    curl = rng.normal(0.0, 1.0) / length
    perp = np.array([-math.sin(angle), math.cos(angle)])
    for _ in range(rng.integers(10, 30)):
        start = root + perp * rng.normal(0.0, spread) + rng.normal(0.0, 2.0, 2)
        path = _strand_path(rng, start, angle + rng.normal(0.0, 0.1),
                            length * rng.uniform(0.6, 1.0), curl, 0.015,
                            shared_noise=0.8 * shared)
        _draw_strand(canvas, rng, path, rng.uniform(0.4, 1.4) * max(g.scale, 0.6),
                     rng.uniform(0.4, 0.95))
    return _gaussian(canvas.resolve(), rng.uniform(0.0, 0.5))


def _veil(rng: np.random.Generator, g: _Geometry) -> np.ndarray:
    """A semi-transparent glass- or veil-like blob (alpha about 0.3-0.7), soft edge."""
    canvas = _Canvas(g.shape, g.ss)
    center = g.point(rng)
    outline, _ = _blob(rng, center, rng.uniform(0.12, 0.26) * g.side)
    canvas.fill_polygon(outline)
    mask = canvas.resolve()
    level = rng.uniform(0.3, 0.6)
    field = level + rng.uniform(0.05, 0.12) * (_value_noise(rng, g.shape, 4) - 0.5) * 2
    if rng.random() < 0.5:  # glass: a more opaque rim
        inside = (mask > 0.5).astype(np.uint8)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        rim = np.exp(-dist / max(1.0, g.px(rng.uniform(3, 8))))
        field += (rng.uniform(0.6, 0.75) - field) * rim
    layer = mask * np.clip(field, 0.25, 0.75)
    return _gaussian(layer, g.px(rng.uniform(0.5, 4.0)))


def _lace(rng: np.random.Generator, g: _Geometry) -> np.ndarray:
    """A net of thin threads over a faint veil: holes everywhere, many mixed pixels."""
    shape_canvas = _Canvas(g.shape, g.ss)
    center = g.point(rng)
    outline, _ = _blob(rng, center, rng.uniform(0.12, 0.24) * g.side)
    shape_canvas.fill_polygon(outline)
    mask = shape_canvas.resolve()
    net = _Canvas(g.shape, g.ss)
    spacing = max(3.0, g.px(rng.uniform(8, 18)))
    base_angle = rng.uniform(0, np.pi)
    diag = math.hypot(g.h, g.w)
    width = rng.uniform(0.35, 1.0) * max(g.scale, 0.6)
    for angle in (base_angle, base_angle + rng.uniform(np.pi / 3, np.pi / 2)):
        d = np.array([math.cos(angle), math.sin(angle)])
        n = np.array([-d[1], d[0]])
        paths = []
        for off in np.arange(-diag / 2, diag / 2, spacing) + rng.uniform(0, spacing):
            p = np.array([g.w / 2, g.h / 2]) + n * off
            paths.append(np.stack([p - d * diag / 2, p + d * diag / 2]))
        net.add_lines(paths, width, rng.uniform(0.6, 1.0))
    threads = net.resolve()
    base = rng.uniform(0.05, 0.3)
    layer = mask * (base + (1.0 - base) * threads)
    return _gaussian(layer, rng.uniform(0.0, 0.6))


def _solid(rng: np.random.Generator, g: _Geometry) -> np.ndarray:
    """An opaque object with holes; sharp, defocused or motion-blurred edges."""
    canvas = _Canvas(g.shape, g.ss)
    center = g.point(rng)
    radius = rng.uniform(0.1, 0.22) * g.side
    outline, _ = _blob(rng, center, radius)
    canvas.fill_polygon(outline)
    for _ in range(rng.integers(0, 4)):
        off = rng.uniform(-0.45, 0.45, 2) * radius
        axes = rng.uniform(0.08, 0.3, 2) * radius
        canvas.cut_ellipse(center + off, axes, rng.uniform(0, 180))
    layer = canvas.resolve()
    kind = rng.random()
    if kind < 0.35:  # defocus
        layer = _gaussian(layer, g.px(rng.uniform(1.5, 5.0)))
    elif kind < 0.6:  # motion blur
        kernel = _line_kernel(max(3.0, g.px(rng.uniform(5, 16))), rng.uniform(0, np.pi))
        layer = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    else:
        layer = _gaussian(layer, rng.uniform(0.0, 0.7))
    return layer


_OBJECT_MAKERS: Dict[str, Callable[[np.random.Generator, _Geometry], np.ndarray]] = {
    'hair_lock': _hair_lock,
    'veil': _veil,
    'lace': _lace,
    'solid': _solid,
}


_PAINT_ORDER = {'veil': 0, 'lace': 0, 'solid': 1, 'hair_lock': 1, 'hairy_body': 2}


# ------------------------------------------------------------------------- colours
def _fg_palette(rng: np.random.Generator, hue: float, hair: bool) -> np.ndarray:
    """One foreground colour: saturated and bright, or a natural hair colour."""
    if hair and rng.random() < 0.6:
        return _hsv(rng.uniform(15, 45), rng.uniform(0.35, 0.85), rng.uniform(0.3, 0.95))
    return _hsv(hue + rng.normal(0, 25), rng.uniform(0.45, 0.95), rng.uniform(0.45, 0.95))


def _foreground(rng: np.random.Generator, g: _Geometry, layers: List[np.ndarray],
                hairy: List[bool], hue: float) -> np.ndarray:
    """Foreground colour over the whole frame: smooth colour field + object colours +
    texture. RGB float32 in [0, 1]."""
    h, w = g.shape
    # Smooth field between two colours of the foreground hue family.
    c0, c1 = _fg_palette(rng, hue, False), _fg_palette(rng, hue, False)
    t = _value_noise(rng, g.shape, rng.uniform(1.5, 3.5))[..., None]
    fg = c0 * (1 - t) + c1 * t
    # Each object carries its own colour, spreading smoothly beyond its support.
    spread = g.side * rng.uniform(0.04, 0.1)
    for layer, is_hair in zip(layers, hairy):
        colour = _fg_palette(rng, hue, is_hair)
        shade = 1.0 + 0.25 * (_value_noise(rng, g.shape, 3) - 0.5)
        support = (layer > 0.01).astype(np.float32)
        weight = np.maximum(support, np.clip(2.0 * _gaussian(support, spread), 0, 1))
        weight = weight[..., None]
        fg = fg * (1 - weight) + (colour * shade[..., None]) * weight
    # Texture: fine luminance noise plus fibres (noise smeared along one direction).
    fine = _value_noise(rng, g.shape, g.side / rng.uniform(2.5, 5.0)) - 0.5
    fibre_noise = rng.random((h, w), dtype=np.float32)
    kernel = _line_kernel(max(3.0, g.px(rng.uniform(8, 20))), rng.uniform(0, np.pi))
    fibre = _normalise(cv2.filter2D(fibre_noise, -1, kernel,
                                    borderType=cv2.BORDER_REFLECT)) - 0.5
    texture = 1.0 + rng.uniform(0.1, 0.25) * fine + rng.uniform(0.1, 0.35) * fibre
    return np.clip(fg * texture[..., None], 0.0, 1.0)


def _background(rng: np.random.Generator, g: _Geometry, fg_hue: float) -> np.ndarray:
    """A textured background in a duller palette of another hue. RGB float32 in [0, 1]."""
    h, w = g.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    parts = []
    parts.append(_fractal_noise(rng, g.shape, rng.uniform(2, 4), 5, rng.uniform(0.4, 0.65)))
    if rng.random() < 0.6:  # stripes, slightly warped
        angle = rng.uniform(0, np.pi)
        period = g.side * rng.uniform(0.04, 0.2)
        warp = _value_noise(rng, g.shape, 3) * rng.uniform(0, 2 * np.pi)
        coord = xx * math.cos(angle) + yy * math.sin(angle)
        parts.append(0.5 + 0.5 * np.sin(2 * np.pi * coord / period + warp))
    if rng.random() < 0.6:  # linear gradient
        angle = rng.uniform(0, 2 * np.pi)
        parts.append(_normalise(xx * math.cos(angle) + yy * math.sin(angle)))
    if rng.random() < 0.6:  # soft blobs
        blobs = np.zeros(g.shape, np.float32)
        for _ in range(rng.integers(4, 16)):
            c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
            r = max(2, int(rng.uniform(0.03, 0.15) * g.side))
            cv2.circle(blobs, c, r, float(rng.uniform(0.3, 1.0)), -1, cv2.LINE_AA)
        parts.append(_gaussian(blobs, g.side * rng.uniform(0.005, 0.03)))
    weights = rng.uniform(0.3, 1.0, len(parts))
    t = _normalise(sum(wt * p for wt, p in zip(weights, parts)))
    hue = fg_hue + rng.uniform(90, 270)
    stops = np.stack([
        _hsv(hue + rng.normal(0, 30), rng.uniform(0.05, 0.45), v)
        for v in np.sort(rng.uniform(0.15, 0.85, 3))
    ])
    knots = np.array([0.0, rng.uniform(0.3, 0.7), 1.0])
    bg = np.stack([np.interp(t, knots, stops[:, ch]) for ch in range(3)], axis=-1)
    grain = 1.0 + rng.uniform(0.02, 0.08) * (rng.random((h, w), dtype=np.float32) - 0.5)
    bg = bg.astype(np.float32) * grain[..., None]
    if rng.random() < 0.4:
        bg = _gaussian(bg, rng.uniform(0.5, 1.5))
    return np.clip(bg, 0.0, 1.0)


def _to_bgr_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.rint(rgb[..., ::-1] * 255.0).astype(np.uint8))


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``round(fg * a + bg * (1 - a))`` with ``a = alpha / 255``, as uint8.

    Args:
        fg: (H, W, 3) uint8 foreground.
        bg: (H, W, 3) uint8 background.
        alpha: (H, W) uint8 alpha.

    Returns:
        (H, W, 3) uint8 merged image.
    """
    a = alpha.astype(np.float64)[..., None] / 255.0
    merged = fg.astype(np.float64) * a + bg.astype(np.float64) * (1.0 - a)
    return np.clip(np.rint(merged), 0, 255).astype(np.uint8)


def _alpha_is_usable(alpha: np.ndarray) -> bool:
    """A sample is kept only with background, opaque and plenty of mixed pixels."""
    n = alpha.size
    mixed = np.count_nonzero((alpha > 12) & (alpha < 243))
    return (np.count_nonzero(alpha == 0) >= 0.05 * n
            and np.count_nonzero(alpha == 255) >= 0.01 * n and mixed >= 0.005 * n)


# -------------------------------------------------------------------------- public
def make_sample(rng_or_seed: RngLike, size: SizeLike = (320, 320)) -> Dict[str, np.ndarray]:
    """Draw one matting sample.

    Args:
        rng_or_seed: a ``numpy.random.Generator`` (advanced by this call) or an int seed.
        size: ``(H, W)`` or one int for a square; each side at least :data:`MIN_SIZE`.

    Returns:
        dict with ``fg``, ``bg``, ``merged``: (H, W, 3) uint8 BGR; ``alpha``: (H, W)
        uint8. The alpha always holds fully transparent, fully opaque and fractional
        pixels, and ``merged == composite(fg, bg, alpha)``.

    Raises:
        ValueError: ``size`` is not a pair of integers >= :data:`MIN_SIZE`.
        TypeError: ``rng_or_seed`` is neither an int nor a Generator.
    """
    shape = _check_size(size)
    rng = _as_rng(rng_or_seed)
    g = _Geometry(shape)
    for _ in range(20):
        kinds = ['hairy_body']
        extra = ['hair_lock', 'veil', 'lace', 'solid']
        kinds += list(rng.choice(extra, size=rng.integers(1, 4), replace=False))
        layers = []
        for kind in kinds:
            maker = _hairy_body if kind == 'hairy_body' else _OBJECT_MAKERS[kind]
            layers.append(np.clip(maker(rng, g), 0.0, 1.0))
        transparency = np.ones(shape, np.float32)
        for layer in layers:
            transparency *= 1.0 - layer
        alpha = np.rint((1.0 - transparency) * 255.0).astype(np.uint8)
        if _alpha_is_usable(alpha):
            break
    else:  # pragma: no cover - the object sizes make this practically unreachable
        raise RuntimeError(f'could not draw a usable alpha matte of size {shape}')
    hue = rng.uniform(0, 360)
    # Colour the see-through objects first and the main (hairy) body last, so that
    # the body keeps one consistent colour where other objects' colours spread.
    order = sorted(range(len(kinds)), key=lambda i: _PAINT_ORDER[kinds[i]])
    fg = _to_bgr_uint8(
        _foreground(rng, g, [layers[i] for i in order],
                    [kinds[i] in ('hairy_body', 'hair_lock') for i in order], hue))
    bg = _to_bgr_uint8(_background(rng, g, hue))
    return dict(fg=fg, bg=bg, alpha=alpha, merged=composite(fg, bg, alpha))


def make_trimap(alpha: np.ndarray, rng: RngLike = 0) -> np.ndarray:
    """A Composition-1k style trimap of ``alpha``.

    Unknown (128) is the region ``0 < alpha < 255`` plus the boundary of ``alpha > 0``,
    dilated by a random elliptical kernel whose radii are 3-15 px at a 320-pixel side
    (scaled with the image, at least 1); elsewhere ``alpha == 255`` is foreground (255)
    and ``alpha == 0`` background (0).

    Args:
        alpha: (H, W) or (H, W, 1) uint8 alpha matte.
        rng: a ``numpy.random.Generator`` or an int seed, for the kernel size.

    Returns:
        (H, W) uint8 trimap with values in {0, 128, 255}. Unknown is empty only when
        alpha is all 0 or all 255.

    Raises:
        ValueError: ``alpha`` is not a 2-D (or single-channel) uint8 array.
    """
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if alpha.ndim != 2 or alpha.dtype != np.uint8:
        raise ValueError('alpha must be an (H, W) uint8 array, got shape '
                         f'{alpha.shape} dtype {alpha.dtype}')
    rng = _as_rng(rng, 'rng')
    scale = min(alpha.shape) / _REFERENCE_SIDE
    lo = max(1, int(round(3 * scale)))
    hi = max(lo, int(round(15 * scale)))
    rx, ry = (int(r) for r in rng.integers(lo, hi + 1, size=2))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rx + 1, 2 * ry + 1))
    opaque = alpha == 255
    present = (alpha > 0).astype(np.uint8)
    cross = np.ones((3, 3), np.uint8)
    boundary = cv2.dilate(present, cross) != cv2.erode(present, cross)
    seed = ((alpha > 0) & ~opaque) | boundary
    unknown = cv2.dilate(seed.astype(np.uint8), kernel) > 0
    trimap = np.zeros(alpha.shape, np.uint8)
    trimap[opaque] = 255
    trimap[unknown] = 128
    return trimap


def is_synthetic_dataset_dir(path: Union[str, Path]) -> bool:
    """Whether ``path`` holds (a possibly interrupted run of) a synthetic dataset.

    True when an annotation file there has ``metainfo.dataset_type == 'synthetic'``,
    or when every file there is one this module writes
    (``{train,test}/{fg,alpha,bg,merged,trimap}/NNNN.png``).
    """
    root = Path(path)
    for name in ANNOTATION_FILES.values():
        ann = root / name
        if ann.is_file():
            try:
                meta = json.loads(ann.read_text()).get('metainfo', {})
            except (ValueError, AttributeError, OSError, UnicodeDecodeError):
                continue
            if isinstance(meta, dict) and meta.get('dataset_type') == 'synthetic':
                return True
    found = False
    for p in root.rglob('*'):  # stops at the first foreign file
        if p.is_dir():
            continue
        if not _GENERATED_FILE.match(p.relative_to(root).as_posix()):
            return False
        found = True
    return found


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode('.png', image, _PNG_PARAMS)
    if not ok:  # pragma: no cover
        raise OSError(f'could not encode {path}')
    path.write_bytes(buf.tobytes())


def make_synthetic_dataset(out_dir: Union[str, Path],
                           num_train: int = 100,
                           num_test: int = 20,
                           size: SizeLike = (320, 320),
                           seed: int = 0,
                           *,
                           overwrite: bool = False,
                           progress: Union[bool, Callable[[str], None]] = False) -> Path:
    """Write a synthetic matting dataset in the Composition-1k layout.

    The tree is ``out_dir/{train,test}/{fg,alpha,bg,merged}/NNNN.png`` plus
    ``test/trimap/NNNN.png`` and the annotation files ``training_list.json`` and
    ``test_list.json``: ``{"metainfo": {"dataset_type": "synthetic", "seed": S,
    "size": [H, W]}, "data_list": [...]}`` whose entries hold ``alpha_path``,
    ``fg_path``, ``bg_path``, ``merged_path`` (and ``trimap_path`` for test), relative
    to ``out_dir``. The same arguments give byte-identical files; sample ``i`` of a
    split is the same whatever the number of samples asked for.

    An existing ``out_dir`` must be empty or a synthetic dataset written earlier
    (:func:`is_synthetic_dataset_dir`); in the latter case the generated images that
    the new dataset does not rewrite are removed, and nothing else. ``overwrite=True``
    writes into any folder and removes nothing.

    Args:
        out_dir: dataset root to create or refresh.
        num_train: number of training samples (>= 0).
        num_test: number of test samples (>= 0); ``num_train + num_test`` must be > 0.
        size: ``(H, W)`` of every image, or one int for a square; sides >= 32.
        seed: non-negative base seed.
        overwrite: write into a non-empty folder that is not a synthetic dataset.
        progress: ``True`` to print a counter line about every 10% (and where the data
            went), or a callable that receives those lines.

    Returns:
        ``Path(out_dir)``.

    Raises:
        ValueError: a bad count, size or seed.
        FileExistsError: ``out_dir`` is a file, or a non-empty folder that is not a
            synthetic dataset and ``overwrite`` is false.
    """
    num_train, num_test, (h, w), seed = _check_dataset_args(num_train, num_test, size, seed)
    log = (print if progress is True else progress) if progress else None

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'out_dir {out} exists and is not a folder')
    refresh = False
    if out.is_dir() and any(out.iterdir()):
        refresh = is_synthetic_dataset_dir(out)
        if not refresh and not overwrite:
            raise FileExistsError(
                f'out_dir {out} is not empty and does not look like a synthetic dataset '
                '(no training_list.json/test_list.json with metainfo.dataset_type '
                "'synthetic'); choose another folder or pass overwrite=True (--overwrite)")

    counts = {'train': num_train, 'test': num_test}
    total = num_train + num_test
    every = max(1, math.ceil(total / 10))
    written = set()
    done = 0
    for split in ('train', 'test'):
        for kind in SPLIT_KINDS[split]:
            (out / split / kind).mkdir(parents=True, exist_ok=True)
        data_list = []
        for index in range(counts[split]):
            sample = make_sample(_sample_rng(seed, split, index, _STREAM_SAMPLE), (h, w))
            if split == 'test':
                sample['trimap'] = make_trimap(
                    sample['alpha'], _sample_rng(seed, split, index, _STREAM_TRIMAP))
            entry = {}
            for kind in SPLIT_KINDS[split]:
                rel = f'{split}/{kind}/{index:04d}.png'
                _write_png(out / rel, sample[kind])
                written.add(rel)
                entry[f'{kind}_path'] = rel
            data_list.append(entry)
            done += 1
            if log and (done % every == 0 or done == total):
                log(f'[synthetic] {done}/{total} samples ({100 * done // total}%)')
        annotation = {
            'metainfo': {'dataset_type': 'synthetic', 'seed': seed, 'size': [h, w]},
            'data_list': data_list,
        }
        (out / ANNOTATION_FILES[split]).write_text(json.dumps(annotation, indent=2) + '\n')

    if refresh:  # drop images of an earlier, larger run that the new lists do not name
        for path in sorted(out.rglob('*.png')):
            rel = path.relative_to(out).as_posix()
            if _GENERATED_FILE.match(rel) and rel not in written:
                path.unlink()
    if log:
        log(f'[synthetic] wrote {num_train} train + {num_test} test samples '
            f'({h}x{w}, seed {seed}) to {out.resolve()}')
    return out
