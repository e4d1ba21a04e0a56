"""Checkpoint safety: weights-only resume/load_from with an allow-list, atomic saves."""
import builtins
import contextlib
import errno
import os
import pickle
import re
import shutil
import uuid
from pathlib import Path
from typing import Dict, Iterator, List

import mmengine.fileio.io as mmengine_fileio_io
import mmengine.hooks.checkpoint_hook as mmengine_checkpoint_hook
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.fileio import FileClient, LocalBackend, get_file_backend
from mmengine.hooks import Hook
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, save_checkpoint
from torch.utils.data import Dataset

from mattebox.engine import (AtomicLocalBackend, CorruptCheckpointError,
                             UnsafeCheckpointError, install_checkpoint_safety,
                             load_checkpoint_file)
from mattebox.engine.checkpoint import RESUME_SAFE_GLOBALS, load_from_local


class ToyModel(BaseModel):
    """One 3x3 convolution trained towards a fixed target."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.conv(inputs)
        if mode == 'loss':
            return dict(loss=((out - data_samples)**2).mean())
        return out


class ToyDataset(Dataset):
    """Eight fixed 1x8x8 input/target pairs."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(index)
        return dict(inputs=torch.rand(1, 8, 8, generator=generator),
                    data_samples=torch.rand(1, 8, 8, generator=generator))


class SimulatedCrash(Exception):
    """Raised by CrashAtIter to stop a training run."""


class CrashAtIter(Hook):
    """Raise after training iteration ``iteration`` (1-based) and its hooks."""

    priority = 'LOWEST'  # after CheckpointHook has saved

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iteration:
            raise SimulatedCrash(f'crash after iteration {self.iteration}')


class RecordProgress(Hook):
    """Record where training starts and ends and the weights it starts from."""

    def __init__(self) -> None:
        self.start_iter = self.end_iter = None
        self.start_weight = None
        self.iters_run = 0

    def before_train(self, runner) -> None:
        self.start_iter = runner.iter
        self.start_weight = runner.model.conv.weight.detach().clone()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.iters_run += 1

    def after_train(self, runner) -> None:
        self.end_iter = runner.iter


def build_runner(work_dir: Path, custom_hooks: List[Hook] = (), **kwargs) -> Runner:
    """A 4-iteration runner that checkpoints every 2 iterations into ``work_dir``."""
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        experiment_name=f'test-checkpoint-{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        log_processor=dict(by_epoch=False),
        custom_hooks=list(custom_hooks),
        **kwargs)


@pytest.fixture(scope='module')
def crashed_run(tmp_path_factory) -> Path:
    """Work dir of a run that saved iter_2.pth and crashed during iteration 3."""
    work_dir = tmp_path_factory.mktemp('crashed_run')
    runner = build_runner(work_dir, custom_hooks=[CrashAtIter(3)])
    with pytest.raises(SimulatedCrash):
        runner.train()
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')
    return work_dir


@pytest.fixture
def checkpoint_copy(crashed_run, tmp_path) -> Path:
    """A private copy of the crashed run's iter_2.pth."""
    path = tmp_path / 'ckpt' / 'iter_2.pth'
    path.parent.mkdir()
    shutil.copyfile(crashed_run / 'iter_2.pth', path)
    return path


@contextlib.contextmanager
def file_size_limit(nbytes: int) -> Iterator[None]:
    """Make any write past ``nbytes`` of a file fail with EFBIG, like a full disk."""
    resource = pytest.importorskip('resource')
    signal = pytest.importorskip('signal')
    if not hasattr(signal, 'SIGXFSZ'):
        pytest.skip('needs POSIX file size limits')
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


class Local:
    """A class from a test module: not on the allow-list."""


class GetAttr:
    """Pickles as ``getattr(obj, name)``, e.g. the file-writing ``array.tofile``."""

    def __init__(self, obj, name: str) -> None:
        self.obj, self.name = obj, name

    def __reduce__(self):
        return getattr, (self.obj, self.name)


