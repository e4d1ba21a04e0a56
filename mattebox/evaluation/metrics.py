"""mmengine metrics for image matting: thin wrappers around :mod:`.functional`.

Each metric scores every data sample on its own with the matching function of
:mod:`mattebox.evaluation.functional` and reports the plain mean over the dataset,
which is what the official ``evaluate.m`` prints. They work with mmengine's
``Evaluator`` and in distributed testing: every rank keeps one result per image,
mmengine gathers them and drops the samples the sampler padded, so each image counts
once.

What ``process`` reads from each data sample (a dict, as mmengine's ``Evaluator``
passes them, or a :class:`~mattebox.structures.MattingDataSample`):

==============  ==============================================================
key             content
==============  ==============================================================
``pred_alpha``  predicted alpha at the original resolution, H x W, uint8 0..255
                (torch tensor or NumPy array; float 0..1 works too)
``ori_alpha``   ground-truth alpha as read from disk, H x W, uint8
``ori_trimap``  trimap as read from disk, H x W, 0 / 128 / 255 (not needed
                with ``region='all'``)
==============  ==============================================================

Result keys: ``SAD``, ``MSE``, ``MAD``, ``GRAD``, ``CONN`` (prefixed with
``prefix/`` when a prefix is given).

Example config::

    val_evaluator = [
        dict(type='SAD'), dict(type='MSE'), dict(type='GradientError'),
        dict(type='ConnectivityError'),
    ]
"""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mattebox.engine.errors import DataFileError
from mattebox.registry import METRICS
from . import functional as F

__all__ = ['SAD', 'MSE', 'MAD', 'GradientError', 'ConnectivityError']

REQUIRED_KEYS = ('pred_alpha', 'ori_alpha', 'ori_trimap')


def _files_of(sample: Any, index: int) -> str:
    """The ground-truth files of a data sample, for messages (else its index)."""
    meta = sample.to_dict() if hasattr(sample, 'to_dict') and not isinstance(
        sample, dict) else sample
    files = [f'{k}={meta[k]}' for k in ('alpha_path', 'trimap_path', 'merged_path')
             if isinstance(meta, dict) and isinstance(meta.get(k), str)]
    return f'data sample {index} ({", ".join(files)})' if files else f'data sample {index}'


def _fetch(sample: Any, index: int, metric: str, need_trimap: bool
           ) -> Tuple[Any, Any, Optional[Any]]:
    """``(pred_alpha, ori_alpha, ori_trimap)`` of one data sample (dict or data element)."""
    if hasattr(sample, 'to_dict') and not isinstance(sample, dict):
        sample = sample.to_dict()
    if not isinstance(sample, dict):
        raise TypeError(f'{metric}: data sample {index} should be a dict (or a '
                        f'MattingDataSample), got {type(sample).__name__}')
    keys = REQUIRED_KEYS if need_trimap else REQUIRED_KEYS[:2]
    for key in keys:
        if key not in sample:
            raise KeyError(f'{metric}: data sample {index} has no {key!r} (keys present: '
                           f'{sorted(sample)}); the metric needs {", ".join(keys)}')
    return sample['pred_alpha'], sample['ori_alpha'], sample.get('ori_trimap')


