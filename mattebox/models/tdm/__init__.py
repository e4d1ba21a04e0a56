from .losses import TDMLoss, trimap_target
from .refiner import SparseRefiner, spconv_available
from .tdm import TDM, TDMDecoder

__all__ = ['TDM', 'TDMDecoder', 'TDMLoss', 'SparseRefiner', 'spconv_available', 'trimap_target']
