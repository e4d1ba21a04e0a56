"""Losses."""
from .laplacian import LaplacianLoss, laplacian_loss
from .pixelwise import (CharbonnierCompLoss, CharbonnierLoss, L1Loss, MSELoss, charbonnier,
                        masked_reduce)

__all__ = ['L1Loss', 'MSELoss', 'CharbonnierLoss', 'CharbonnierCompLoss', 'charbonnier',
           'masked_reduce', 'LaplacianLoss', 'laplacian_loss']
