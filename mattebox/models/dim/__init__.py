"""Deep Image Matting."""
from .dim import DIM
from .heads import PlainDecoder, PlainRefiner

__all__ = ['DIM', 'PlainDecoder', 'PlainRefiner']
