"""Keep: a run killed with SIGKILL and resumed ends bit-identical to an uninterrupted run
(weights, optimizer and scheduler state), with 2 dataloader workers."""
import os
import signal
import subprocess
import sys
import time

import torch

from mattebox.engine.checkpoint import load_checkpoint_file
from tests.conftest import ROOT, tiny_dim_cfg


def _config(synthetic_root, tmp_path, name):
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / name), max_iters=6,
                       checkpoint_interval=1)
    cfg.train_dataloader.num_workers = 2
    cfg.train_dataloader.persistent_workers = True
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=6, eta_min=1e-5,
                                by_epoch=False)]
    cfg.custom_hooks = []
    path = tmp_path / f'{name}.py'
    cfg.dump(str(path))
    return str(path)


def _popen(cfg, *args):
    return subprocess.Popen([sys.executable, 'tools/train.py', cfg, *args], cwd=ROOT,
                            env={**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _tensors(obj, prefix=''):
    """Every tensor and number inside a (nested) state, by path."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_tensors(v, f'{prefix}.{k}'))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_tensors(v, f'{prefix}[{i}]'))
    elif isinstance(obj, (torch.Tensor, int, float)):
        out[prefix] = obj
    return out


def test_sigkill_and_resume_equals_an_uninterrupted_run(synthetic_root, tmp_path):
    straight = _popen(_config(synthetic_root, tmp_path, 'straight'))
    cfg = _config(synthetic_root, tmp_path, 'killed')
    pointer = tmp_path / 'killed' / 'last_checkpoint'
    proc = _popen(cfg)
    deadline = time.time() + 300
    while not (pointer.exists() and pointer.read_text().endswith('iter_3.pth')):
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its 2 dataloader workers
    proc.wait()
    assert not (tmp_path / 'killed' / 'iter_6.pth').exists()
    resumed = _popen(cfg, '--resume')
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert straight.wait(timeout=600) == 0, straight.stderr.read()
    a = load_checkpoint_file(tmp_path / 'straight' / 'iter_6.pth')
    b = load_checkpoint_file(tmp_path / 'killed' / 'iter_6.pth')
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        ta, tb = _tensors(a[part]), _tensors(b[part])
        assert ta.keys() == tb.keys() and ta, part
        for key in ta:
            same = torch.equal(ta[key], tb[key]) if torch.is_tensor(ta[key]) else \
                ta[key] == tb[key]
            assert same, f'{part}{key} differs'
    assert a['meta']['iter'] == b['meta']['iter'] == 6
