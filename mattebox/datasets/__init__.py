"""Datasets and data transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .background import BackgroundFolder, assign_backgrounds, fit_background, list_images
from .comp1k import AdobeComp1kDataset
from .folder import MattingFolderDataset
from .validation import DatasetValidationError, validate_samples

__all__ = ['AdobeComp1kDataset', 'MattingFolderDataset', 'BackgroundFolder',
           'assign_backgrounds', 'fit_background', 'list_images', 'DatasetValidationError',
           'validate_samples']
