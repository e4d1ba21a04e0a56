"""Data transforms: loading, geometry, trimaps, packing."""
from .geometry import CropAroundUnknown, Flip, Resize
from .loading import LoadImageFromFile, read_image
from .packing import PackMattingInputs
from .trimap import GenerateTrimap

__all__ = ['LoadImageFromFile', 'read_image', 'CropAroundUnknown', 'Flip', 'Resize',
           'GenerateTrimap', 'PackMattingInputs']
