"""A crash never loses the last good checkpoint: real training processes killed with
SIGKILL in the middle of saves, many times, with ``max_keep_ckpts=1`` and with
``save_best``; after every kill the last good checkpoint is there, ``last_checkpoint``
points at it, and ``--resume`` continues to the end.

The saves are made slow (``tests/engine/_crash_helpers.py``: every fsync of the
training process sleeps), so that the test can watch the work folder and aim each kill
at one moment of a save, one run per moment:

- ``write``: the new file's temporary file is being written;
- ``renamed``: the new file is in place, ``last_checkpoint`` not yet updated;
- ``pointer``: ``last_checkpoint``'s temporary file is being written (for a best
  checkpoint: the re-save of the regular checkpoint that records it, ``resave``);
- ``pointed``: ``last_checkpoint`` names the new file, the outdated one is still there;
- ``deleted``: the outdated file is gone.

With ``save_best`` the validation score is the clock (every validation is a new best),
so that every run replaces the previous best.
"""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest

from mattebox.engine.checkpoint import load_checkpoint_file
from tests.conftest import ROOT, tiny_dim_cfg

FSYNC_DELAY = 0.2
TEMP = re.compile(r'^\..+\.[0-9a-f]{12}\.tmp$')
#: the moment each run is killed at (the first establishes a checkpoint to lose)
MOMENTS = {False: ('pointed', 'write', 'renamed', 'pointer', 'deleted'),
           True: ('pointed', 'write', 'renamed', 'resave', 'pointer', 'deleted')}


def _config(tmp_path, synthetic_root, save_best: bool) -> str:
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'), max_iters=8,
                       checkpoint_interval=1)
    # 16 channels wide (the demo's width): checkpoints of a few MB
    cfg.model.backbone.encoder.base_channels = 16
    cfg.model.backbone.decoder.base_channels = 16
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, by_epoch=False,
                                        save_last=True, max_keep_ckpts=1)
    if save_best:
        cfg.default_hooks.checkpoint.update(save_best='clock', rule='greater')
        cfg.train_cfg.val_interval = 1
        cfg.val_evaluator = dict(type='ClockMetric')
        cfg.val_dataloader.batch_size = 4
    else:
        cfg.train_cfg.val_interval = 1000
    cfg.custom_hooks = []
    cfg.custom_imports = dict(imports=['tests.engine._crash_helpers'],
                              allow_failed_imports=False)
    path = tmp_path / 'cfg.py'
    cfg.dump(str(path))
    return str(path)


def _start(cfg: str, resume: bool, slow: bool, log) -> subprocess.Popen:
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1',
           'MATTEBOX_TEST_FSYNC_DELAY': str(FSYNC_DELAY) if slow else '0'}
    args = [sys.executable, 'tools/train.py', cfg] + (['--resume'] if resume else [])
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


class Watch:
    """What the work folder held when a run started, and the moments of a save."""

    def __init__(self, work: str, prefix: str) -> None:
        self.work, self.prefix = work, prefix  # 'iter_' or 'best_'
        self.start_files = self._files()
        self.start_pointer = self._pointer()
        self.when_new = None  # the files in place when the new file appeared

    def _files(self) -> set:
        """(name, mtime) of the checkpoints named ``prefix*`` in place."""
        if not osp.isdir(self.work):
            return set()
        return {(n, os.stat(osp.join(self.work, n)).st_mtime_ns) for n in os.listdir(self.work)
                if n.startswith(self.prefix) and n.endswith('.pth')}

    def _pointer(self):
        path = osp.join(self.work, 'last_checkpoint')
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def _temp(self, prefix: str) -> bool:
        return osp.isdir(self.work) and any(TEMP.match(n) and n.startswith('.' + prefix)
                                            for n in os.listdir(self.work))

    def reached(self, moment: str) -> bool:
        files = self._files()
        new = files - self.start_files  # a new (or rewritten) file in place
        if new and self.when_new is None:
            self.when_new = {n for n, _ in files}
        # files that were there next to the new one and are gone since: deleted after it
        gone = (self.when_new or set()) - {n for n, _ in files}
        if moment == 'write':
            return self._temp(self.prefix)
        if moment == 'renamed':
            return bool(new)
        if moment == 'resave':  # best in place, the regular checkpoint being re-saved
            return bool(new) and self._temp('iter_')
        if moment == 'pointer':
            return bool(new) and self._temp('last_checkpoint')
        if moment == 'pointed':
            pointer = self._pointer()
            return bool(new) and pointer is not None and pointer != self.start_pointer \
                and (self.prefix == 'iter_' or self._temp('iter_') is False)
        if moment == 'deleted':
            return bool(new) and bool(gone)
        raise ValueError(moment)


