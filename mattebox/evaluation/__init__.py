"""Matting metrics: pure functions (:mod:`.functional`) and mmengine metrics (:mod:`.metrics`)."""
from . import functional
from .functional import connectivity_error, gradient_error, mad, mse, sad
from .metrics import MAD, MSE, SAD, ConnectivityError, GradientError
from .referring import (REFERRING_METRICS, ReferringMattingMetric, referring_errors,
                        transition_trimap)

__all__ = [
    'functional', 'sad', 'mse', 'mad', 'gradient_error', 'connectivity_error', 'SAD',
    'MSE', 'MAD', 'GradientError', 'ConnectivityError', 'ReferringMattingMetric',
    'referring_errors', 'transition_trimap', 'REFERRING_METRICS'
]
