"""Loop overhead: a DIM training step through mattebox's Runner vs a bare PyTorch loop.

    python benchmarks/train_step.py [--size 320] [--iters 8] [--rounds 3] [--threads 2]

Both sides train the same DIM (stage 1, full width) on the same packed sample
(batch 1), in the same process, with Adam. The Runner side runs mmengine's
IterBasedTrainLoop with the default hooks (timer, logger, checkpoint disabled),
the data preprocessor and the OptimWrapper; it reads the sample from an in-memory
dataset so that no image decoding is timed. The bare side feeds the preprocessed
tensors straight to forward / loss / backward / step. Per-iteration times are taken
between consecutive iterations; the script prints medians and their ratio.
Rounds alternate the two sides to share the machine's noise.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import os.path as osp

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from mattebox import register_all_modules  # noqa: E402
from mattebox.datasets.transforms import PackMattingInputs  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs/dim/dim_stage1-v16_1xb1-1000k_comp1k.py')


def make_sample(size: int) -> dict:
    rng = np.random.default_rng(0)
    alpha = np.zeros((size, size), np.uint8)
    alpha[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
    alpha[size // 4 - 8: size // 4 + 8] = 128
    trimap = np.where(alpha == 255, 255, np.where(alpha == 0, 0, 128)).astype(np.uint8)
    fg = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    a = alpha[..., None] / 255.0
    merged = np.round(fg * a + bg * (1 - a)).astype(np.uint8)
    return PackMattingInputs().transform(
        dict(alpha=alpha, fg=fg, bg=bg, merged=merged, trimap=trimap))


class RepeatDataset(Dataset):
    """The same packed sample, ``n`` times (fresh copies: the preprocessor rescales
    data samples in place)."""

    def __init__(self, sample: dict, n: int) -> None:
        self.sample, self.n = sample, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {'inputs': self.sample['inputs'].clone(),
                'data_samples': self.sample['data_samples'].clone()}


class IterTimes(Hook):
    def __init__(self) -> None:
        self.stamps = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.stamps.append(time.perf_counter())


def runner_times(sample: dict, iters: int, work_dir: str) -> list:
    """Per-iteration times of mmengine's IterBasedTrainLoop on the stage-1 DIM."""
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader
    cfg = Config.fromfile(CONFIG)
    loader = DataLoader(RepeatDataset(sample, iters + 1), batch_size=1, shuffle=False,
                        num_workers=0, collate_fn=pseudo_collate)
    hooks = dict(cfg.default_hooks)
    hooks['checkpoint'] = None
    hooks['logger'] = dict(type='LoggerHook', interval=10**6)
    runner = Runner(
        model=cfg.model, work_dir=work_dir, train_dataloader=loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters + 1, val_interval=10**9),
        optim_wrapper=cfg.optim_wrapper, default_hooks=hooks, default_scope='mattebox',
        log_level='WARNING', env_cfg=dict(cudnn_benchmark=False))
    hook = IterTimes()
    runner.register_hook(hook)
    runner.train()
    return list(np.diff(hook.stamps))


def bare_times(sample: dict, iters: int) -> list:
    from mmengine.registry import MODELS
    cfg = Config.fromfile(CONFIG)
    model = MODELS.build(cfg.model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    batch = model.data_preprocessor({'inputs': [sample['inputs']],
                                     'data_samples': [sample['data_samples'].clone()]}, True)
    x = batch['inputs']
    ds = batch['data_samples'][0]
    gt_alpha, fg, bg, merged = (ds.gt_alpha[None], ds.gt_fg[None], ds.gt_bg[None],
                                ds.gt_merged[None])
    weight = ((x[:, 3:4] - 128 / 255).abs() < 1e-3).float()
    stamps = []
    for _ in range(iters + 1):
        pred = model.backbone(x).sigmoid()
        loss_a = 0.5 * (torch.sqrt((pred - gt_alpha) ** 2 + 1e-12) * weight).sum() / (
            weight.sum() + 1e-12)
        comp = pred * fg + (1 - pred) * bg
        w3 = weight.expand_as(comp)
        loss_c = 0.5 * (torch.sqrt((comp - merged) ** 2 + 1e-12) * w3).sum() / (
            w3.sum() + 1e-12)
        opt.zero_grad()
        (loss_a + loss_c).backward()
        opt.step()
        stamps.append(time.perf_counter())
    return list(np.diff(stamps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=320)
    parser.add_argument('--iters', type=int, default=8, help='timed iterations per round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    sample = make_sample(args.size)
    runner_all, bare_all = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            bare = bare_times(sample, args.iters)
            run = runner_times(sample, args.iters, osp.join(tmp, f'r{r}'))
            bare_all += bare
            runner_all += run
            print(f'round {r + 1}/{args.rounds}: bare {statistics.median(bare):.3f} s/iter, '
                  f'runner {statistics.median(run):.3f} s/iter', flush=True)
    b, m = statistics.median(bare_all), statistics.median(runner_all)
    print(f'DIM stage 1, batch 1, {args.size}x{args.size}, {args.threads} threads, '
          f'{len(bare_all)} iterations each')
    print(f'  bare PyTorch loop : {b:.3f} s/iter (median)')
    print(f'  mattebox Runner   : {m:.3f} s/iter (median)')
    print(f'  ratio             : {m / b:.3f}x  (goal <= 1.03x)')


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '2')
    main()
