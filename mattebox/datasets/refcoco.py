"""RefCOCO / RefCOCO+ / RefCOCOg (REFER annotations) over COCO images, as referring
data with binary ground truth; COCO masks without pycocotools.

Layout (the REFER toolkit's ``data/`` folder; ``docs/datasets.md``, "RefCOCO")::

    data/refer/
      refcoco/refs(unc).json   the refs, exported to json (or refs(unc).p, read safely)
      refcoco/instances.json   COCO-style images + annotations of the referred objects
      images/mscoco/images/train2014/COCO_train2014_000000xxxxxx.jpg

A ref is ``{"ref_id", "ann_id", "image_id", "split", "sentences": [{"sent": ...}, ...],
...}``; its annotation in ``instances.json`` carries the COCO ``segmentation``
(polygons, or RLE: uncompressed ``counts`` list or compressed string).
"""
import os.path as osp
import pickle
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mattebox.engine.errors import MissingDataFileError
from mattebox.registry import DATASETS

from .referring import (ReferringDatasetMixin, as_expressions, check_expression_mode,
                        expand_expressions)
from .refmatte import read_json
from .validation import DatasetValidationError as AnnotationError
from .validation import ValidatedDatasetMixin

__all__ = ['RefCOCODataset', 'decode_rle', 'rasterise_polygons', 'segmentation_to_mask',
           'load_refs_pickle']


# --------------------------------------------------------------------------- masks
def rasterise_polygons(polygons: Sequence[Sequence[float]], height: int,
                       width: int) -> np.ndarray:
    """COCO polygons -> ``uint8`` H x W mask (0 / 255), the union of the polygons.

    A pixel ``(row i, column j)`` is inside when its centre ``(j + 0.5, i + 0.5)`` (COCO
    coordinates: pixel edges at integers) is inside a polygon (even-odd rule on a scan
    line through the centre). pycocotools rasterises at 5x and down-samples, so pixels
    on an edge may differ from it by one pixel row.

    Args:
        polygons: a list of ``[x0, y0, x1, y1, ...]`` lists (at least 3 points each).
        height, width: the image size.
    """
    mask = np.zeros((height, width), np.uint8)
    for k, poly in enumerate(polygons):
        pts = np.asarray(poly, np.float64)
        if pts.ndim != 1 or pts.size < 6 or pts.size % 2:
            raise ValueError(f'polygon {k}: expected a flat list of at least 3 (x, y) '
                             f'pairs, got {len(pts) if pts.ndim == 1 else pts.shape} '
                             f'numbers')
        xs, ys = pts[0::2], pts[1::2]
        x0, y0, x1, y1 = xs, ys, np.roll(xs, -1), np.roll(ys, -1)
        r0 = max(0, int(np.floor(ys.min() - 0.5)))
        r1 = min(height, int(np.ceil(ys.max() + 0.5)))
        if r1 <= r0:
            continue
        yc = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5  # R x 1
        crosses = ((y0 <= yc) & (yc < y1)) | ((y1 <= yc) & (yc < y0))  # R x E
        dy = np.where(y1 == y0, 1.0, y1 - y0)
        xi = x0 + (yc - y0) * (x1 - x0) / dy  # R x E
        xi = np.where(crosses, xi, np.inf)
        xi.sort(axis=1)
        counts = crosses.sum(axis=1)
        for r in range(r1 - r0):
            row = xi[r, :counts[r]]
            for xa, xb in zip(row[0::2], row[1::2]):
                ja = max(0, int(np.ceil(xa - 0.5)))
                jb = min(width, int(np.ceil(xb - 0.5)))
                if jb > ja:
                    mask[r0 + r, ja:jb] = 255
    return mask


