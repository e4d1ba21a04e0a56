"""The Runner of tools/train.py and tools/test.py: strict checkpoint loading, checked
resume, and what a run needs before it starts.

:class:`MattingRunner` is mmengine's ``Runner`` whose checkpoint loading (resume,
``load_from``, testing) goes through :func:`~mattebox.engine.checkpoint.check_fit`:
missing, unexpected or mis-shaped keys are an error that lists them, never a warning in
the log. A deliberate partial load names, in the config, which key prefixes may be
missing from (or be extra in) the ``load_from`` checkpoint of a training run::

    # stage 2 starts from a stage-1 checkpoint, which has no refiner
    partial_load = dict(allow_missing=['refiner.'], allow_unexpected=[])

Resume and testing are always strict. :func:`build_runner` prepares a config first:
``--resume`` without a path reads ``last_checkpoint`` and checks it (a URL, a file
outside the work folder, a missing or empty pointer are errors naming it).
"""
import glob
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mattebox.registry import RUNNERS

from .checkpoint import check_fit, refuse_url, state_dict_of
from .config_check import ConfigError
from .errors import UserError

PARTIAL_LOAD_KEYS = ('allow_missing', 'allow_unexpected')


class ResumeError(UserError, ValueError):
    """Training cannot resume from what was given (pointer or checkpoint)."""


def partial_load_option(cfg: Config) -> dict:
    """The config's ``partial_load`` as ``{'allow_missing': (...), 'allow_unexpected':
    (...)}`` (empty tuples when absent).

    Raises:
        ConfigError: an unknown key or a value that is not a list of strings.
    """
    value = cfg.get('partial_load') or {}
    if not isinstance(value, dict) or set(value) - set(PARTIAL_LOAD_KEYS):
        raise ConfigError(f'partial_load: expected dict(allow_missing=[...], '
                          f'allow_unexpected=[...]) of key prefixes, got {value!r}')
    out = {}
    for key in PARTIAL_LOAD_KEYS:
        prefixes = value.get(key) or ()
        if isinstance(prefixes, str) or not all(isinstance(p, str) for p in prefixes):
            raise ConfigError(f'partial_load.{key}: expected a list of key prefixes '
                              f"(e.g. ['refiner.']), got {prefixes!r}")
        out[key] = tuple(prefixes)
    return out


