"""The inference API: ``MattingInferencer(config, checkpoint)(image, trimap=...)``."""
from .inferencer import (GuidanceError, InputError, MattingInferencer, MattingResult,
                         families_taking, fit_background, read_gray, read_rgb)

__all__ = ['MattingInferencer', 'MattingResult', 'GuidanceError', 'InputError',
           'families_taking', 'fit_background', 'read_rgb', 'read_gray']
