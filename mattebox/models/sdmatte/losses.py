"""SDMatte's training loss (``criterion.py::MattingCriterion`` with its config's
``losses=["unknown_l1_loss", "known_l1_loss", "known_lap_loss", "unknown_lap_loss"]``)."""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mattebox.registry import MODELS

from ..losses.laplacian import laplacian_loss


@MODELS.register_module()
class SDMatteLoss(nn.Module):
    """L1 and Laplacian-pyramid losses, each on the unknown and on the known region.

    Each term is computed on ``pred * region`` and ``target * region`` and multiplied
    by ``N * H * W / sum(region)`` (0 for an empty region), i.e. averaged over the
    region's pixels, as the original.

    Args:
        unknown_l1, known_l1, unknown_lap, known_lap: the weights (all 1 in SDMatte).
        levels: Laplacian pyramid levels (5).
    """

    TERMS = ('unknown_l1', 'known_l1', 'unknown_lap', 'known_lap')

    def __init__(self, unknown_l1: float = 1.0, known_l1: float = 1.0,
                 unknown_lap: float = 1.0, known_lap: float = 1.0, levels: int = 5) -> None:
        super().__init__()
        self.weights = dict(unknown_l1=float(unknown_l1), known_l1=float(known_l1),
                            unknown_lap=float(unknown_lap), known_lap=float(known_lap))
        self.levels = int(levels)

    def forward(self, pred: Tensor, target: Tensor, unknown: Tensor) -> Dict[str, Tensor]:
        """``pred`` / ``target`` N x 1 x H x W in [0, 1]; ``unknown`` 1 in the unknown
        region of the trimap. Returns ``{'loss_<term>': value}`` for nonzero weights."""
        losses = {}
        for region_name, region in (('unknown', unknown.float()),
                                    ('known', 1 - unknown.float())):
            total = region.sum()
            scale = region.numel() / total if total > 0 else torch.zeros_like(total)
            p, t = pred * region, target * region
            for kind in ('l1', 'lap'):
                weight = self.weights[f'{region_name}_{kind}']
                if not weight:
                    continue
                value = F.l1_loss(p, t) if kind == 'l1' else laplacian_loss(p, t, self.levels)
                losses[f'loss_{region_name}_{kind}'] = weight * value * scale
        return losses
