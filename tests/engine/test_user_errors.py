"""Every user error is a clean message: the handler of the tools, config loading, the
--cfg-options key check, and a deterministic run."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from mattebox.datasets.validation import DatasetValidationError
from mattebox.engine.config_check import ConfigError, check_cfg_options, load_config
from mattebox.engine.errors import EXIT_USER_ERROR, user_errors, user_message
from mattebox.models.dim.heads import max_unpool_2x2
from tests.conftest import ROOT, tiny_dim_cfg

TINY = os.path.join(ROOT, 'configs/dim/dim_tiny_synthetic.py')


def test_handler_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        with user_errors():
            raise DatasetValidationError('data/x.png: truncated PNG')
    assert info.value.code == EXIT_USER_ERROR
    assert capsys.readouterr().err == 'error: data/x.png: truncated PNG\n'
    with pytest.raises(DatasetValidationError):  # --debug: the traceback
        with user_errors(debug=True):
            raise DatasetValidationError('x')
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        with user_errors():
            1 / 0
    from mattebox.guidance import MissingGuidanceError
    with pytest.raises(SystemExit):  # a user error defined outside mattebox.engine
        with user_errors():
            raise MissingGuidanceError('DIM needs trimap: add GenerateTrimap')
    assert capsys.readouterr().err == 'error: DIM needs trimap: add GenerateTrimap\n'


def test_message_of_an_error_from_a_dataloader_worker():
    """torch re-raises a worker's error as the same class with the worker's traceback
    as its message; the user sees the original message (and its notes)."""
    worker_text = ('Caught DataFileError in DataLoader worker process 1.\n'
                   'Original Traceback (most recent call last):\n'
                   '  File "x.py", line 3, in f\n    raise DataFileError(msg)\n'
                   'mattebox.engine.errors.DataFileError: cannot decode image file '
                   "(key 'alpha'): d/a.png (truncated or not an image?)\n"
                   'while loading sample 3 of AdobeComp1kDataset: alpha_path=d/a.png\n')
    assert user_message(ConfigError(worker_text)) == worker_text.strip()  # another class
    from mattebox.engine.errors import DataFileError
    assert user_message(DataFileError(worker_text)) == (
        "cannot decode image file (key 'alpha'): d/a.png (truncated or not an image?)\n"
        'while loading sample 3 of AdobeComp1kDataset: alpha_path=d/a.png')
    error = FileNotFoundError('x.png')
    error.add_note('while loading sample 0')
    assert user_message(error) == 'x.png\nwhile loading sample 0'


@pytest.mark.parametrize('options, message', [
    ({'train_cfg.max_iter': 3}, "--cfg-options train_cfg.max_iter: IterBasedTrainLoop "
                                "(train_cfg) has no argument 'max_iter'. Did you mean "
                                "'max_iters'"),
    ({'default_hooks.checkpoint.intervall': 1}, "--cfg-options default_hooks.checkpoint."
                                                "intervall: CheckpointHook (default_hooks."
                                                "checkpoint) has no argument 'intervall'. "
                                                "Did you mean 'interval'?"),
    ({'model.backbon.encoder.base_channels': 8}, "--cfg-options model.backbon.encoder."
                                                 "base_channels: DIM (model) has no key "
                                                 "'backbon'. Did you mean 'backbone'"),
    ({'max_iters': 3}, "--cfg-options max_iters: the config has no key 'max_iters'."),
    ({'test_dataloader.batch_sise': 2}, "the dataloader (test_dataloader) has no argument "
                                        "'batch_sise'. Did you mean 'batch_size'"),
    ({'train_dataloader.dataset.skip_broken': True}, "AdobeComp1kDataset (train_dataloader"
                                                     ".dataset) has no argument 'skip_broken"
                                                     "'. Did you mean 'skip_broken_samples'"),
    ({'optim_wrapper.optimizer.momentum': 0.9}, "Adam (optim_wrapper.optimizer) has no "
                                                "argument 'momentum'"),
    ({'randomness.determinstic': True}, "randomness has no argument 'determinstic'. Did you "
                                        "mean 'deterministic'"),
    ({'train_cfg.max_iters.x': 1}, "--cfg-options cannot be applied to "),
])
def test_unknown_cfg_options_are_named_before_anything_runs(options, message):
    cfg = Config.fromfile(TINY)
    with pytest.raises(ConfigError) as info:
        check_cfg_options(cfg, options)
    assert message in str(info.value)


@pytest.mark.parametrize('options', [
    {'train_cfg.max_iters': 3}, {'randomness.deterministic': True},
    {'model.backbone.encoder.pretrained': 'vgg16.pth'},  # an argument not in the config
    {'model.refiner.type': 'PlainRefiner'}, {'partial_load.allow_missing': ['refiner.']},
    {'optim_wrapper.optimizer.type': 'SGD', 'optim_wrapper.optimizer.momentum': 0.9},
    {'train_dataloader.dataset.pipeline.0.key': 'alpha'},
    {'train_dataloader.dataset.skip_broken_samples': True}, {'load_from': 'x.pth'},
    {'model.test_cfg.refine': True}, {'env_cfg.cudnn_benchmark': True},
])
def test_valid_cfg_options_pass(options):
    cfg = Config.fromfile(TINY)
    check_cfg_options(cfg, options)
    merged = load_config(TINY, options)
    for key, value in options.items():
        node = merged
        for part in key.split('.'):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node == value


@pytest.mark.parametrize('text, message', [
    ('model = dict(\n', 'cfg.py, line 1: syntax error: '),
    ("_base_ = ['nowhere.py']\n", 'a file it inherits (_base_) or reads is not found: '),
    ('x = undefined + 1\n', "cannot be read: NameError: name 'undefined' is not defined"),
])
def test_config_that_cannot_be_read_is_named(tmp_path, text, message):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert f'config {path}' in str(info.value) and message in str(info.value)
    with pytest.raises(ConfigError, match='config file not found: '):
        load_config(str(tmp_path / 'missing.py'))


def test_tool_reports_a_cfg_option_typo_without_running(synthetic_root, tmp_path):
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'))
    cfg.dump(str(tmp_path / 'cfg.py'))
    proc = subprocess.run([sys.executable, 'tools/train.py', str(tmp_path / 'cfg.py'),
                           '--cfg-options', 'train_cfg.max_iter=1'], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 2
    assert proc.stderr == (
        f'error: 1 unknown --cfg-options key(s) for {tmp_path}/cfg.py (nothing was run):\n'
        "  - --cfg-options train_cfg.max_iter: IterBasedTrainLoop (train_cfg) has no "
        "argument 'max_iter'. Did you mean 'max_iters', 'val_interval'?\n")
    assert not (tmp_path / 'work').exists()


def test_max_unpool_fallback_equals_max_unpool2d():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 6, requires_grad=True)
    grad = torch.randn(2, 3, 10, 6)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    expected = F.max_unpool2d(pooled, idx, 2, 2)
    (expected * grad).sum().backward()
    expected_grad, x.grad = x.grad.clone(), None
    torch.use_deterministic_algorithms(True)
    try:
        with pytest.raises(RuntimeError, match='does not have a deterministic'):
            F.max_unpool2d(pooled, idx, 2, 2)  # what DIM's decoder used to call
        pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
        out = max_unpool_2x2(pooled, idx)
        (out * grad).sum().backward()
        with pytest.raises(ValueError, match='odd height or width'):
            odd = F.max_pool2d(torch.randn(1, 1, 5, 5), 2, 2, return_indices=True)
            max_unpool_2x2(*odd)
    finally:
        torch.use_deterministic_algorithms(False)
    assert torch.equal(out, expected) and torch.equal(x.grad, expected_grad)


def test_deterministic_training_runs_and_repeats(tiny_cfg, one_torch_thread):
    """``randomness.deterministic=True``: DIM trains (max-unpooling falls back to
    max_unpool_2x2) and two runs give the same weights."""
    from mattebox.engine.runner import build_runner
    weights = []
    for run in range(2):
        cfg = tiny_cfg.copy()
        cfg.work_dir = f'{tiny_cfg.work_dir}_{run}'
        cfg.train_cfg.max_iters = 2
        cfg.randomness = dict(seed=3, deterministic=True)
        cfg.experiment_name = f'deterministic_{run}'
        try:
            model = build_runner(cfg, 'train').train()
        finally:
            torch.use_deterministic_algorithms(False)
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