def test_install_is_idempotent_and_only_takes_local_paths():
    # A plain backend cached before installation must not survive it.
    mmengine_fileio_io.backend_instances[':{}'] = LocalBackend()
    install_checkpoint_safety()
    install_checkpoint_safety()
    assert CheckpointLoader._get_checkpoint_loader('/x/iter_2.pth') is load_from_local
    assert CheckpointLoader._get_checkpoint_loader('https://x/a.pth') is not load_from_local
    assert type(get_file_backend('/x/iter_2.pth')) is AtomicLocalBackend
    assert type(get_file_backend('/x/a', enable_singleton=True)) is AtomicLocalBackend
    assert type(FileClient.infer_client(None, '/x/a').client) is AtomicLocalBackend
    assert mmengine_checkpoint_hook.open is not builtins.open


def test_resume_continues_from_saved_iteration(crashed_run):
    saved = load_checkpoint_file(crashed_run / 'iter_2.pth')
    progress = RecordProgress()
    runner = build_runner(crashed_run, custom_hooks=[progress], resume=True)
    runner.train()
    assert (progress.start_iter, progress.iters_run, progress.end_iter) == (2, 2, 4)
    torch.testing.assert_close(progress.start_weight, saved['state_dict']['conv.weight'])
    assert (crashed_run / 'last_checkpoint').read_text() == str(crashed_run / 'iter_4.pth')
    assert load_checkpoint_file(crashed_run / 'iter_4.pth')['meta']['iter'] == 4


def test_load_from_loads_the_weights(checkpoint_copy, tmp_path):
    saved = load_checkpoint_file(checkpoint_copy)['state_dict']['conv.weight']
    runner = build_runner(tmp_path / 'work', load_from=str(checkpoint_copy))
    assert not torch.equal(runner.model.conv.weight, saved)
    runner.load_or_resume()
    torch.testing.assert_close(runner.model.conv.weight.detach(), saved)


def test_history_buffer_is_restored(checkpoint_copy):
    hub = load_checkpoint_file(checkpoint_copy)['message_hub']
    loss = hub['log_scalars']['train/loss']
    assert len(loss.data[0]) == 2  # one value per iteration
    assert loss.statistics('min') == loss.min()


def test_plain_torch_load_stays_strict(checkpoint_copy):
    before = set(torch.serialization.get_safe_globals())
    load_checkpoint_file(checkpoint_copy)
    assert set(torch.serialization.get_safe_globals()) == before
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(checkpoint_copy)


@pytest.mark.parametrize('payload, global_name', [
    (os.system, f'{os.system.__module__}.system'),
    (Local(), f'{__name__}.Local'),
    (GetAttr(np.zeros(1), 'tofile'), "builtins.getattr(ndarray,'tofile')"),
    (GetAttr(HistoryBuffer, 'update'), "builtins.getattr(HistoryBuffer,'update')"),
])
def test_disallowed_global_is_refused(tmp_path, payload, global_name):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, payload=payload), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert str(path) in message and global_name in message
    assert 'refused' in message.lower() and 'safety' in message


def test_runner_load_from_refuses_disallowed_global(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, payload=Local()), path)
    runner = build_runner(tmp_path / 'work', load_from=str(path))
    with pytest.raises(UnsafeCheckpointError, match=f'{re.escape(str(path))}.*{__name__}.Local'):
        runner.load_or_resume()


def test_allow_list_has_exactly_the_resume_globals():
    names = [item[1] if isinstance(item, tuple) else f'{item.__module__}.{item.__qualname__}'
             for item in RESUME_SAFE_GLOBALS]
    assert sorted(names) == sorted([
        'mmengine.logging.history_buffer.HistoryBuffer',
        'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype',
        'numpy.dtypes.Float64DType', 'numpy.dtypes.Int64DType',
        'numpy._core.multiarray.scalar', 'builtins.getattr',
        # numpy 1.x names of the same two functions (older checkpoints)
        'numpy.core.multiarray._reconstruct', 'numpy.core.multiarray.scalar',
    ])


