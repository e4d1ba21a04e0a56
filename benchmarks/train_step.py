"""Loop overhead: a DIM training step through mattebox's Runner vs a bare PyTorch loop.

    python benchmarks/train_step.py [--size 320] [--iters 20] [--threads 2]

Both sides train their own copy of the same DIM (stage 1, full width, same initial
weights) on the same packed sample (batch 1) with Adam, in the same process. The
Runner side is mmengine's IterBasedTrainLoop with the config's default hooks (the
checkpoint hook off), the data preprocessor, DIM's losses and the OptimWrapper; its
dataset hands out the packed sample (no image decoding is timed). The bare side feeds
the preprocessed tensors straight to forward / Charbonnier losses / backward / Adam.

To share the machine's noise, the two are interleaved: after every Runner iteration a
hook runs one bare iteration. A Runner iteration is timed from the end of the previous
bare iteration to the end of its own ``after_train_iter``; the script prints medians
and their ratio.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

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
    """The same packed sample ``n`` times. A shallow copy of the data sample is enough:
    the preprocessor replaces its ground-truth fields, it does not modify them."""

    def __init__(self, sample: dict, n: int) -> None:
        self.sample, self.n = sample, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {'inputs': self.sample['inputs'], 'data_samples': self.sample['data_samples'].new()}


class BareStep:
    """A plain PyTorch training step on a copy of the model, with DIM's two losses."""

    def __init__(self, model: torch.nn.Module, sample: dict) -> None:
        import copy
        self.model = copy.deepcopy(model)
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-5)
        batch = self.model.data_preprocessor(
            {'inputs': [sample['inputs']], 'data_samples': [sample['data_samples'].new()]},
            True)
        inputs = batch['inputs']
        self.x = torch.cat([inputs['image'], inputs['trimap']], dim=1)
        ds = batch['data_samples'][0]
        self.gt = [t[None] for t in (ds.gt_alpha, ds.gt_fg, ds.gt_bg, ds.gt_merged)]
        self.weight = ((inputs['trimap'] - 128 / 255).abs() < 1e-3).float()

    def __call__(self) -> None:
        gt_alpha, fg, bg, merged = self.gt
        pred = self.model.backbone(self.x).sigmoid()
        w = self.weight
        loss_a = (torch.sqrt((pred - gt_alpha) ** 2 + 1e-12) * w).sum() / (w.sum() + 1e-12)
        comp = pred * fg + (1 - pred) * bg
        w3 = w.expand_as(comp)
        loss_c = (torch.sqrt((comp - merged) ** 2 + 1e-12) * w3).sum() / (w3.sum() + 1e-12)
        loss = 0.5 * loss_a + 0.5 * loss_c
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()


class Interleave(Hook):
    """After each Runner iteration: record its end, run one bare step, time both."""

    def __init__(self, sample: dict) -> None:
        self.sample = sample
        self.runner_times, self.bare_times = [], []
        self.bare = None
        self.mark = None

    def before_train(self, runner) -> None:
        self.bare = BareStep(runner.model, self.sample)
        self.mark = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        end = time.perf_counter()
        self.runner_times.append(end - self.mark)
        self.bare()
        self.mark = time.perf_counter()
        self.bare_times.append(self.mark - end)


def run(sample: dict, iters: int, work_dir: str):
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader
    cfg = Config.fromfile(CONFIG)
    loader = DataLoader(RepeatDataset(sample, iters), batch_size=1, shuffle=False,
                        num_workers=0, collate_fn=pseudo_collate)
    hooks = dict(cfg.default_hooks)
    hooks['checkpoint'] = None
    hooks['logger'] = dict(type='LoggerHook', interval=10**6)
    runner = Runner(
        model=cfg.model, work_dir=work_dir, train_dataloader=loader,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=10**9),
        optim_wrapper=cfg.optim_wrapper, default_hooks=hooks, default_scope='mattebox',
        log_level='WARNING', env_cfg=dict(cudnn_benchmark=False))
    hook = Interleave(sample)
    runner.register_hook(hook, priority='VERY_LOW')
    runner.train()
    # the first iteration of each side warms up allocators and kernels
    return hook.runner_times[1:], hook.bare_times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=320)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    sample = make_sample(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        runner_t, bare_t = run(sample, args.iters + 1, tmp)
    b, m = statistics.median(bare_t), statistics.median(runner_t)
    pairs = [r / x for r, x in zip(runner_t, bare_t)]
    print(f'DIM stage 1, batch 1, {args.size}x{args.size}, {args.threads} threads, '
          f'{len(bare_t)} interleaved iterations')
    print(f'  bare PyTorch loop : {b:.3f} s/iter (median)')
    print(f'  mattebox Runner   : {m:.3f} s/iter (median)')
    print(f'  ratio             : {m / b:.3f}x  (median of pairs {statistics.median(pairs):.3f}x; '
          f'goal <= 1.03x)')


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '2')
    main()
