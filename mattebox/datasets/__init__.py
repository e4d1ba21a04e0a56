"""Datasets and data transforms."""
from . import transforms  # noqa: F401  (registers the transforms)
from .comp1k import AdobeComp1kDataset

__all__ = ['AdobeComp1kDataset']
