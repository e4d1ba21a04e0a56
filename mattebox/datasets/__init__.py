"""Datasets and data transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .background import BackgroundFolder, assign_backgrounds, fit_background, list_images
from .comp1k import AdobeComp1kDataset
from .folder import MattingFolderDataset
from .refcoco import RefCOCODataset
from .refmatte import CaptionedFolderDataset, RefMatteDataset
from .multi_source import MultiSourceDataset, SourceScheduleBatchSampler
from .validation import DatasetValidationError, validate_samples

__all__ = ['AdobeComp1kDataset', 'MattingFolderDataset', 'RefMatteDataset', 'RefCOCODataset',
           'CaptionedFolderDataset', 'MultiSourceDataset', 'SourceScheduleBatchSampler', 'BackgroundFolder',
           'assign_backgrounds', 'fit_background', 'list_images', 'DatasetValidationError',
           'validate_samples']
