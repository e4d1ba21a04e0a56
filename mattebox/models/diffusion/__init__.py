"""Diffusion building blocks shared by the diffusion-based mattors.

Only plain-PyTorch components live here; adapters that need ``diffusers`` import it
inside their own modules.
"""
from .pixel_unet import PixelUNet
from .schedule import NoiseSchedule, make_betas

__all__ = ['NoiseSchedule', 'PixelUNet', 'make_betas']
