"""Guidance: the one place where trimaps, masks, boxes and points are defined and
converted into each other.

Every transform, model, metric and the inference API uses these functions, so that
"unknown region", "trimap from a mask" or "box of a mask" mean one thing everywhere.

Conventions (image pixels; ``H x W`` arrays; see also :mod:`mattebox.structures`):

========== ==================================================================
kind       convention
========== ==================================================================
trimap     ``uint8`` H x W: 0 background, 128 unknown, 255 foreground. Any value
           strictly between the background and the foreground value is unknown
           (:func:`trimap_regions`), so a trimap scaled to [0, 1] (0, 128/255, 1)
           is read with ``fg_value=1``.
mask       ``uint8`` H x W on 0-255, a coarse (possibly soft) mask of the object.
points     ``K x 3`` float32: ``x, y, label``; ``(x, y)`` is the centre of pixel
           ``(row y, column x)``; label 1 is a foreground click, 0 a background one.
boxes      ``B x 4`` float32: ``x0, y0, x1, y1`` pixel *edges*: the box covers the
           pixels ``x0 <= x < x1`` and ``y0 <= y < y1`` (``mask[y0:y1, x0:x1]``).
text       a string: the referring expression.
transparent a bool: the object is (semi-)transparent (SDMatte's opacity flag).
========== ==================================================================

Geometric transforms move points and boxes with :func:`affine_points` and
:func:`affine_boxes`, which take the same 2 x 3 matrix (pixel-index coordinates, as
``cv2.warpAffine``) that moves the pixels.
"""
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: Every kind of guidance, in the order used in messages and in the batch.
GUIDANCE_FIELDS = ('trimap', 'mask', 'points', 'boxes', 'text', 'transparent')

TRIMAP_BG, TRIMAP_UNKNOWN, TRIMAP_FG = 0, 128, 255

#: Default width of the unknown band of :func:`trimap_from_mask`, as a fraction of the
#: image's longer side, on each side of the mask's edge (1.5 %: 29 px at 1920 px).
DEFAULT_BAND_FRACTION = 0.015

ArrayLike = Any  # a NumPy array or a torch tensor


#: How to provide each kind of guidance: in a pipeline, and at inference.
GUIDANCE_HINTS = {
    'trimap': ("load it (LoadImageFromFile key='trimap'), make it from the alpha "
               "(GenerateTrimap) or from a mask (GenerateTrimapFromMask) in the pipeline; "
               'at inference give trimap= (MattingInferencer) / --trimap (tools/infer.py), '
               'or a mask (mask= / --mask), which becomes a trimap band'),
    'mask': ('make it from the alpha in the pipeline (GenerateMaskPrompt); at inference '
             'give mask= / --mask'),
    'points': ('draw them from the alpha in the pipeline (GeneratePointPrompt); at '
               'inference give points= / --point X Y [LABEL]'),
    'boxes': ('make it from the alpha in the pipeline (GenerateBoxPrompt); at inference '
              'give box= / --box X0 Y0 X1 Y1'),
    'text': ("put 'text' in the annotations and pick one with LoadText in the pipeline; at "
             'inference give text= / --text "..."'),
    'transparent': ("put 'transparent' in the annotations; at inference give "
                    'transparent= / --transparent'),
}


class MissingGuidanceError(KeyError):
    """A model got a batch without the guidance it needs (the message says how to
    provide it). A user error: the tools report it without a traceback
    (``user_error``, see :mod:`mattebox.engine.errors`)."""

    user_error = True

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ''


