"""Backbones."""
from .encoder_decoder import SimpleEncoderDecoder
from .swin_unet import SwinUNet
from .vgg import VGG16

__all__ = ['VGG16', 'SimpleEncoderDecoder', 'SwinUNet']