@RUNNERS.register_module()
class MattingRunner(Runner):
    """mmengine's ``Runner`` with strict checkpoint loading (see the module docstring).

    ``partial_load`` (set by :func:`build_runner` from the config) applies only to the
    ``load_from`` of a training run.
    """

    partial_load: dict = {'allow_missing': (), 'allow_unexpected': ()}
    _loading = 'test'  # 'train' (load_from), 'resume' or 'test'
    verbose = False  # set by build_runner before the logger is built

    def build_logger(self, *args, **kwargs):
        """mmengine's logger; unless ``verbose``, its console shows only warnings (each
        once, without mmengine's noise): the log file keeps everything
        (:mod:`mattebox.engine.console`)."""
        logger = super().build_logger(*args, **kwargs)
        if not self.verbose:
            from .console import quiet_console
            quiet_console(logger)
        return logger

    @property
    def log_file(self) -> str:
        """The full log of this run."""
        return osp.join(self.log_dir, f'{self.timestamp}.log')

    def train(self):
        self._loading = 'train'
        return super().train()

    def test(self):
        self._loading = 'test'
        return super().test()

    def val(self):
        self._loading = 'test'
        return super().val()

    def resume(self, filename: str, *args, **kwargs) -> None:
        before = self._loading
        self._loading = 'resume'
        try:
            super().resume(filename, *args, **kwargs)
        finally:
            self._loading = before

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (mmengine's)
        """Load ``filename`` into the model after checking that it fits (and, for a
        resume, that it holds a training state)."""
        checkpoint = _load_checkpoint(filename, map_location=map_location, logger='current')
        if self._loading == 'resume':
            _check_resumable(checkpoint, filename)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        allow = self.partial_load if self._loading == 'train' else {}
        state = state_dict_of(checkpoint, filename)
        missing, unexpected = check_fit(model, state, filename,
                                        allow.get('allow_missing', ()),
                                        allow.get('allow_unexpected', ()))
        if missing or unexpected:
            print_log(f'Partial load of {filename} (partial_load in the config): '
                      f'{len(missing)} key(s) keep their initial values '
                      f'({_sample(missing)}), {len(unexpected)} key(s) of the file are '
                      f'not used ({_sample(unexpected)})', logger='current', level=30)
            checkpoint = dict(checkpoint)
            checkpoint['state_dict'] = {k: v for k, v in state.items()
                                        if k not in set(unexpected)}
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict=False,
                                               revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def _sample(keys: List[str], limit: int = 3) -> str:
    return ', '.join(keys[:limit]) + (' ...' if len(keys) > limit else '') or '-'


def _check_resumable(checkpoint, filename: str) -> None:
    """A checkpoint to resume from holds ``meta`` (epoch, iter) and ``message_hub``."""
    if not isinstance(checkpoint, dict):
        raise ResumeError(f'{filename}: not a training checkpoint (a {type(checkpoint).__name__})')
    meta = checkpoint.get('meta')
    lacking = [k for k in ('meta', 'message_hub') if k not in checkpoint]
    if isinstance(meta, dict):
        lacking += [f'meta.{k}' for k in ('epoch', 'iter') if k not in meta]
    if lacking:
        raise ResumeError(
            f'{filename} holds weights only (no {", ".join(lacking)}), not the state of a '
            'training run, so training cannot resume from it. To start a new run from '
            f'these weights, use load_from instead: --cfg-options load_from={filename} '
            '(without --resume).')


def _checkpoint_dirs(cfg: Config) -> List[str]:
    """Folders where this run's checkpoints live: the work folder, and the checkpoint
    hook's ``out_dir`` (mmengine puts them in ``out_dir/<work folder name>``)."""
    work_dir = cfg.work_dir
    dirs = [work_dir]
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if isinstance(hook, dict) and hook.get('out_dir'):
        dirs.append(osp.join(hook['out_dir'], osp.basename(work_dir.rstrip(os.sep))))
    return [osp.realpath(d) for d in dirs]


def _listing_of_checkpoints(folder: str) -> str:
    found = sorted(osp.basename(p) for p in glob.glob(osp.join(folder, '*.pth')))
    if not found:
        return f'there is no checkpoint in {folder}'
    shown = ', '.join(found[-6:])
    return f'checkpoints in {folder}: {shown}; resume from one with --resume PATH'


def resolve_resume(cfg: Config) -> Optional[str]:
    """Check what a run resumes from, and make ``cfg.load_from`` that file.

    ``--resume PATH`` (``cfg.resume`` and ``cfg.load_from``): PATH must be a local
    file. ``--resume`` alone (``cfg.resume``, no ``load_from``): the work folder's
    ``last_checkpoint`` names the file; no pointer means a fresh start (as mmengine),
    a pointer that is empty, a URL, outside the run's checkpoint folders or names a
    missing file is an error. Without ``resume``, ``load_from`` must not be a URL.

    Returns:
        The checkpoint to resume from, or None.

    Raises:
        ResumeError, CheckpointURLError: naming the pointer or option.
    """
    if not cfg.get('resume'):
        refuse_url(cfg.get('load_from'), 'load_from')
        return None
    if cfg.get('load_from'):
        path = cfg.load_from
        refuse_url(path, '--resume')
        if not osp.isfile(path):
            raise ResumeError(f'--resume: checkpoint not found: {path}')
        return path
    pointer = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        print_log(f'--resume: nothing to resume in {cfg.work_dir} (no last_checkpoint '
                  'there): training starts from iteration 0', logger='current', level=30)
        cfg.resume = False  # else mmengine logs "Auto resumed from ... None"
        return None
    with open(pointer, encoding='utf-8', errors='replace') as f:
        target = f.read().strip()
    if not target:
        raise ResumeError(f'{pointer} is empty: it should name the checkpoint to resume '
                          f'from; {_listing_of_checkpoints(cfg.work_dir)}')
    refuse_url(target, f'{pointer} (last_checkpoint)')
    allowed = _checkpoint_dirs(cfg)
    if osp.realpath(osp.dirname(osp.abspath(target))) not in allowed:
        raise ResumeError(
            f'{pointer} (last_checkpoint) names {target}, outside the work folder '
            f'{cfg.work_dir}; a run only resumes from its own checkpoints. To continue '
            f'from that file on purpose, give it: --resume {target}')
    if not osp.isfile(target):
        raise ResumeError(f'{pointer} (last_checkpoint) names {target}, which does not '
                          f'exist; {_listing_of_checkpoints(osp.dirname(target) or ".")}')
    cfg.load_from = target
    return target


def build_runner(cfg: Config, mode: str = 'train', verbose: bool = False,
                 progress: bool = True) -> MattingRunner:
    """Check what the run will load, then build a :class:`MattingRunner` from ``cfg``.

    Args:
        cfg: a checked config (:func:`~mattebox.engine.config_check.check_config`).
        mode: ``'train'`` or ``'test'``.
        verbose: everything mmengine logs also on the console (else the log file only).
        progress: add a :class:`~mattebox.engine.console.ProgressHook`.
    """
    partial = partial_load_option(cfg)
    if mode == 'train':
        resolve_resume(cfg)
        from .hooks import add_broken_samples_hook
        add_broken_samples_hook(cfg)
    else:
        refuse_url(cfg.get('load_from'), 'checkpoint')
    randomness = cfg.get('randomness') or {}
    if randomness.get('deterministic') and torch.cuda.is_available():
        # cuBLAS refuses deterministic mode without a fixed workspace (torch docs)
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    if progress and not any(isinstance(h, dict) and h.get('type') == 'ProgressHook'
                            for h in cfg.get('custom_hooks') or []):
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type='ProgressHook')]
    MattingRunner.verbose = verbose
    runner = MattingRunner.from_cfg(cfg)
    runner.partial_load = partial
    runner._loading = mode  # until train() / test() say otherwise
    return runner