class GuidanceSpec:
    """The guidance a model takes.

    Args:
        required: fields every batch must have (e.g. ``('trimap',)`` for DIM).
        one_of: fields of which a batch must have at least one (e.g. points, boxes or
            mask for an interactive model).
        optional: further fields the model uses when given (e.g. ``transparent``).
    """

    def __init__(self, required: Sequence[str] = (), one_of: Sequence[str] = (),
                 optional: Sequence[str] = ()) -> None:
        for name in (*required, *one_of, *optional):
            if name not in GUIDANCE_FIELDS:
                raise ValueError(f'GuidanceSpec: unknown guidance {name!r}; the kinds are '
                                 f'{GUIDANCE_FIELDS}')
        self.required = tuple(required)
        self.one_of = tuple(one_of)
        self.optional = tuple(optional)

    @property
    def accepted(self) -> Tuple[str, ...]:
        """Every field the model uses, in the order of :data:`GUIDANCE_FIELDS`."""
        names = set(self.required) | set(self.one_of) | set(self.optional)
        return tuple(f for f in GUIDANCE_FIELDS if f in names)

    def missing(self, present: Iterable[str]) -> Tuple[str, ...]:
        """What a batch holding ``present`` lacks: the missing required fields, or all of
        ``one_of`` when none of them is there."""
        present = set(present)
        lacking = tuple(f for f in self.required if f not in present)
        if self.one_of and not present & set(self.one_of):
            lacking += self.one_of
        return lacking

    def check(self, present: Iterable[str], owner: str) -> None:
        """Raise :class:`MissingGuidanceError` naming what is missing and how to give it."""
        present = set(present)
        lacking = self.missing(present)
        if not lacking:
            return
        given = sorted(present & set(GUIDANCE_FIELDS)) or 'none'
        if self.one_of and not present & set(self.one_of):
            need = f'one of {", ".join(self.one_of)}'
        else:
            need = ', '.join(lacking)
        how = '\n'.join(f'  - {f}: {GUIDANCE_HINTS[f]}' for f in lacking)
        raise MissingGuidanceError(f'{owner} needs guidance {need}, but the batch has '
                                   f'{given}. To provide it:\n{how}')

    def __repr__(self) -> str:
        return (f'GuidanceSpec(required={self.required}, one_of={self.one_of}, '
                f'optional={self.optional})')


# ------------------------------------------------------------------------- trimaps
def trimap_regions(trimap: ArrayLike, fg_value: float = TRIMAP_FG):
    """``(background, unknown, foreground)`` boolean masks of a trimap.

    Background is ``trimap <= 0``, foreground ``trimap >= fg_value`` and everything in
    between is unknown. For the 0 / 128 / 255 trimaps of the datasets this is exactly
    ``trimap == 128`` for unknown (the official evaluation code's definition); a trimap
    with other greys (e.g. resized) counts them as unknown, as DiffusionMat does.
    Works on NumPy arrays and torch tensors of any shape.

    Args:
        trimap: the trimap (0-255, or 0-1 with ``fg_value=1``).
        fg_value: the foreground value: 255 for 0-255 trimaps, 1 for 0-1 ones.
    """
    background = trimap <= 0
    foreground = trimap >= fg_value
    return background, ~(background | foreground), foreground


def unknown_region(trimap: ArrayLike, fg_value: float = TRIMAP_FG):
    """Boolean mask of the unknown region of a trimap (see :func:`trimap_regions`)."""
    if isinstance(trimap, np.ndarray) and trimap.dtype == np.uint8 and fg_value == TRIMAP_FG:
        # the same as trimap_regions in two passes instead of four: 0 wraps to 255
        return np.less(trimap - np.uint8(1), np.uint8(254))
    return trimap_regions(trimap, fg_value)[1]


def decode_trimap(trimap: np.ndarray, trimap_format: Optional[str] = None,
                  channels_first: bool = False) -> np.ndarray:
    """A trimap in any packed encoding -> ``uint8`` H x W 0 / 128 / 255.

    Args:
        trimap: H x W (x 1) 0 / 128 / 255 values, H x W labels 0 / 1 / 2
            (``trimap_format='label'``), or H x W x 3 one-hot channels background /
            unknown / foreground (``FormatTrimap``).
        trimap_format: ``'label'`` for label trimaps; one-hot ones are recognised by
            their 3 channels.
        channels_first: the channels come first (C x H x W, as packed tensors).
    """
    t = np.asarray(trimap)
    if channels_first and t.ndim == 3:
        t = t.transpose(1, 2, 0)
    if t.ndim == 3 and t.shape[2] == 3:
        return np.array([TRIMAP_BG, TRIMAP_UNKNOWN, TRIMAP_FG], np.uint8)[t.argmax(2)]
    if t.ndim == 3 and t.shape[2] == 1:
        t = t[..., 0]
    if t.ndim != 2:
        raise ValueError(f'trimap: expected H x W (or one-hot H x W x 3), got shape {t.shape}')
    if trimap_format == 'label':
        levels = np.array([TRIMAP_BG, TRIMAP_UNKNOWN, TRIMAP_FG], np.uint8)
        return levels[np.clip(np.rint(t), 0, 2).astype(np.intp)]
    return np.clip(np.rint(t), 0, 255).astype(np.uint8) if t.dtype != np.uint8 else t


