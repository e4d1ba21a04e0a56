"""Referring matting evaluation (the RefMatte protocol): every instance scored with each
of its expressions, averaged over the expressions, then over the instances.

Per sample (one prediction for one expression of one instance), with ``a`` on 0-1
(the functions of :mod:`.functional`; the numbers are on the scales of the RefMatte /
TDM tables: SAD / 1000, MSE and MAD unscaled, e.g. RW100 CLIPMat 85.83 / 0.047 / 0.050):

=========  ===================================================================
key        value
=========  ===================================================================
``SAD``    ``sum |a_p - a_g| / 1000`` over the whole image
``MSE``    ``mean (a_p - a_g)^2`` over the whole image (times ``mse_scale``)
``MAD``    ``mean |a_p - a_g|`` over the whole image (times ``mad_scale``)
``SAD-T``  SAD over the transition region only
``MSE-T``  MSE over the transition region only (times ``mse_scale``)
``GRAD``   gradient error (sigma 1.4) over the whole image, / 1000
``CONN``   connectivity error (step 0.1) over the whole image, / 1000
=========  ===================================================================

The **transition region** is the unknown region of a trimap made from the ground-truth
alpha (``trimap_source='alpha'``): foreground where the alpha eroded by an elliptical
``transition_kernel`` x ``transition_kernel`` kernel is 255, background where the
dilated alpha is 0, unknown elsewhere (:func:`mattebox.guidance.trimap_from_alpha`):
every partly transparent pixel plus a band of about ``transition_kernel // 2`` pixels on
each side of the edge. The default 15 is TDM's morphological kernel for its trimap
target (a documented guess: the RefMatte release gives no test trimaps).
``trimap_source='sample'`` uses the sample's ``ori_trimap`` instead.

Images are scored at the size the pipeline gives them: the RefMatte protocol squashes
image and alpha to 512 x 512 and scores there (``Resize`` + ``UseAsOriginal`` in the
test pipeline, ``configs/_base_/datasets/refmatte.py``).
"""
import logging
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mattebox.guidance import trimap_from_alpha
from mattebox.registry import METRICS
from . import functional as F

__all__ = ['REFERRING_METRICS', 'referring_errors', 'transition_trimap',
           'ReferringMattingMetric']

REFERRING_METRICS = ('SAD', 'MSE', 'MAD', 'SAD-T', 'MSE-T', 'GRAD', 'CONN')


def transition_trimap(gt: Any, kernel: int = 15) -> np.ndarray:
    """The 0 / 128 / 255 trimap of a ground-truth alpha whose unknown region is the
    transition region (module docstring)."""
    g = F._to_value_scale(F._to_array(gt, 'gt'), 'gt')
    if g.dtype != np.uint8:
        g = np.clip(np.rint(g), 0, 255).astype(np.uint8)
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1:
        raise ValueError(f'transition_kernel must be a positive int, got {kernel!r}')
    return trimap_from_alpha(g, kernel)