class _MattingMetric(BaseMetric):
    """One per-image matting number, averaged over the dataset.

    Subclasses set ``metric_name`` (the result key), ``result_key`` (the per-image key
    in ``self.results``) and implement :meth:`score`.

    Args:
        region: ``'unknown'`` (trimap == 128, official) or ``'all'`` (whole image).
        convention: ``'dim'`` (official MATLAB code) or ``'mmagic'`` (MMagic/mmeval).
        collect_device: ``'cpu'`` or ``'gpu'``, where results are gathered in
            distributed testing.
        prefix: prefix of the result key (``prefix/SAD``); None for plain keys.
        collect_dir: shared directory for ``collect_device='cpu'`` gathering.
    """

    metric_name = ''
    result_key = ''
    default_prefix: Optional[str] = None

    def __init__(self, region: str = 'unknown', convention: str = 'dim',
                 collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        name = type(self).__name__
        if region not in F.REGIONS:
            raise ValueError(f'{name}: region must be one of {F.REGIONS}, got {region!r}')
        if convention not in F.CONVENTIONS:
            raise ValueError(f'{name}: convention must be one of {F.CONVENTIONS}, got '
                             f'{convention!r}')
        if convention == 'mmagic' and region != 'unknown':
            raise ValueError(f"{name}: convention='mmagic' fixes its own regions; leave "
                             f"region at 'unknown', got {region!r}")
        self.region = region
        self.convention = convention

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        """The per-image value."""
        raise NotImplementedError

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Score each sample of a batch and keep one result per image.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: the model's outputs as dicts with ``pred_alpha``,
                ``ori_alpha`` and ``ori_trimap``.

        Raises:
            KeyError: a sample lacks one of those keys (the message names it).
        """
        name = type(self).__name__
        need_trimap = self.region != 'all'
        for i, sample in enumerate(data_samples):
            pred, gt, trimap = _fetch(sample, i, name, need_trimap)
            try:
                value = self.score(pred, gt, trimap)
            except ValueError as err:  # the sample's files do not fit: name them
                raise DataFileError(f'{name}: {_files_of(sample, i)}: {err}') from err
            except TypeError as err:
                raise TypeError(f'{name}: data sample {i}: {err}') from err
            self.results.append({self.result_key: value})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The mean of the per-image values (NaN if one of them is NaN, like evaluate.m).

        Args:
            results: the per-image results of all ranks.

        Returns:
            ``{metric_name: mean}``.
        """
        values = np.array([r[self.result_key] for r in results], dtype=np.float64)
        if values.size == 0:
            return {self.metric_name: float('nan')}
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            print_log(f'{type(self).__name__}: {n_nan} of {values.size} images have no '
                      f'pixel in the {self.region!r} region, so their value and the mean '
                      f'are NaN (as in the official evaluate.m)',
                      logger='current', level=logging.WARNING)
        return {self.metric_name: float(values.mean())}


@METRICS.register_module()
class SAD(_MattingMetric):
    """Sum of absolute differences, ``sum |a_p - a_g| / norm_const`` (key ``SAD``).

    Args:
        region: ``'unknown'`` (official) or ``'all'``.
        norm_const: divisor of the sum (1000 in every published table).
        convention: ``'dim'`` (official) or ``'mmagic'`` (whole-image sum).
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of ``BaseMetric``.
    """

    metric_name = 'SAD'
    result_key = 'sad'

    def __init__(self, region: str = 'unknown', norm_const: float = 1000.0,
                 convention: str = 'dim', **kwargs) -> None:
        super().__init__(region=region, convention=convention, **kwargs)
        self.norm_const = norm_const

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        return F.sad(pred, gt, trimap, region=self.region, norm_const=self.norm_const,
                     convention=self.convention)


@METRICS.register_module()
class MSE(_MattingMetric):
    """Mean squared error over the region, times ``scale`` (key ``MSE``).

    Args:
        region: ``'unknown'`` (official) or ``'all'``.
        scale: multiplier, e.g. 1e3 for "MSE x 1e3" tables (1 officially).
        convention: ``'dim'`` (official) or ``'mmagic'`` (MMagic's ``MattingMSE``).
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of ``BaseMetric``.
    """

    metric_name = 'MSE'
    result_key = 'mse'

    def __init__(self, region: str = 'unknown', scale: float = 1.0,
                 convention: str = 'dim', **kwargs) -> None:
        super().__init__(region=region, convention=convention, **kwargs)
        self.scale = scale

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        return F.mse(pred, gt, trimap, region=self.region, scale=self.scale,
                     convention=self.convention)


@METRICS.register_module()
class MAD(_MattingMetric):
    """Mean absolute difference over the region, times ``scale`` (key ``MAD``).

    Args:
        region: ``'unknown'`` or ``'all'`` (the usual MAD of trimap-free matting).
        scale: multiplier, e.g. 1e3 for "MAD x 1e3" tables.
        convention: ``'dim'`` or ``'mmagic'``.
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of ``BaseMetric``.
    """

    metric_name = 'MAD'
    result_key = 'mad'

    def __init__(self, region: str = 'unknown', scale: float = 1.0,
                 convention: str = 'dim', **kwargs) -> None:
        super().__init__(region=region, convention=convention, **kwargs)
        self.scale = scale

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        return F.mad(pred, gt, trimap, region=self.region, scale=self.scale,
                     convention=self.convention)


@METRICS.register_module()
class GradientError(_MattingMetric):
    """Gradient error, ``sum (|grad a_p| - |grad a_g|)^2 / norm_const`` (key ``GRAD``).

    Args:
        region: ``'unknown'`` (official) or ``'all'``.
        sigma: Gaussian standard deviation of the derivative filters (1.4).
        norm_const: divisor of the sum (1000).
        convention: ``'dim'`` or ``'mmagic'``.
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of ``BaseMetric``.
    """

    metric_name = 'GRAD'
    result_key = 'grad'

    def __init__(self, region: str = 'unknown', sigma: float = 1.4,
                 norm_const: float = 1000.0, convention: str = 'dim', **kwargs) -> None:
        super().__init__(region=region, convention=convention, **kwargs)
        F.gaussian_derivative_kernels(sigma)  # validate now, not at the first sample
        self.sigma = sigma
        self.norm_const = norm_const

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        return F.gradient_error(pred, gt, trimap, region=self.region, sigma=self.sigma,
                                norm_const=self.norm_const, convention=self.convention)


@METRICS.register_module()
class ConnectivityError(_MattingMetric):
    """Connectivity error, ``sum |phi(a_p) - phi(a_g)| / norm_const`` (key ``CONN``).

    Args:
        region: ``'unknown'`` (official) or ``'all'``.
        step: threshold step (0.1).
        norm_const: divisor of the sum (1000).
        convention: ``'dim'`` or ``'mmagic'``.
        **kwargs: ``collect_device``, ``prefix``, ``collect_dir`` of ``BaseMetric``.
    """

    metric_name = 'CONN'
    result_key = 'conn'

    def __init__(self, region: str = 'unknown', step: float = 0.1,
                 norm_const: float = 1000.0, convention: str = 'dim', **kwargs) -> None:
        super().__init__(region=region, convention=convention, **kwargs)
        F._threshold_levels(convention, step)  # validate now, not at the first sample
        self.step = step
        self.norm_const = norm_const

    def score(self, pred: Any, gt: Any, trimap: Any) -> float:
        return F.connectivity_error(pred, gt, trimap, region=self.region, step=self.step,
                                    norm_const=self.norm_const, convention=self.convention)
