"""The text-grounded model's losses: five named terms, each with a configurable
definition and weight. The paper gives the names and weights (STM 10, CTM 0.1, SG 0.5,
alpha_lr 10, R 1) and the trimap kernel (15); the definitions below are documented
guesses (``configs/tdm/README.md``)."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mattebox.registry import MODELS

from .refiner import erode

#: term -> (default weight, default definition, the definitions it accepts)
TERMS = {
    'stm': (10.0, 'ce', ('ce', )),
    'ctm': (0.1, 'l1', ('l1', 'mse')),
    'sg': (0.5, 'bce', ('bce', 'l1', 'dice')),
    'alpha_lr': (10.0, 'l1', ('l1', )),
    'r': (1.0, 'l1', ('l1', )),
}
REGIONS = ('all', 'unknown', 'band')


def trimap_target(alpha: Tensor, kernel: int = 15, eps: float = 1e-3) -> Tensor:
    """N x H x W class labels (0 bg, 1 unknown, 2 fg) from an N x 1 x H x W alpha in
    [0, 1]: foreground = alpha >= 1 - eps eroded by ``kernel``, background = alpha <= eps
    eroded by ``kernel``, the rest unknown (so the unknown band is the transition widened
    by the kernel on both sides)."""
    fg = erode(alpha >= 1 - eps, kernel)
    bg = erode(alpha <= eps, kernel)
    target = torch.ones_like(alpha, dtype=torch.long)
    target[fg] = 2
    target[bg] = 0
    return target[:, 0]


def _masked_mean(value: Tensor, mask: Optional[Tensor]) -> Tensor:
    if mask is None:
        return value.mean()
    mask = mask.to(value.dtype).expand_as(value)
    return (value * mask).sum() / mask.sum().clamp(min=1.0)


@MODELS.register_module()
class TDMLoss(nn.Module):
    """STM, CTM, SG, alpha_lr and R of the text-grounded model.

    - ``stm`` (segmentation/trimap, every sample): cross-entropy of the 3-class trimap
      logits against :func:`trimap_target` of the ground truth at the coarse size
      (``trimap_kernel``, 15 at 512 px).
    - ``ctm`` (composite, matting samples): ``l1`` (or ``mse``) between the composite
      alpha ``fg + alpha x unknown`` and the ground truth at the coarse size.
    - ``sg`` (binary-mask samples, ``binary_gt``: RefCOCO): ``bce`` (or ``l1``,
      ``dice``) between the composite alpha and the mask, at the coarse size.
    - ``alpha_lr`` (matting samples): L1 between the low-resolution alpha head and the
      ground truth at the coarse size, over ``region`` ``'all'`` (default) or the
      target trimap's ``'unknown'`` band.
    - ``r`` (matting samples): L1 between the refined high-resolution alpha and the
      ground truth, over ``region`` ``'band'`` (the pixels the refiner pasted; default)
      or ``'all'``.

    A term with weight 0 is not computed (stage 1 trains localisation only). Matting
    terms of a batch without matting samples (and SG without binary samples) are 0,
    still attached to the graph.

    Args:
        terms: per term ``dict(weight=..., kind=..., region=...)`` overriding the
            defaults (``TERMS``).
        trimap_kernel: the STM target's kernel.
    """

    def __init__(self, terms: Optional[Dict[str, dict]] = None, trimap_kernel: int = 15) -> None:
        super().__init__()
        terms = dict(terms or {})
        unknown = set(terms) - set(TERMS)
        if unknown:
            raise ValueError(f'TDMLoss: unknown terms {sorted(unknown)}; the terms are '
                             f'{list(TERMS)}')
        self.terms = {}
        for name, (weight, kind, kinds) in TERMS.items():
            cfg = {**dict(weight=weight, kind=kind,
                          region={'alpha_lr': 'all', 'r': 'band'}.get(name, 'all')),
                   **dict(terms.get(name) or {})}
            if cfg['kind'] not in kinds:
                raise ValueError(f'TDMLoss {name}: kind must be one of {kinds}, got '
                                 f'{cfg["kind"]!r}')
            if cfg['region'] not in REGIONS:
                raise ValueError(f'TDMLoss {name}: region must be one of {REGIONS}, got '
                                 f'{cfg["region"]!r}')
            cfg['weight'] = float(cfg['weight'])
            self.terms[name] = cfg
        self.trimap_kernel = int(trimap_kernel)

    def weight(self, name: str) -> float:
        return self.terms[name]['weight']

    def forward(self, out: Dict[str, Tensor], gt_alpha: Tensor,
                binary: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Losses of one batch.

        Args:
            out: the model's outputs: ``trimap_logits`` (N x 3 x h x w), ``alpha_lr`` and
                ``composite`` (N x 1 x h x w), and, when the refiner ran, ``refined``
                (N x 1 x H x W) and ``paste`` (its last stage's paste mask).
            gt_alpha: N x 1 x H x W ground truth in [0, 1] (a 0/1 mask for binary
                samples).
            binary: N booleans: the sample's ground truth is a binary mask (SG).
        """
        n = gt_alpha.shape[0]
        binary = torch.zeros(n, dtype=torch.bool, device=gt_alpha.device) if binary is None \
            else binary.to(gt_alpha.device).bool()
        matting = ~binary
        logits = out['trimap_logits']
        size = tuple(logits.shape[-2:])
        gt_lr = gt_alpha if tuple(gt_alpha.shape[-2:]) == size else F.interpolate(
            gt_alpha, size=size, mode='area')
        target = trimap_target(gt_lr, self.trimap_kernel)
        losses: Dict[str, Tensor] = {}
        zero = lambda x: x.sum() * 0.0  # noqa: E731  (keeps the graph)
        t = self.terms
        if t['stm']['weight']:
            losses['loss_stm'] = t['stm']['weight'] * F.cross_entropy(logits, target)
        composite = out['composite']
        if t['ctm']['weight']:
            if matting.any():
                diff = composite[matting] - gt_lr[matting]
                value = diff.abs().mean() if t['ctm']['kind'] == 'l1' else (diff**2).mean()
            else:
                value = zero(composite)
            losses['loss_ctm'] = t['ctm']['weight'] * value
        if t['sg']['weight']:
            if binary.any():
                pred = composite[binary].clamp(1e-6, 1 - 1e-6)
                mask = (gt_lr[binary] > 0.5).to(pred.dtype)
                kind = t['sg']['kind']
                if kind == 'bce':
                    value = F.binary_cross_entropy(pred, mask)
                elif kind == 'l1':
                    value = (pred - mask).abs().mean()
                else:
                    inter = (pred * mask).flatten(1).sum(1)
                    value = (1 - (2 * inter + 1) / (pred.flatten(1).sum(1)
                                                    + mask.flatten(1).sum(1) + 1)).mean()
            else:
                value = zero(composite)
            losses['loss_sg'] = t['sg']['weight'] * value
        if t['alpha_lr']['weight']:
            alpha_lr = out['alpha_lr']
            if matting.any():
                region = None
                if t['alpha_lr']['region'] == 'unknown':
                    region = (target[matting] == 1)[:, None]
                value = _masked_mean((alpha_lr[matting] - gt_lr[matting]).abs(), region)
            else:
                value = zero(alpha_lr)
            losses['loss_alpha_lr'] = t['alpha_lr']['weight'] * value
        if t['r']['weight'] and 'refined' in out:
            refined = out['refined']
            gt_hr = gt_alpha if refined.shape[-2:] == gt_alpha.shape[-2:] else F.interpolate(
                gt_alpha, size=tuple(refined.shape[-2:]), mode='area')
            region = out['paste'] if t['r']['region'] == 'band' else None
            if matting.any() and (region is None or region[matting].any()):
                value = _masked_mean((refined[matting] - gt_hr[matting]).abs(),
                                     None if region is None else region[matting])
            else:
                value = zero(refined)
            losses['loss_r'] = t['r']['weight'] * value
        return losses


__all__ = ['TDMLoss', 'TERMS', 'trimap_target']
