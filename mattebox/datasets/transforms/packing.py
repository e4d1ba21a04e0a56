"""Packing a pipeline's results into model inputs and a data sample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mattebox.registry import TRANSFORMS
from mattebox.structures import MattingDataSample

from ..referring import REFERRING_META_KEYS
from ._utils import require_keys


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """H x W (x C) array -> C x H x W tensor, values unchanged: uint8 stays uint8 (4x less
    to send from dataloader workers; the data preprocessor makes it float32), anything
    else becomes float32."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    dtype = np.uint8 if img.dtype == np.uint8 else np.float32
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=dtype))


@TRANSFORMS.register_module()
class PackMattingInputs(BaseTransform):
    """Pack the results into ``{'inputs': Tensor, 'data_samples': MattingDataSample}``.

    Keys read: ``merged`` (required; H x W x 3 BGR, uint8 or float on 0-255), and where
    present the ground truth ``alpha``, ``fg``, ``bg``, ``ori_alpha``, ``ori_trimap``,
    the guidance ``trimap``, ``mask`` (else ``soft_seg``, else ``seg``: MMagic's coarse
    masks), ``points``, ``boxes``, ``text``, ``transparent``, the ``*_path`` keys and
    ``meta_keys``.
    Keys written: ``inputs`` (3 x H x W, BGR, 0-255) and ``data_samples`` with
    ``gt_alpha`` (1 x H x W), ``gt_fg``, ``gt_bg``, ``gt_merged`` (3 x H x W) on the
    0-255 scale; ``trimap`` (1 x H x W; 3 x H x W one-hot after ``FormatTrimap``) and
    ``mask`` (1 x H x W); ``points`` (float32 K x 3), ``boxes`` (float32 B x 4),
    ``text`` (str), ``transparent`` (bool); ``ori_alpha`` and ``ori_trimap`` as uint8
    H x W tensors (an ``ori_alpha`` read from a 16-bit file, float32 on the 0..255
    scale, is packed as float32 on the 0..1 scale, which the metrics read as such);
    and metainfo (``ori_shape``, ``img_shape``, paths, ``meta_keys``).
    See :mod:`mattebox.structures`.

    The referring datasets' keys ``instance_id``, ``image_id``, ``expression_index``,
    ``binary_gt``, ``source``, ``expressions``, ``distractor`` and ``distractor_id`` are
    in the default ``meta_keys`` (copied when present), so that losses (``binary_gt``) and the referring metric
    (``instance_id``, ``expression_index``) find them in the sample's metainfo.

    Args:
        meta_keys: extra result keys to copy into the sample's metainfo.
    """

    GT_KEYS = {'alpha': 'gt_alpha', 'fg': 'gt_fg', 'bg': 'gt_bg', 'merged': 'gt_merged',
               'trimap': 'trimap'}
    MASK_KEYS = ('mask', 'soft_seg', 'seg')
    ORI_KEYS = ('ori_alpha', 'ori_trimap')

    def __init__(self, meta_keys: Sequence[str] = (
            'sample_idx', 'crop_bbox', 'flip', 'format_trimap') + REFERRING_META_KEYS
                 ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        require_keys(self, results, ['merged'])
        merged = results['merged']
        sample = MattingDataSample()
        for key, field in self.GT_KEYS.items():
            if key in results:
                sample.set_data({field: image_to_tensor(results[key])})
        mask_key = next((k for k in self.MASK_KEYS if k in results), None)
        if mask_key is not None:
            sample.set_data({'mask': image_to_tensor(results[mask_key])})
        for key in self.ORI_KEYS:
            if key in results:
                ori = np.ascontiguousarray(results[key])
                if key == 'ori_alpha' and np.issubdtype(ori.dtype, np.floating):
                    ori = ori.astype(np.float32) / np.float32(255)
                sample.set_data({key: torch.from_numpy(ori)})
        for key, width in (('points', 3), ('boxes', 4)):
            if key in results:
                rows = np.asarray(results[key], np.float32).reshape(-1, width)
                sample.set_data({key: torch.from_numpy(np.ascontiguousarray(rows))})
        if 'text' in results:
            if not isinstance(results['text'], str):
                raise TypeError(f"PackMattingInputs: 'text' must be one string (pick one "
                                f"with LoadText), got {results['text']!r}")
            sample.set_data({'text': results['text']})
        if 'transparent' in results:
            sample.set_data({'transparent': bool(results['transparent'])})
        meta = {k: v for k, v in results.items() if k.endswith('_path')}
        meta['ori_shape'] = tuple(results.get('ori_shape', merged.shape[:2]))
        meta['img_shape'] = tuple(merged.shape[:2])
        meta.update({k: results[k] for k in self.meta_keys if k in results})
        sample.set_metainfo(meta)
        return {'inputs': image_to_tensor(merged), 'data_samples': sample}

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