def test_numpy1_checkpoint_names_load(tmp_path):
    """A checkpoint pickled under numpy 1.x names numpy.core.multiarray.*."""
    import zipfile
    path = tmp_path / 'np1.pth'
    torch.save({'meta': {'arr': np.arange(3)}}, path)
    with zipfile.ZipFile(path) as zin:
        items = {n: zin.read(n) for n in zin.namelist()}
    pkl = next(n for n in items if n.endswith('data.pkl'))
    assert b'numpy._core.multiarray' in items[pkl]
    # protocol-2 GLOBAL opcodes are newline-terminated text: the rename is safe
    items[pkl] = items[pkl].replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
    new = tmp_path / 'np1b.pth'
    with zipfile.ZipFile(new, 'w') as zout:
        for n, data in items.items():
            zout.writestr(n, data)
    out = load_checkpoint_file(new)
    assert out['meta']['arr'].tolist() == [0, 1, 2]


@pytest.mark.parametrize('keep', [0.5, 0.99, 0.0])
def test_truncated_checkpoint_is_reported_as_corrupt(checkpoint_copy, keep):
    data = checkpoint_copy.read_bytes()
    checkpoint_copy.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CorruptCheckpointError, match=f'{re.escape(str(checkpoint_copy))} is corrupt'):
        load_checkpoint_file(checkpoint_copy)


def test_runner_load_from_reports_truncated_checkpoint(checkpoint_copy, tmp_path):
    checkpoint_copy.write_bytes(checkpoint_copy.read_bytes()[:1000])
    runner = build_runner(tmp_path / 'work', load_from=str(checkpoint_copy))
    with pytest.raises(ValueError, match=f'{re.escape(str(checkpoint_copy))} is corrupt'):
        runner.load_or_resume()


def test_non_checkpoint_file_is_reported(tmp_path):
    path = tmp_path / 'notes.pth'
    path.write_text('not a checkpoint\n')
    with pytest.raises(CorruptCheckpointError, match=f'{re.escape(str(path))} is corrupt or not a torch'):
        load_checkpoint_file(path)


def test_other_errors_of_an_intact_checkpoint_pass_through(checkpoint_copy):

    def no_such_device(storage, location):
        raise LookupError('no such device')

    with pytest.raises(LookupError, match='no such device') as info:
        load_checkpoint_file(checkpoint_copy, map_location=no_such_device)
    assert type(info.value) is LookupError


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'nope.pth'))):
        load_checkpoint_file(tmp_path / 'nope.pth')


def test_crash_during_save_keeps_previous_checkpoint(checkpoint_copy):
    previous = checkpoint_copy.read_bytes()
    checkpoint = load_checkpoint_file(checkpoint_copy)
    checkpoint['state_dict']['big'] = torch.zeros(256 * 1024)  # 1 MiB
    with file_size_limit(512 * 1024), pytest.raises(OSError) as info:
        save_checkpoint(checkpoint, str(checkpoint_copy))
    assert info.value.errno == errno.EFBIG  # it did fail mid-write
    assert checkpoint_copy.read_bytes() == previous
    assert os.listdir(checkpoint_copy.parent) == ['iter_2.pth']

    save_checkpoint(checkpoint, str(checkpoint_copy))  # without the limit it works
    assert load_checkpoint_file(checkpoint_copy)['state_dict']['big'].numel() == 256 * 1024
    assert os.listdir(checkpoint_copy.parent) == ['iter_2.pth']


def test_crash_during_pointer_write_keeps_previous_pointer(tmp_path):
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text('/work/iter_2.pth')
    # CheckpointHook writes the pointer with this module-level ``open``.
    with file_size_limit(8), pytest.raises(OSError):
        with mmengine_checkpoint_hook.open(str(pointer), 'w') as f:
            f.write('/work/iter_4.pth')
    assert pointer.read_text() == '/work/iter_2.pth'
    assert os.listdir(tmp_path) == ['last_checkpoint']