def _rle_counts_from_string(s: str) -> List[int]:
    """COCO's compressed RLE string (``maskApi.c`` ``rleFrString``) -> run lengths."""
    counts: List[int] = []
    p = 0
    data = s.encode('ascii') if isinstance(s, str) else bytes(s)
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            if p >= len(data):
                raise ValueError('compressed RLE string ends inside a number')
            c = data[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def decode_rle(rle: dict) -> np.ndarray:
    """A COCO RLE (``{"size": [h, w], "counts": list or compressed str}``) -> ``uint8``
    H x W mask (0 / 255). Runs alternate 0 and 1, starting with 0, in column-major order.
    """
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise ValueError(f'RLE must be a dict with "size" and "counts", got {rle!r}')
    h, w = (int(v) for v in rle['size'])
    counts = rle['counts']
    if isinstance(counts, (str, bytes)):
        counts = _rle_counts_from_string(counts)
    counts = np.asarray(counts, np.int64)
    if (counts < 0).any():
        raise ValueError('RLE counts must be non-negative')
    if counts.sum() != h * w:
        raise ValueError(f'RLE counts sum to {int(counts.sum())}, expected h * w = {h * w} '
                         f'for size {[h, w]}')
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 255
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (polygon list or RLE dict) -> ``uint8`` mask (0 / 255)."""
    if isinstance(segmentation, dict):
        mask = decode_rle(segmentation)
        if mask.shape != (height, width):
            raise ValueError(f'RLE size {list(mask.shape)} differs from the image size '
                             f'{[height, width]}')
        return mask
    if isinstance(segmentation, (list, tuple)):
        return rasterise_polygons(segmentation, height, width)
    raise ValueError(f'segmentation must be a list of polygons or an RLE dict, got '
                     f'{type(segmentation).__name__}')


# ------------------------------------------------------------------------- refs
class _BuiltinsOnlyUnpickler(pickle.Unpickler):
    """Reads plain data (dict, list, str, numbers); refuses every global but a few
    harmless builtins, so that a pickle cannot run code."""

    ALLOWED = {('builtins', 'set'), ('builtins', 'frozenset'), ('__builtin__', 'set'),
               ('__builtin__', 'frozenset')}

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return {'set': set, 'frozenset': frozenset}[name]
        raise pickle.UnpicklingError(f'refusing to load {module}.{name} from a refs pickle '
                                     f'(only plain data is allowed)')


def load_refs_pickle(path: str) -> Any:
    """REFER's ``refs(unc).p`` with a restricted unpickler (plain data only)."""
    with open(path, 'rb') as f:
        return _BuiltinsOnlyUnpickler(f, encoding='latin1').load()


@DATASETS.register_module()
class RefCOCODataset(ReferringDatasetMixin, ValidatedDatasetMixin, BaseDataset):
    """RefCOCO-family refs over COCO images; the masks are binary (``binary_gt=True``).

    One instance per ref: ``expressions`` are its sentences (``sent``),
    ``instance_id`` the ``ref_id``, ``image_id`` the COCO image id. The mask is made
    by :class:`~mattebox.datasets.transforms.LoadReferringAlpha` from the data info's
    ``segmentation``, ``img_height`` and ``img_width``.

    Args:
        data_root: the REFER ``data`` folder.
        ann_file: refs json (a list of refs) or REFER pickle (``.p``, read with a
            restricted unpickler), relative to ``data_root`` unless absolute.
        instances_file: COCO-style ``images`` + ``annotations`` json.
        img_dir: folder of the COCO images.
        split: keep refs of this ``split`` (``'train'``, ``'val'``, ``'testA'``...); a
            list keeps several; None keeps all.
        expression_mode: ``'random'``, ``'all'`` or ``'index'`` (with
            ``expression_index``).
        expression_index, expression_seed: see :class:`RefMatteDataset`.
        allow_pickle: read a ``.p`` ann_file (restricted unpickler); False refuses it.
        source: the ``source`` name.
        validate, skip_broken_samples, allow_outside_root: as
            :class:`AdobeComp1kDataset` (``'header'``: every image checked at start-up;
            ``allow_outside_root=True`` for COCO images kept outside ``data_root``).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_type='referring_segmentation', task_name='matting')

    def __init__(self, data_root: str = '', ann_file: str = 'refcoco/refs(unc).json',
                 instances_file: str = 'refcoco/instances.json',
                 img_dir: str = 'images/mscoco/images/train2014',
                 split: Union[str, Sequence[str], None] = 'train',
                 expression_mode: str = 'random', expression_index: Optional[int] = None,
                 expression_seed: Optional[int] = None, allow_pickle: bool = True,
                 source: str = 'refcoco', validate: Union[bool, str] = 'header',
                 skip_broken_samples: bool = False, allow_outside_root: bool = False,
                 **kwargs) -> None:
        name = type(self).__name__
        self.instances_file = instances_file
        self.img_dir = img_dir
        self.split = [split] if isinstance(split, str) else split
        self.expression_mode = check_expression_mode(expression_mode, name)
        self.expression_index = expression_index
        self.expression_seed = expression_seed
        self.allow_pickle = allow_pickle
        self.source = source
        self._init_checks(validate, skip_broken_samples, allow_outside_root)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def _rooted(self, path: str) -> str:
        return path if osp.isabs(path) else osp.join(self.data_root, path)

    def _refs(self) -> list:
        name = type(self).__name__
        if self.ann_file.endswith(('.p', '.pkl', '.pickle')):
            if not self.allow_pickle:
                raise ValueError(f'{name}: ann_file {self.ann_file} is a pickle and '
                                 f'allow_pickle=False; export the refs to json')
            if not osp.isfile(self.ann_file):
                raise MissingDataFileError(f'{name}: refs file (ann_file) not found: '
                                        f'{self.ann_file}')
            refs = load_refs_pickle(self.ann_file)
        else:
            refs = read_json(self.ann_file, name, 'refs file (ann_file)')
        if not isinstance(refs, list):
            raise AnnotationError(f'{name}: refs file {self.ann_file}: expected a list of refs, '
                             f'got {type(refs).__name__}')
        return refs

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        inst_path = self._rooted(self.instances_file)
        coco = read_json(inst_path, name, 'instances_file')
        if not isinstance(coco, dict) or 'images' not in coco or 'annotations' not in coco:
            raise AnnotationError(f'{name}: instances_file {inst_path}: expected a COCO json with '
                             f'"images" and "annotations", got '
                             f'{sorted(coco) if isinstance(coco, dict) else type(coco).__name__}')
        images: Dict[Any, dict] = {im['id']: im for im in coco['images']}
        anns: Dict[Any, dict] = {a['id']: a for a in coco['annotations']}
        img_dir = self._rooted(self.img_dir)
        instances = []
        for i, ref in enumerate(self._refs()):
            where = f'refs file {self.ann_file}, ref {i}'
            if not isinstance(ref, dict):
                raise AnnotationError(f'{name}: {where}: expected a dict, got {ref!r}')
            missing = [k for k in ('ref_id', 'ann_id', 'image_id', 'sentences') if k not in ref]
            if missing:
                raise AnnotationError(f'{name}: {where}: missing key(s) {missing}; keys present: '
                                 f'{sorted(ref)}')
            if self.split is not None and ref.get('split') not in self.split:
                continue
            ann = anns.get(ref['ann_id'])
            if ann is None:
                raise AnnotationError(f'{name}: {where} (ref_id {ref["ref_id"]}): ann_id '
                                 f'{ref["ann_id"]} is not in {inst_path}')
            image = images.get(ref['image_id'])
            if image is None:
                raise AnnotationError(f'{name}: {where} (ref_id {ref["ref_id"]}): image_id '
                                 f'{ref["image_id"]} is not in {inst_path}')
            if 'segmentation' not in ann:
                raise AnnotationError(f'{name}: {inst_path}, annotation {ann["id"]}: no '
                                 f'"segmentation"')
            sents = [s['sent'] if isinstance(s, dict) else s for s in ref['sentences']]
            exprs = as_expressions(sents, f'{name}: {where}: "sentences"')
            instances.append(dict(
                merged_path=osp.join(img_dir, image['file_name']),
                segmentation=ann['segmentation'], img_height=int(image['height']),
                img_width=int(image['width']), expressions=exprs,
                instance_id=str(ref['ref_id']), image_id=str(ref['image_id']),
                binary_gt=True, source=self.source, split=ref.get('split')))
        if not instances:
            raise AnnotationError(f'{name}: no ref of split {self.split} in {self.ann_file}')
        return expand_expressions(instances, self.expression_mode, f'{name} ({self.ann_file})',
                                  None, self.expression_index)
