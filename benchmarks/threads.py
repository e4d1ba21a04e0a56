"""The demo's training step with the tools' default thread choice vs 1 and 2 threads,
on an idle machine and with a competing busy process.

    python benchmarks/threads.py [--steps 12] [--rounds 3] [--data DIR]
        [--omp-wait-policy PASSIVE|ACTIVE]

The tools run with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep); this script
runs with the environment's setting unless ``--omp-wait-policy`` is given (libgomp reads
it once, so compare policies with one run each: ``--omp-wait-policy PASSIVE`` is the
tools' setting, no option is torch's default).

The step is the one ``make demo`` trains: ``configs/dim/dim_tiny_synthetic.py`` (batch
8, 64 x 64 crops) on the demo's synthetic data (``--data``, default ``data/synthetic``;
made in a temporary folder with the demo's arguments when absent), through the config's
dataloader (with the workers the tools would choose), data preprocessor, losses and
Adam. Settings:

- ``default``: the threads and workers ``tools/train.py`` chooses here
  (``mattebox.engine.threads``);
- ``1 thread`` / ``2 threads``: ``torch.set_num_threads`` forced, workers as default;
- ``torch's own``: the thread count torch starts with (one per logical CPU), the
  config's workers, i.e. mattebox before it chose threads.

Loads: ``idle`` (whatever else runs on the machine: the script prints the load
average), ``busy, pinned`` (a process spinning on CPU 0, pinned there), ``busy,
unpinned`` (the same, free to move). Each load runs ``--rounds`` rounds; every round
runs every setting for ``--steps`` steps after 2 warm-up steps; the figure is the median
step time over all rounds, and the ratio is against ``1 thread`` under the same load.
"""
import argparse
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
if '--omp-wait-policy' in sys.argv:  # libgomp reads it once, when torch loads it
    os.environ['OMP_WAIT_POLICY'] = sys.argv[sys.argv.index('--omp-wait-policy') + 1]

import torch  # noqa: E402

TORCH_DEFAULT_THREADS = torch.get_num_threads()  # before anything changes it

from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402

from mattebox import register_all_modules  # noqa: E402
from mattebox.engine import threads as thread_rule  # noqa: E402
from mattebox.registry import MODELS  # noqa: E402

CONFIG = osp.join(ROOT, 'configs/dim/dim_tiny_synthetic.py')
SPIN = 'while True: pass'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=12, help='timed steps per setting and round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--data', default=osp.join(ROOT, 'data/synthetic'))
    p.add_argument('--omp-wait-policy', choices=['ACTIVE', 'PASSIVE'],
                   help='set OMP_WAIT_POLICY for this run (default: as the environment says)')
    return p.parse_args()


def ensure_data(root: str, tmp: str) -> str:
    if osp.isfile(osp.join(root, 'training_list.json')):
        return root
    from mattebox.datasets.synthetic import make_synthetic_dataset
    root = osp.join(tmp, 'synthetic')
    print(f'making the demo data in {root} ...', flush=True)
    make_synthetic_dataset(root, num_train=200, num_test=20, size=(128, 128), seed=0)
    return root


class Trainer:
    """The demo's model, optimiser and training dataloader (workers as given)."""

    def __init__(self, cfg: Config, workers: int) -> None:
        torch.manual_seed(0)
        self.model = MODELS.build(cfg.model)
        self.model.init_weights()
        self.model.train()
        self.optim = build_optim_wrapper(self.model, cfg.optim_wrapper)
        loader_cfg = cfg.train_dataloader.copy()
        loader_cfg.num_workers = workers
        if workers == 0:
            loader_cfg.persistent_workers = False
        self.loader = Runner.build_dataloader(loader_cfg, seed=0)
        self.batches = iter(self.loader)

    def step(self) -> None:
        try:
            data = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            data = next(self.batches)
        self.model.train_step(data, self.optim)

    def timed(self, threads: int, steps: int) -> list:
        torch.set_num_threads(threads)
        for _ in range(2):
            self.step()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - start)
        return times


def start_busy(pinned: bool) -> subprocess.Popen:
    def pin():
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return subprocess.Popen([sys.executable, '-c', SPIN], preexec_fn=pin if pinned else None)


def main() -> None:
    args = parse_args()
    register_all_modules()
    MMLogger.get_instance('benchmark_threads', log_level='WARNING')  # no init_weights lines
    with tempfile.TemporaryDirectory() as tmp, \
            DefaultScope.overwrite_default_scope('mattebox'):
        data = ensure_data(args.data, tmp)
        cfg = Config.fromfile(CONFIG)
        for name in thread_rule.DATALOADERS:
            cfg[name].dataset.data_root = data
        config_workers = cfg.train_dataloader.num_workers
        default_threads, source = thread_rule.choose_threads()
        fitted = cfg.copy()
        thread_rule.fit_workers(fitted, default_threads)
        default_workers = fitted.train_dataloader.num_workers
        settings = [
            ('default', default_threads, default_workers, f'{source}, {default_workers} workers'),
            ('1 thread', 1, default_workers, ''),
            ('2 threads', 2, default_workers, ''),
            ("torch's own", TORCH_DEFAULT_THREADS, config_workers,
             f'{TORCH_DEFAULT_THREADS} threads, {config_workers} workers'),
        ]
        trainers = {}
        for _, _, workers, _ in settings:
            if workers not in trainers:
                trainers[workers] = Trainer(cfg, workers)
        print(f'OMP_WAIT_POLICY={os.environ.get("OMP_WAIT_POLICY", "(unset)")}; '
              f'{thread_rule.available_cores()} core(s) available; load average before: '
              f'{" ".join(f"{x:.2f}" for x in os.getloadavg())}', flush=True)
        loads = [('idle', None), ('busy, pinned', True), ('busy, unpinned', False)]
        results = {}
        for load, pinned in loads:
            busy = start_busy(pinned) if pinned is not None else None
            try:
                time.sleep(1.0)  # let the busy process get going
                for _ in range(args.rounds):
                    for label, threads, workers, _ in settings:
                        results.setdefault((load, label), []).extend(
                            trainers[workers].timed(threads, args.steps))
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            print(f'  {load}: done (load average {os.getloadavg()[0]:.2f})', flush=True)
        print(f'\nload average after: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')
        print('median seconds per training step (ratio to 1 thread under the same load)\n')
        header = '| setting | ' + ' | '.join(load for load, _ in loads) + ' |'
        print(header)
        print('|' + '---|' * (len(loads) + 1))
        for label, threads, workers, note in settings:
            cells = []
            for load, _ in loads:
                median = statistics.median(results[(load, label)])
                base = statistics.median(results[(load, '1 thread')])
                cells.append(f'{median:.3f} ({median / base:.2f}x)')
            name = f'{label} ({note})' if note else label
            print(f'| {name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
