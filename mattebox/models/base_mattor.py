"""The one forward contract of every matting model."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.model import BaseModel

from mattebox.structures import MattingDataSample

RESIZE_METHODS = ('pad', 'interp')
# trimap value of each label 0 (bg), 1 (unknown), 2 (fg)
TRIMAP_LEVELS = torch.tensor([0.0, 128.0, 255.0])


def pad_to_multiple(x: torch.Tensor, divisor: int, mode: str = 'reflect') -> torch.Tensor:
    """Pad an N x C x H x W tensor at the bottom/right to multiples of ``divisor``.

    ``'reflect'`` needs the padding to be smaller than the side; for smaller inputs it
    falls back to ``'replicate'`` (MMagic would fail there).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % divisor, (-w) % divisor
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == 'reflect' and (pad_h >= h or pad_w >= w):
        mode = 'replicate'
    if mode == 'constant':
        return F.pad(x, (0, pad_w, 0, pad_h), mode='constant', value=0.0)
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def unknown_mask(trimap: torch.Tensor, unknown_value: float = 128 / 255) -> torch.Tensor:
    """N x 1 x H x W float mask of the unknown region of a trimap.

    ``trimap`` is either one channel holding ``unknown_value`` in the unknown region
    (compared with a tolerance, so 0-1 and 0-255 trimaps both work when the value
    matches their scale) or three one-hot channels (bg, unknown, fg).
    """
    if trimap.shape[1] == 3:
        return trimap[:, 1:2].float()
    if trimap.shape[1] != 1:
        raise ValueError(f'trimap must have 1 or 3 channels, got shape {tuple(trimap.shape)}')
    return ((trimap - unknown_value).abs() < 1e-3).float()


class BaseMattor(BaseModel):
    """Base of every matting model: ``forward(inputs, data_samples, mode)``.

    - ``'loss'``: ``_forward_train(inputs, data_samples)`` returns a dict of losses.
    - ``'predict'``: pads (or interpolates) the batch to ``test_cfg.size_divisor``, runs
      ``_forward_test`` (N x 1 x H x W alpha in [0, 1]), undoes the padding/resizing,
      resizes to the sample's ``ori_shape`` if the pipeline resized it, clamps the
      known regions of the trimap (``ori_trimap``, else ``trimap``) to 0 / 1 and stores
      ``pred_alpha`` (uint8 H x W) in each data sample.
    - ``'tensor'``: ``_forward(inputs)``, the raw network output.

    Args:
        data_preprocessor: config of the data preprocessor.
        train_cfg: training options of the model family.
        test_cfg: ``resize_method`` (``'pad'`` or ``'interp'``), ``resize_mode``
            (padding mode, e.g. ``'reflect'``, or interpolation mode, e.g.
            ``'bilinear'``), ``size_divisor`` (default 32), ``clamp_known`` (default
            True), plus family options.
        init_cfg: mmengine init config.
    """

    def __init__(self, data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.train_cfg = ConfigDict(train_cfg or {})
        test_cfg = {**dict(resize_method='pad', resize_mode='reflect', size_divisor=32,
                           clamp_known=True), **(test_cfg or {})}
        if test_cfg['resize_method'] not in RESIZE_METHODS:
            raise ValueError(f"test_cfg.resize_method must be one of {RESIZE_METHODS}, got "
                             f"{test_cfg['resize_method']!r}")
        self.test_cfg = ConfigDict(test_cfg)

    # -- to be implemented by each family ---------------------------------------------
    def _forward(self, inputs: torch.Tensor):
        raise NotImplementedError

    def _forward_train(self, inputs: torch.Tensor,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _forward_test(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[List[MattingDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], list, tuple,
                                               torch.Tensor]:
        if mode == 'loss':
            return self._forward_train(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        raise ValueError(f"forward mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def resize_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Pad or interpolate the batch so that H and W are multiples of the divisor."""
        divisor = int(self.test_cfg.size_divisor)
        if self.test_cfg.resize_method == 'pad':
            return pad_to_multiple(inputs, divisor, self.test_cfg.resize_mode)
        h, w = inputs.shape[-2:]
        size = (max(divisor, h - h % divisor), max(divisor, w - w % divisor))
        if size == (h, w):
            return inputs
        images = F.interpolate(inputs[:, :3], size=size, mode=self.test_cfg.resize_mode)
        extra = F.interpolate(inputs[:, 3:], size=size, mode='nearest')
        return torch.cat([images, extra], dim=1)

    def predict(self, inputs: torch.Tensor,
                data_samples: List[MattingDataSample]) -> List[MattingDataSample]:
        """Predict alpha mattes at the original resolution (see the class docstring)."""
        h, w = inputs.shape[-2:]
        pred = self._forward_test(self.resize_inputs(inputs))
        if self.test_cfg.resize_method == 'pad':
            pred = pred[..., :h, :w]
        elif pred.shape[-2:] != (h, w):
            pred = F.interpolate(pred, size=(h, w), mode=self.test_cfg.resize_mode)
        for alpha, sample in zip(pred, data_samples):
            sample.set_data({'pred_alpha': self.postprocess(alpha, sample)})
        return data_samples

    def postprocess(self, alpha: torch.Tensor, sample: MattingDataSample) -> torch.Tensor:
        """1 x H x W alpha of a padded batch -> uint8 H x W at the sample's ori_shape."""
        img_h, img_w = sample.metainfo.get('img_shape', alpha.shape[-2:])
        alpha = alpha[:, :img_h, :img_w].float()
        ori_shape: Tuple[int, int] = tuple(sample.metainfo.get('ori_shape', (img_h, img_w)))
        if tuple(alpha.shape[-2:]) != ori_shape:
            alpha = F.interpolate(alpha[None], size=ori_shape, mode='bilinear',
                                  align_corners=False)[0]
        alpha = alpha[0].clamp(0, 1)
        if self.test_cfg.clamp_known:
            trimap = self._trimap_at(sample, ori_shape)
            if trimap is not None:
                trimap = trimap.to(alpha.device)
                alpha = alpha.clone()
                alpha[trimap == 255] = 1
                alpha[trimap == 0] = 0
        return (alpha * 255).round().to(torch.uint8)

    @staticmethod
    def _trimap_at(sample: MattingDataSample, shape: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The sample's trimap as 0 / 128 / 255 at ``shape``, or None if it has none.

        ``ori_trimap`` (as on disk) is preferred; otherwise the packed ``trimap`` is
        decoded: one-hot (3 x H x W: bg, unknown, fg) or labels (metainfo
        ``format_trimap == 'label'``: 0 / 1 / 2) become 0 / 128 / 255 again.
        """
        if 'ori_trimap' in sample:
            trimap = torch.as_tensor(sample.ori_trimap).to(torch.float32)
        elif 'trimap' in sample:
            packed = sample.trimap.to(torch.float32)
            if packed.shape[0] == 3:
                trimap = TRIMAP_LEVELS.to(packed.device)[packed.argmax(0)]
            elif sample.metainfo.get('format_trimap') == 'label':
                trimap = TRIMAP_LEVELS.to(packed.device)[packed[0].round().long().clamp(0, 2)]
            else:
                trimap = packed[0]
        else:
            return None
        if tuple(trimap.shape) != tuple(shape):
            trimap = F.interpolate(trimap[None, None], size=shape, mode='nearest')[0, 0]
        return trimap.to(torch.uint8)
