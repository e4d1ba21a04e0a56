"""The tools' choice of torch threads and dataloader workers (mattebox.engine.threads)."""
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config

from mattebox.engine import threads as rule


@pytest.fixture
def cores(monkeypatch):
    """Pretend the machine has N cores, nobody else busy, no launcher variables."""
    for key in ('OMP_NUM_THREADS', 'LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE',
                rule.LAUNCHER_OMP_MARK):
        monkeypatch.delenv(key, raising=False)

    def set_cores(n):
        monkeypatch.setattr(rule, 'available_cores', lambda: n)
    return set_cores


def test_explicit_then_user_omp_then_auto(cores, monkeypatch):
    cores(4)
    assert rule.choose_threads(3, measure=0) == (3, '--threads')
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert rule.choose_threads(None, measure=0) == (2, 'OMP_NUM_THREADS')
    assert rule.choose_threads(3, measure=0) == (3, '--threads')
    # the OMP_NUM_THREADS=1 that tools/dist_*.sh set for torchrun is not the user's
    monkeypatch.setenv(rule.LAUNCHER_OMP_MARK, '1')
    assert rule.choose_threads(None, measure=0) == (4, 'auto: 4 core(s)')


def test_auto_divides_cores_among_processes_and_caps(cores, monkeypatch):
    cores(4)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    assert rule.choose_threads(measure=0) == (2, 'auto: 4 core(s) / 2 processes')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '8')
    assert rule.choose_threads(measure=0)[0] == 1
    monkeypatch.delenv('LOCAL_WORLD_SIZE')
    cores(64)
    assert rule.choose_threads(measure=0)[0] == rule.THREAD_CAP


def test_auto_leaves_the_cores_other_processes_use(cores, monkeypatch):
    cores(2)
    monkeypatch.setattr(rule.CpuMonitor, 'others_busy', lambda self: 1.0)
    threads, source = rule.choose_threads(measure=0.01)
    assert threads == 1 and source == 'auto: 2 core(s), other processes busy on 1.0'
    monkeypatch.setattr(rule.CpuMonitor, 'others_busy', lambda self: 0.1)
    assert rule.choose_threads(measure=0.01)[0] == 2
    assert rule.free_cores(2.4, 4) == 2 and rule.free_cores(None, 4) == 4
    assert rule.free_cores(5.0, 4) == 1  # at least one
    assert rule.free_cores(1.0, 4, allowance=1.0) == 4  # a sibling rank is not "other"


def test_cpu_monitor_sees_a_busy_process():
    monitor = rule.CpuMonitor()
    busy = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    try:
        time.sleep(1.0)
        others = monitor.others_busy()
    finally:
        busy.kill()
        busy.wait()
    assert others is not None and others >= 0.5  # (plus whatever else runs here)


def _cfg(workers):
    return Config(dict(
        train_dataloader=dict(num_workers=workers, persistent_workers=True, batch_size=1),
        val_dataloader=dict(num_workers=workers, batch_size=1),
        test_dataloader=dict(num_workers=0, batch_size=1)))


def test_workers_fit_the_cores_unless_given(cores):
    cores(2)
    cfg = _cfg(4)
    changes = rule.fit_workers(cfg, threads=1)
    assert cfg.train_dataloader.num_workers == 1 and cfg.val_dataloader.num_workers == 1
    assert changes['train_dataloader'] == (4, 1)
    changes = rule.fit_workers(cfg, threads=2)
    assert cfg.train_dataloader.num_workers == 0
    assert cfg.train_dataloader.persistent_workers is False  # torch refuses it with 0
    cfg = _cfg(4)
    rule.fit_workers(cfg, threads=2, given_keys=['train_dataloader.num_workers'])
    assert cfg.train_dataloader.num_workers == 4 and cfg.val_dataloader.num_workers == 0
    plan = rule.ThreadPlan(2, 'auto: 2 core(s)', {'train_dataloader': (4, 0)})
    assert plan.describe() == ('2 threads (auto: 2 core(s)); train_dataloader.num_workers '
                               '4->0 to fit the cores (set num_workers with --cfg-options '
                               'to keep yours)')


def test_adapt_hook_follows_the_free_cores(cores, monkeypatch):
    cores(2)

    class Logger:
        lines = []

        def info(self, text):
            self.lines.append(text)

    class Runner:
        logger = Logger()

    busy = iter([1.2, 0.0])
    monkeypatch.setattr(rule.CpuMonitor, 'others_busy', lambda self: next(busy))
    hook = rule.AdaptThreadsHook(max_threads=2, interval=0.0)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        hook.after_train_iter(Runner(), 0)  # the first call starts the monitor
        hook.after_train_iter(Runner(), 1)
        assert torch.get_num_threads() == 1
        assert Logger.lines == ['threads 2 -> 1: other processes kept 1.2 core(s) busy']
        hook.after_val_iter(Runner(), 0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
