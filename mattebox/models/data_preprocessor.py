"""Batching and normalisation of matting inputs."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from mattebox.registry import MODELS

TRIMAP_MODES = ('rescale_to_zero_one', 'as_is', 'label')
GT_MODES = ('rescale_to_zero_one', 'as_is')
GT_FIELDS = ('gt_alpha', 'gt_fg', 'gt_bg', 'gt_merged')


def stack_padded(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack C x H x W tensors, zero-padding smaller ones at the bottom/right."""
    h = max(t.shape[-2] for t in tensors)
    w = max(t.shape[-1] for t in tensors)
    return torch.stack([F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2])) for t in tensors])


@MODELS.register_module()
class MattorPreprocessor(BaseDataPreprocessor):
    """Turn packed samples into the network input ``N x (3 + T) x H x W``.

    The image (BGR 0-255 as packed) is converted to RGB if asked and normalised by
    ``mean`` / ``std`` given on the 0-255 scale; the trimap is appended as channel 4:
    divided by 255 (``'rescale_to_zero_one'``: {0, 128/255, 1}, as MMagic), kept
    (``'as_is'``) or mapped to labels {0, 1, 2} (``'label'``). The ground-truth fields
    of the samples (``gt_alpha``, ``gt_fg``, ``gt_bg``, ``gt_merged``) are moved to the
    device and rescaled to 0-1 in place. Samples of different sizes are zero-padded at
    the bottom/right to the largest one. Everything is float32.

    Args:
        mean: per-channel mean on the 0-255 scale, in the order after ``bgr_to_rgb``.
        std: per-channel std on the 0-255 scale.
        bgr_to_rgb: convert the packed BGR image to RGB.
        proc_trimap: ``'rescale_to_zero_one'``, ``'as_is'`` or ``'label'``.
        proc_gt: ``'rescale_to_zero_one'`` or ``'as_is'``.
        trimap_required: fail with a clear error when a sample has no trimap (set False
            for prompt-driven models that take no trimap).
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr_to_rgb: bool = True,
                 proc_trimap: str = 'rescale_to_zero_one',
                 proc_gt: str = 'rescale_to_zero_one', trimap_required: bool = True) -> None:
        super().__init__()
        if proc_trimap not in TRIMAP_MODES:
            raise ValueError(f'proc_trimap must be one of {TRIMAP_MODES}, got {proc_trimap!r}')
        if proc_gt not in GT_MODES:
            raise ValueError(f'proc_gt must be one of {GT_MODES}, got {proc_gt!r}')
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values each, got {mean} and {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.proc_trimap = proc_trimap
        self.proc_gt = proc_gt
        self.trimap_required = trimap_required

    def _trimap(self, trimaps: torch.Tensor) -> torch.Tensor:
        if self.proc_trimap == 'rescale_to_zero_one':
            return trimaps / 255.0
        if self.proc_trimap == 'label':
            labels = torch.ones_like(trimaps)
            labels[trimaps <= 0] = 0
            labels[trimaps >= 255] = 2
            return labels
        return trimaps

    def _gt(self, t: torch.Tensor, field: str) -> torch.Tensor:
        t = t.to(self.device, torch.float32)
        if field != 'gt_alpha' and self.bgr_to_rgb and t.shape[0] == 3:
            t = t.flip(0)
        return t / 255.0 if self.proc_gt == 'rescale_to_zero_one' else t

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs: Union[torch.Tensor, List[torch.Tensor]] = data['inputs']
        samples: Optional[list] = data.get('data_samples')
        images = stack_padded(list(inputs)).to(self.device, torch.float32)
        if images.shape[1] != 3:
            raise ValueError(f'MattorPreprocessor expects 3-channel images, got shape '
                             f'{tuple(images.shape)}')
        if self.bgr_to_rgb:
            images = images.flip(1)
        images = (images - self.mean) / self.std
        if samples is None:
            return {'inputs': images, 'data_samples': None}

        batch = [images]
        if all('trimap' in s for s in samples):
            trimaps = stack_padded([s.trimap for s in samples]).to(self.device, torch.float32)
            batch.append(self._trimap(trimaps))
        elif self.trimap_required:
            paths = [s.metainfo.get('merged_path', '?') for s in samples if 'trimap' not in s]
            raise KeyError(f'MattorPreprocessor: samples without a trimap ({paths}); load '
                           "one (LoadImageFromFile key='trimap') or generate it "
                           '(GenerateTrimap) in the pipeline')
        for s in samples:
            for field in GT_FIELDS:
                if field in s:
                    s.set_data({field: self._gt(s.get(field), field)})
        return {'inputs': torch.cat(batch, dim=1), 'data_samples': samples}
