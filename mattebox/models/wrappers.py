"""Distributed wrapping that keeps each model's own training algorithm."""
from mmengine.model import (BaseModel, MMDistributedDataParallel,
                            MMSeparateDistributedDataParallel)

from mattebox.registry import MODEL_WRAPPERS


def has_own_train_step(module) -> bool:
    """Whether the model overrides ``BaseModel.train_step`` (e.g. DiffusionMat's one
    optimiser step per denoising step)."""
    return type(module).train_step is not BaseModel.train_step


@MODEL_WRAPPERS.register_module()
class MattingDistributedDataParallel(MMSeparateDistributedDataParallel):
    """The DDP wrapper of every mattebox model: the model's own ``train_step`` runs in
    every process.

    mmengine's ``MMDistributedDataParallel`` trains through ``forward(mode='loss')``: one
    loss, one backward, one optimiser step per batch, which silently turns a model with
    its own ``train_step`` (DiffusionMat: one optimiser step per denoising step) into
    another algorithm. For such models this wrapper wraps every trainable submodule in
    its own DDP instead (MMagic's ``MMSeparateDistributedDataParallel``) and calls the
    model's ``train_step``: each backward through a wrapped submodule averages the
    gradients across processes, so every process makes the same ``K`` optimiser steps
    as one process would. Submodules without trainable parameters (a frozen prior) are
    not wrapped. Models with the standard ``train_step`` get the plain
    ``MMDistributedDataParallel``. Checkpoints have the keys of one process either way
    (a state-dict hook drops the wrappers' ``.module`` from the names).

    Args:
        module: the model.
        **kwargs: passed to the DDP wrappers (``device_ids``, ``broadcast_buffers``,
            ``find_unused_parameters``, ...).
    """

    def __new__(cls, module, **kwargs):
        if not has_own_train_step(module):
            return MMDistributedDataParallel(module=module, **kwargs)
        return super().__new__(cls)

    def __init__(self, module, **kwargs) -> None:
        super().__init__(module, **kwargs)
        wrapped = [name for name, child in module.named_children()
                   if isinstance(child, MMDistributedDataParallel)]

        def unwrapped_keys(mod, state_dict, prefix, local_metadata):
            """``encoder.module.x`` -> ``encoder.x``: the Runner saves
            ``model.state_dict()``, which would otherwise name the DDP wrappers and give
            checkpoints that only load under DDP."""
            renamed = type(state_dict)()
            for key, value in state_dict.items():
                for name in wrapped:
                    inner = f'{prefix}{name}.module.'
                    if key.startswith(inner):
                        key = f'{prefix}{name}.' + key[len(inner):]
                        break
                renamed[key] = value
            if hasattr(state_dict, '_metadata'):
                renamed._metadata = state_dict._metadata
            return renamed

        module._register_state_dict_hook(unwrapped_keys)
