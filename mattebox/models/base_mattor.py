"""The one forward contract of every matting model, and the one test path."""
import copy
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.model import BaseModel

from mattebox.guidance import GuidanceSpec, decode_trimap, trimap_regions
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample

from .test_resize import TestResize

#: test_cfg keys of earlier versions, replaced by ``test_cfg.resize``.
LEGACY_TEST_KEYS = ('resize_method', 'resize_mode', 'size_divisor', 'pad_rule', 'extra_pad')
DEFAULT_RESIZE = dict(type='PadToMultiple', divisor=32, position='bottom_right',
                      mode='reflect')

Batch = Dict[str, Union[torch.Tensor, list]]


class BaseMattor(BaseModel):
    """Base of every matting model: ``forward(inputs, data_samples, mode)``.

    ``inputs`` is the batch the data preprocessor makes: a dict with the normalised
    ``image`` and every guidance field the samples carry (``trimap``, ``mask``,
    ``points``, ``boxes``, ``text``, ``transparent``; see :mod:`mattebox.structures`).
    A family declares the guidance it takes in :attr:`guidance_spec`; a batch without
    it fails with a :class:`~mattebox.guidance.MissingGuidanceError` saying how to
    provide it.

    - ``'loss'``: ``_forward_train(inputs, data_samples)`` returns a dict of losses.
    - ``'predict'``: the one test path: ``test_cfg.resize`` (a
      :mod:`~mattebox.models.test_resize` piece: padding or resizing, with the points
      and boxes moved along) is applied to the batch, ``_forward_test(inputs)`` returns
      an N x 1 x H x W alpha in [0, 1], the resize is undone, each alpha is cropped to
      its sample's ``img_shape``, resized to its ``ori_shape`` if the pipeline resized
      it, its known trimap regions (``ori_trimap``, else ``trimap``) are set to 0 / 1
      (``test_cfg.clamp_known``) and it is stored as ``pred_alpha`` (uint8 H x W).
      No family overrides this.
    - ``'tensor'``: ``_forward(inputs)``, the raw network output.

    Args:
        data_preprocessor: config of the data preprocessor.
        train_cfg: training options of the model family.
        test_cfg: ``resize`` (config of the test-time resize piece; default
            ``PadToMultiple(divisor=32, position='bottom_right', mode='reflect')``),
            ``clamp_known`` (default True), plus family options.
        init_cfg: mmengine init config.
    """

    #: The guidance the model takes at test time (and, unless
    #: :attr:`train_guidance_spec` says otherwise, in training).
    guidance_spec = GuidanceSpec()
    #: The guidance a training batch must have; None: :attr:`guidance_spec`.
    train_guidance_spec: Optional[GuidanceSpec] = None
    #: Constructor arguments that name local files (weights); the start-up config check
    #: reports a missing one with its config key.
    FILE_ARGUMENTS: Tuple[str, ...] = ()

    def __init__(self, data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.train_cfg = ConfigDict(train_cfg or {})
        test_cfg = dict(test_cfg or {})
        legacy = [k for k in LEGACY_TEST_KEYS if k in test_cfg]
        if legacy:
            raise ValueError(
                f'{type(self).__name__}: test_cfg keys {legacy} were replaced by '
                "test_cfg.resize, e.g. resize=dict(type='PadToMultiple', divisor=32, "
                "position='bottom_right', mode='reflect') (pad_rule='top_left' and "
                "extra_pad=32: position='top_left', extra=32; resize_method='interp': "
                "type='ResizeToMultiple', mode='bilinear')")
        test_cfg = {**dict(resize=DEFAULT_RESIZE, clamp_known=True), **test_cfg}
        self.test_cfg = ConfigDict(test_cfg)
        resize = test_cfg['resize']
        self.test_resize: TestResize = resize if isinstance(resize, TestResize) else \
            MODELS.build(copy.deepcopy(dict(resize)))

    # -- to be implemented by each family ---------------------------------------------
    def _forward(self, inputs: Batch):
        raise NotImplementedError

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _forward_test(self, inputs: Batch) -> torch.Tensor:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------
    def check_guidance(self, inputs: Batch, mode: str) -> None:
        """Fail with a clear message when ``inputs`` lacks the guidance of ``mode``."""
        if not isinstance(inputs, Mapping) or 'image' not in inputs:
            raise TypeError(
                f'{type(self).__name__}: inputs must be the batch dict that the data '
                "preprocessor makes ({'image': N x 3 x H x W, 'trimap': ..., ...}), got "
                f'{type(inputs).__name__}; run model.data_preprocessor(data) first')
        spec = self.train_guidance_spec if mode == 'loss' else None
        (spec or self.guidance_spec).check(inputs.keys(), type(self).__name__)

    def forward(self, inputs: Batch, data_samples: Optional[List[MattingDataSample]] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], list, tuple,
                                               torch.Tensor]:
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"forward mode must be 'loss', 'predict' or 'tensor', got "
                             f'{mode!r}')
        self.check_guidance(inputs, mode)
        if mode == 'loss':
            return self._forward_train(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return self._forward(inputs)

    def predict_alphas(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> List[torch.Tensor]:
        """The test path up to float alphas: one float32 H x W tensor in [0, 1] per
        sample, at its ``ori_shape``, known regions clamped (see the class docstring)."""
        resized, state = self.test_resize.apply(inputs)
        pred = self.test_resize.undo(self._forward_test(resized), state)
        return [self.postprocess(alpha, sample) for alpha, sample in zip(pred, data_samples)]

    def predict(self, inputs: Batch,
                data_samples: List[MattingDataSample]) -> List[MattingDataSample]:
        """Store ``pred_alpha`` (uint8 H x W at the original resolution) in each sample."""
        for alpha, sample in zip(self.predict_alphas(inputs, data_samples), data_samples):
            sample.set_data({'pred_alpha': (alpha * 255).round().to(torch.uint8)})
        return data_samples

    def postprocess(self, alpha: torch.Tensor, sample: MattingDataSample) -> torch.Tensor:
        """1 x H x W alpha of the batch -> float32 H x W at the sample's ori_shape, in
        [0, 1], known trimap regions set to 0 / 1 when ``test_cfg.clamp_known``."""
        img_h, img_w = sample.metainfo.get('img_shape', alpha.shape[-2:])
        alpha = alpha[:, :img_h, :img_w].float()
        ori_shape: Tuple[int, int] = tuple(sample.metainfo.get('ori_shape', (img_h, img_w)))
        if tuple(alpha.shape[-2:]) != ori_shape:
            alpha = F.interpolate(alpha[None], size=ori_shape, mode='bilinear',
                                  align_corners=False)[0]
        alpha = alpha[0].clamp(0, 1)
        if self.test_cfg.clamp_known:
            trimap = self.trimap_at(sample, ori_shape)
            if trimap is not None:
                background, _, foreground = trimap_regions(trimap.to(alpha.device))
                alpha = alpha.masked_fill(foreground, 1.0).masked_fill(background, 0.0)
        return alpha

    @staticmethod
    def trimap_at(sample: MattingDataSample, shape: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The sample's trimap as uint8 0 / 128 / 255 at ``shape``, or None without one.

        ``ori_trimap`` (as on disk) is preferred; otherwise the packed ``trimap`` is
        decoded (one-hot or labels after ``FormatTrimap``) and resized (nearest).
        """
        if 'ori_trimap' in sample:
            trimap = torch.as_tensor(sample.ori_trimap)
        elif 'trimap' in sample:
            packed = sample.trimap.detach().cpu().numpy()
            trimap = torch.from_numpy(decode_trimap(
                packed, sample.metainfo.get('format_trimap'), channels_first=True))
        else:
            return None
        if tuple(trimap.shape) != tuple(shape):
            trimap = F.interpolate(trimap[None, None].float(), size=shape,
                                   mode='nearest')[0, 0]
        return trimap.to(torch.uint8)
