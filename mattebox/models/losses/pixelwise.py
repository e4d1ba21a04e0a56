"""Pixel-wise alpha and composition losses, optionally masked (e.g. to the unknown
region of the trimap)."""
from typing import Optional

import torch
import torch.nn as nn

from mattebox.registry import MODELS

_REDUCTIONS = ('mean', 'sum', 'none')


def masked_reduce(loss: torch.Tensor, weight: Optional[torch.Tensor] = None,
                  reduction: str = 'mean', eps: float = 1e-12) -> torch.Tensor:
    """Reduce an element-wise loss, weighted by a mask (MMagic's ``masked_loss``).

    With a weight and ``'mean'``, the result is ``sum(loss * w) / (sum(w) + eps)``, the
    weight broadcast over the loss channels first (so a 1-channel mask over a 3-channel
    composite counts each masked pixel three times, as in MMagic).

    Args:
        loss: element-wise loss, N x C x H x W.
        weight: N x 1 x H x W or N x C x H x W mask, or None.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        eps: guards the division when the mask is empty (the loss is then 0).
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
    if weight is not None:
        if weight.dim() != loss.dim() or weight.shape[1] not in (1, loss.shape[1]):
            raise ValueError(f'weight of shape {tuple(weight.shape)} does not match a loss '
                             f'of shape {tuple(loss.shape)} (needs N x 1 x H x W or N x C x H x W)')
        weight = weight.expand_as(loss)
        loss = loss * weight
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    if weight is None:
        return loss.mean()
    return loss.sum() / (weight.sum() + eps)


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """Element-wise Charbonnier loss sqrt((pred - target)^2 + eps)."""
    return torch.sqrt((pred - target) ** 2 + eps)


class _WeightedLoss(nn.Module):

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        self.loss_weight = loss_weight
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f'loss_weight={self.loss_weight}, reduction={self.reduction!r}'


@MODELS.register_module()
class L1Loss(_WeightedLoss):
    """Masked L1 loss. ``forward(pred, target, weight=None)``."""

    def forward(self, pred, target, weight=None):
        return self.loss_weight * masked_reduce((pred - target).abs(), weight, self.reduction)


@MODELS.register_module()
class MSELoss(_WeightedLoss):
    """Masked mean squared error. ``forward(pred, target, weight=None)``."""

    def forward(self, pred, target, weight=None):
        return self.loss_weight * masked_reduce((pred - target) ** 2, weight, self.reduction)


@MODELS.register_module()
class CharbonnierLoss(_WeightedLoss):
    """Masked Charbonnier loss (DIM's alpha prediction loss).

    Args:
        loss_weight: multiplier of the loss.
        reduction: ``'mean'`` (over the mask), ``'sum'`` or ``'none'``.
        eps: the epsilon inside the square root (MMagic: 1e-12).
    """

    def __init__(self, loss_weight: float = 1.0, reduction: str = 'mean',
                 eps: float = 1e-12) -> None:
        super().__init__(loss_weight, reduction)
        self.eps = eps

    def forward(self, pred, target, weight=None):
        loss = charbonnier(pred, target, self.eps)
        return self.loss_weight * masked_reduce(loss, weight, self.reduction)


@MODELS.register_module()
class CharbonnierCompLoss(CharbonnierLoss):
    """Charbonnier loss between the image recomposed with the predicted alpha and the
    real composite (DIM's composition loss).

    ``forward(pred_alpha, fg, bg, ori_merged, weight=None)``: alpha N x 1 x H x W in
    [0, 1]; fg, bg, merged N x 3 x H x W on one scale (0-1 after preprocessing).
    """

    def forward(self, pred_alpha, fg, bg, ori_merged, weight=None):
        pred_merged = pred_alpha * fg + (1.0 - pred_alpha) * bg
        loss = charbonnier(pred_merged, ori_merged, self.eps)
        return self.loss_weight * masked_reduce(loss, weight, self.reduction)
