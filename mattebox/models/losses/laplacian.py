"""Laplacian-pyramid loss (the L1 between the Laplacian pyramids of the prediction and
the target, as in FBA / MatteFormer / SDMatte's ``laplacian_loss``)."""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mattebox.registry import MODELS


def gauss_kernel(device=None, dtype=torch.float32) -> Tensor:
    """The 5 x 5 binomial kernel (1 x 1 x 5 x 5), summing to 1."""
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    return (row[:, None] * row[None, :] / 256)[None, None]


def _blur(img: Tensor, kernel: Tensor) -> Tensor:
    n, c, h, w = img.shape
    out = F.conv2d(F.pad(img.reshape(n * c, 1, h, w), (2, 2, 2, 2), mode='reflect'), kernel)
    return out.reshape(n, c, h, w)


def laplacian_pyramid(img: Tensor, kernel: Tensor, levels: int) -> List[Tensor]:
    """``levels`` band-pass images: each level cropped to even sides, blurred and
    subsampled by 2, upsampled back (zeros + 4x blur) and subtracted."""
    pyramid, current = [], img
    for _ in range(levels):
        current = current[:, :, :current.shape[2] - current.shape[2] % 2,
                          :current.shape[3] - current.shape[3] % 2]
        down = _blur(current, kernel)[:, :, ::2, ::2]
        up = torch.zeros_like(current)
        up[:, :, ::2, ::2] = down * 4
        pyramid.append(current - _blur(up, kernel))
        current = down
    return pyramid


def laplacian_loss(pred: Tensor, target: Tensor, levels: int = 5) -> Tensor:
    """``sum_l 2^l * L1(pyramid_l(pred), pyramid_l(target)) / levels``."""
    kernel = gauss_kernel(pred.device, pred.dtype)
    loss = pred.new_zeros(())
    for level, (p, t) in enumerate(zip(laplacian_pyramid(pred, kernel, levels),
                                       laplacian_pyramid(target, kernel, levels))):
        loss = loss + (2**level) * F.l1_loss(p, t)
    return loss / levels


@MODELS.register_module()
class LaplacianLoss(nn.Module):
    """The Laplacian-pyramid L1 loss (:func:`laplacian_loss`).

    Args:
        levels: pyramid levels (5).
        loss_weight: multiplier.
    """

    def __init__(self, levels: int = 5, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.levels, self.loss_weight = int(levels), float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return self.loss_weight * laplacian_loss(pred, target, self.levels)
