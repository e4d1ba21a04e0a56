"""Engine pieces the mmengine Runner lacks: checkpoint safety, hooks, config checks,
the runner of the tools, user errors, outputs that never overwrite inputs.

Importing this package installs mattebox's checkpoint safety (weights-only loading with
an allow-list, atomic local writes); see :mod:`mattebox.engine.checkpoint`.
"""
from .checkpoint import (AtomicLocalBackend, CorruptCheckpointError,
                         UnsafeCheckpointError, install_checkpoint_safety,
                         load_checkpoint_file)
from .checkpoint_hook import CheckpointHook
from .config_check import ConfigError, check_config, load_config
from .console import ProgressHook
from .errors import UserError, user_errors
from .hooks import MattingVisualizationHook, SavePredictionsHook

install_checkpoint_safety()

__all__ = [
    'AtomicLocalBackend', 'CorruptCheckpointError', 'UnsafeCheckpointError',
    'install_checkpoint_safety', 'load_checkpoint_file', 'ConfigError', 'check_config',
    'SavePredictionsHook', 'MattingVisualizationHook', 'CheckpointHook', 'load_config',
    'UserError', 'user_errors', 'ProgressHook'
]
