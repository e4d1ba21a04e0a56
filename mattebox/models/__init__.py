"""Models: the base mattor, preprocessor, losses, backbones and model families."""
from . import backbones, diffusion, losses  # noqa: F401  (register components)
from .base_mattor import BaseMattor
from .data_preprocessor import MattorPreprocessor
from .diffusion import NoiseSchedule, PixelUNet
from .diffusionmat import AlphaDDPM, DiffusionMat
from .dim import DIM, PlainDecoder, PlainRefiner

__all__ = ['BaseMattor', 'MattorPreprocessor', 'DIM', 'PlainDecoder', 'PlainRefiner',
           'NoiseSchedule', 'PixelUNet', 'DiffusionMat', 'AlphaDDPM']
