"""The catalogue of bad inputs: run every tool as a user would, with one bad input at a
time, and say how each ended.

    python benchmarks/bad_inputs.py [--repo PATH] [--only NAME ...] [--list] [--keep]

For every case it prints one line: the case, and how it ended:

- ``clear``: what should happen happened: an error that names the file / key, exit
  status != 0 and no traceback (or, for an acceptable input, a run that succeeds and
  says what it noticed);
- ``raw``: an error, but a raw or misleading traceback (or a message without the
  file / key it should name);
- ``silent``: a wrong result without an error (exit status 0 where an error was due,
  metrics of a random network, a user's file overwritten, code run from a checkpoint).

and the counts at the end. ``--repo`` runs the tools of another checkout (e.g. a clone
of an older commit) to compare; the cases use only options every version has, so that
an unknown option never counts as a clear error. Everything happens in a temporary
folder (tiny synthetic data, 64 x 64, a DIM 1/16 wide); about 5-10 minutes on 2 cores.

Measured (87 cases): the main branch before issue 12 (commit e918254, run with
``--repo`` on a clone of it): 33 clear, 30 raw or misleading, 24 silent wrong results;
with issue 12's changes: 87 clear, 0 raw, 0 silent.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

HERE = osp.dirname(osp.dirname(osp.abspath(__file__)))


@dataclasses.dataclass
class Outcome:
    """What one case did: the process, and harm done whatever the exit status."""
    proc: subprocess.CompletedProcess
    harm: Optional[str] = None  # e.g. 'the annotation was overwritten'


@dataclasses.dataclass
class Case:
    name: str
    group: str
    run: Callable[['Context'], Outcome]
    #: 'error': must fail with a message holding every needle; 'warn': must succeed and
    #: say something holding every needle; 'ok': must succeed.
    expect: str = 'error'
    needles: Sequence[str] = ()


class Context:
    """The temporary workspace: data, configs, checkpoints, and a runner of tools."""

    def __init__(self, repo: str, root: str, python: str) -> None:
        self.repo, self.root, self.python = repo, root, python
        self.data = osp.join(root, 'data')
        self.env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1',
                    'TORCH_HOME': osp.join(root, 'torch_home'),
                    'PYTHONPATH': repo, 'PYTHONWARNINGS': 'ignore'}
        self.counter = 0

    # ------------------------------------------------------------------ helpers
    def tool(self, script: str, *args, timeout: int = 600) -> subprocess.CompletedProcess:
        cmd = [self.python, osp.join(self.repo, 'tools', script), *map(str, args)]
        return subprocess.run(cmd, cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def fresh(self, name: str) -> str:
        """A new empty folder for one case."""
        self.counter += 1
        path = osp.join(self.root, 'cases', f'{self.counter:03d}_{name}')
        os.makedirs(path)
        return path

    def data_copy(self, name: str) -> str:
        """A private copy of the synthetic dataset."""
        dst = osp.join(self.fresh(name), 'data')
        shutil.copytree(self.data, dst)
        return dst

    def config(self, folder: str, data: Optional[str] = None, extra: str = '',
               base: Optional[str] = None) -> str:
        """A tiny config in ``folder`` over ``data`` (default: the shared dataset)."""
        data = data or self.data
        text = CONFIG_TEMPLATE.format(base=base or osp.join(self.root, 'tiny.py'),
                                      data=data, work=osp.join(folder, 'work'))
        path = osp.join(folder, 'cfg.py')
        with open(path, 'w') as f:
            f.write(text + extra)
        return path

    def evil(self, folder: str, name: str = 'evil.pth') -> tuple:
        """A checkpoint whose unpickling runs ``touch MARKER``: (path, marker)."""
        marker = osp.join(folder, 'PWNED')
        path = osp.join(folder, name)
        write_evil_checkpoint(path, marker)
        return path, marker


def write_evil_checkpoint(path: str, marker: str) -> None:
    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    torch.save({'meta': {'iter': 1, 'epoch': 0}, 'state_dict': {}, 'x': Payload()}, path)


BASE_TEMPLATE = """_base_ = ['{repo}/configs/dim/dim_tiny_synthetic.py']
model = dict(backbone=dict(encoder=dict(base_channels=4), decoder=dict(base_channels=4)))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters=2)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
custom_hooks = []
log_level = 'WARNING'
"""

CONFIG_TEMPLATE = """_base_ = ['{base}']
work_dir = '{work}'
train_dataloader = dict(dataset=dict(data_root='{data}'))
val_dataloader = dict(dataset=dict(data_root='{data}'))
test_dataloader = dict(dataset=dict(data_root='{data}'))
"""


def setup(ctx: Context) -> None:
    """Data, the base config and the checkpoints the cases share."""
    r = ctx.tool('dataset_converters/make_synthetic.py', ctx.data, '--num-train', 8,
                 '--num-test', 4, '--size', 64, 64, '--seed', 0, '--quiet')
    assert r.returncode == 0, r.stderr
    with open(osp.join(ctx.root, 'tiny.py'), 'w') as f:
        f.write(BASE_TEMPLATE.format(repo=ctx.repo))
    ck = osp.join(ctx.root, 'ckpt')
    os.makedirs(ck)
    ctx.cfg = ctx.config(ck)
    ctx.work = osp.join(ck, 'work')
    ctx.init = osp.join(ck, 'init.pth')
    runs = [
        (ctx.init, ctx.cfg, []),
        (osp.join(ck, 'wide.pth'), ctx.cfg, ['model.backbone.encoder.base_channels=8',
                                             'model.backbone.decoder.base_channels=8']),
        (osp.join(ck, 'refiner.pth'), ctx.cfg, [
            "model.refiner.type=PlainRefiner", 'model.test_cfg.refine=True']),
        (osp.join(ck, 'plain_dim.pth'), ctx.cfg, ['model.backbone.encoder.batch_norm=False']),
        (osp.join(ck, 'diffusionmat.pth'),
         osp.join(ctx.repo, 'configs/diffusionmat/diffusionmat_tiny_synthetic.py'),
         ['model.train_cfg.allow_random_prior=True']),
    ]
    for out, cfg, opts in runs:
        args = ['misc/init_checkpoint.py', cfg, out] + (['--cfg-options', *opts] if opts else [])
        r = ctx.tool(*args)
        assert r.returncode == 0, (args, r.stderr[-2000:])
    import torch
    state = torch.load(ctx.init, weights_only=True)
    state['state_dict'] = {k: v for k, v in state['state_dict'].items()
                           if not k.startswith('backbone.decoder.')}
    torch.save(state, osp.join(ck, 'nodecoder.pth'))
    r = ctx.tool('train.py', ctx.cfg)  # a real training checkpoint: iter_2.pth
    assert r.returncode == 0, r.stderr[-3000:]
    ctx.trained = osp.join(ctx.work, 'iter_2.pth')
    assert osp.isfile(ctx.trained)
    # a training checkpoint (message hub, optimizer) holding the weights of a wider DIM
    trained = torch.load(ctx.trained, weights_only=False)
    trained['state_dict'] = torch.load(osp.join(ck, 'wide.pth'),
                                       weights_only=True)['state_dict']
    torch.save(trained, osp.join(ck, 'wide_trained.pth'))


# ---------------------------------------------------------------------- file helpers
def png(path: str, image: np.ndarray) -> None:
    assert cv2.imwrite(path, image), path


def read(path: str) -> np.ndarray:
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def digest(path: str) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def unchanged(path: str, before: bytes, what: str) -> Optional[str]:
    if not osp.exists(path):
        return f'{what} was deleted'
    return None if digest(path) == before else f'{what} was overwritten'


def train(ctx: Context, cfg: str, *args) -> subprocess.CompletedProcess:
    return ctx.tool('train.py', cfg, *args)


def test(ctx: Context, cfg: str, ckpt: str, *args) -> subprocess.CompletedProcess:
    return ctx.tool('test.py', cfg, ckpt, *args)


# ------------------------------------------------------------------------ the cases
CASES: List[Case] = []


def case(group: str, expect: str = 'error', needles: Sequence[str] = ()):
    def register(func):
        CASES.append(Case(func.__name__, group, func, expect, tuple(needles)))
        return func
    return register


# --- checkpoints ------------------------------------------------------------------
@case('checkpoint', needles=['empty.pth'])
def test_empty_checkpoint(ctx):
    f = ctx.fresh('empty')
    path = osp.join(f, 'empty.pth')
    open(path, 'wb').close()
    return Outcome(test(ctx, ctx.cfg, path))


@case('checkpoint', needles=['notes.pth'])
def test_text_file_as_checkpoint(ctx):
    f = ctx.fresh('text')
    path = osp.join(f, 'notes.pth')
    with open(path, 'w') as fh:
        fh.write('not a checkpoint\n')
    return Outcome(test(ctx, ctx.cfg, path))


@case('checkpoint', needles=['cut.pth'])
def test_truncated_checkpoint(ctx):
    f = ctx.fresh('truncated')
    path = osp.join(f, 'cut.pth')
    data = digest(ctx.trained)
    with open(path, 'wb') as fh:
        fh.write(data[:len(data) // 2])
    return Outcome(test(ctx, ctx.cfg, path))


@case('checkpoint', needles=['nothere.pth'])
def test_missing_checkpoint(ctx):
    return Outcome(test(ctx, ctx.cfg, osp.join(ctx.root, 'nothere.pth')))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def test_malicious_checkpoint(ctx):
    path, marker = ctx.evil(ctx.fresh('evil'))
    proc = test(ctx, ctx.cfg, path)
    return Outcome(proc, 'code ran from the checkpoint' if osp.exists(marker) else None)


@case('checkpoint', needles=['diffusionmat.pth', 'missing keys'])
def test_checkpoint_of_another_model(ctx):
    return Outcome(test(ctx, ctx.cfg, osp.join(ctx.root, 'ckpt', 'diffusionmat.pth')))


@case('checkpoint', needles=['wide.pth', 'shape'])
def test_checkpoint_of_a_wider_dim(ctx):
    return Outcome(test(ctx, ctx.cfg, osp.join(ctx.root, 'ckpt', 'wide.pth')))


@case('checkpoint', needles=['nodecoder.pth', 'backbone.decoder'])
def test_checkpoint_without_decoder(ctx):
    return Outcome(test(ctx, ctx.cfg, osp.join(ctx.root, 'ckpt', 'nodecoder.pth')))


@case('checkpoint', needles=['refiner.pth', 'refiner.'])
def test_checkpoint_with_extra_refiner(ctx):
    return Outcome(test(ctx, ctx.cfg, osp.join(ctx.root, 'ckpt', 'refiner.pth')))


@case('checkpoint', needles=['http://example.invalid/dim.pth'])
def test_checkpoint_url(ctx):
    return Outcome(test(ctx, ctx.cfg, 'http://example.invalid/dim.pth'))


@case('checkpoint', needles=['wide.pth', 'shape'])
def train_load_from_wrong_checkpoint(ctx):
    f = ctx.fresh('load_from_wide')
    cfg = ctx.config(f, extra=f"load_from = '{ctx.root}/ckpt/wide.pth'\n")
    return Outcome(train(ctx, cfg))


@case('checkpoint', needles=['load_from', 'nothere.pth'])
def train_load_from_missing(ctx):
    f = ctx.fresh('load_from_missing')
    cfg = ctx.config(f, extra=f"load_from = '{ctx.root}/nothere.pth'\n")
    return Outcome(train(ctx, cfg))


@case('checkpoint', needles=['load_from', 'http://'])
def train_load_from_url(ctx):
    f = ctx.fresh('load_from_url')
    marker = osp.join(f, 'PWNED')
    hub = osp.join(ctx.root, 'torch_home', 'hub', 'checkpoints')
    os.makedirs(hub, exist_ok=True)
    write_evil_checkpoint(osp.join(hub, 'load_from_evil.pth'), marker)
    cfg = ctx.config(f, extra="load_from = 'http://example.invalid/load_from_evil.pth'\n")
    proc = train(ctx, cfg)
    return Outcome(proc, 'code ran from the torch hub cache' if osp.exists(marker) else None)


@case('checkpoint', needles=['last_checkpoint', 'http://'])
def train_resume_from_planted_url(ctx):
    f = ctx.fresh('resume_url')
    marker = osp.join(f, 'PWNED')
    hub = osp.join(ctx.root, 'torch_home', 'hub', 'checkpoints')
    os.makedirs(hub, exist_ok=True)
    write_evil_checkpoint(osp.join(hub, 'resume_evil.pth'), marker)
    cfg = ctx.config(f)
    os.makedirs(osp.join(f, 'work'))
    with open(osp.join(f, 'work', 'last_checkpoint'), 'w') as fh:
        fh.write('http://example.invalid/resume_evil.pth')
    proc = train(ctx, cfg, '--resume')
    return Outcome(proc, 'code ran from the torch hub cache' if osp.exists(marker) else None)


@case('checkpoint', needles=['last_checkpoint', 'iter_2.pth'])
def train_resume_pointer_to_deleted_file(ctx):
    f = ctx.fresh('resume_deleted')
    cfg = ctx.config(f)
    os.makedirs(osp.join(f, 'work'))
    with open(osp.join(f, 'work', 'last_checkpoint'), 'w') as fh:
        fh.write(osp.join(f, 'work', 'iter_2.pth'))
    return Outcome(train(ctx, cfg, '--resume'))


@case('checkpoint', needles=['last_checkpoint', 'outside'])
def train_resume_pointer_outside_work_dir(ctx):
    f = ctx.fresh('resume_outside')
    cfg = ctx.config(f)
    os.makedirs(osp.join(f, 'work'))
    with open(osp.join(f, 'work', 'last_checkpoint'), 'w') as fh:
        fh.write(ctx.trained)
    return Outcome(train(ctx, cfg, '--resume'))


@case('checkpoint', needles=['last_checkpoint', 'empty'])
def train_resume_empty_pointer(ctx):
    f = ctx.fresh('resume_empty')
    cfg = ctx.config(f)
    os.makedirs(osp.join(f, 'work'))
    open(osp.join(f, 'work', 'last_checkpoint'), 'w').close()
    return Outcome(train(ctx, cfg, '--resume'))


@case('checkpoint', needles=['iter_2.pth', 'corrupt'])
def train_resume_truncated_checkpoint(ctx):
    f = ctx.fresh('resume_truncated')
    cfg = ctx.config(f)
    os.makedirs(osp.join(f, 'work'))
    path = osp.join(f, 'work', 'iter_2.pth')
    data = digest(ctx.trained)
    with open(path, 'wb') as fh:
        fh.write(data[:len(data) // 3])
    with open(osp.join(f, 'work', 'last_checkpoint'), 'w') as fh:
        fh.write(path)
    return Outcome(train(ctx, cfg, '--resume'))


@case('checkpoint', needles=['init.pth', 'load_from'])
def train_resume_weights_only_checkpoint(ctx):
    f = ctx.fresh('resume_weights_only')
    return Outcome(train(ctx, ctx.config(f), '--resume', ctx.init))


@case('checkpoint', needles=['wide_trained.pth', 'shape'])
def train_resume_checkpoint_of_other_width(ctx):
    f = ctx.fresh('resume_wide')
    return Outcome(train(ctx, ctx.config(f), '--resume',
                         osp.join(ctx.root, 'ckpt', 'wide_trained.pth')))


@case('checkpoint', needles=['https://example.invalid/x.pth'])
def train_resume_from_url(ctx):
    f = ctx.fresh('resume_arg_url')
    return Outcome(train(ctx, ctx.config(f), '--resume', 'https://example.invalid/x.pth'))


@case('checkpoint', needles=['pretrained', 'http://'])
def train_pretrained_url(ctx):
    f = ctx.fresh('pretrained_url')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options',
                         'model.backbone.encoder.pretrained=http://example.invalid/vgg.pth'))


@case('checkpoint', needles=['pretrained', 'vgg16_missing.pth'])
def train_pretrained_missing(ctx):
    f = ctx.fresh('pretrained_missing')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options',
                         f'model.backbone.encoder.pretrained={f}/vgg16_missing.pth'))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def train_init_cfg_malicious(ctx):
    f = ctx.fresh('init_cfg_evil')
    path, marker = ctx.evil(f)
    cfg = ctx.config(f, extra=f"model = dict(init_cfg=dict(type='Pretrained', "
                              f"checkpoint='{path}'))\n")
    proc = train(ctx, cfg)
    return Outcome(proc, 'code ran from the checkpoint' if osp.exists(marker) else None)


def _evil_case(ctx, name, run):
    """Run ``run(folder, evil_path)``; harm if the pickle ran."""
    f = ctx.fresh(name)
    path, marker = ctx.evil(f)
    proc = run(f, path)
    return Outcome(proc, 'code ran from the checkpoint' if osp.exists(marker) else None)


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def train_resume_path_malicious(ctx):
    return _evil_case(ctx, 'resume_evil', lambda f, p: train(ctx, ctx.config(f), '--resume', p))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def train_load_from_malicious(ctx):
    return _evil_case(ctx, 'load_from_evil', lambda f, p: train(
        ctx, ctx.config(f, extra=f"load_from = '{p}'\n")))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def train_pretrained_malicious(ctx):
    return _evil_case(ctx, 'pretrained_evil', lambda f, p: train(
        ctx, ctx.config(f), '--cfg-options', f'model.backbone.encoder.pretrained={p}'))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def train_prior_checkpoint_malicious(ctx):
    base = osp.join(ctx.repo, 'configs/diffusionmat/diffusionmat_tiny_synthetic.py')
    return _evil_case(ctx, 'prior_evil', lambda f, p: train(
        ctx, ctx.config(f, base=base), '--cfg-options', f'model.prior_checkpoint={p}'))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def infer_malicious_checkpoint(ctx):
    return _evil_case(ctx, 'infer_evil', lambda f, p: ctx.tool(
        'infer.py', ctx.cfg, p, osp.join(ctx.data, 'test/merged/0000.png'), '--trimap',
        osp.join(ctx.data, 'test/trimap/0000.png'), '--out', osp.join(f, 'out')))


@case('checkpoint', needles=['missing_in.pth'])
def convert_dim_missing_input(ctx):
    f = ctx.fresh('convert_missing')
    return Outcome(ctx.tool('convert/mmagic_dim.py', osp.join(f, 'missing_in.pth'),
                            osp.join(f, 'out.pth')))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def convert_dim_malicious_input(ctx):
    f = ctx.fresh('convert_evil')
    path, marker = ctx.evil(f)
    proc = ctx.tool('convert/mmagic_dim.py', path, osp.join(f, 'out.pth'))
    return Outcome(proc, 'code ran from the checkpoint' if osp.exists(marker) else None)


@case('checkpoint', needles=['diffusionmat.pth'])
def convert_dim_wrong_input(ctx):
    f = ctx.fresh('convert_wrong')
    return Outcome(ctx.tool('convert/mmagic_dim.py', osp.join(ctx.root, 'ckpt',
                                                              'diffusionmat.pth'),
                            osp.join(f, 'out.pth')))


@case('checkpoint', needles=['evil.pth', 'posix.system'])
def convert_diffusionmat_malicious_input(ctx):
    f = ctx.fresh('convert_dm_evil')
    path, marker = ctx.evil(f)
    proc = ctx.tool('convert/diffusionmat.py', '--prior', path, osp.join(f, 'out.pth'))
    return Outcome(proc, 'code ran from the checkpoint' if osp.exists(marker) else None)


@case('checkpoint', needles=['wide.pth', 'shape'])
def infer_wrong_checkpoint(ctx):
    f = ctx.fresh('infer_wide')
    return Outcome(ctx.tool('infer.py', ctx.cfg, osp.join(ctx.root, 'ckpt', 'wide.pth'),
                            osp.join(ctx.data, 'test/merged/0000.png'), '--trimap',
                            osp.join(ctx.data, 'test/trimap/0000.png'), '--out',
                            osp.join(f, 'out')))


# --- outputs ----------------------------------------------------------------------
@case('output', needles=['test_list.json'])
def test_out_onto_annotation(ctx):
    data = ctx.data_copy('out_annotation')
    cfg = ctx.config(osp.dirname(data), data)
    victim = osp.join(data, 'test_list.json')
    before = digest(victim)
    proc = test(ctx, cfg, ctx.init, '--out', victim)
    return Outcome(proc, unchanged(victim, before, 'the annotation'))


@case('output', needles=['0000.png'])
def test_out_onto_ground_truth(ctx):
    data = ctx.data_copy('out_gt')
    cfg = ctx.config(osp.dirname(data), data)
    victim = osp.join(data, 'test/alpha/0000.png')
    before = digest(victim)
    proc = test(ctx, cfg, ctx.init, '--out', victim)
    return Outcome(proc, unchanged(victim, before, 'a ground-truth matte'))


@case('output', needles=['train/alpha'])
def test_save_pred_into_training_mattes(ctx):
    data = ctx.data_copy('save_pred_train')
    cfg = ctx.config(osp.dirname(data), data)
    victim = osp.join(data, 'train/alpha/0000.png')
    before = digest(victim)
    proc = test(ctx, cfg, ctx.init, '--save-pred', osp.join(data, 'train/alpha'))
    return Outcome(proc, unchanged(victim, before, 'a training matte'))


@case('output', needles=['notes.txt'])
def test_save_pred_into_folder_of_other_files(ctx):
    f = ctx.fresh('save_pred_foreign')
    folder = osp.join(f, 'mine')
    os.makedirs(folder)
    victim = osp.join(folder, '0000.png')
    png(victim, np.full((8, 8), 7, np.uint8))
    with open(osp.join(folder, 'notes.txt'), 'w') as fh:
        fh.write('my notes\n')
    before = digest(victim)
    proc = test(ctx, ctx.cfg, ctx.init, '--save-pred', folder)
    return Outcome(proc, unchanged(victim, before, "a user's image"))


@case('output', needles=['results.json'])
def test_out_onto_foreign_file(ctx):
    f = ctx.fresh('out_foreign')
    victim = osp.join(f, 'results.json')
    with open(victim, 'w') as fh:
        fh.write('{"my": "results"}\n')
    before = digest(victim)
    proc = test(ctx, ctx.cfg, ctx.init, '--out', victim)
    return Outcome(proc, unchanged(victim, before, "a user's file"))


def _eval_dirs(ctx, name):
    f = ctx.fresh(name)
    pred = osp.join(f, 'pred')
    shutil.copytree(osp.join(ctx.data, 'test/alpha'), pred)
    return f, pred, osp.join(ctx.data, 'test/alpha'), osp.join(ctx.data, 'test/trimap')


@case('output', needles=['old.csv'])
def evaluate_out_onto_existing_csv(ctx):
    f, pred, gt, tri = _eval_dirs(ctx, 'eval_out')
    victim = osp.join(f, 'old.csv')
    with open(victim, 'w') as fh:
        fh.write('name,SAD\nmine,1\n')
    before = digest(victim)
    proc = ctx.tool('evaluate.py', pred, gt, tri, '--out', victim, '--workers', 1,
                    '--no-progress')
    return Outcome(proc, unchanged(victim, before, 'an existing CSV'))


@case('output', needles=['0001.png'])
def evaluate_out_onto_ground_truth(ctx):
    data = ctx.data_copy('eval_out_gt')
    f, pred, _, _ = _eval_dirs(ctx, 'eval_out_gt_pred')
    victim = osp.join(data, 'test/alpha/0001.png')
    before = digest(victim)
    proc = ctx.tool('evaluate.py', pred, osp.join(data, 'test/alpha'),
                    osp.join(data, 'test/trimap'), '--out', victim, '--workers', 1,
                    '--no-progress')
    return Outcome(proc, unchanged(victim, before, 'a ground-truth matte'))


@case('output', needles=['out.pth'])
def convert_dim_onto_existing_output(ctx):
    f = ctx.fresh('convert_out')
    victim = osp.join(f, 'out.pth')
    with open(victim, 'wb') as fh:
        fh.write(b'my other checkpoint')
    proc = ctx.tool('convert/mmagic_dim.py', osp.join(ctx.root, 'ckpt', 'plain_dim.pth'),
                    victim)
    return Outcome(proc, unchanged(victim, b'my other checkpoint', 'an existing output'))


@case('output', needles=['mine.pth'])
def init_checkpoint_onto_existing_file(ctx):
    f = ctx.fresh('init_out')
    victim = osp.join(f, 'mine.pth')
    with open(victim, 'wb') as fh:
        fh.write(b'my checkpoint')
    proc = ctx.tool('misc/init_checkpoint.py', ctx.cfg, victim)
    return Outcome(proc, unchanged(victim, b'my checkpoint', 'an existing file'))


@case('output', needles=['input'])
def infer_out_is_input_folder(ctx):
    data = ctx.data_copy('infer_out_input')
    victim = osp.join(data, 'test/merged/0000.png')
    before = digest(victim)
    proc = ctx.tool('infer.py', ctx.cfg, ctx.init, osp.join(data, 'test/merged'),
                    '--trimap', osp.join(data, 'test/trimap'), '--out',
                    osp.join(data, 'test/merged'))
    return Outcome(proc, unchanged(victim, before, 'an input image'))


@case('output', needles=['0000_alpha.png'])
def infer_out_over_foreign_file(ctx):
    f = ctx.fresh('infer_foreign')
    out = osp.join(f, 'out')
    os.makedirs(out)
    victim = osp.join(out, '0000_alpha.png')
    png(victim, np.full((8, 8), 9, np.uint8))
    before = digest(victim)
    proc = ctx.tool('infer.py', ctx.cfg, ctx.init, osp.join(ctx.data, 'test/merged/0000.png'),
                    '--trimap', osp.join(ctx.data, 'test/trimap/0000.png'), '--out', out)
    return Outcome(proc, unchanged(victim, before, "a user's file"))


# --- data -------------------------------------------------------------------------
def _data_case(ctx, name, mutate, split='test', extra=''):
    """Copy the data, let ``mutate(data_root)`` break it, run test.py or train.py."""
    data = ctx.data_copy(name)
    mutate(data)
    cfg = ctx.config(osp.dirname(data), data, extra=extra)
    if split == 'test':
        return Outcome(test(ctx, cfg, ctx.init))
    return Outcome(train(ctx, cfg))


def _rgb_alpha(path, differ):
    a = read(path)
    b = a.copy()
    if differ:
        b = np.clip(b.astype(np.int32) + 40, 0, 255).astype(np.uint8)
    png(path, np.dstack([a, a, b]))


@case('data', needles=['test/alpha/0000.png', 'channel'])
def alpha_rgb_differing_channels_test(ctx):
    return _data_case(ctx, 'rgb_alpha_test',
                      lambda d: _rgb_alpha(osp.join(d, 'test/alpha/0000.png'), True))


@case('data', needles=['train/alpha/0001.png', 'channel'])
def alpha_rgb_differing_channels_train(ctx):
    return _data_case(ctx, 'rgb_alpha_train',
                      lambda d: _rgb_alpha(osp.join(d, 'train/alpha/0001.png'), True), 'train')


@case('data', expect='ok')
def alpha_rgb_equal_channels_test(ctx):
    return _data_case(ctx, 'rgb_alpha_equal',
                      lambda d: _rgb_alpha(osp.join(d, 'test/alpha/0000.png'), False))


def _alpha16_low(path):
    png(path, read(path).astype(np.uint16))  # 16-bit container, 0..255 values


@case('data', expect='warn', needles=['test/alpha/0000.png', '16-bit'])
def alpha_16bit_holding_8bit_values_test(ctx):
    return _data_case(ctx, 'alpha16_low',
                      lambda d: _alpha16_low(osp.join(d, 'test/alpha/0000.png')))


@case('data', expect='warn', needles=['0002.png', '16-bit'])
def evaluate_16bit_prediction_holding_8bit_values(ctx):
    f, pred, gt, tri = _eval_dirs(ctx, 'eval_pred16')
    _alpha16_low(osp.join(pred, '0002.png'))
    return Outcome(ctx.tool('evaluate.py', pred, gt, tri, '--workers', 1, '--no-progress'))


@case('data', expect='warn', needles=['0003.png', '16-bit'])
def evaluate_16bit_ground_truth_holding_8bit_values(ctx):
    data = ctx.data_copy('eval_gt16')
    _alpha16_low(osp.join(data, 'test/alpha/0003.png'))
    f, pred, _, tri = _eval_dirs(ctx, 'eval_gt16_pred')
    return Outcome(ctx.tool('evaluate.py', pred, osp.join(data, 'test/alpha'), tri,
                            '--workers', 1, '--no-progress'))


def _edit_annotation(data, name, index, key, value):
    path = osp.join(data, name)
    with open(path) as fh:
        ann = json.load(fh)
    ann['data_list'][index][key] = value
    with open(path, 'w') as fh:
        json.dump(ann, fh)


@case('data', needles=['../', 'data_root'])
def annotation_path_escapes_data_root(ctx):
    def mutate(d):
        outside = osp.join(osp.dirname(d), 'outside')
        os.makedirs(outside)
        shutil.copy(osp.join(d, 'test/alpha/0000.png'), osp.join(outside, 'a.png'))
        _edit_annotation(d, 'test_list.json', 0, 'alpha_path', '../outside/a.png')
    return _data_case(ctx, 'ann_dotdot', mutate)


@case('data', needles=['data_root', 'absolute'])
def annotation_absolute_path(ctx):
    def mutate(d):
        _edit_annotation(d, 'test_list.json', 1, 'alpha_path',
                         osp.join(ctx.data, 'test/alpha/0001.png'))
    return _data_case(ctx, 'ann_abs', mutate)


def _resize(path, shape):
    img = read(path)
    png(path, cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST))


@case('data', needles=['test/trimap/0000.png'])
def trimap_of_wrong_size_test(ctx):
    return _data_case(ctx, 'trimap_size',
                      lambda d: _resize(osp.join(d, 'test/trimap/0000.png'), (60, 64)))


@case('data', needles=['test/alpha/0001.png'])
def alpha_of_wrong_size_test(ctx):
    return _data_case(ctx, 'alpha_size_test',
                      lambda d: _resize(osp.join(d, 'test/alpha/0001.png'), (64, 56)))


@case('data', needles=['train/alpha/0002.png'])
def alpha_of_wrong_size_train(ctx):
    return _data_case(ctx, 'alpha_size_train',
                      lambda d: _resize(osp.join(d, 'train/alpha/0002.png'), (48, 64)),
                      'train', extra='train_cfg = dict(max_iters=4)\n')


@case('data', needles=['test/trimap/0002.png', '128'])
def trimap_values_outside_0_128_255(ctx):
    def mutate(d):
        p = osp.join(d, 'test/trimap/0002.png')
        t = read(p)
        t[t == 128] = 100
        png(p, t)
    return _data_case(ctx, 'trimap_values', mutate)


@case('data', needles=['train/alpha/0003.png'])
def missing_training_alpha(ctx):
    return _data_case(ctx, 'missing_alpha',
                      lambda d: os.remove(osp.join(d, 'train/alpha/0003.png')), 'train',
                      extra='train_cfg = dict(max_iters=4)\n')


@case('data', needles=['test/merged/0001.png'])
def missing_test_image(ctx):
    return _data_case(ctx, 'missing_merged',
                      lambda d: os.remove(osp.join(d, 'test/merged/0001.png')))


def _truncate(path, keep=0.5):
    data = digest(path)
    with open(path, 'wb') as fh:
        fh.write(data[:int(len(data) * keep)])


@case('data', needles=['train/alpha/0005.png'])
def truncated_training_alpha(ctx):
    return _data_case(ctx, 'truncated_alpha',
                      lambda d: _truncate(osp.join(d, 'train/alpha/0005.png')), 'train',
                      extra='train_cfg = dict(max_iters=4)\n')


@case('data', needles=['test/merged/0002.png'])
def garbage_test_image(ctx):
    def mutate(d):
        with open(osp.join(d, 'test/merged/0002.png'), 'wb') as fh:
            fh.write(os.urandom(3000))
    return _data_case(ctx, 'garbage_merged', mutate)


@case('data', needles=['train/fg/0006.png'])
def empty_training_foreground(ctx):
    return _data_case(ctx, 'empty_fg',
                      lambda d: open(osp.join(d, 'train/fg/0006.png'), 'wb').close(), 'train',
                      extra='train_cfg = dict(max_iters=4)\n')


@case('data', needles=['train/merged/0007.png'])
def one_broken_training_sample_met_late(ctx):
    return _data_case(ctx, 'broken_late',
                      lambda d: _truncate(osp.join(d, 'train/merged/0007.png'), 0.3),
                      'train', extra='train_cfg = dict(max_iters=4)\n')


@case('data', needles=['test/merged/0003.png'])
def broken_validation_sample(ctx):
    # met only by the validation at the end of training
    return _data_case(ctx, 'broken_val',
                      lambda d: _truncate(osp.join(d, 'test/merged/0003.png'), 0.3),
                      'train')


@case('data', needles=['test_list.json'])
def annotation_not_json(ctx):
    def mutate(d):
        with open(osp.join(d, 'test_list.json'), 'w') as fh:
            fh.write('{"data_list": [')
    return _data_case(ctx, 'ann_json', mutate)


@case('data', needles=['test_list.json'])
def annotation_missing(ctx):
    return _data_case(ctx, 'ann_missing', lambda d: os.remove(osp.join(d, 'test_list.json')))


@case('data', needles=['test_list.json', 'sample 1'])
def annotation_sample_without_paths(ctx):
    def mutate(d):
        path = osp.join(d, 'test_list.json')
        with open(path) as fh:
            ann = json.load(fh)
        ann['data_list'][1] = {'name': 'x'}
        with open(path, 'w') as fh:
            json.dump(ann, fh)
    return _data_case(ctx, 'ann_no_paths', mutate)


@case('data', needles=['test_list.json', 'alpha_path'])
def annotation_path_not_a_string(ctx):
    return _data_case(ctx, 'ann_not_str',
                      lambda d: _edit_annotation(d, 'test_list.json', 0, 'alpha_path', 7))


@case('data', needles=['data_root'])
def data_root_missing(ctx):
    f = ctx.fresh('no_root')
    return Outcome(test(ctx, ctx.config(f, osp.join(f, 'nowhere')), ctx.init))


@case('data', needles=['test/alpha/0000.png'])
def alpha_path_is_a_folder(ctx):
    def mutate(d):
        p = osp.join(d, 'test/alpha/0000.png')
        os.remove(p)
        os.makedirs(p)
    return _data_case(ctx, 'alpha_dir', mutate)


@case('data', needles=['0001.png', 'channel'])
def evaluate_rgb_ground_truth(ctx):
    data = ctx.data_copy('eval_rgb_gt')
    _rgb_alpha(osp.join(data, 'test/alpha/0001.png'), True)
    f, pred, _, tri = _eval_dirs(ctx, 'eval_rgb_gt_pred')
    return Outcome(ctx.tool('evaluate.py', pred, osp.join(data, 'test/alpha'), tri,
                            '--workers', 1, '--no-progress'))


@case('data', needles=['0002'])
def evaluate_missing_prediction(ctx):
    f, pred, gt, tri = _eval_dirs(ctx, 'eval_missing')
    os.remove(osp.join(pred, '0002.png'))
    return Outcome(ctx.tool('evaluate.py', pred, gt, tri, '--workers', 1, '--no-progress'))


@case('data', needles=['0000', 'size'])
def infer_trimap_of_wrong_size(ctx):
    f = ctx.fresh('infer_trimap_size')
    tri = osp.join(f, '0000.png')
    shutil.copy(osp.join(ctx.data, 'test/trimap/0000.png'), tri)
    _resize(tri, (40, 40))
    return Outcome(ctx.tool('infer.py', ctx.cfg, ctx.init,
                            osp.join(ctx.data, 'test/merged/0000.png'), '--trimap', tri,
                            '--out', osp.join(f, 'out')))


@case('data', needles=['0000.png', '128'])
def infer_trimap_bad_values(ctx):
    f = ctx.fresh('infer_trimap_values')
    tri = osp.join(f, '0000.png')
    t = read(osp.join(ctx.data, 'test/trimap/0000.png'))
    t[t == 128] = 90
    png(tri, t)
    return Outcome(ctx.tool('infer.py', ctx.cfg, ctx.init,
                            osp.join(ctx.data, 'test/merged/0000.png'), '--trimap', tri,
                            '--out', osp.join(f, 'out')))


@case('data', needles=['train/alpha/0004.png'])
def check_dataset_lists_broken_file(ctx):
    data = ctx.data_copy('check_dataset')
    _truncate(osp.join(data, 'train/alpha/0004.png'))
    cfg = ctx.config(osp.dirname(data), data)
    return Outcome(ctx.tool('dataset_converters/check_dataset.py', cfg, '--level', 'header'))


# --- config and command line ------------------------------------------------------
@case('config', needles=['train_cfg.max_iter', 'max_iters'])
def cfg_option_typo_max_iter(ctx):
    f = ctx.fresh('opt_max_iter')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options', 'train_cfg.max_iter=3'))


@case('config', needles=['intervall', 'interval'])
def cfg_option_typo_checkpoint_interval(ctx):
    f = ctx.fresh('opt_intervall')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options',
                         'default_hooks.checkpoint.intervall=1'))


@case('config', needles=['backbon', 'backbone'])
def cfg_option_typo_in_a_parent_key(ctx):
    f = ctx.fresh('opt_backbon')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options',
                         'model.backbon.encoder.base_channels=8'))


@case('config', needles=['max_iters'])
def cfg_option_unknown_top_level_key(ctx):
    f = ctx.fresh('opt_top')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options', 'max_iters=3'))


@case('config', needles=['batch_sise', 'batch_size'])
def cfg_option_typo_test_batch_size(ctx):
    f = ctx.fresh('opt_batch')
    return Outcome(test(ctx, ctx.config(f), ctx.init, '--cfg-options',
                        'test_dataloader.batch_sise=2'))


@case('config', needles=['cfg.py', 'line'])
def config_syntax_error(ctx):
    f = ctx.fresh('syntax')
    cfg = ctx.config(f, extra='model = dict(backbone=dict(\n')
    return Outcome(train(ctx, cfg))


@case('config', needles=['nothere_base.py'])
def config_base_missing(ctx):
    f = ctx.fresh('base_missing')
    cfg = ctx.config(f, base=osp.join(f, 'nothere_base.py'))
    return Outcome(train(ctx, cfg))


@case('config', needles=['missing_cfg.py'])
def config_file_missing(ctx):
    return Outcome(train(ctx, osp.join(ctx.root, 'missing_cfg.py')))


@case('config', needles=['undefined_name'])
def config_name_error(ctx):
    f = ctx.fresh('name_error')
    return Outcome(train(ctx, ctx.config(f, extra='crop = undefined_name * 2\n')))


@case('config', needles=['VGG61', 'VGG16'])
def config_unknown_type(ctx):
    f = ctx.fresh('unknown_type')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options',
                         'model.backbone.encoder.type=VGG61'))


@case('config', needles=['CUDA'])
def train_amp_without_gpu(ctx):
    f = ctx.fresh('amp')
    return Outcome(train(ctx, ctx.config(f), '--amp'))


@case('config', expect='ok')
def deterministic_training(ctx):
    f = ctx.fresh('deterministic')
    return Outcome(train(ctx, ctx.config(f), '--cfg-options', 'randomness.deterministic=True'))


# ------------------------------------------------------------------------- running
def classify(c: Case, outcome: Outcome) -> tuple:
    proc = outcome.proc
    text = proc.stdout + proc.stderr
    traceback = 'Traceback (most recent call last)' in text
    missing = [n for n in c.needles if n not in text]
    if outcome.harm:
        return 'silent', outcome.harm
    if c.expect == 'error':
        if proc.returncode == 0:
            return 'silent', 'exit status 0'
        if traceback:
            return 'raw', 'traceback'
        if missing:
            return 'raw', f'message lacks {missing}'
        return 'clear', ''
    if proc.returncode != 0:
        return 'raw', f'exit status {proc.returncode}' + (' with a traceback' if traceback
                                                          else '')
    if missing:
        return 'silent', f'nothing said about {missing}'
    return 'clear', ''


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:150] if lines else ''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repo', default=HERE, help='checkout whose tools to run')
    parser.add_argument('--python', default=sys.executable)
    parser.add_argument('--only', nargs='+', metavar='NAME', help='run these cases only')
    parser.add_argument('--list', action='store_true', help='list the cases and exit')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder')
    parser.add_argument('--json', help='also write the results to this json file')
    args = parser.parse_args(argv)
    cases = [c for c in CASES if not args.only or c.name in args.only]
    if args.list:
        for c in cases:
            print(f'{c.group:10s} {c.name}')
        return 0
    repo = osp.abspath(args.repo)
    root = tempfile.mkdtemp(prefix='mattebox-bad-inputs-')
    print(f'repo {repo}; workspace {root}; {len(cases)} cases', flush=True)
    ctx = Context(repo, root, args.python)
    start = time.time()
    try:
        setup(ctx)
        results: Dict[str, tuple] = {}
        for c in cases:
            t = time.time()
            try:
                outcome = c.run(ctx)
                verdict, why = classify(c, outcome)
                detail = last_line(outcome.proc.stderr or outcome.proc.stdout)
            except subprocess.TimeoutExpired:
                verdict, why, detail = 'raw', 'timed out', ''
            results[c.name] = (c.group, verdict, why, detail)
            print(f'{verdict:7s} {c.group:10s} {c.name:50s} {time.time() - t:5.1f}s  '
                  f'{why}{" | " if why and detail else ""}{detail}', flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    counts = {v: sum(r[1] == v for r in results.values()) for v in ('clear', 'raw', 'silent')}
    print(f'\n{len(results)} cases: {counts["clear"]} clear, {counts["raw"]} raw or '
          f'misleading, {counts["silent"]} silent wrong results '
          f'({time.time() - start:.0f} s)')
    if args.json:
        with open(args.json, 'w') as fh:
            json.dump({'repo': repo, 'counts': counts, 'cases': results}, fh, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
