"""Batching and normalisation of matting inputs and guidance."""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from mattebox.guidance import GUIDANCE_FIELDS, decode_trimap
from mattebox.registry import MODELS

GT_MODES = ('rescale_to_zero_one', 'as_is')
GT_FIELDS = ('gt_alpha', 'gt_fg', 'gt_bg', 'gt_merged')
REMOVED_ARGUMENTS = {
    'proc_trimap': 'the batch trimap is always 0 / 128/255 / 1 (a model that wants labels '
                   'or one-hot channels makes them itself)',
    'trimap_required': 'each model declares the guidance it needs (guidance_spec)',
}


def stack_padded(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack C x H x W tensors, zero-padding smaller ones at the bottom/right."""
    h = max(t.shape[-2] for t in tensors)
    w = max(t.shape[-1] for t in tensors)
    return torch.stack([F.pad(t, (0, w - t.shape[-1], 0, h - t.shape[-2])) for t in tensors])


def _sample_name(sample, index: int) -> str:
    meta = sample.metainfo
    return str(meta.get('merged_path') or meta.get('img_path') or f'sample {index}')


def pad_rows(rows: Sequence[torch.Tensor], width: int) -> tuple:
    """Stack K_i x ``width`` tensors into N x K x ``width`` (K the largest K_i, zero rows
    as padding) and an N x K validity mask."""
    k = max((len(r) for r in rows), default=0)
    out = torch.zeros(len(rows), k, width, dtype=torch.float32)
    valid = torch.zeros(len(rows), k, dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
        valid[i, :len(r)] = True
    return out, valid


@MODELS.register_module()
class MattorPreprocessor(BaseDataPreprocessor):
    """Turn packed samples into the batch dict that every model reads.

    ``inputs['image']`` is the image (BGR 0-255 as packed), converted to RGB if asked
    and normalised by ``mean`` / ``std`` given on the 0-255 scale; ``image_mean`` and
    ``image_std`` record that normalisation. Every guidance field that all samples
    carry is batched (see :mod:`mattebox.structures` for the shapes): ``trimap`` (the
    0 / 128 / 255 trimap divided by 255, as MMagic; one-hot or label trimaps from
    ``FormatTrimap`` are decoded first), ``mask`` (0-1), ``points`` / ``boxes`` (padded
    with validity masks), ``text`` (list of strings) and ``transparent`` (bool). A field
    that some samples have and others lack is an error naming them. The ground-truth
    fields of the samples (``gt_alpha``, ``gt_fg``, ``gt_bg``, ``gt_merged``) are moved
    to the device and rescaled to 0-1 in place. Samples of different sizes are
    zero-padded at the bottom/right to the largest one. Everything is float32.

    Args:
        mean: per-channel mean on the 0-255 scale, in the order after ``bgr_to_rgb``.
        std: per-channel std on the 0-255 scale.
        bgr_to_rgb: convert the packed BGR image to RGB.
        proc_gt: ``'rescale_to_zero_one'`` or ``'as_is'``.
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr_to_rgb: bool = True,
                 proc_gt: str = 'rescale_to_zero_one', **removed) -> None:
        super().__init__()
        for name in removed:
            if name in REMOVED_ARGUMENTS:
                raise ValueError(f'MattorPreprocessor: {name!r} was removed: '
                                 f'{REMOVED_ARGUMENTS[name]}; delete it from the config')
            raise TypeError(f'MattorPreprocessor got an unexpected argument {name!r}')
        if proc_gt not in GT_MODES:
            raise ValueError(f'proc_gt must be one of {GT_MODES}, got {proc_gt!r}')
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values each, got {mean} and {std}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.proc_gt = proc_gt

    def _gt(self, t: torch.Tensor, field: str) -> torch.Tensor:
        t = t.to(self.device, torch.float32)
        if field != 'gt_alpha' and self.bgr_to_rgb and t.shape[0] == 3:
            t = t.flip(0)
        return t / 255.0 if self.proc_gt == 'rescale_to_zero_one' else t

    @staticmethod
    def _trimap(sample) -> torch.Tensor:
        t = sample.trimap
        if t.shape[0] == 1 and sample.metainfo.get('format_trimap') != 'label':
            return t
        decoded = decode_trimap(t.detach().cpu().numpy(), sample.metainfo.get('format_trimap'),
                                channels_first=True)
        return torch.from_numpy(decoded)[None]

    def batch_guidance(self, samples: Sequence) -> Dict[str, Union[torch.Tensor, list]]:
        """The guidance fields every sample carries, batched (see the class docstring)."""
        batch: Dict[str, Union[torch.Tensor, list]] = {}
        for field in GUIDANCE_FIELDS:
            having = [field in s for s in samples]
            if not any(having):
                continue
            if not all(having):
                lacking = [_sample_name(s, i) for i, s in enumerate(samples) if field not in s]
                raise KeyError(f'MattorPreprocessor: some samples of the batch have '
                               f'{field!r} and others do not (without it: {lacking}); give '
                               'every sample of a dataset the same guidance')
            if field == 'trimap':
                t = stack_padded([self._trimap(s) for s in samples])
                batch['trimap'] = t.to(self.device, torch.float32) / 255.0
            elif field == 'mask':
                m = stack_padded([s.mask for s in samples])
                batch['mask'] = m.to(self.device, torch.float32) / 255.0
            elif field in ('points', 'boxes'):
                width = 3 if field == 'points' else 4
                rows = [torch.as_tensor(np.asarray(s.get(field), np.float32)).reshape(-1, width)
                        for s in samples]
                values, valid = pad_rows(rows, width)
                batch[field] = values.to(self.device)
                batch[f'{field}_valid'] = valid.to(self.device)
            elif field == 'text':
                batch['text'] = [str(s.text) for s in samples]
            else:  # transparent
                batch['transparent'] = torch.tensor([bool(s.transparent) for s in samples],
                                                    device=self.device)
        return batch

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs: Union[torch.Tensor, List[torch.Tensor]] = data['inputs']
        samples: Optional[list] = data.get('data_samples')
        images = stack_padded(list(inputs)).to(self.device, torch.float32)
        if images.shape[1] != 3:
            raise ValueError(f'MattorPreprocessor expects 3-channel images, got shape '
                             f'{tuple(images.shape)}')
        if self.bgr_to_rgb:
            images = images.flip(1)
        batch = {'image': (images - self.mean) / self.std, 'image_mean': self.mean,
                 'image_std': self.std}
        if samples is None:
            return {'inputs': batch, 'data_samples': None}
        batch.update(self.batch_guidance(samples))
        for s in samples:
            for field in GT_FIELDS:
                if field in s:
                    s.set_data({field: self._gt(s.get(field), field)})
        return {'inputs': batch, 'data_samples': samples}
