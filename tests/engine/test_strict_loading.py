"""A checkpoint must fit the model: testing, load_from and resume refuse missing,
unexpected and mis-shaped keys (listed), and ``partial_load`` in the config names the
prefixes a deliberate partial load may miss."""
import copy
import os
import subprocess
import sys

import pytest
import torch
from mmengine.registry import DefaultScope

from mattebox.engine.checkpoint import CheckpointMismatchError, check_fit
from mattebox.engine.config_check import ConfigError
from mattebox.engine.runner import ResumeError, build_runner
from mattebox.registry import MODELS
from tests.conftest import ROOT


def _model(cfg, **backbone_width):
    cfg = copy.deepcopy(cfg)
    for part, width in backbone_width.items():
        cfg.model.backbone[part].base_channels = width
    torch.manual_seed(1)
    with DefaultScope.overwrite_default_scope('mattebox'):
        return MODELS.build(cfg.model)


def _save(path, model, drop=(), extra=None, **entries):
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(drop))}
    state.update(extra or {})
    torch.save({'meta': {'iter': 0, 'epoch': 0}, 'state_dict': state, **entries}, path)
    return str(path)


def test_check_fit_lists_first_few_and_counts():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {'0.weight': torch.zeros(3, 5), 'extra.a': torch.zeros(1), 'extra.b': torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError) as info:
        check_fit(model, state, 'x.pth')
    lines = str(info.value).splitlines()
    assert lines[:4] == [
        'x.pth does not fit the Sequential of the config:',
        '  missing keys 3: 0.bias, 1.bias, 1.weight',
        '  unexpected keys 2: extra.a, extra.b',
        '  shape mismatches 1: 0.weight ((3, 5) in the file, (3, 2) in the model)']
    many = {f'k{i:02d}': torch.zeros(1) for i in range(9)}
    with pytest.raises(CheckpointMismatchError,
                       match='unexpected keys 9: k00, k01, k02, k03, k04 and 4 more'):
        check_fit(torch.nn.Module(), many, 'y.pth')
    # allowed prefixes: returned, not raised
    assert check_fit(model, {**model.state_dict(), 'extra.a': torch.zeros(1)}, 'z.pth',
                     allow_unexpected=['extra.']) == ([], ['extra.a'])


def test_testing_refuses_a_wider_checkpoint(tiny_cfg, tmp_path, one_torch_thread):
    wide = _save(tmp_path / 'wide.pth', _model(tiny_cfg, encoder=8, decoder=8))
    tiny_cfg.load_from = wide
    with pytest.raises(CheckpointMismatchError) as info:
        build_runner(tiny_cfg, 'test').test()
    message = str(info.value)
    assert message.startswith(
        f'{wide} does not fit the DIM of the config:\n  shape mismatches 97: '
        'backbone.decoder.deconv1.weight ((1, 8, 5, 5) in the file, (1, 4, 5, 5) in the '
        'model), ')
    assert ' and 92 more\n  Is it a checkpoint of this config' in message


def test_load_from_without_decoder_is_refused_unless_the_config_allows_it(
        tiny_cfg, tmp_path, one_torch_thread):
    trained = _model(tiny_cfg)
    path = _save(tmp_path / 'enc.pth', trained, drop=['backbone.decoder.'])
    tiny_cfg.load_from = path
    tiny_cfg.train_cfg.max_iters = 1
    with pytest.raises(CheckpointMismatchError,
                       match=r'missing keys 14: backbone.decoder.deconv1.bias, '):
        build_runner(copy.deepcopy(tiny_cfg), 'train').train()
    # the config states what may be missing: it loads, the rest keeps its init
    tiny_cfg.partial_load = dict(allow_missing=['backbone.decoder.'])
    tiny_cfg.optim_wrapper.optimizer.lr = 0.0
    runner = build_runner(tiny_cfg, 'train')
    runner.load_or_resume()
    own = runner.model.state_dict()
    for key, value in trained.state_dict().items():
        if key.startswith('backbone.encoder.'):
            assert torch.equal(own[key], value), key
    assert not torch.equal(own['backbone.decoder.deconv1.weight'],
                           trained.state_dict()['backbone.decoder.deconv1.weight'])


def test_partial_load_allows_named_unexpected_keys_only(tiny_cfg, tmp_path):
    path = _save(tmp_path / 'refined.pth', _model(tiny_cfg),
                 extra={'refiner.refine_conv1.weight': torch.zeros(1)})
    tiny_cfg.load_from = path
    tiny_cfg.partial_load = dict(allow_unexpected=['refiner.'])
    runner = build_runner(tiny_cfg, 'train')
    runner.load_or_resume()
    assert runner._has_loaded
    # testing stays strict whatever the config allows for training
    runner = build_runner(copy.deepcopy(tiny_cfg), 'test')
    with pytest.raises(CheckpointMismatchError, match='unexpected keys 1: refiner.'):
        runner.load_checkpoint(path)


@pytest.mark.parametrize('value, message', [
    (dict(allow_mising=['a.']), 'partial_load: expected dict(allow_missing=[...], '),
    (dict(allow_missing='refiner.'), "partial_load.allow_missing: expected a list of key "
                                     "prefixes (e.g. ['refiner.']), got 'refiner.'"),
])
def test_partial_load_option_is_checked(tiny_cfg, value, message):
    tiny_cfg.partial_load = value
    with pytest.raises(ConfigError) as info:
        build_runner(tiny_cfg, 'train')
    assert str(info.value).startswith(message)


def test_resume_from_weights_only_checkpoint_says_to_use_load_from(tiny_cfg, tmp_path):
    path = _save(tmp_path / 'weights.pth', _model(tiny_cfg))
    tiny_cfg.resume, tiny_cfg.load_from = True, path
    with pytest.raises(ResumeError) as info:
        build_runner(tiny_cfg, 'train').load_or_resume()
    assert str(info.value) == (
        f'{path} holds weights only (no message_hub), not the state of a training run, so '
        'training cannot resume from it. To start a new run from these weights, use '
        f'load_from instead: --cfg-options load_from={path} (without --resume).')


def test_resume_of_a_training_checkpoint_of_another_model_is_refused(tiny_cfg, tmp_path):
    wide = _model(tiny_cfg, encoder=8, decoder=8)
    path = _save(tmp_path / 'wide_run.pth', wide, message_hub={}, optimizer={})
    tiny_cfg.resume, tiny_cfg.load_from = True, path
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        build_runner(tiny_cfg, 'train').load_or_resume()


def test_test_py_exits_2_with_the_key_listing(tiny_cfg, tmp_path):
    wide = _save(tmp_path / 'wide.pth', _model(tiny_cfg, encoder=8, decoder=8))
    tiny_cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run([sys.executable, 'tools/test.py', str(tmp_path / 'cfg.py'), wide],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 2
    assert proc.stderr.startswith(f'error: {wide} does not fit the DIM of the config:\n')
    assert 'Traceback' not in proc.stderr and '|    SAD |' not in proc.stdout  # no scores
    proc = subprocess.run([sys.executable, 'tools/test.py', str(tmp_path / 'cfg.py'), wide,
                           '--debug'], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 1 and 'Traceback (most recent call last)' in proc.stderr
    assert 'CheckpointMismatchError' in proc.stderr
