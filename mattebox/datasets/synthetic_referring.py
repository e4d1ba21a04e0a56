"""Procedural REFERRING matting data: several objects per image, each with its own alpha
and four expressions that name it uniquely, in the RefMatte layout.

An image holds 2 or 3 separable objects over a dull, desaturated background:

- each object sits in its own vertical band (left / middle / right), so "left", "in the
  middle" and "right" are unambiguous;
- each has a distinct, saturated colour drawn around a named hue (``COLOURS``: red,
  yellow, green, blue, purple), so its colour word is its actual colour;
- their sizes are clearly ranked (radii 0.5 / 0.72 / 0.95 of the band half-width, the
  rank taken from the alpha areas), so "largest" / "smallest" are unambiguous;
- a soft, anti-aliased edge with a few thin strands (mixed pixels to matte).

The four expressions of an object, in this order (so that per-expression-index metrics
read as per-attribute metrics):

0. colour: ``"the red object"``
1. position: ``"the thing on the left"`` / ``"in the middle"`` / ``"on the right"``
2. size: ``"the largest shape"`` / ``"the medium-sized ..."`` / ``"the smallest ..."``
   (2 objects: ``"the bigger ..."`` / ``"the smaller ..."``)
3. combined: ``"the small blue thing on the right"``

(the noun, object / thing / shape, is drawn per expression). Each expression names
one object of its image only.

:func:`make_referring_dataset` writes (what :class:`~mattebox.datasets.RefMatteDataset`
reads with its default ``train`` / ``test`` layouts)::

    OUT/train/img/NNNN.png  OUT/train/mask/NNNN_K.png   (K = object index)
    OUT/test/img/  OUT/test/mask/
    OUT/json/refmatte_train_label.json  OUT/json/refmatte_test_label.json
    OUT/json/synthetic_referring.json   (seed, size, counts: marks the folder as ours)

Label entries: ``{"NNNN_K": {"image_name": "NNNN.png", "expressions": [4 strings],
"colour": "red", "column": 0, "size_rank": 0, "num_objects": 3}}`` (``size_rank`` 0 is
the largest; ``column`` 0 the leftmost). Image ``i`` of a split depends only on
``(seed, split, i)``. Images are BGR ``uint8``, alphas single-channel ``uint8``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

import cv2
import numpy as np

from .synthetic import (SizeLike, _as_rng, _Canvas, _check_dataset_args, _check_size,
                        _fractal_noise, _gaussian, _hsv, _strand_path, _write_png)

__all__ = ['COLOURS', 'make_referring_sample', 'make_referring_dataset',
           'REFERRING_LABEL_FILES']

#: Colour name -> hue in degrees. Hues at least 50 degrees apart.
COLOURS = {'red': 0.0, 'yellow': 55.0, 'green': 120.0, 'blue': 225.0, 'purple': 285.0}
#: Label json of each split, relative to the dataset root (RefMatte's json folder).
REFERRING_LABEL_FILES = {'train': 'json/refmatte_train_label.json',
                         'test': 'json/refmatte_test_label.json'}
META_FILE = 'json/synthetic_referring.json'
NOUNS = ('object', 'thing', 'shape')
_SPLIT_CODES = {'train': 0, 'test': 1}
_STREAM_REFERRING = 7  # distinct from the matting generator's streams
_RADIUS_FRACTIONS = (0.5, 0.72, 0.95)
_GENERATED = re.compile(r'^(train|test)/(img/\d+|mask/\d+_\d+)\.png$')


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    seq = np.random.SeedSequence(seed, spawn_key=(_SPLIT_CODES[split], index,
                                                  _STREAM_REFERRING))
    return np.random.default_rng(seq)


def _object_alpha(rng: np.random.Generator, shape: Tuple[int, int], center: np.ndarray,
                  radius: float) -> np.ndarray:
    """A soft, nearly round blob with a few thin strands; float32 in [0, 1]."""
    h, w = shape
    ss = 4
    canvas = _Canvas(shape, ss)
    n = 96
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in (2, 3):
        r += rng.uniform(0.0, 0.12 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    aspect = rng.uniform(0.85, 1.0)
    pts = np.stack([np.cos(theta) * r * radius, np.sin(theta) * r * radius * aspect], 1)
    canvas.fill_polygon(pts + center)
    for _ in range(int(rng.integers(0, 5))):  # a few thin strands: mixed pixels
        i = int(rng.integers(n))
        root = center + pts[i] * 0.9
        angle = math.atan2(pts[i, 1], pts[i, 0]) + rng.normal(0.0, 0.3)
        path = _strand_path(rng, root, angle, radius * rng.uniform(0.3, 0.6), 0.0, 0.03)
        t = np.linspace(0.0, 1.0, len(path))
        canvas.add_strand(path, np.full(len(path), rng.uniform(0.4, 0.8)),
                          0.9 * (1.0 - 0.7 * t), chunks=4)
    return _gaussian(canvas.resolve(), rng.uniform(0.2, 0.8))


def _position_words(n: int) -> List[str]:
    return ['on the left', 'on the right'] if n == 2 else \
        ['on the left', 'in the middle', 'on the right']


def _size_words(n: int) -> Tuple[List[str], List[str]]:
    """(superlatives, adjectives) by size rank, 0 = largest."""
    if n == 2:
        return ['bigger', 'smaller'], ['big', 'small']
    return ['largest', 'medium-sized', 'smallest'], ['big', 'medium', 'small']


def make_referring_sample(rng_or_seed: Union[int, np.random.Generator],
                          size: SizeLike = (64, 64)) -> Dict[str, object]:
    """One image with 2-3 objects, their alphas and expressions.

    Args:
        rng_or_seed: a seed or a generator.
        size: ``(H, W)`` or an int; sides >= 32.

    Returns:
        ``{'image': H x W x 3 uint8 BGR, 'alphas': [H x W uint8 per object],
        'objects': [{'expressions', 'colour', 'column', 'size_rank'}]}``, objects left
        to right.
    """
    rng = _as_rng(rng_or_seed)
    h, w = _check_size(size)
    n = int(rng.integers(2, 4))
    band = w / n
    max_r = min(band / 2, h / 2) * 0.9
    colours = [str(c) for c in rng.choice(list(COLOURS), size=n, replace=False)]
    fractions = rng.permutation(_RADIUS_FRACTIONS[-n:] if n == 2 else _RADIUS_FRACTIONS)
    layers = []
    for k in range(n):
        radius = float(fractions[k]) * max_r
        cx = band * (k + 0.5) + rng.uniform(-0.1, 0.1) * (band / 2 - radius)
        cy = rng.uniform(radius + 1, h - radius - 1) if h - 2 * radius > 2 else h / 2
        layers.append(_object_alpha(rng, (h, w), np.array([cx, cy]), radius))
    # background: dull and desaturated, so that the colour words are the objects'
    noise = _fractal_noise(rng, (h, w), 3.0, 3, 0.5)
    base = _hsv(rng.uniform(0, 360), rng.uniform(0.0, 0.15), rng.uniform(0.3, 0.55))
    image = base[None, None, :] * (0.75 + 0.5 * noise[..., None])
    visible = []
    for k in range(n):
        hue = COLOURS[colours[k]] + rng.uniform(-8, 8)
        colour = _hsv(hue, rng.uniform(0.75, 1.0), rng.uniform(0.8, 1.0))
        shade = 0.88 + 0.12 * _fractal_noise(rng, (h, w), 4.0, 2, 0.5)
        a = layers[k][..., None]
        image = colour[None, None, :] * shade[..., None] * a + image * (1 - a)
    for k in range(n):  # what is seen of object k: later objects cover it
        a = layers[k].copy()
        for j in range(k + 1, n):
            a *= 1.0 - layers[j]
        visible.append(a)
    alphas = [np.clip(np.rint(a * 255), 0, 255).astype(np.uint8) for a in visible]
    areas = [float(a.sum()) for a in visible]
    ranks = np.argsort(np.argsort(-np.asarray(areas)))  # 0 = largest
    positions = _position_words(n)
    superl, adjs = _size_words(n)
    objects = []
    for k in range(n):
        nouns = [NOUNS[int(i)] for i in rng.integers(len(NOUNS), size=4)]
        rank = int(ranks[k])
        exprs = [f'the {colours[k]} {nouns[0]}',
                 f'the {nouns[1]} {positions[k]}',
                 f'the {superl[rank]} {nouns[2]}',
                 f'the {adjs[rank]} {colours[k]} {nouns[3]} {positions[k]}']
        objects.append(dict(expressions=exprs, colour=colours[k], column=k, size_rank=rank))
    rgb = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return {'image': cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), 'alphas': alphas,
            'objects': objects}


def _is_ours(root: Path) -> bool:
    meta = root / META_FILE
    if meta.is_file():
        try:
            return json.loads(meta.read_text()).get('dataset_type') == 'synthetic_referring'
        except (ValueError, AttributeError, OSError, UnicodeDecodeError):
            return False
    return False


def make_referring_dataset(out_dir: Union[str, Path], num_train: int = 100,
                           num_test: int = 20, size: SizeLike = (64, 64), seed: int = 0, *,
                           overwrite: bool = False,
                           progress: Union[bool, Callable[[str], None]] = False) -> Path:
    """Write a synthetic referring dataset in the RefMatte layout (module docstring).

    An existing ``out_dir`` must be empty or an earlier referring dataset (then images
    the new one does not rewrite are removed, nothing else); ``overwrite=True`` writes
    into any folder and removes nothing.

    Args:
        out_dir: dataset root.
        num_train, num_test: number of IMAGES per split (2-3 instances each).
        size: ``(H, W)`` or an int (>= 32).
        seed: non-negative base seed; same arguments, same bytes.
        overwrite: write into a foreign non-empty folder.
        progress: True to print a line at the end, or a callable receiving it.

    Returns:
        ``Path(out_dir)``.
    """
    num_train, num_test, (h, w), seed = _check_dataset_args(num_train, num_test, size, seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'out_dir {out} exists and is not a folder')
    refresh = False
    if out.is_dir() and any(out.iterdir()):
        refresh = _is_ours(out)
        if not refresh and not overwrite:
            raise FileExistsError(f'out_dir {out} is not empty and is not a synthetic '
                                  f'referring dataset (no {META_FILE}); choose another '
                                  'folder or pass overwrite=True (--overwrite)')
    written = set()
    counts = {'train': num_train, 'test': num_test}
    n_instances = {}
    (out / 'json').mkdir(parents=True, exist_ok=True)
    for split in ('train', 'test'):
        for kind in ('img', 'mask'):
            (out / split / kind).mkdir(parents=True, exist_ok=True)
        labels = {}
        for i in range(counts[split]):
            sample = make_referring_sample(_rng(seed, split, i), (h, w))
            name = f'{i:04d}'
            rel = f'{split}/img/{name}.png'
            _write_png(out / rel, sample['image'])
            written.add(rel)
            n = len(sample['objects'])
            for k, (obj, alpha) in enumerate(zip(sample['objects'], sample['alphas'])):
                inst = f'{name}_{k}'
                rel = f'{split}/mask/{inst}.png'
                _write_png(out / rel, alpha)
                written.add(rel)
                labels[inst] = dict(image_name=f'{name}.png', num_objects=n, **obj)
        n_instances[split] = len(labels)
        (out / REFERRING_LABEL_FILES[split]).write_text(json.dumps(labels, indent=1) + '\n')
    meta = dict(dataset_type='synthetic_referring', seed=seed, size=[h, w],
                images=counts, instances=n_instances)
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + '\n')
    if refresh:
        for path in sorted(out.rglob('*.png')):
            rel = path.relative_to(out).as_posix()
            if _GENERATED.match(rel) and rel not in written:
                path.unlink()
    if progress:
        log = print if progress is True else progress
        log(f'[synthetic-referring] wrote {num_train} train + {num_test} test images '
            f'({n_instances["train"]} + {n_instances["test"]} instances, {h}x{w}, seed '
            f'{seed}) to {out.resolve()}')
    return out