def referring_errors(pred: Any, gt: Any, trimap: Any = None, *,
                     metrics: Sequence[str] = REFERRING_METRICS,
                     transition_kernel: int = 15, sad_norm: float = 1000.0,
                     mse_scale: float = 1.0, mad_scale: float = 1.0,
                     grad_sigma: float = 1.4, conn_step: float = 0.1) -> Dict[str, float]:
    """The referring-matting errors of one prediction against one ground truth.

    Use it for grounding checks: the SAD of a prediction made with the right expression
    against the instance's alpha, versus that of a prediction made with another
    object's expression against the same alpha.

    Args:
        pred: predicted alpha, H x W, uint8 0..255 or float 0..1.
        gt: ground-truth alpha, same shape.
        trimap: a 0 / 128 / 255 trimap for the transition region; None: made from
            ``gt`` with ``transition_kernel`` (:func:`transition_trimap`).
        metrics: which of :data:`REFERRING_METRICS` to compute.
        transition_kernel: kernel side of the transition trimap.
        sad_norm: divisor of SAD / SAD-T (1000 in the tables).
        mse_scale, mad_scale: multipliers of MSE / MSE-T and MAD (1 in the tables;
            1e3 for "x 1e3" tables).
        grad_sigma, conn_step: Grad and Conn parameters (official 1.4 and 0.1).

    Returns:
        ``{metric: value}``.
    """
    unknown = [m for m in metrics if m not in REFERRING_METRICS]
    if unknown:
        raise ValueError(f'referring_errors: unknown metric(s) {unknown}; choose from '
                         f'{REFERRING_METRICS}')
    out: Dict[str, float] = {}
    if any(m.endswith('-T') for m in metrics) and trimap is None:
        trimap = transition_trimap(gt, transition_kernel)
    for m in metrics:
        if m == 'SAD':
            out[m] = F.sad(pred, gt, region='all', norm_const=sad_norm)
        elif m == 'MSE':
            out[m] = F.mse(pred, gt, region='all', scale=mse_scale)
        elif m == 'MAD':
            out[m] = F.mad(pred, gt, region='all', scale=mad_scale)
        elif m == 'SAD-T':
            out[m] = F.sad(pred, gt, trimap, region='unknown', norm_const=sad_norm)
        elif m == 'MSE-T':
            out[m] = F.mse(pred, gt, trimap, region='unknown', scale=mse_scale)
        elif m == 'GRAD':
            out[m] = F.gradient_error(pred, gt, region='all', sigma=grad_sigma)
        else:
            out[m] = F.connectivity_error(pred, gt, region='all', step=conn_step)
    return out


def _as_dict(sample: Any, index: int, owner: str) -> dict:
    if hasattr(sample, 'to_dict') and not isinstance(sample, dict):
        sample = sample.to_dict()
    if not isinstance(sample, dict):
        raise TypeError(f'{owner}: data sample {index} should be a dict (or a '
                        f'MattingDataSample), got {type(sample).__name__}')
    return sample


