"""Diffusion building blocks shared by the diffusion-based mattors.

Plain-PyTorch components (the pixel-space schedule and UNet) and the latent adapter
(``latent.py``: VAE codec, stock UNet, attention processors, text encoder) with the
codec trainer of the tiny configs. ``diffusers`` is imported inside functions only, so
``import mattebox`` works without it.
"""
from .codec_trainer import LatentCodecTrainer
from .pixel_unet import PixelUNet
from .schedule import NoiseSchedule, make_betas

__all__ = ['NoiseSchedule', 'PixelUNet', 'make_betas', 'LatentCodecTrainer']
