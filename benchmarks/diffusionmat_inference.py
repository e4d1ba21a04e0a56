"""DiffusionMat inference time for one image on the CPU, with a per-part breakdown.

    python benchmarks/diffusionmat_inference.py --size 1024 --t-start 250 --steps 5

Builds the full-size Composition-1k model (random weights: the time does not depend on
them), makes one ``size x size`` image with a ring-shaped unknown region and runs
DiffusionMat's test path (top/left reflect padding, encoder, DDIM inversion of the
trimap through the prior, ``steps`` x (prior DDIM step, corrector, ARP), crop). It
prints the seconds per image, the time of each part (from forward hooks on the
networks), and the ratio to a baseline measured in the same process just before: the
encoder alone on the same padded input, i.e. what a one-pass matting network of this
size costs. Medians over ``--repeats``. Compare ratios, not absolute times, across runs
on a shared machine.
"""
import argparse
import os.path as osp
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

DEFAULT_CONFIG = 'configs/diffusionmat/diffusionmat_swin-t_1xb8-100k_comp1k.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=1024, help='image side (default 1024)')
    parser.add_argument('--t-start', type=int, default=250, help='start level (paper: 250)')
    parser.add_argument('--steps', type=int, default=5, help='DDIM steps (paper: 5)')
    parser.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    parser.add_argument('--repeats', type=int, default=1, help='timed runs (median)')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config')
    return parser.parse_args(argv)


def make_inputs(size: int) -> dict:
    """A batch of one size x size image (normalised, random) and a trimap with a
    ring-shaped unknown region."""
    g = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, size, size, generator=g)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing='ij')
    radius = ((yy - size / 2)**2 + (xx - size / 2)**2).float().sqrt() / size
    trimap = torch.full((1, 1, size, size), 128 / 255)
    trimap[0, 0][radius < 0.25] = 1.0
    trimap[0, 0][radius > 0.35] = 0.0
    return dict(image=image, trimap=trimap)


class PartTimer:
    """Wall time of every forward call of the named modules, in call order."""

    def __init__(self, modules: dict) -> None:
        self.calls = []
        self._start = {}
        for name, module in modules.items():
            module.register_forward_pre_hook(self._pre(name))
            module.register_forward_hook(self._post(name))

    def _pre(self, name):
        def hook(module, args):
            self._start[name] = time.perf_counter()
        return hook

    def _post(self, name):
        def hook(module, args, output):
            self.calls.append((name, time.perf_counter() - self._start.pop(name)))
        return hook


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmengine.config import Config
    from mattebox import register_all_modules
    from mattebox.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.prior_checkpoint = None
    cfg.model.test_cfg.update(t_start=args.t_start, num_steps=args.steps, seed=0)
    model = MODELS.build(cfg.model).eval()
    inputs = make_inputs(args.size)
    padded, state = model.test_resize.apply(inputs)
    print(f'DiffusionMat inference, {args.size}x{args.size} (padded to '
          f'{padded["image"].shape[-2]}x{padded["image"].shape[-1]}), t_start={args.t_start}, '
          f'{args.steps} steps, {args.threads} threads, torch {torch.__version__}, '
          f'{args.repeats} repeat(s)', flush=True)

    baseline, totals, parts = [], [], defaultdict(list)
    with torch.no_grad():
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.encoder(padded['image'])
            baseline.append(time.perf_counter() - start)
            print(f'  baseline (encoder alone): {baseline[-1]:.2f} s', flush=True)

        timer = PartTimer(dict(encoder=model.encoder, prior=model.prior,
                               corrector=model.corrector))
        for _ in range(args.repeats):
            timer.calls.clear()
            start = time.perf_counter()
            padded, state = model.test_resize.apply(inputs)
            alpha = model.test_resize.undo(model.sample(padded), state)
            totals.append(time.perf_counter() - start)
            assert alpha.shape[-2:] == (args.size, args.size)
            prior = [t for name, t in timer.calls if name == 'prior']
            corrector = [t for name, t in timer.calls if name == 'corrector']
            encoder = [t for name, t in timer.calls if name == 'encoder']
            parts['encoder'].append(sum(encoder))
            parts['inversion (prior)'].append(sum(prior[:args.steps]))
            parts['steps: prior'].append(sum(prior[args.steps:]))
            parts['steps: corrector'].append(sum(corrector))
            parts['rest (noise, DDIM, ARP, pad, crop)'].append(
                totals[-1] - sum(t for _, t in timer.calls))
            print(f'  full run: {totals[-1]:.2f} s ({len(prior)} prior calls, '
                  f'{len(corrector)} corrector calls)', flush=True)

    total, base = statistics.median(totals), statistics.median(baseline)
    print(f'seconds per image: {total:.2f}')
    for name, values in parts.items():
        value = statistics.median(values)
        print(f'  {name:<36s} {value:8.2f} s  {100 * value / total:5.1f} %')
    per_prior = statistics.median(parts['steps: prior']) / args.steps
    per_corrector = statistics.median(parts['steps: corrector']) / args.steps
    print(f'  per call: prior {per_prior:.2f} s, corrector {per_corrector:.2f} s')
    print(f'baseline (encoder alone): {base:.2f} s; DiffusionMat / baseline = '
          f'{total / base:.1f}x')


if __name__ == '__main__':
    main()
