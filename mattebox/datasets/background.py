"""Backgrounds for composition: folder listings (BG-20K, COCO, VOC) and DIM's fitting
rule ("background upscaled if smaller, cropped to the foreground").

- :func:`list_images` lists the images of a folder, sorted, so that an index always
  means the same file.
- :class:`BackgroundFolder` is such a listing (optionally restricted to, and ordered by,
  a names file such as Composition-1k's ``training_bg_names.txt``).
- :func:`assign_backgrounds` pairs samples with backgrounds the way DIM's composition
  script does: sample ``i`` gets backgrounds ``i * per_sample + k``, ``k < per_sample``.
- :func:`fit_background` is the one implementation of DIM's rule, shared by
  ``tools/dataset_converters/comp1k/prepare.py`` (offline) and the ``FitBgToFg``
  transform (online), so both make the same backgrounds.
"""
import math
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: File name endings taken as images (compared case-insensitively).
IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')

_INTERP = {'bicubic': cv2.INTER_CUBIC, 'bilinear': cv2.INTER_LINEAR,
           'nearest': cv2.INTER_NEAREST, 'area': cv2.INTER_AREA,
           'lanczos': cv2.INTER_LANCZOS4}


def list_images(folder: str, suffixes: Sequence[str] = IMG_SUFFIXES,
                recursive: bool = False) -> List[str]:
    """Sorted paths, relative to ``folder`` and with ``/`` separators, of its images.

    Hidden files (``.name``) are skipped.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'image folder not found: {folder}')
    suffixes = tuple(s.lower() for s in suffixes)
    found = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith('.')]
            rel = osp.relpath(root, folder)
            for name in files:
                if not name.startswith('.') and name.lower().endswith(suffixes):
                    found.append(name if rel == '.' else f'{rel}/{name}'.replace(os.sep, '/'))
    else:
        with os.scandir(folder) as it:
            for entry in it:
                if (not entry.name.startswith('.') and entry.name.lower().endswith(suffixes)
                        and entry.is_file()):
                    found.append(entry.name)
    return sorted(found)


class BackgroundFolder:
    """The background images of a folder, in a fixed order.

    Args:
        folder: e.g. ``data/BG-20k/train`` or ``data/coco/train2017``.
        names_file: optional text file with one file name per line (relative to
            ``folder``): only those, in that order (duplicates kept). Otherwise every
            image of the folder, sorted by name.
        recursive: also list sub-folders (without ``names_file``).
        suffixes: file name endings taken as images.

    Raises:
        FileNotFoundError: the folder, the names file or a listed name is missing.
        ValueError: no background found.
    """

    def __init__(self, folder: str, names_file: Optional[str] = None,
                 recursive: bool = False, suffixes: Sequence[str] = IMG_SUFFIXES) -> None:
        self.folder = folder
        if names_file is not None:
            if not osp.isfile(names_file):
                raise FileNotFoundError(f'background names file not found: {names_file}')
            with open(names_file, encoding='utf-8') as f:
                names = [line.strip() for line in f if line.strip()]
            missing = [n for n in names if not osp.isfile(osp.join(folder, n))]
            if missing:
                shown = ', '.join(missing[:5]) + (' ...' if len(missing) > 5 else '')
                raise FileNotFoundError(f'{len(missing)} background(s) listed in '
                                        f'{names_file} are not in {folder}: {shown}')
        else:
            names = list_images(folder, suffixes, recursive)
        if not names:
            raise ValueError(f'no background image found in {folder}'
                             + (f' (names file {names_file})' if names_file else ''))
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> str:
        return osp.join(self.folder, self.names[index])

    def __repr__(self) -> str:
        return f'{type(self).__name__}(folder={self.folder!r}, {len(self)} images)'


def assign_backgrounds(data_list: Sequence[dict], backgrounds: Sequence[str],
                       per_sample: int = 1, shuffle_seed: Optional[int] = None) -> List[dict]:
    """Repeat each sample ``per_sample`` times, each time with its own background.

    Sample ``i``, repeat ``k`` gets background ``(i * per_sample + k) % len(backgrounds)``
    (DIM's order: with exactly ``len(data_list) * per_sample`` backgrounds, every
    background is used once). ``shuffle_seed`` first permutes the backgrounds with that
    seed (the same seed, the same pairing).

    Returns:
        new sample dicts with ``bg_path`` and ``bg_index`` added.
    """
    if per_sample < 1:
        raise ValueError(f'per_sample must be >= 1, got {per_sample}')
    if not len(backgrounds):
        raise ValueError('assign_backgrounds: no backgrounds given')
    order = np.arange(len(backgrounds))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(backgrounds))
    out = []
    for i, sample in enumerate(data_list):
        for k in range(per_sample):
            j = int(order[(i * per_sample + k) % len(backgrounds)])
            out.append({**sample, 'bg_path': backgrounds[j], 'bg_index': j})
    return out


def fit_background(bg: np.ndarray, size_hw: Tuple[int, int], interpolation: str = 'bicubic',
                   top_left: Tuple[int, int] = (0, 0)) -> np.ndarray:
    """DIM's rule: upscale ``bg`` (keeping its ratio) if it is smaller than ``size_hw``
    in either side, then crop an ``size_hw`` window at ``top_left``.

    The result is ``cv2.resize(bg, (ceil(bw * r), ceil(bh * r)))[y:y + h, x:x + w]`` with
    ``r = max(w / bw, h / bh)`` (no resize when ``r <= 1``), computed more cheaply: only
    the source rows and columns that the window needs are resized, with the same scale
    factors (so the same sampling positions and weights; OpenCV's vectorised and scalar
    code paths may still round a rare pixel 1 grey level apart). Without upscaling the
    result is a view of ``bg`` (no copy).

    DIM's script (and MMagic's) use PIL's bicubic (a = -0.5); OpenCV's bicubic
    (a = -0.75) differs from it by a few grey levels on upscaled backgrounds.

    Args:
        bg: H x W (x C) background.
        size_hw: (h, w) of the foreground.
        interpolation: ``'bicubic'`` (DIM) or another OpenCV interpolation name.
        top_left: (y, x) of the window in the (upscaled) background; DIM uses (0, 0).
            Must leave the window inside: see :func:`background_window_range`.

    Raises:
        ValueError: the window does not fit.
    """
    if interpolation not in _INTERP:
        raise ValueError(f'interpolation must be one of {sorted(_INTERP)}, '
                         f'got {interpolation!r}')
    h, w = int(size_hw[0]), int(size_hw[1])
    bh, bw = bg.shape[:2]
    y, x = int(top_left[0]), int(top_left[1])
    ratio = max(w / bw, h / bh)
    if ratio <= 1:
        if not (0 <= y <= bh - h and 0 <= x <= bw - w):
            raise ValueError(f'window {h}x{w} at (y={y}, x={x}) does not fit in the '
                             f'{bh}x{bw} background')
        return bg[y:y + h, x:x + w]
    nw, nh = math.ceil(bw * ratio), math.ceil(bh * ratio)
    if not (0 <= y <= nh - h and 0 <= x <= nw - w):
        raise ValueError(f'window {h}x{w} at (y={y}, x={x}) does not fit in the '
                         f'background upscaled to {nh}x{nw}')
    # cv2.resize maps output pixel d to source (d + 0.5) / s - 0.5 (s = new/old size)
    # and reads up to 2 source pixels beyond it (bicubic; lanczos: 4). Resizing only the
    # source rows/columns the window needs, with the same scale factors passed as
    # fx/fy, samples the same positions as resizing the whole background.
    sx, sy = nw / bw, nh / bh
    margin = 5
    x1 = min(bw, math.ceil((x + w) / sx) + margin)
    y1 = min(bh, math.ceil((y + h) / sy) + margin)
    if x1 == bw and y1 == bh:
        up = cv2.resize(bg, (nw, nh), interpolation=_INTERP[interpolation])
    else:
        up = cv2.resize(bg[:y1, :x1], (0, 0), fx=sx, fy=sy,
                        interpolation=_INTERP[interpolation])
    return up[y:y + h, x:x + w]


def background_window_range(bg_hw: Tuple[int, int], size_hw: Tuple[int, int]
                            ) -> Tuple[int, int]:
    """The largest valid ``top_left`` (y, x) for :func:`fit_background`."""
    bh, bw = bg_hw
    h, w = size_hw
    ratio = max(w / bw, h / bh)
    if ratio > 1:
        bh, bw = math.ceil(bh * ratio), math.ceil(bw * ratio)
    return bh - h, bw - w
