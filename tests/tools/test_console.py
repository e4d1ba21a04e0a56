"""What tools/train.py and tools/test.py print: a short console, everything in the log."""
import glob
import os.path as osp
import sys

from tests.conftest import tiny_dim_cfg
from tests.tools.test_train_test import run


def test_train_console_is_short_and_the_log_has_everything(synthetic_root, tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_dim_cfg(synthetic_root, str(work), max_iters=4)
    cfg.log_level = 'INFO'  # the configs' default
    path = tmp_path / 'tiny.py'
    cfg.dump(str(path))
    # --resume in a fresh folder: says there is nothing to resume, trains from 0
    proc = run([sys.executable, 'tools/train.py', str(path), '--resume', '--threads', '1'])
    console = proc.stdout + proc.stderr
    lines = console.strip().splitlines()
    assert len(lines) <= 10, console
    assert (f'--resume: nothing to resume in {work} (no last_checkpoint there): training '
            'starts from iteration 0') in console
    assert 'Auto resumed' not in console
    assert f'train {path}: DIM, 4 iterations, 1 thread (--threads)' in lines
    assert 'train: 4 iterations in ' in proc.stdout  # not a terminal: a plain line, no bar
    assert 'Config:' not in console and 'Hooks will be executed' not in console
    assert 'The prefix is not set' not in console
    log_file, = glob.glob(str(work / '*' / '*.log'))
    assert f'log: {log_file}' in console
    log = open(log_file).read()
    assert 'Config:' in log and 'Hooks will be executed' in log
    assert 'Iter(train) [4/4]' in log and 'Auto resumed' not in log
    assert osp.isfile(work / 'iter_4.pth')


def test_test_without_evaluator_says_it_only_saves_predictions(dim_files, tmp_path):
    config, checkpoint = dim_files
    pred = tmp_path / 'pred'
    proc = run([sys.executable, 'tools/test.py', config, checkpoint, '--threads', '1',
                '--work-dir', str(tmp_path / 'work'), '--save-pred', str(pred),
                '--cfg-options', 'test_evaluator=[]'])
    assert (f'{config} has no test_evaluator: this test only computes the predictions and '
            f'saves them to {pred}; no metrics') in proc.stdout
    assert '|' not in proc.stdout  # no empty table
    assert len(glob.glob(str(pred / '*.png'))) == 4
    proc = run([sys.executable, 'tools/test.py', config, checkpoint, '--out',
                str(tmp_path / 'm.json'), '--cfg-options', 'test_evaluator=[]'], check=False)
    assert proc.returncode == 2
    assert 'has no test_evaluator, so the test computes no metrics to write' in proc.stderr


def test_verbose_shows_the_config_on_the_console(dim_files, tmp_path):
    config, checkpoint = dim_files
    proc = run([sys.executable, 'tools/test.py', config, checkpoint, '--threads', '1',
                '--work-dir', str(tmp_path / 'work'), '--verbose',
                '--cfg-options', 'log_level=INFO'])
    assert 'Config:' in proc.stdout and '|    SAD |' in proc.stdout


class _Runner:
    """What ProgressHook reads of a runner."""
    max_iters, iter = 4, 0
    val_dataloader = test_dataloader = [0, 1]


def _drive(hook):
    runner = _Runner()
    hook.before_train(runner)
    for i in range(4):
        import torch
        hook.after_train_iter(runner, i, outputs={'loss': torch.tensor(0.5 - i / 10,
                                                                      requires_grad=True)})
        runner.iter += 1
        if i == 1:  # validation in the middle of training
            hook.before_val_epoch(runner)
            hook.after_val_iter(runner, 0)
            hook.after_val_iter(runner, 1)
            hook.after_val_epoch(runner, {'SAD': 1.5})
    hook.after_train(runner)
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0)
    hook.after_test_epoch(runner, {})


def test_progress_plain_lines_in_a_pipe(capsys):
    from mattebox.engine.console import ProgressHook
    _drive(ProgressHook(terminal=False, min_interval=0))  # (60 s by default)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'train 1/4 (25%)  eta 0:00  loss 0.5000'
    assert out[3].startswith('val: 2 batches in 0:00; SAD 1.5000')
    assert out[-3:-1] == ['train: 4 iterations in 0:00, last loss 0.2000',
                          'test 1/2 (50%)  eta 0:00']
    assert out[-1].startswith('test: 1 batches in')


def test_progress_bars_on_a_terminal_nest_validation(capsys):
    from mattebox.engine.console import ProgressHook
    hook = ProgressHook(terminal=True)
    _drive(hook)  # one live display for train + val (rich allows only one at a time)
    captured = capsys.readouterr()
    assert hook.bar is None and not hook.phases
    assert 'train: 4 iterations in 0:00, last loss 0.2000' in captured.out
    assert 'val: 2 batches in' in captured.out + captured.err


def test_quiet_console_shows_a_warning_once_and_no_noise():
    import logging

    from mattebox.engine.console import QuietConsoleFilter

    def record(level, text):
        return logging.LogRecord('x', level, __file__, 1, text, None, None)
    keep = QuietConsoleFilter()
    shown = [r.getMessage() for r in (
        record(logging.INFO, 'Config: ...'),
        record(logging.WARNING, 'a problem'), record(logging.WARNING, 'a problem'),
        record(logging.WARNING, 'The prefix is not set in metric class SAD.'),
        record(logging.WARNING, 'vae.conv.bias is skipped since its requires_grad=False'),
        record(logging.ERROR, 'an error')) if keep.filter(r)]
    assert shown == ['a problem', 'an error']
