"""mattebox's CheckpointHook, in process: outdated checkpoints and the old best are
deleted only after the new file and the pointer are written; leftovers of interrupted
saves are removed at the next start and never taken for checkpoints."""
import os
import uuid
from pathlib import Path

import pytest
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mattebox.engine.checkpoint import load_checkpoint_file
from mattebox.engine.checkpoint_hook import CheckpointHook, remove_temp_files
from mattebox.registry import HOOKS
from tests.engine.test_checkpoint import ToyDataset, ToyModel


class SimulatedCrash(Exception):
    pass


def _runner(work: Path, max_iters: int = 4, resume: bool = False, **hook) -> Runner:
    return Runner(
        model=ToyModel(), work_dir=str(work),
        experiment_name=f'hook-{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(dataset=ToyDataset(),
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate'), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=100),
        default_hooks=dict(checkpoint=CheckpointHook(interval=1, by_epoch=False, **hook)),
        log_processor=dict(by_epoch=False), resume=resume, default_scope='mattebox')


def test_configs_get_it_by_mmengine_name():
    with DefaultScope.overwrite_default_scope('mattebox'):
        hook = HOOKS.build(dict(type='CheckpointHook', interval=3))
    assert type(hook) is CheckpointHook and isinstance(hook, MMEngineCheckpointHook)
    with pytest.raises(TypeError, match="unexpected keyword argument 'intervall'"):
        CheckpointHook(intervall=3)  # mmengine's would fail only at the first save


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    runner = _runner(tmp_path, max_iters=4, max_keep_ckpts=1)
    real_save = Runner.save_checkpoint

    def save(self, out_dir, filename, *args, **kwargs):
        if filename == 'iter_3.pth':  # the write of the third checkpoint fails
            raise SimulatedCrash(filename)
        return real_save(self, out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(Runner, 'save_checkpoint', save)
    with pytest.raises(SimulatedCrash):
        runner.train()
    # mmengine would have deleted iter_2.pth before writing iter_3.pth
    assert (tmp_path / 'iter_2.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    assert load_checkpoint_file(tmp_path / 'iter_2.pth')['meta']['iter'] == 2
    assert not (tmp_path / 'iter_1.pth').exists()  # outdated before the crash: deleted


def test_deletion_interrupted_after_saving_is_finished_at_resume(tmp_path, monkeypatch):
    runner = _runner(tmp_path, max_iters=4, max_keep_ckpts=1)
    real_remove = CheckpointHook._remove

    def crash_instead_of_deleting(self, paths):
        paths = list(paths)
        if any(str(p).endswith('iter_2.pth') for p in paths):
            raise SimulatedCrash('killed before deleting iter_2.pth')
        return real_remove(self, paths)

    monkeypatch.setattr(CheckpointHook, '_remove', crash_instead_of_deleting)
    with pytest.raises(SimulatedCrash):
        runner.train()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_3.pth')
    hub = load_checkpoint_file(tmp_path / 'iter_3.pth')['message_hub']['runtime_info']
    assert hub['pending_ckpt_removal'] == [str(tmp_path / 'iter_2.pth')]
    assert hub['keep_ckpt_ids'] == [3]
    # an interrupted write of iter_4.pth left its temporary file behind
    orphan = tmp_path / '.iter_4.pth.0123456789ab.tmp'
    orphan.write_bytes(b'half a checkpoint')
    monkeypatch.setattr(CheckpointHook, '_remove', real_remove)
    resumed = _runner(tmp_path, max_iters=5, resume=True, max_keep_ckpts=1)
    resumed.train()
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith(('.pth', '.tmp'))) == \
        ['iter_5.pth']


def test_leftover_temp_files_are_never_taken_for_checkpoints(tmp_path):
    (tmp_path / '.iter_8.pth.0123456789ab.tmp').write_bytes(b'x')
    (tmp_path / '.last_checkpoint.ba9876543210.tmp').write_bytes(b'x')
    (tmp_path / 'iter_8.pth.tmp').write_bytes(b'mine')  # not a name atomic_write uses
    (tmp_path / '.hidden.tmp').write_bytes(b'mine')
    removed = remove_temp_files(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == [
        '.iter_8.pth.0123456789ab.tmp', '.last_checkpoint.ba9876543210.tmp']
    assert sorted(os.listdir(tmp_path)) == ['.hidden.tmp', 'iter_8.pth.tmp']


def test_old_best_is_deleted_only_after_the_new_one_is_recorded(tmp_path, monkeypatch):
    hook = CheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1, save_best='score',
                          rule='greater')
    runner = _runner(tmp_path, max_iters=1)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    hook.before_train(runner)

    def iteration(score):
        """What the loop does: save after the train step, count it, validate."""
        hook._save_checkpoint(runner)
        runner.train_loop._iter += 1
        hook._save_best_checkpoint(runner, {'score': score})

    # (the closure reads ``hook`` and ``runner`` when called: both are replaced below)

    iteration(1.0)
    first_best = tmp_path / 'best_score_iter_1.pth'
    assert first_best.exists()
    real_save = Runner.save_checkpoint
    calls = []

    def save(self, out_dir, filename, *args, **kwargs):
        calls.append((filename, first_best.exists()))
        if filename == 'iter_2.pth' and len(calls) == 3:  # the re-save recording the best
            raise SimulatedCrash(filename)
        return real_save(self, out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(Runner, 'save_checkpoint', save)
    with pytest.raises(SimulatedCrash):
        iteration(2.0)
    # the new best was written while the old one still existed; the crash in the re-save
    # left the old one, which the last checkpoint records, in place
    assert calls == [('iter_2.pth', True), ('best_score_iter_2.pth', True),
                     ('iter_2.pth', True)]
    assert first_best.exists() and (tmp_path / 'best_score_iter_2.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_2.pth')
    recorded = load_checkpoint_file(tmp_path / 'iter_2.pth')['message_hub']['runtime_info']
    assert recorded['best_ckpt'] == str(first_best)
    # the run restarts from the last checkpoint: the best it records is kept, the one
    # nothing records goes; then a new best replaces the old one once recorded
    monkeypatch.setattr(Runner, 'save_checkpoint', real_save)
    hook = CheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1, save_best='score',
                          rule='greater')
    runner = _runner(tmp_path, max_iters=3, resume=True)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.load_or_resume()
    assert runner.iter == 2
    hook.before_train(runner)
    assert first_best.exists() and not (tmp_path / 'best_score_iter_2.pth').exists()
    iteration(3.0)
    assert not first_best.exists()
    recorded = load_checkpoint_file(tmp_path / 'iter_3.pth')['message_hub']['runtime_info']
    assert recorded['best_ckpt'] == str(tmp_path / 'best_score_iter_3.pth')
    assert recorded['pending_ckpt_removal'] == [str(first_best)]
    hook._save_best_checkpoint(runner, {'score': 0.5})  # not better: nothing deleted
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == [
        'best_score_iter_3.pth', 'iter_3.pth']
