"""Backbones."""
from .encoder_decoder import SimpleEncoderDecoder
from .vgg import VGG16

__all__ = ['VGG16', 'SimpleEncoderDecoder']
