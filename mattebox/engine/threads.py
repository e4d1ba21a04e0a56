"""How many CPU threads and dataloader workers a run uses.

The tools (``tools/train.py``, ``tools/test.py``, ``tools/infer.py``, ``tools/app.py``)
call :func:`configure_threads` before they build anything. The rule, first match wins:

1. ``--threads N`` on the command line;
2. ``OMP_NUM_THREADS`` set by the user (not the one ``tools/dist_*.sh`` or ``torchrun``
   set themselves);
3. automatic: the physical cores this process may run on (CPU affinity, cgroup quota,
   SMT siblings counted once), divided among the processes of this machine
   (``LOCAL_WORLD_SIZE``), at most :data:`THREAD_CAP`, and at most the cores that other
   processes leave free (measured from ``/proc/stat`` over 0.3 s at start-up). While an
   automatic run trains, validates or tests, :class:`AdaptThreadsHook` measures again
   every 20 s and follows the free cores (a busy neighbour that starts or stops).

Dataloader workers (CPU-only runs): a config's ``num_workers`` is lowered so that workers
plus the main process's threads fit in this process's share of the cores; a
``--cfg-options ...num_workers=N`` given on the command line is kept as given. With a GPU
the workers are left as configured (the main thread mostly waits for the GPU).

Why: torch's default is one thread per logical CPU in every process. On a small or busy
machine, threads that outnumber the free cores wait for each other at every operator
(``benchmarks/threads.py`` measures it; ``docs/get_started.md`` has the table).
"""
import math
import os
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, Optional, Tuple

from mmengine.hooks import Hook

from mattebox.registry import HOOKS

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
                        'set it, else the cores this process may use that other processes '
                        'leave free, shared among the processes of a distributed run, at '
                        f'most {THREAD_CAP})')


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


class CpuMonitor:
    """CPU time used by other processes on this process's CPUs, between two calls of
    :meth:`others_busy` (in cores: 1.0 = one core kept busy)."""

    def __init__(self) -> None:
        try:
            self.cpus = {f'cpu{c}' for c in os.sched_getaffinity(0)}
        except AttributeError:
            self.cpus = None
        self.last = self._snapshot()

    def _snapshot(self):
        try:
            with open('/proc/stat') as f:
                lines = [line.split() for line in f if line.startswith('cpu')]
        except OSError:
            return None
        busy = total = 0
        for fields in lines:
            if fields[0] == 'cpu' or (self.cpus is not None and fields[0] not in self.cpus):
                continue
            values = [int(v) for v in fields[1:9]]  # user .. steal
            idle = values[3] + values[4]  # idle + iowait
            total += sum(values)
            busy += sum(values) - idle
        times = os.times()
        own = times.user + times.system  # every thread of this process
        return busy, total, own, time.monotonic()

    def others_busy(self) -> Optional[float]:
        now = self._snapshot()
        last, self.last = self.last, now
        if now is None or last is None or now[1] <= last[1] or now[3] <= last[3]:
            return None
        cpus = len(self.cpus) if self.cpus else (os.cpu_count() or 1)
        busy_cores = (now[0] - last[0]) / (now[1] - last[1]) * cpus
        own_cores = (now[2] - last[2]) / (now[3] - last[3])
        return max(0.0, busy_cores - own_cores)


def free_cores(others: Optional[float], cores: int, allowance: float = 0.0) -> int:
    """Cores left to this run: ``cores`` minus what other processes use, less
    ``allowance`` (what this run's own other processes account for), rounded."""
    if others is None:
        return cores
    others = max(0.0, others - allowance)
    return max(1, int(cores - others + 0.5))


def choose_threads(explicit: Optional[int] = None, world: Optional[int] = None,
                   measure: float = 0.3) -> Tuple[int, str]:
    """The intra-op thread count and where it came from (``'--threads'``,
    ``'OMP_NUM_THREADS'`` or ``'auto: ...'``); ``measure`` seconds of watching the
    machine's load (0: assume it is idle)."""
    if explicit:
        return int(explicit), '--threads'
    omp = user_omp_threads()
    if omp:
        return omp, 'OMP_NUM_THREADS'
    world = world or local_world_size()
    cores = available_cores()
    share = max(1, cores // world)
    others = None
    if measure > 0:
        monitor = CpuMonitor()
        time.sleep(measure)
        others = monitor.others_busy()
    # the other processes of this run start at the same time (about a core each)
    free = free_cores(others, cores, allowance=world - 1)
    threads = max(1, min(share, THREAD_CAP, free // world))
    how = f'{cores} core(s)' + (f' / {world} processes' if world > 1 else '')
    if others is not None and others >= 0.5:
        how += f', other processes busy on {others:.1f}'
    return threads, f'auto: {how}'


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
    on CPU-only runs. An automatic choice adds :class:`AdaptThreadsHook` to ``cfg``."""
    import torch
    threads, source = choose_threads(explicit)
    torch.set_num_threads(threads)
    os.environ.pop(LAUNCHER_OMP_MARK, None)
    # mmengine sets (and warns about) MKL_NUM_THREADS=1 in distributed runs when unset;
    # torch.set_num_threads governs MKL anyway
    os.environ.setdefault('MKL_NUM_THREADS', str(threads))
    plan = ThreadPlan(threads, source)
    if cfg is not None and not torch.cuda.is_available():
        plan.workers = fit_workers(cfg, cores_per_process(), given_keys) \
            if source.startswith('auto') else fit_workers(cfg, threads, given_keys)
        if source.startswith('auto'):
            cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
                dict(type='AdaptThreadsHook', max_threads=threads_limit())]
    return plan


def threads_limit(world: Optional[int] = None) -> int:
    """The most threads an automatic choice gives one process."""
    return max(1, min(cores_per_process(world), THREAD_CAP))


@HOOKS.register_module()
class AdaptThreadsHook(Hook):
    """Follow the free cores while a run goes on (automatic thread choice only).

    Every ``interval`` seconds it measures how many cores other processes kept busy
    since the last check and sets ``torch.set_num_threads`` to the cores left (at least
    1, at most ``max_threads``), logging each change (in the log file).

    Args:
        max_threads: the most threads (the automatic choice on an idle machine).
        interval: seconds between checks.
    """

    priority = 'LOWEST'

    def __init__(self, max_threads: int, interval: float = 20.0) -> None:
        self.max_threads, self.interval = max_threads, interval
        self.monitor, self.next_check = None, 0.0

    def _check(self, runner) -> None:
        now = time.monotonic()
        if self.monitor is None:
            self.monitor, self.next_check = CpuMonitor(), now + self.interval
            return
        if now < self.next_check:
            return
        self.next_check = now + self.interval
        others = self.monitor.others_busy()
        if others is None:
            return
        import torch
        world, current = local_world_size(), torch.get_num_threads()
        free = free_cores(others, available_cores(), allowance=(world - 1) * current)
        wanted = max(1, min(self.max_threads, free // world))
        if wanted != current:
            runner.logger.info(f'threads {current} -> {wanted}: other processes kept '
                               f'{others:.1f} core(s) busy')
            torch.set_num_threads(wanted)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check(runner)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check(runner)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._check(runner)
