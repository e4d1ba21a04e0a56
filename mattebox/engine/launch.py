"""Distributed start-up that also works on CPU-only machines (gloo)."""
import os
import warnings

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepare ``cfg`` for ``launcher`` (``'none'``, ``'pytorch'``, ``'slurm'``, ``'mpi'``).

    With a GPU, mmengine initialises NCCL itself. Without one, mmengine's launcher
    would call ``torch.cuda.set_device`` and wrap the model with ``device_ids``; so we
    initialise ``torch.distributed`` with gloo here (mmengine then skips its own init)
    and make DDP wrap a CPU model.
    """
    cfg.launcher = launcher
    if launcher == 'none':
        return
    # torch 2.13 deprecates broadcast_buffers in favour of forward_sync_buffers, whose
    # False still syncs at init; the wrapper keeps broadcast_buffers=False on purpose
    # (the warning says to, until init_sync_buffers exists): once per process is noise
    warnings.filterwarnings('ignore', message='`broadcast_buffers` is deprecated',
                            category=FutureWarning)
    # the model's own train_step runs under DDP too (MattingDistributedDataParallel)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        # mmengine's Runner looks the wrapper up in its root registry: the scope prefix
        type='mattebox.MattingDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if torch.cuda.is_available():
        if dist.is_available() and not dist.is_nccl_available():
            cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.model_wrapper_cfg = wrapper
        return
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if launcher == 'slurm':
        _slurm_env_to_torch()
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = {**wrapper, 'device_ids': None}  # a CPU model


def teardown_distributed(barrier: bool = True) -> None:
    """Destroy the default process group, if any, before the process exits.

    Exiting with a live gloo process group aborts the process now and then in torch
    2.13 ("terminate called without an active exception" from a gloo thread while the
    interpreter shuts down): about one 2-process run in two on this machine.

    Args:
        barrier: wait for every process first (the run succeeded); False after an
            error, when the other processes may never arrive.
    """
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def exit_launched_process() -> None:
    """End a process started by a launcher (``WORLD_SIZE`` > 1) after its run succeeded
    and :func:`teardown_distributed` returned: flush the output and leave with status 0
    without the interpreter's shutdown, where gloo's threads still abort a process now
    and then ("terminate called without an active exception", about one 2-process run
    in ten even after the process group is destroyed). Everything the run writes is on
    disk by then (checkpoints and outputs atomically, the log per line). A no-op in a
    single process."""
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return
    import logging
    import sys
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(0)


def _slurm_env_to_torch() -> None:
    """Translate SLURM's variables into the env:// ones torch.distributed reads."""
    import subprocess
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', nodes], check=True,
                               capture_output=True, text=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]
    os.environ.setdefault('MASTER_PORT', '29500')
