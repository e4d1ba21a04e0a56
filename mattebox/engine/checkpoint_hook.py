"""mmengine's ``CheckpointHook``, deleting old checkpoints only once the new one is safe.

mmengine 0.10.7 removes the oldest checkpoint (``max_keep_ckpts``) and the previous
best one (``save_best``) *before* writing the new one: a crash during that write, with
``max_keep_ckpts=1``, leaves no checkpoint at all and a ``last_checkpoint`` pointing at
the deleted file. This hook saves first, then points ``last_checkpoint`` at the new
file, and only then deletes what is outdated. The files it is about to delete are
recorded in the new checkpoint (``message_hub`` runtime info ``pending_ckpt_removal``),
so that a crash between saving and deleting is finished at the next start; temporary
files of interrupted saves (:func:`~mattebox.engine.checkpoint.atomic_write`'s
``.NAME.<12 hex>.tmp``) are removed at the next start too, and so are, when resuming,
best checkpoints that the resumed state does not record (a best saved by a run killed
before the checkpoint recording it was written). Nothing else changes.

It is registered in mattebox's scope under mmengine's name, so every config's
``dict(type='CheckpointHook', ...)`` gets it (``default_scope = 'mattebox'``). Unlike
mmengine's, it takes no extra keyword arguments: a misspelt argument
(``intervall=1``) fails when the hook is built, not at the first save.
"""
import os
import os.path as osp
import re
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from mattebox.registry import HOOKS

from .checkpoint import atomic_write

#: temporary files of :func:`~mattebox.engine.checkpoint.atomic_write`
TEMP_FILE = re.compile(r'^\..+\.[0-9a-f]{12}\.tmp$')
PENDING_KEY = 'pending_ckpt_removal'


def remove_temp_files(folder: str) -> List[str]:
    """Remove the temporary files of interrupted atomic writes in ``folder``."""
    removed = []
    if not osp.isdir(folder):
        return removed
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        if TEMP_FILE.match(name) and osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


@HOOKS.register_module(name='CheckpointHook')
class CheckpointHook(MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments and files) with crash-safe
    deletion of outdated checkpoints; see the module docstring."""

    def __init__(self,
                 interval: int = -1,
                 by_epoch: bool = True,
                 save_optimizer: bool = True,
                 save_param_scheduler: bool = True,
                 out_dir: Optional[Union[str, Path]] = None,
                 max_keep_ckpts: int = -1,
                 save_last: bool = True,
                 save_best: Union[str, List[str], None] = None,
                 rule: Union[str, List[str], None] = None,
                 greater_keys: Optional[Sequence[str]] = None,
                 less_keys: Optional[Sequence[str]] = None,
                 file_client_args: Optional[dict] = None,
                 filename_tmpl: Optional[str] = None,
                 backend_args: Optional[dict] = None,
                 published_keys: Union[str, List[str], None] = None,
                 save_begin: int = 0) -> None:
        super().__init__(interval=interval, by_epoch=by_epoch,
                         save_optimizer=save_optimizer,
                         save_param_scheduler=save_param_scheduler, out_dir=out_dir,
                         max_keep_ckpts=max_keep_ckpts, save_last=save_last,
                         save_best=save_best, rule=rule, greater_keys=greater_keys,
                         less_keys=less_keys, file_client_args=file_client_args,
                         filename_tmpl=filename_tmpl, backend_args=backend_args,
                         published_keys=published_keys, save_begin=save_begin)
        self._pending: List[str] = []  # outdated files to delete after the next save

    # ---------------------------------------------------------------- start-up
    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not is_main_process():
            return
        leftovers = []
        for folder in {str(self.out_dir), runner.work_dir}:
            leftovers += remove_temp_files(folder)
        pending = runner.message_hub.runtime_info.get(PENDING_KEY) or []
        current = self._current_files() | {
            str(runner.message_hub.runtime_info.get('last_ckpt'))}
        leftovers += self._remove(p for p in pending if str(p) not in current)
        if runner.iter > 0:  # resumed: its recorded best is the only valid one
            leftovers += self._remove(self._unrecorded_best_files())
        runner.message_hub.update_info(PENDING_KEY, [])
        if leftovers:
            runner.logger.info('Removed what an interrupted save left behind: '
                               + ', '.join(osp.basename(p) for p in leftovers))

    def _unrecorded_best_files(self) -> List[str]:
        """Best checkpoints in ``out_dir`` other than the ones the state records."""
        if not self.save_best or 'auto' in self.key_indicators:
            return []
        recorded = {getattr(self, 'best_ckpt_path', None),
                    *getattr(self, 'best_ckpt_path_dict', {}).values()}
        recorded = {osp.basename(str(p)) for p in recorded if p}
        prefixes = tuple(f'best_{k}_'.replace('/', '_') for k in self.key_indicators)
        folder = str(self.out_dir)
        if not osp.isdir(folder):
            return []
        return [osp.join(folder, n) for n in sorted(os.listdir(folder))
                if n.startswith(prefixes) and n.endswith('.pth') and n not in recorded]

    # -------------------------------------------------------------------- saving
    def _remove(self, paths: Iterable[str]) -> List[str]:
        removed = []
        for path in paths:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
                removed.append(path)
            elif self.file_backend.isdir(path):  # deepspeed checkpoints are folders
                self.file_backend.rmtree(path)
                removed.append(path)
        return removed

    def _current_files(self) -> set:
        """The files the state in memory records: never outdated."""
        return {str(p) for p in (getattr(self, 'last_ckpt', None),
                                 getattr(self, 'best_ckpt_path', None),
                                 *getattr(self, 'best_ckpt_path_dict', {}).values()) if p}

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Save, point ``last_checkpoint`` at it, then delete what is outdated."""
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                oldest = self.keep_ckpt_ids.popleft()
                self._pending.append(self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(oldest)))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        current = self._current_files()
        pending = list(dict.fromkeys(str(p) for p in self._pending if str(p) not in current))
        # recorded in the checkpoint: a resume from it finishes the deletion
        runner.message_hub.update_info(PENDING_KEY, pending)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        self._pending = []
        runner.message_hub.update_info(PENDING_KEY, [])
        if not is_main_process():
            return
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'),
                     str(self.last_ckpt).encode('utf-8'))
        self._remove(pending)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's, except that the previous best file is deleted only after the new
        best and the checkpoint recording it are saved."""
        if not self.save_best:
            return
        single = len(self.key_indicators) == 1
        previous = ({None: self.best_ckpt_path} if single
                    else dict(getattr(self, 'best_ckpt_path_dict', {})))
        # hide the previous paths: mmengine deletes whatever they name before saving;
        # they are deleted with the outdated checkpoints of the re-save that records
        # the new best (mmengine re-saves the last checkpoint when a best improved)
        if single:
            self.best_ckpt_path = None
        else:
            self.best_ckpt_path_dict = {k: None for k in previous}
        self._pending += [old for old in previous.values() if old]
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            for key, old in previous.items():
                new = self.best_ckpt_path if single else self.best_ckpt_path_dict.get(key)
                if new is None:  # not improved: the previous best stays the best
                    if single:
                        self.best_ckpt_path = old
                    else:
                        self.best_ckpt_path_dict[key] = old
            leftover = [p for p in self._pending if str(p) not in self._current_files()]
            self._pending = []
        if leftover and is_main_process():
            # improved before any regular checkpoint (no re-save): the new best is on
            # disk, nothing records the old one
            self._remove(leftover)