def _kill_at(proc: subprocess.Popen, watch: Watch, moment: str) -> bool:
    """SIGKILL ``proc`` (and its process group) once ``moment`` is reached; False if the
    process ended first."""
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if watch.reached(moment):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f'moment {moment!r} not reached within 300 s')


def _check_last_good_checkpoint(work: str, save_best: bool) -> int:
    """The state after a kill: returns the iteration ``last_checkpoint`` names (0: none
    saved yet)."""
    pointer = osp.join(work, 'last_checkpoint')
    ckpts = sorted(n for n in os.listdir(work) if re.fullmatch(r'iter_\d+\.pth', n))
    for name in ckpts:  # whatever is there is whole (never a truncated file)
        load_checkpoint_file(osp.join(work, name))
    if not osp.exists(pointer):
        return 0
    with open(pointer) as f:
        target = f.read().strip()
    assert osp.isfile(target), f'last_checkpoint names {target}, which is gone'
    checkpoint = load_checkpoint_file(target)  # complete and loadable
    assert 'message_hub' in checkpoint and 'optimizer' in checkpoint
    if save_best:
        best = checkpoint['message_hub']['runtime_info'].get('best_ckpt')
        if best is not None:
            assert osp.isfile(best), f'the checkpoint records best {best}, which is gone'
            load_checkpoint_file(best)
    return checkpoint['meta']['iter']


@pytest.mark.parametrize('save_best', [False, True], ids=['max_keep_ckpts=1', 'save_best'])
def test_sigkill_during_saves_never_loses_the_last_checkpoint(synthetic_root, tmp_path,
                                                               save_best):
    cfg = _config(tmp_path, synthetic_root, save_best)
    work = str(tmp_path / 'work')
    kills, iters_seen = 0, []
    moments = MOMENTS[save_best]
    with open(tmp_path / 'log.txt', 'ab') as log:
        for attempt, moment in enumerate(moments):
            watch = Watch(work, 'best_' if save_best else 'iter_')
            proc = _start(cfg, resume=attempt > 0, slow=True, log=log)
            kills += _kill_at(proc, watch, moment)
            iters_seen.append(_check_last_good_checkpoint(work, save_best))
        # what the kills left behind is cleaned at the next start, and training ends
        proc = _start(cfg, resume=True, slow=False, log=log)
        assert proc.wait(timeout=600) == 0, (tmp_path / 'log.txt').read_text()[-3000:]
    assert kills == len(moments)
    if save_best:  # the iteration's checkpoint is saved before its validation
        assert iters_seen == list(range(1, len(moments) + 1)), iters_seen
    else:  # only kills after the pointer was written move it
        assert iters_seen == [1, 1, 1, 1, 2], iters_seen
    assert _check_last_good_checkpoint(work, save_best) == 8
    names = os.listdir(work)
    assert [n for n in names if TEMP.match(n)] == []
    assert sorted(n for n in names if re.fullmatch(r'iter_\d+\.pth', n)) == ['iter_8.pth']
    if save_best:
        best = [n for n in names if n.startswith('best_')]
        assert best == ['best_clock_iter_8.pth'], names  # the previous ones were deleted
