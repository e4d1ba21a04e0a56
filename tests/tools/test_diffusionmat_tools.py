"""DiffusionMat through the command-line tools: the prior, then DiffusionMat on it."""
import json
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config

from tests.conftest import run_tool, shrink_config

CONFIGS = 'configs/diffusionmat'
pytestmark = pytest.mark.usefixtures('one_torch_thread')
run = run_tool


def tiny(name: str, data_root: str, work_dir: str, max_iters: int) -> Config:
    return shrink_config(osp.join(CONFIGS, name), data_root, work_dir, max_iters,
                         test_indices=2)  # two of the four test images


@pytest.fixture
def cfg_files(synthetic_root, tmp_path):
    prior = tiny('diffusionmat_prior_tiny_synthetic.py', synthetic_root,
                 str(tmp_path / 'prior'), max_iters=2)
    model = tiny('diffusionmat_tiny_synthetic.py', synthetic_root, str(tmp_path / 'dm'),
                 max_iters=1)
    for key in ('train_cfg', 'test_cfg'):  # fewer denoising steps keep the test fast
        model.model[key].num_steps = 2
    paths = tmp_path / 'prior.py', tmp_path / 'dm.py'
    prior.dump(str(paths[0]))
    model.dump(str(paths[1]))
    return str(paths[0]), str(paths[1]), tmp_path


def test_prior_then_diffusionmat_train_and_test(cfg_files):
    prior_cfg, dm_cfg, tmp = cfg_files
    run([sys.executable, 'tools/train.py', prior_cfg])
    prior_ckpt = tmp / 'prior' / 'iter_2.pth'
    assert prior_ckpt.is_file()
    proc = run([sys.executable, 'tools/test.py', prior_cfg, str(prior_ckpt),
                '--out', str(tmp / 'prior.json')])
    assert set(json.loads((tmp / 'prior.json').read_text())) == {'SAD', 'MSE', 'GRAD', 'CONN'}
    assert '|    SAD |' in proc.stdout

    run([sys.executable, 'tools/train.py', dm_cfg, '--cfg-options',
         f'model.prior_checkpoint={prior_ckpt}'])
    dm_ckpt = tmp / 'dm' / 'iter_1.pth'
    from mattebox.engine.checkpoint import load_checkpoint_file
    trained = load_checkpoint_file(dm_ckpt)['state_dict']
    prior = load_checkpoint_file(prior_ckpt)['state_dict']
    assert {k for k in trained if k.startswith('prior.')} == set(prior)
    for key, value in prior.items():  # the prior came from its checkpoint, unchanged
        assert torch.equal(trained[key], value), key
    proc = run([sys.executable, 'tools/test.py', dm_cfg, str(dm_ckpt), '--out',
                str(tmp / 'dm.json'), '--save-pred', str(tmp / 'pred')])
    metrics = json.loads((tmp / 'dm.json').read_text())
    assert set(metrics) == {'SAD', 'MSE', 'GRAD', 'CONN'} and all(v >= 0 for v in
                                                                  metrics.values())
    assert '|    SAD |' in proc.stdout
    assert sorted(os.listdir(tmp / 'pred')) == ['.mattebox-outputs.json', '0000.png',
                                                '0001.png']


def test_a_missing_prior_fails_at_build_time_with_the_config_key(cfg_files):
    from mattebox.registry import MODELS
    _, dm_cfg, tmp = cfg_files
    cfg = Config.fromfile(dm_cfg)
    cfg.model.prior_checkpoint = str(tmp / 'none.pth')
    with pytest.raises(FileNotFoundError, match='model.prior_checkpoint: prior checkpoint '
                       f'not found: {tmp}/none.pth'):
        MODELS.build(cfg.model)  # the Runner builds the model before reading any data


def test_diffusionmat_under_two_process_ddp_makes_k_optimiser_steps(synthetic_root, tmp_path):
    """Each of 2 gloo processes runs DiffusionMat's own train_step: K = 3 optimiser steps
    per batch (not mmengine's one accumulated step), with the gradients averaged, so the
    ranks end with identical weights."""
    cfg = tiny('diffusionmat_tiny_synthetic.py', synthetic_root, str(tmp_path / 'work'),
               max_iters=2)
    cfg.model.train_cfg.update(num_steps=3, allow_random_prior=True)
    cfg.custom_imports = dict(imports=['tests.tools._record_hook'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='RecordWeightsHook')]
    path = tmp_path / 'dm_ddp.py'
    cfg.dump(str(path))
    run(['bash', 'tools/dist_train.sh', str(path), '2'])
    ranks = [json.loads((tmp_path / 'work' / f'weights_rank{r}.json').read_text())
             for r in (0, 1)]
    assert ranks[0]['wrapper'] == ranks[1]['wrapper'] == 'MattingDistributedDataParallel'
    assert ranks[0]['steps'] == ranks[1]['steps'] == [6]  # 2 batches x 3 denoising steps
    assert ranks[0]['sums'].keys() == ranks[1]['sums'].keys()
    for key, value in ranks[0]['sums'].items():
        assert value == pytest.approx(ranks[1]['sums'][key], rel=1e-6, abs=1e-6), key
    from mattebox.engine.checkpoint import load_checkpoint_file
    ckpt = load_checkpoint_file(str(tmp_path / 'work' / 'iter_2.pth'))
    assert not any('.module.' in k for k in ckpt['state_dict'])  # keys as in one process
    assert any(k.startswith('encoder.') for k in ckpt['state_dict'])
