"""SDMatte, LiteSDMatte and SDMatte*: interactive matting with visual prompts on a
Stable Diffusion UNet (needs the ``diffusion`` extra when a model is built)."""
from .losses import SDMatteLoss
from .sdmatte import SDMatte
from .transforms import CompositeTwoCopies

__all__ = ['SDMatte', 'SDMatteLoss', 'CompositeTwoCopies']
