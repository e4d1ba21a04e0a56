"""How many CPU threads and dataloader workers a run uses, and how idle threads wait.

The tools (``tools/train.py``, ``tools/test.py``, ``tools/infer.py``, ``tools/app.py``)
call :func:`configure_threads` before they build anything. Threads, first match wins:

1. ``--threads N`` on the command line;
2. ``OMP_NUM_THREADS`` set by the user (not the one ``tools/dist_*.sh`` or ``torchrun``
   set themselves);
3. automatic: the physical cores this process may run on (CPU affinity, cgroup quota,
   SMT siblings counted once), divided among the processes of this machine
   (``LOCAL_WORLD_SIZE``), at most :data:`THREAD_CAP`.

Waiting: the tools set ``OMP_WAIT_POLICY=PASSIVE`` (unless it is set) before torch is
imported (the first lines of each tool), so a thread that waits for the others sleeps
instead of spinning. Spinning is what makes torch's threads collapse on a busy machine:
a thread spins on a core that another process needs, the thread it waits for gets
less of its core, and every operator waits for the slowest thread (``benchmarks/
threads.py`` measured 2 spinning threads 12-20x slower than 1 at load 8-15 on 2 cores
and 2.5-5.7x at load 2.6-5.6; 2 sleeping threads 2-3x faster than 1 at load 12, and
0.5-1.3x the time of 1 at load 2; ``docs/get_started.md``).

Dataloader workers (CPU-only runs): a config's ``num_workers`` is lowered so that workers
plus the main process's threads fit in this process's share of the cores; a
``--cfg-options ...num_workers=N`` given on the command line is kept as given. With a GPU
the workers are left as configured (the main thread mostly waits for the GPU).
"""
import math
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple


THREAD_CAP = 8
# set by tools/dist_*.sh when they, not the user, chose OMP_NUM_THREADS for torchrun
LAUNCHER_OMP_MARK = 'MATTEBOX_OMP_FROM_LAUNCHER'
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def add_threads_argument(parser) -> None:
    """The tools' ``--threads N`` option."""
    def positive_int(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            import argparse
            raise argparse.ArgumentTypeError(f'expected a whole number >= 1, got {text!r}')
        return int(text)

    parser.add_argument('--threads', type=positive_int, metavar='N',
                        help='torch threads per process (default: OMP_NUM_THREADS if you '
                        'set it, else the cores this process may use, shared among the '
                        f'processes of a distributed run, at most {THREAD_CAP})')


def available_cores() -> int:
    """Physical cores this process may use: its CPU affinity with SMT siblings counted
    once, at most the cgroup CPU quota (containers), at least 1."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topo = f'/sys/devices/system/cpu/cpu{cpu}/topology'
        try:
            with open(f'{topo}/physical_package_id') as f:
                package = f.read().strip()
            with open(f'{topo}/core_id') as f:
                core = f.read().strip()
            cores.add((package, core))
        except OSError:
            cores.add(('cpu', cpu))
    count = len(cores) or 1
    quota = _cgroup_quota()
    if quota:
        count = min(count, max(1, math.ceil(quota)))
    return count


def _cgroup_quota() -> Optional[float]:
    """CPUs allowed by a cgroup v2 (``cpu.max``) or v1 quota, or None."""
    try:
        with open('/sys/fs/cgroup/cpu.max') as f:
            quota, period = f.read().split()[:2]
        return None if quota == 'max' else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') as f:
            quota = int(f.read())
        with open('/sys/fs/cgroup/cpu/cpu.cfs_period_us') as f:
            period = int(f.read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def local_world_size() -> int:
    """Processes of this run on this machine (torchrun's ``LOCAL_WORLD_SIZE``, SLURM's
    tasks per node), 1 without a launcher."""
    for key in ('LOCAL_WORLD_SIZE', 'SLURM_NTASKS_PER_NODE'):
        value = os.environ.get(key, '')
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def user_omp_threads() -> Optional[int]:
    """``OMP_NUM_THREADS`` when the user set it (a positive integer), else None."""
    if os.environ.get(LAUNCHER_OMP_MARK):
        return None
    value = os.environ.get('OMP_NUM_THREADS', '').strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def choose_threads(explicit: Optional[int] = None,
                   world: Optional[int] = None) -> Tuple[int, str]:
    """The intra-op thread count and where it came from (``'--threads'``,
    ``'OMP_NUM_THREADS'`` or ``'auto: C core(s)[ / P processes]'``)."""
    if explicit:
        return int(explicit), '--threads'
    omp = user_omp_threads()
    if omp:
        return omp, 'OMP_NUM_THREADS'
    world = world or local_world_size()
    cores = available_cores()
    how = f'{cores} core(s)' + (f' / {world} processes' if world > 1 else '')
    return min(max(1, cores // world), THREAD_CAP), f'auto: {how}'


def cores_per_process(world: Optional[int] = None) -> int:
    return max(1, available_cores() // (world or local_world_size()))


@dataclass
class ThreadPlan:
    """What :func:`configure_threads` chose."""
    threads: int
    source: str
    workers: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # name: (was, now)

    def describe(self) -> str:
        text = f"{self.threads} thread{'' if self.threads == 1 else 's'} ({self.source})"
        if self.threads > 1 and os.environ.get('OMP_WAIT_POLICY'):
            text += f", OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
        lowered = [f'{name}.num_workers {was}->{now}'
                   for name, (was, now) in self.workers.items() if was != now]
        if lowered:
            text += '; ' + ', '.join(lowered) + ' to fit the cores (set num_workers ' \
                    'with --cfg-options to keep yours)'
        return text


def fit_workers(cfg, threads: int, given_keys: Iterable[str] = (),
                world: Optional[int] = None) -> Dict[str, Tuple[int, int]]:
    """Lower the ``num_workers`` of ``cfg``'s dataloaders (in place) so that workers +
    ``threads`` fit in this process's cores. Keys in ``given_keys`` (the user's
    ``--cfg-options``) are kept. Returns ``{dataloader: (was, now)}``."""
    given = set(given_keys)
    room = max(0, cores_per_process(world) - threads)
    changes = {}
    for name in DATALOADERS:
        loader = cfg.get(name)
        if not isinstance(loader, dict) or f'{name}.num_workers' in given:
            continue
        was = loader.get('num_workers', 0) or 0
        now = min(was, room)
        changes[name] = (was, now)
        if now != was:
            loader['num_workers'] = now
            if now == 0:
                loader['persistent_workers'] = False  # torch refuses it without workers
                loader.pop('prefetch_factor', None)
    return changes


def configure_threads(explicit: Optional[int] = None, cfg=None,
                      given_keys: Iterable[str] = ()) -> ThreadPlan:
    """Set torch's intra-op threads by the rule of this module and fit ``cfg``'s workers
    on CPU-only runs."""
    import torch
    threads, source = choose_threads(explicit)
    torch.set_num_threads(threads)
    os.environ.pop(LAUNCHER_OMP_MARK, None)
    # mmengine sets (and warns about) MKL_NUM_THREADS=1 in distributed runs when unset;
    # torch.set_num_threads governs MKL anyway
    os.environ.setdefault('MKL_NUM_THREADS', str(threads))
    plan = ThreadPlan(threads, source)
    if cfg is not None and not torch.cuda.is_available():
        plan.workers = fit_workers(cfg, threads, given_keys)
    return plan