@METRICS.register_module()
class ReferringMattingMetric(BaseMetric):
    """The RefMatte protocol as one metric: SAD, MSE, MAD, SAD-T, MSE-T, Grad, Conn of
    every (instance, expression) sample; reported averaged and per expression index.

    Reads from each data sample: ``pred_alpha``, ``ori_alpha`` (at the evaluation size:
    see the module docstring), ``instance_id`` and ``expression_index`` (metainfo, set by
    the referring datasets), ``ori_trimap`` with ``trimap_source='sample'``, and the
    ``distractor`` flag (RefMatteDataset ``distractors=True``).

    Result keys:

    - ``SAD``, ``MSE``, ... : ``average='instance'`` (default) averages each instance's
      values over its expressions, then over the instances (RefMatte's "all 4
      expressions, averaged"); ``'sample'`` averages over all samples.
    - ``SAD_e0``, ``SAD_e1``, ... : the mean over the samples of expression index k
      (``per_expression=True``).
    - ``SAD_distractor``, ... : the same errors for distractor samples (the ground truth
      of one instance, the expression of another object of the image): a grounding
      check, far above ``SAD`` when the model follows the text. ``num_distractor`` counts
      them.
    - ``num_instances``, ``num_samples``.

    Args:
        metrics: subset of :data:`REFERRING_METRICS`.
        average: ``'instance'`` or ``'sample'``.
        per_expression: also report per expression index.
        transition_kernel: kernel of the transition trimap (module docstring).
        trimap_source: ``'alpha'`` (made from the ground truth) or ``'sample'``
            (``ori_trimap``).
        sad_norm, mse_scale, mad_scale, grad_sigma, conn_step: see
            :func:`referring_errors`.
        collect_device, prefix, collect_dir: of mmengine's ``BaseMetric``.
    """

    default_prefix: Optional[str] = None

    def __init__(self, metrics: Sequence[str] = REFERRING_METRICS, average: str = 'instance',
                 per_expression: bool = True, transition_kernel: int = 15,
                 trimap_source: str = 'alpha', sad_norm: float = 1000.0,
                 mse_scale: float = 1.0, mad_scale: float = 1.0, grad_sigma: float = 1.4,
                 conn_step: float = 0.1, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        name = type(self).__name__
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in metrics if m not in REFERRING_METRICS]
        if unknown or not metrics:
            raise ValueError(f'{name}: metrics must be a non-empty subset of '
                             f'{REFERRING_METRICS}, got {metrics}')
        if average not in ('instance', 'sample'):
            raise ValueError(f"{name}: average must be 'instance' or 'sample', got {average!r}")
        if trimap_source not in ('alpha', 'sample'):
            raise ValueError(f"{name}: trimap_source must be 'alpha' or 'sample', got "
                             f'{trimap_source!r}')
        transition_trimap(np.zeros((3, 3), np.uint8), transition_kernel)  # check now
        F.gaussian_derivative_kernels(grad_sigma)
        self.metrics = metrics
        self.average = average
        self.per_expression = per_expression
        self.transition_kernel = transition_kernel
        self.trimap_source = trimap_source
        self.options = dict(sad_norm=sad_norm, mse_scale=mse_scale, mad_scale=mad_scale,
                            grad_sigma=grad_sigma, conn_step=conn_step)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        name = type(self).__name__
        for i, raw in enumerate(data_samples):
            s = _as_dict(raw, i, name)
            need = ['pred_alpha', 'ori_alpha'] + (['ori_trimap'] if self.trimap_source ==
                                                  'sample' else [])
            missing = [k for k in need if k not in s]
            if missing:
                raise KeyError(f'{name}: data sample {i} has no {missing} (keys present: '
                               f'{sorted(s)})')
            trimap = s['ori_trimap'] if self.trimap_source == 'sample' else None
            try:
                values = referring_errors(s['pred_alpha'], s['ori_alpha'], trimap,
                                          metrics=self.metrics,
                                          transition_kernel=self.transition_kernel,
                                          **self.options)
            except (ValueError, TypeError) as err:
                raise type(err)(f'{name}: data sample {i} '
                                f'({s.get("merged_path", "?")}): {err}') from err
            instance = s.get('instance_id', s.get('sample_idx', len(self.results)))
            self.results.append(dict(
                values=values, instance_id=str(instance),
                expression_index=int(s.get('expression_index', -1)),
                distractor=bool(s.get('distractor', False))))

    def _mean(self, results: List[dict], metric: str) -> float:
        if not results:
            return float('nan')
        if self.average == 'sample':
            return float(np.mean([r['values'][metric] for r in results]))
        per_instance = defaultdict(list)
        for r in results:
            per_instance[r['instance_id']].append(r['values'][metric])
        return float(np.mean([np.mean(v) for v in per_instance.values()]))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        main = [r for r in results if not r['distractor']]
        distract = [r for r in results if r['distractor']]
        out: Dict[str, float] = {}
        for m in self.metrics:
            out[m] = self._mean(main, m)
        if self.per_expression:
            indices = sorted({r['expression_index'] for r in main if r['expression_index'] >= 0})
            for k in indices:
                group = [r for r in main if r['expression_index'] == k]
                for m in self.metrics:
                    out[f'{m}_e{k}'] = float(np.mean([r['values'][m] for r in group]))
        if distract:
            for m in self.metrics:
                out[f'{m}_distractor'] = self._mean(distract, m)
            out['num_distractor'] = len(distract)
        out['num_instances'] = len({r['instance_id'] for r in main})
        out['num_samples'] = len(main)
        nan = [m for m in self.metrics if np.isnan(out[m])]
        if nan and main:
            print_log(f'{type(self).__name__}: {nan} are NaN (a sample without transition '
                      f'pixels gives NaN for MSE-T, as the official code\'s 0 / 0)',
                      logger='current', level=logging.WARNING)
        return out
