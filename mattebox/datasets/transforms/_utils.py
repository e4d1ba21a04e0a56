"""Helpers shared by the transforms."""
from typing import Sequence

import numpy as np


def require_keys(transform: object, results: dict, keys: Sequence[str]) -> None:
    """Raise a ``KeyError`` naming the transform and every missing key."""
    missing = [k for k in keys if k not in results]
    if missing:
        raise KeyError(f'{type(transform).__name__} needs keys {missing} that the sample '
                       f'does not have; found keys {sorted(results)}')


def same_size(transform: object, results: dict, keys: Sequence[str]) -> tuple:
    """Return the common (H, W) of ``keys``; raise a ``ValueError`` if they differ."""
    shapes = {k: np.asarray(results[k]).shape[:2] for k in keys}
    if len(set(shapes.values())) > 1:
        paths = {k: results.get(f'{k}_path', '?') for k in keys}
        raise ValueError(f'{type(transform).__name__}: images must have the same height '
                         f'and width, got {shapes} (files: {paths})')
    return next(iter(shapes.values()))


def image_2d(transform: object, results: dict, key: str) -> np.ndarray:
    """``results[key]`` as an H x W array (an H x W x 1 image is squeezed); a
    ``ValueError`` naming the transform, the key and the file otherwise."""
    img = np.asarray(results[key])
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f'{type(transform).__name__} needs an H x W {key}, got shape '
                         f'{img.shape} (file: {results.get(f"{key}_path", "?")})')
    return img
