"""The tools' choice of torch threads and dataloader workers (mattebox.engine.threads)."""
import os.path as osp

import pytest
from mmengine.config import Config

from mattebox.engine import threads as rule


@pytest.fixture
def cores(monkeypatch):
    """Pretend the machine has N cores, nobody else busy, no launcher variables."""
    for key in ('OMP_NUM_THREADS', 'LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE',
                'OMP_WAIT_POLICY', rule.LAUNCHER_OMP_MARK):
        monkeypatch.delenv(key, raising=False)

    def set_cores(n):
        monkeypatch.setattr(rule, 'available_cores', lambda: n)
    return set_cores


def test_explicit_then_user_omp_then_auto(cores, monkeypatch):
    cores(4)
    assert rule.choose_threads(3) == (3, '--threads')
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert rule.choose_threads(None) == (2, 'OMP_NUM_THREADS')
    assert rule.choose_threads(3) == (3, '--threads')
    # the OMP_NUM_THREADS=1 that tools/dist_*.sh set for torchrun is not the user's
    monkeypatch.setenv(rule.LAUNCHER_OMP_MARK, '1')
    assert rule.choose_threads(None) == (4, 'auto: 4 core(s)')


def test_auto_divides_cores_among_processes_and_caps(cores, monkeypatch):
    cores(4)
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '2')
    assert rule.choose_threads() == (2, 'auto: 4 core(s) / 2 processes')
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '8')
    assert rule.choose_threads()[0] == 1
    monkeypatch.delenv('LOCAL_WORLD_SIZE')
    cores(64)
    assert rule.choose_threads()[0] == rule.THREAD_CAP


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


def test_the_header_names_the_wait_policy(monkeypatch):
    monkeypatch.setenv('OMP_WAIT_POLICY', 'PASSIVE')
    assert rule.ThreadPlan(2, '--threads').describe() == \
        '2 threads (--threads), OMP_WAIT_POLICY=PASSIVE'
    assert rule.ThreadPlan(1, '--threads').describe() == '1 thread (--threads)'


@pytest.mark.parametrize('tool', ['train.py', 'test.py', 'infer.py', 'app.py'])
def test_tools_make_idle_threads_sleep_before_torch_loads(tool):
    """OpenMP reads OMP_WAIT_POLICY once, when torch loads it: each tool sets it (unless
    the user did) before its first import that could load torch."""
    from tests.conftest import ROOT
    with open(osp.join(ROOT, 'tools', tool)) as f:
        lines = f.read().splitlines()
    sets = lines.index("os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')")
    first_heavy = min(i for i, line in enumerate(lines)
                      if line.startswith(('import ', 'from ')) and not line.startswith(
                          ('import argparse', 'import os', 'import sys', 'import re',
                           'import base64', 'import importlib', 'import json', 'import math',
                           'import shutil', 'import signal', 'import tempfile',
                           'import time', 'import traceback', 'from dataclasses',
                           'from typing')))
    assert sets < first_heavy, lines[first_heavy]
