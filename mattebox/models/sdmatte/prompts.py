"""SDMatte's visual prompts at the network's resolution: the prompt map the VAE encodes
(and the attention mask comes from), and the normalised coordinates on the time path.

Conventions of the original code (``data/dataset.py``: ``GenBBox``, ``GenPoint``,
``GenMask``), which its released weights were trained with:

- a **box** is rasterised as ``map[y0:y1, x0:x1] = 1`` (edges rounded) and its
  coordinates are ``(x0/W, y0/H, x1/W, y1/H)``;
- each **point** is a delta smoothed by a Gaussian of ``sigma`` pixels
  (``scipy.ndimage.gaussian_filter``) and divided by its maximum; the maps merge by
  maximum; the coordinates are ``(x/W, y/H)`` pairs, interleaved, for up to
  ``max_points`` points (zero-padded);
- a **mask** is its own map; its coordinates are the inclusive min / max indices of its
  nonzero pixels over the size (``[0, 0, 1, 1]`` for an empty one).
"""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

from mattebox.guidance import point_heatmap

PROMPT_KINDS = ('boxes', 'points', 'mask')
EMPTY_BOX = (0.0, 0.0, 1.0, 1.0)


def box_prompt(boxes: Tensor, valid: Tensor, size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """Map (N x 1 x H x W, 0/1) and coordinates (N x 4) of the first valid box of each
    sample (boxes in network pixels, x0, y0, x1, y1 edges)."""
    h, w = size
    n = boxes.shape[0]
    maps = torch.zeros(n, 1, h, w, device=boxes.device)
    coords = torch.tensor([EMPTY_BOX] * n, device=boxes.device)
    for i in range(n):
        rows = torch.nonzero(valid[i]).flatten()
        if len(rows) == 0:
            continue
        b = boxes[i, rows[0]].double()
        x0, y0, x1, y1 = (int(v) for v in torch.round(b).tolist())
        maps[i, 0, max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 1
        coords[i] = torch.stack([b[0] / w, b[1] / h, b[2] / w, b[3] / h]).float()
    return maps, coords


def point_prompt(points: Tensor, valid: Tensor, size: Tuple[int, int], sigma: float,
                 max_points: int) -> Tuple[Tensor, Tensor]:
    """Map (N x 1 x H x W in [0, 1]) and coordinates (N x 2 * max_points) of the
    foreground points of each sample (network pixels; the first ``max_points``)."""
    h, w = size
    n = points.shape[0]
    maps = torch.zeros(n, 1, h, w, device=points.device)
    coords = torch.zeros(n, 2 * max_points, device=points.device)
    for i in range(n):
        p = points[i][valid[i]]
        p = p[p[:, 2] > 0][:max_points].detach().cpu().numpy().astype(np.float64)
        if not len(p):
            continue
        maps[i, 0] = torch.from_numpy(point_heatmap(p, (h, w), sigma)).to(points.device)
        xy = np.rint(p[:, :2])
        xy[:, 0] /= w
        xy[:, 1] /= h
        coords[i, :2 * len(p)] = torch.from_numpy(xy.reshape(-1)).float().to(points.device)
    return maps, coords


def mask_prompt(mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Map (the mask, N x 1 x H x W in [0, 1]) and coordinates (N x 4) of its nonzero
    pixels' inclusive extent over the size."""
    n, _, h, w = mask.shape
    coords = torch.tensor([EMPTY_BOX] * n, device=mask.device)
    for i in range(n):
        nz = torch.nonzero(mask[i, 0] > 0)
        if len(nz):
            (y0, x0), (y1, x1) = nz.min(0).values.tolist(), nz.max(0).values.tolist()
            coords[i] = torch.tensor([x0 / w, y0 / h, x1 / w, y1 / h], device=mask.device)
    return mask.float(), coords