def check_trimap_values(trimap: np.ndarray, where: str) -> np.ndarray:
    """A uint8 H x W trimap of 0 / 128 / 255 only; a ``ValueError`` naming ``where``
    otherwise (e.g. a JPEG trimap with compression greys, or a 0 / 1 / 2 label map)."""
    t = np.asarray(trimap)
    if t.ndim == 3 and t.shape[2] == 1:
        t = t[..., 0]
    if t.ndim != 2:
        raise ValueError(f'{where}: a trimap must be H x W, got shape {t.shape}')
    values = np.unique(t)
    bad = values[~np.isin(values, (TRIMAP_BG, TRIMAP_UNKNOWN, TRIMAP_FG))]
    if bad.size:
        hint = (' (a 0 / 1 / 2 label map? multiply it by 127.5)' if set(values.tolist()) <=
                {0, 1, 2} else ' (a JPEG or a resized trimap? save trimaps as PNG)')
        raise ValueError(f'{where}: trimap values must be 0, 128 and 255, found '
                         f'{bad[:6].tolist()}{hint}')
    return t.astype(np.uint8)


def _ellipse(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(size), int(size)))


def trimap_from_alpha(alpha: np.ndarray, erode_kernel: Union[int, np.ndarray],
                      dilate_kernel: Union[int, np.ndarray, None] = None,
                      iterations: int = 1, fg_threshold: int = TRIMAP_FG,
                      bg_threshold: int = TRIMAP_BG) -> np.ndarray:
    """Trimap of an alpha matte by erosion and dilation (DIM / MMagic's GenerateTrimap).

    Foreground is where the eroded alpha is at least ``fg_threshold`` (255: fully
    opaque), background where the dilated alpha is at most ``bg_threshold`` (0), the
    rest is unknown. SDMatte / GCA's ``GenTrimap`` (eroded ``alpha > 0.95`` and
    ``1 - alpha > 0.95``) is ``fg_threshold=243, bg_threshold=12`` on 8-bit alphas.

    Args:
        alpha: ``uint8`` H x W alpha.
        erode_kernel: erosion kernel, or the side of an elliptical one.
        dilate_kernel: dilation kernel or side (default: the erosion kernel).
        iterations: erosion and dilation iterations.
        fg_threshold, bg_threshold: see above.
    """
    erode = _ellipse(erode_kernel) if np.isscalar(erode_kernel) else erode_kernel
    dilate = erode if dilate_kernel is None else (
        _ellipse(dilate_kernel) if np.isscalar(dilate_kernel) else dilate_kernel)
    eroded = cv2.erode(alpha, erode, iterations=iterations)
    dilated = cv2.dilate(alpha, dilate, iterations=iterations)
    trimap = np.full_like(alpha, TRIMAP_UNKNOWN)
    trimap[eroded >= fg_threshold] = TRIMAP_FG
    trimap[dilated <= bg_threshold] = TRIMAP_BG
    return trimap


