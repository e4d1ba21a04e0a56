"""Helpers shared by the metric tests: the public test vectors and synthetic mattes."""
import json
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """``$MATTEBOX_SHARED`` if set, else ``<repo>/../shared``."""
    env = os.environ.get('MATTEBOX_SHARED')
    return Path(env) if env else (REPO_ROOT / '..' / 'shared').resolve()


def public_vectors_dir() -> Optional[Path]:
    """The public metric vectors, or None when they are not available."""
    path = shared_dir() / 'metric_vectors' / 'public'
    return path if (path / 'metrics.json').is_file() else None


def load_reference_values() -> Dict[str, dict]:
    return json.loads((public_vectors_dir() / 'metrics.json').read_text())


def read_png_uint8(path: Path) -> np.ndarray:
    """A single-channel PNG as uint8 0..255 (bilevel PNGs become 0 / 255, not 0 / 1)."""
    with Image.open(path) as im:
        if im.mode == '1':
            return np.array(im, dtype=bool).astype(np.uint8) * 255
        if im.mode != 'L':
            raise ValueError(f'{path}: expected an 8-bit single-channel PNG, got mode '
                             f'{im.mode}')
        arr = np.array(im)
    assert arr.dtype == np.uint8 and arr.ndim == 2, (path, arr.dtype, arr.shape)
    return arr


def load_case(name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    root = public_vectors_dir() / name
    return tuple(read_png_uint8(root / f'{f}.png') for f in ('pred', 'gt', 'trimap'))


# ----------------------------------------------------------------------------- synthetic
def _smooth_matte(rng: np.random.Generator, H: int, W: int, sharpness: float) -> np.ndarray:
    from scipy import ndimage
    field = ndimage.gaussian_filter(rng.standard_normal((H, W)), sigma=max(H, W) / 8)
    field = (field - field.mean()) / (field.std() + 1e-12)
    return np.clip(0.5 + sharpness * field, 0, 1)


def trimap_from_gt(gt: np.ndarray, width: int = 2) -> np.ndarray:
    """Known foreground = gt == 255 eroded, background = outside gt > 0 dilated."""
    from scipy import ndimage
    trimap = np.full(gt.shape, 128, dtype=np.uint8)
    fg = ndimage.binary_erosion(gt == 255, iterations=width)
    bg = ~ndimage.binary_dilation(gt > 0, iterations=width)
    trimap[fg] = 255
    trimap[bg] = 0
    return trimap


def tie_case(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two equally large components, one up-right and one down-left of the other.

    Row-major order meets the up-right one first, column-major order the down-left one,
    and the two choices give different connectivity errors.
    """
    H, W = int(rng.integers(24, 48)), int(rng.integers(24, 48))
    h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    pred = np.zeros((H, W), np.uint8)
    gt = np.zeros((H, W), np.uint8)
    r_a, c_a = int(rng.integers(1, H // 2 - h)), int(rng.integers(W // 2 + 1, W - w - 1))
    r_b, c_b = int(rng.integers(H // 2 + 1, H - w - 1)), int(rng.integers(1, W // 2 - h))
    a = (slice(r_a, r_a + h), slice(c_a, c_a + w))
    b = (slice(r_b, r_b + w), slice(c_b, c_b + h))  # transposed shape, same size
    if rng.random() < 0.5:
        a, b = b, a
    pred[a], gt[a] = 230, 255
    pred[b], gt[b] = 255, 200
    trimap = np.where(rng.random((H, W)) < 0.8, 128, 0).astype(np.uint8)
    trimap[a] = 128
    trimap[b] = 128
    return pred, gt, trimap


EXACT_LEVELS = np.array([0, 25, 26, 38, 39, 51, 76, 77, 102, 127, 128, 153, 178, 179, 204,
                         229, 230, 254, 255], dtype=np.uint8)


def random_case(rng: np.random.Generator, kind: str
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random ``(pred, gt, trimap)`` of the given kind (uint8)."""
    if kind == 'ties':
        return tie_case(rng)
    H, W = int(rng.integers(1, 64)), int(rng.integers(1, 64))
    if kind == 'smooth':
        gt = (_smooth_matte(rng, H, W, rng.uniform(0.5, 4)) * 255).round().astype(np.uint8)
        noise = rng.normal(0, rng.uniform(0, 30), (H, W))
        pred = np.clip(np.roll(gt, int(rng.integers(-2, 3)), axis=0) + noise, 0, 255)
        pred = pred.round().astype(np.uint8)
    elif kind == 'levels':  # values on and next to the thresholds, blocky
        bh, bw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
        small = (-(-H // bh), -(-W // bw))
        gt = np.kron(rng.choice(EXACT_LEVELS, small), np.ones((bh, bw), np.uint8))[:H, :W]
        pred = np.kron(rng.choice(EXACT_LEVELS, small), np.ones((bh, bw), np.uint8))[:H, :W]
        pred = np.where(rng.random((H, W)) < 0.5, gt, pred).astype(np.uint8)
    elif kind == 'noise':
        gt = rng.integers(0, 256, (H, W), dtype=np.uint8)
        pred = rng.integers(0, 256, (H, W), dtype=np.uint8)
    elif kind == 'binary':
        gt = (rng.random((H, W)) < 0.6).astype(np.uint8) * 255
        pred = np.where(rng.random((H, W)) < 0.9, gt, 255 - gt).astype(np.uint8)
    else:
        raise ValueError(kind)
    choice = rng.random()
    if choice < 0.5:
        trimap = trimap_from_gt(gt, width=int(rng.integers(1, 4)))
    elif choice < 0.8:
        trimap = rng.choice(np.array([0, 128, 255], np.uint8), (H, W))
    else:
        trimap = np.full((H, W), 128, np.uint8)
    if rng.random() < 0.5:  # masked, as a model clamps the known regions
        pred = pred.copy()
        pred[trimap == 0] = 0
        pred[trimap == 255] = 255
    return pred, gt, trimap
