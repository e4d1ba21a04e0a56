"""Engine pieces the mmengine Runner lacks: checkpoint safety, hooks.

Importing this package installs mattebox's checkpoint safety (weights-only loading with
an allow-list, atomic local writes); see :mod:`mattebox.engine.checkpoint`.
"""
from .checkpoint import (AtomicLocalBackend, CorruptCheckpointError,
                         UnsafeCheckpointError, install_checkpoint_safety,
                         load_checkpoint_file)
from .config_check import ConfigError, check_config
from .hooks import MattingVisualizationHook, SavePredictionsHook

install_checkpoint_safety()

__all__ = [
    'AtomicLocalBackend', 'CorruptCheckpointError', 'UnsafeCheckpointError',
    'install_checkpoint_safety', 'load_checkpoint_file', 'ConfigError', 'check_config',
    'SavePredictionsHook', 'MattingVisualizationHook'
]