def trimap_from_alpha_distance(alpha: np.ndarray, distance: float) -> np.ndarray:
    """Trimap whose unknown band is found with Euclidean distance transforms.

    A pixel is unknown if it lies within ``distance`` pixels of a non-foreground pixel
    *and* within ``distance`` of a non-background pixel (every semi-transparent pixel,
    plus a band on both sides of each fg / bg border); see
    ``GenerateTrimapWithDistTransform``.
    """
    fg, bg = alpha >= 255, alpha <= 0
    to_non_fg = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_non_bg = cv2.distanceTransform(bg.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    trimap = np.where(fg, np.uint8(TRIMAP_FG), np.uint8(TRIMAP_BG))
    trimap[(to_non_fg <= distance) & (to_non_bg <= distance)] = TRIMAP_UNKNOWN
    return trimap


def band_width_for(shape: Sequence[int], fraction: float = DEFAULT_BAND_FRACTION) -> int:
    """The unknown band (pixels on each side of an edge) for an image of ``shape``:
    ``fraction`` of the longer side, at least 1."""
    return max(1, int(round(fraction * max(int(shape[0]), int(shape[1])))))


def trimap_from_mask(mask: np.ndarray, band_width: Optional[int] = None,
                     threshold: int = 128) -> np.ndarray:
    """Trimap from a coarse mask: an unknown band of ``band_width`` pixels on each side of
    the mask's edge.

    The mask is binarised at ``threshold`` (``mask >= threshold`` is the object);
    foreground is the object eroded by a disc of radius ``band_width``, background the
    outside of the object dilated by the same disc, unknown the band in between.

    Args:
        mask: ``uint8`` H x W mask, 0-255.
        band_width: half-width of the unknown band in pixels; None scales it to the
            image (:func:`band_width_for`).
        threshold: binarisation threshold on 0-255.

    Returns:
        ``uint8`` H x W trimap, 0 / 128 / 255.
    """
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f'trimap_from_mask: expected an H x W mask, got shape {mask.shape}')
    band = band_width_for(mask.shape) if band_width is None else int(band_width)
    if band < 0:
        raise ValueError(f'trimap_from_mask: band_width must be >= 0, got {band_width}')
    binary = (mask >= threshold).astype(np.uint8)
    trimap = binary * np.uint8(TRIMAP_FG)
    if band == 0:
        return trimap
    disc = _ellipse(2 * band + 1)
    eroded = cv2.erode(binary, disc, borderType=cv2.BORDER_REPLICATE)
    dilated = cv2.dilate(binary, disc, borderType=cv2.BORDER_REPLICATE)
    trimap = np.full(mask.shape, TRIMAP_UNKNOWN, np.uint8)
    trimap[eroded > 0] = TRIMAP_FG
    trimap[dilated == 0] = TRIMAP_BG
    return trimap


def mask_from_trimap(trimap: np.ndarray) -> np.ndarray:
    """The region that may hold the object: 255 where the trimap is unknown or
    foreground, 0 in the background (``uint8`` H x W)."""
    return np.where(np.asarray(trimap) > TRIMAP_BG, np.uint8(255), np.uint8(0))


# ----------------------------------------------------------------------- boxes
def box_from_mask(mask: np.ndarray, threshold: int = 1,
                  inclusive_max: bool = False) -> Optional[np.ndarray]:
    """Bounding box ``(x0, y0, x1, y1)`` (float32) of ``mask >= threshold``, or None.

    Args:
        mask: H x W mask (or alpha), 0-255.
        threshold: smallest value that belongs to the object (1: ``mask > 0``).
        inclusive_max: give the last row / column *index* as ``x1`` / ``y1`` (SDMatte's
            ``GenBBox``, whose rasterisation then leaves that row and column out)
            instead of the edge after it.
    """
    on = np.asarray(mask) >= threshold
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(on.any(axis=0))
    end = 0 if inclusive_max else 1
    return np.array([cols[0], rows[0], cols[-1] + end, rows[-1] + end], np.float32)


