"""mattebox: an image-matting toolbox in the OpenMMLab style."""
from .version import __version__
from .utils import register_all_modules

__all__ = ['__version__', 'register_all_modules']
