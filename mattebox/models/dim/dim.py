"""Deep Image Matting (Xu et al., CVPR 2017)."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log

from mattebox.guidance import GuidanceSpec, unknown_region
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor


@MODELS.register_module()
class DIM(BaseMattor):
    """Deep Image Matting: a VGG16 encoder-decoder on image + trimap, and an optional
    refinement stage. The three training stages of the paper are set by ``train_cfg``:

    ========================  ===============  ==============
    stage                     train_backbone   train_refiner
    ========================  ===============  ==============
    1 encoder-decoder         True             False
    2 refinement              False            True
    3 end to end              True             True
    ========================  ===============  ==============

    With ``train_backbone=False`` the backbone is frozen (no gradients, eval mode).
    Losses are masked to the unknown region of the trimap.

    Guidance: a trimap. The network input is the normalised image with the trimap
    (0, 128/255, 1, as MMagic) as channel 4.

    Args:
        backbone: config of the encoder-decoder (``SimpleEncoderDecoder``).
        refiner: config of the refiner (``PlainRefiner``) or None.
        loss_alpha: alpha prediction loss (stage 1 and 3).
        loss_comp: composition loss (stage 1 and 3).
        loss_refine: loss on the refined alpha (stage 2 and 3).
        train_cfg: ``train_backbone`` and ``train_refiner`` flags.
        test_cfg: ``refine`` (use the refiner's output at test time) and the resize
            options of :class:`BaseMattor`.
        data_preprocessor, init_cfg: as in :class:`BaseMattor`.
    """

    guidance_spec = GuidanceSpec(required=('trimap', ))

    def __init__(self, backbone: dict, refiner: Optional[dict] = None,
                 loss_alpha: Optional[dict] = None, loss_comp: Optional[dict] = None,
                 loss_refine: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.refiner = MODELS.build(refiner) if refiner is not None else None
        self.train_cfg.setdefault('train_backbone', True)
        self.train_cfg.setdefault('train_refiner', self.refiner is not None)
        self.test_cfg.setdefault('refine', self.refiner is not None)
        if self.refiner is None and (self.train_cfg.train_refiner or self.test_cfg.refine):
            raise ValueError('DIM: train_cfg.train_refiner / test_cfg.refine need a refiner; '
                             'add refiner=dict(type="PlainRefiner") to the model config')
        if self.test_cfg.refine and not self.train_cfg.train_refiner:
            print_log('DIM: the refiner is used at test time but not trained',
                      logger='current', level=30)
        if all(loss is None for loss in (loss_alpha, loss_comp, loss_refine)):
            raise ValueError('DIM needs at least one of loss_alpha, loss_comp, loss_refine')
        if self.train_cfg.train_refiner and loss_refine is None:
            raise ValueError('DIM: train_cfg.train_refiner=True needs loss_refine')
        if self.train_cfg.train_backbone and loss_alpha is None and loss_comp is None:
            raise ValueError('DIM: train_cfg.train_backbone=True needs loss_alpha or loss_comp')
        self.loss_alpha = MODELS.build(loss_alpha) if loss_alpha else None
        self.loss_comp = MODELS.build(loss_comp) if loss_comp else None
        self.loss_refine = MODELS.build(loss_refine) if loss_refine else None
        if not self.train_cfg.train_backbone:
            self.freeze_backbone()

    def freeze_backbone(self) -> None:
        """Stop gradients to the encoder-decoder and keep it in eval mode (stage 2)."""
        self.backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad = False

    def train(self, mode: bool = True) -> 'DIM':
        super().train(mode)
        if mode and not self.train_cfg.train_backbone:
            self.backbone.eval()
        return self

    def _forward(self, inputs: Batch,
                 refine: bool = True) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Return ``(pred_alpha, pred_refine)``: the sigmoid alpha of the
        encoder-decoder and the refined alpha (None without refiner or ``refine``)."""
        image = inputs['image']
        raw_alpha = self.backbone(torch.cat([image, inputs['trimap']], dim=1))
        pred_alpha = raw_alpha.sigmoid()
        pred_refine = None
        if refine and self.refiner is not None:
            pred_refine = self.refiner(torch.cat([image, pred_alpha], dim=1), raw_alpha)
        return pred_alpha, pred_refine

    def _forward_test(self, inputs: Batch) -> torch.Tensor:
        pred_alpha, pred_refine = self._forward(inputs, refine=self.test_cfg.refine)
        return pred_refine if self.test_cfg.refine else pred_alpha

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, torch.Tensor]:
        gt_alpha = stack_field(data_samples, 'gt_alpha')
        pred_alpha, pred_refine = self._forward(inputs, refine=self.train_cfg.train_refiner)
        weight = unknown_region(inputs['trimap'], fg_value=1).float()
        losses = {}
        if self.train_cfg.train_backbone:
            if self.loss_alpha is not None:
                losses['loss_alpha'] = self.loss_alpha(pred_alpha, gt_alpha, weight)
            if self.loss_comp is not None:
                losses['loss_comp'] = self.loss_comp(
                    pred_alpha, stack_field(data_samples, 'gt_fg'),
                    stack_field(data_samples, 'gt_bg'), stack_field(data_samples, 'gt_merged'),
                    weight)
        if self.train_cfg.train_refiner:
            losses['loss_refine'] = self.loss_refine(pred_refine, gt_alpha, weight)
        return losses