def object_box(alpha: np.ndarray, dominance: float = 10.0, threshold: int = 1,
               inclusive_max: bool = False) -> Optional[np.ndarray]:
    """Box of the object in an alpha: of every pixel ``>= threshold``, or of the largest
    connected component alone when it is at least ``dominance`` times larger than the
    second (so that a stray speck does not stretch the box). None for an empty alpha."""
    on = (np.asarray(alpha) >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    if len(areas) >= 2 and areas[order[0]] >= dominance * areas[order[1]]:
        on = (labels == order[0] + 1).astype(np.uint8)
    return box_from_mask(on, 1, inclusive_max)


def rasterise_boxes(boxes: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``uint8`` H x W map, 255 inside any box (``map[y0:y1, x0:x1]``, edges rounded)."""
    out = np.zeros(tuple(int(s) for s in shape[:2]), np.uint8)
    for x0, y0, x1, y1 in np.rint(np.asarray(boxes, np.float64).reshape(-1, 4)).astype(int):
        out[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 255
    return out


# ---------------------------------------------------------------------- points
def point_heatmap(points: np.ndarray, shape: Sequence[int], sigma: float,
                  truncate: float = 4.0, labels: Iterable[int] = (1, )) -> np.ndarray:
    """SDMatte's point map: each point a delta smoothed by a Gaussian of ``sigma``
    pixels (``scipy.ndimage.gaussian_filter``, reflected borders), divided by its
    maximum, the maps merged by maximum. Float32 H x W in [0, 1]; zeros without points.

    Args:
        points: ``K x 2`` or ``K x 3`` (x, y[, label]); coordinates are rounded.
        shape: (H, W) of the map.
        sigma: Gaussian standard deviation in pixels.
        truncate: kernel radius in sigmas.
        labels: which labels to draw (points without a label count as 1).
    """
    from scipy.ndimage import gaussian_filter1d
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.float32)
    arr = np.asarray(points, np.float64)
    pts = arr.reshape(-1, arr.shape[-1]) if arr.size else np.zeros((0, 2))
    keep = set(int(v) for v in labels)

    def blurred_delta(n: int, at: int) -> np.ndarray:
        delta = np.zeros(n)
        delta[at] = 1.0
        return gaussian_filter1d(delta, sigma, mode='reflect', truncate=truncate)

    for p in pts:
        if pts.shape[1] > 2 and int(round(p[2])) not in keep:
            continue
        x, y = int(round(p[0])), int(round(p[1]))
        if not (0 <= x < w and 0 <= y < h):
            continue
        # gaussian_filter is separable: the filtered 2-D delta is the outer product of
        # the filtered 1-D deltas (the same numbers, without an H x W convolution)
        gy, gx = blurred_delta(h, y), blurred_delta(w, x)
        peak = gy.max() * gx.max()
        if peak > 0:
            np.maximum(out, (np.outer(gy, gx) / peak).astype(np.float32), out=out)
    return out


# ----------------------------------------------------- user input -> guidance arrays
def as_points(points, where: str = 'points') -> np.ndarray:
    """``[(x, y), ...]`` or ``[(x, y, label), ...]`` -> ``K x 3`` float32 (label 1 when
    not given); a ``ValueError`` naming ``where`` for anything else."""
    if points is None or len(points) == 0:
        return np.zeros((0, 3), np.float32)
    if len(points) in (2, 3) and all(np.isscalar(v) for v in points):
        points = [points]  # one point
    rows = []
    for point in points:
        try:
            row = [float(v) for v in point]
        except (TypeError, ValueError):
            row = []
        if len(row) not in (2, 3) or not np.isfinite(row).all():
            raise ValueError(f'{where}: expected [(x, y), ...] or [(x, y, label), ...] with '
                             f'finite numbers, got {point!r} in {points!r}')
        rows.append(row + [1.0] * (3 - len(row)))
    arr = np.asarray(rows, np.float64)
    if not np.isin(arr[:, 2], (0, 1)).all():
        raise ValueError(f'{where}: a point label must be 1 (foreground) or 0 (background), '
                         f'got {arr[:, 2].tolist()}')
    return arr.astype(np.float32)


def as_boxes(boxes, where: str = 'box') -> np.ndarray:
    """``(x0, y0, x1, y1)`` or a list of them -> ``B x 4`` float32, with ``x0 < x1`` and
    ``y0 < y1``; a ``ValueError`` naming ``where`` otherwise."""
    arr = np.asarray(boxes if boxes is not None else [], dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4 or not np.isfinite(arr).all():
        raise ValueError(f'{where}: expected (x0, y0, x1, y1) or a list of them, got '
                         f'{boxes!r}')
    bad = (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        raise ValueError(f'{where}: a box needs x0 < x1 and y0 < y1 (x0, y0 the top-left '
                         f'corner), got {arr[bad].tolist()}')
    return arr.astype(np.float32)


def check_inside(points: np.ndarray, boxes: np.ndarray, shape: Sequence[int],
                 where: str = 'guidance') -> None:
    """Every point on a pixel of an image of ``shape`` and every box overlapping it."""
    h, w = int(shape[0]), int(shape[1])
    outside = [p[:2].tolist() for p in points
               if not (-0.5 <= p[0] < w - 0.5 and -0.5 <= p[1] < h - 0.5)]
    if outside:
        raise ValueError(f'{where}: points {outside} lie outside the {w} x {h} image '
                         '(x is the column, y the row, from 0)')
    missing = [b.tolist() for b in boxes if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h]
    if missing:
        raise ValueError(f'{where}: boxes {missing} do not overlap the {w} x {h} image '
                         '(x0, y0, x1, y1 in pixels)')


# ------------------------------------------------------------- geometry of coordinates
def affine_points(points: np.ndarray, matrix: np.ndarray,
                  out_shape: Sequence[int]) -> np.ndarray:
    """Move ``K x 3`` points with the 2 x 3 pixel-index matrix that moves the pixels
    (``dst = matrix @ [x, y, 1]``, as ``cv2.warpAffine``); points that leave the
    ``out_shape`` image are dropped."""
    pts = np.asarray(points, np.float32).reshape(-1, 3)
    if not len(pts):
        return pts
    m = np.asarray(matrix, np.float64)
    xy = pts[:, :2].astype(np.float64) @ m[:, :2].T + m[:, 2]
    h, w = int(out_shape[0]), int(out_shape[1])
    inside = (xy[:, 0] >= -0.5) & (xy[:, 0] < w - 0.5) & (xy[:, 1] >= -0.5) & \
        (xy[:, 1] < h - 0.5)
    out = np.concatenate([xy, pts[:, 2:].astype(np.float64)], axis=1)[inside]
    return out.astype(np.float32)


def affine_boxes(boxes: np.ndarray, matrix: np.ndarray,
                 out_shape: Sequence[int]) -> np.ndarray:
    """Move ``B x 4`` boxes with the matrix that moves the pixels: the bounding box of
    the moved box, clipped to the ``out_shape`` image; boxes left empty are dropped.

    Box edges sit half a pixel from the pixel centres the matrix maps: a box covering
    pixels ``x0 .. x1 - 1`` covers the same pixels' content after the move.
    """
    bx = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(bx):
        return bx
    m = np.asarray(matrix, np.float64)
    x0, y0, x1, y1 = (bx[:, i].astype(np.float64) for i in range(4))
    corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                        np.stack([x0, y1], 1), np.stack([x1, y1], 1)], 1)  # B x 4 x 2
    moved = (corners - 0.5) @ m[:, :2].T + m[:, 2] + 0.5
    h, w = int(out_shape[0]), int(out_shape[1])
    lo = np.clip(moved.min(axis=1), 0, [w, h])
    hi = np.clip(moved.max(axis=1), 0, [w, h])
    out = np.concatenate([lo, hi], axis=1)
    keep = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
    return out[keep].astype(np.float32)


def scale_matrix(scale_x: float, scale_y: float) -> np.ndarray:
    """Pixel-index matrix of a resize by ``(scale_x, scale_y)`` (pixel centres map as
    in ``cv2.resize``: ``x' = (x + 0.5) * s - 0.5``)."""
    return np.array([[scale_x, 0, 0.5 * scale_x - 0.5], [0, scale_y, 0.5 * scale_y - 0.5]])


def shift_matrix(dx: float, dy: float) -> np.ndarray:
    """Pixel-index matrix of a shift: a crop at ``(left, top)`` is ``(-left, -top)``."""
    return np.array([[1.0, 0, dx], [0, 1.0, dy]])


def flip_matrix(direction: str, shape: Sequence[int]) -> np.ndarray:
    """Pixel-index matrix of a horizontal or vertical flip of an image of ``shape``."""
    h, w = int(shape[0]), int(shape[1])
    if direction == 'horizontal':
        return np.array([[-1.0, 0, w - 1], [0, 1.0, 0]])
    return np.array([[1.0, 0, 0], [0, -1.0, h - 1]])
