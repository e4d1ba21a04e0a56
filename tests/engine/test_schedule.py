"""LR schedules follow the run length (mattebox.engine.schedule)."""
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS

from mattebox.engine.config_check import load_config
from tests.conftest import ROOT

DIM = osp.join(ROOT, 'configs/dim/dim_tiny_synthetic.py')
SDMATTE = osp.join(ROOT, 'configs/sdmatte/sdmatte_tiny_synthetic.py')


def lr_after(cfg, iters):
    """The LR the config's schedule gives at iteration ``iters`` (as mmengine runs it)."""
    model = torch.nn.Linear(1, 1)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optim)) for s in cfg.param_scheduler]
    for _ in range(iters):
        optim.step()
        for s in schedulers:
            s.step()
    return optim.param_groups[0]['lr']


def test_shorter_run_ends_at_the_schedules_final_lr():
    notes = []
    cfg = load_config(DIM, {'train_cfg.max_iters': 20}, notes)
    assert cfg.param_scheduler[0].T_max == 20
    assert notes == ['CosineAnnealingLR: T_max 3000->20 (follows train_cfg.max_iters 3000->20)']
    assert lr_after(cfg, 20) == pytest.approx(1e-5)  # eta_min, as at 3000 of 3000
    full = load_config(DIM)
    assert lr_after(full, 20) > 9.9e-4  # the old behaviour: the cosine barely started


def test_warmup_keeps_its_length_exponential_keeps_its_total_decay():
    notes = []
    cfg = load_config(SDMATTE, {'train_cfg.max_iters': 200}, notes)
    warmup, decay = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 50)
    assert (decay.begin, decay.end) == (50, 200)
    assert decay.gamma ** 150 == pytest.approx(0.005)  # was 0.005 ** (1 / 950) per step
    assert len(notes) == 1 and notes[0].startswith('ExponentialLR: end 1000->200, gamma')


def test_schedule_given_on_the_command_line_is_kept():
    cfg = load_config(DIM, {'train_cfg.max_iters': 20,
                            'param_scheduler': [dict(type='ConstantLR', by_epoch=False)]})
    assert cfg.param_scheduler == [dict(type='ConstantLR', by_epoch=False)]
    cfg = load_config(DIM, {'train_cfg.val_interval': 5})  # same length: unchanged
    assert cfg.param_scheduler[0].T_max == 3000
