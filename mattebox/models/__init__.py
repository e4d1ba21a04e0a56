"""Models: the base mattor, preprocessor, losses, backbones and model families.

Every sub-package of ``mattebox/models/`` is imported here, so that a new family
registers its components by existing: adding one touches only its own folder (and
``configs/<family>/``). A family with heavy optional dependencies (diffusers,
transformers) imports them inside its modules' functions, never at import time.
"""
import importlib
import pkgutil

from . import backbones, diffusion, losses, test_resize, wrappers  # noqa: F401  (registers)
from .base_mattor import BaseMattor
from .data_preprocessor import MattorPreprocessor


def _import_families() -> list:
    names = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.ispkg:
            importlib.import_module(f'{__name__}.{module.name}')
            names.append(module.name)
    return names


#: the sub-packages imported (families and shared pieces), in import order
PACKAGES = _import_families()

__all__ = ['BaseMattor', 'MattorPreprocessor', 'PACKAGES']
