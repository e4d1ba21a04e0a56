"""Training on several named sources with a per-iteration schedule (TDM's data mix).

:class:`MultiSourceDataset` concatenates named datasets (each with its own pipeline);
:class:`SourceScheduleBatchSampler` yields, at every iteration, one batch drawn from the
single source that the schedule names for that iteration. TDM (Xiang et al., TMLR 2025)
trains on RefMatte at odd iterations and RefCOCO at even ones, with one extra iteration
on P3M-10K / AM-2K / RM-1K (in turn) after every 4 iterations::

    schedule = ['refmatte', 'refcoco', 'refmatte', 'refcoco', ['p3m', 'am2k', 'rm1k']]

    iteration  1  2  3  4  5    6  7  8  9  10    11 12 13 14 15    16 ...
    source     R  C  R  C  p3m  R  C  R  C  am2k  R  C  R  C  rm1k  R  ...

Config (mmengine 0.10's ``Runner.build_dataloader`` builds ``batch_sampler`` with
``sampler`` and ``batch_size`` as default arguments; the ``sampler`` entry is still
required by mmengine but its order is not used)::

    train_dataloader = dict(
        batch_size=4, num_workers=4,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='SourceScheduleBatchSampler', schedule=schedule),
        dataset=dict(type='MultiSourceDataset', sources=dict(refmatte=..., refcoco=...)))
"""
import math
from functools import lru_cache
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import force_full_init
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Dataset, Sampler

from mattebox.registry import DATA_SAMPLERS, DATASETS

Slot = Union[str, Sequence[str]]


@DATASETS.register_module()
class MultiSourceDataset(Dataset):
    """Named datasets, concatenated: index ``i`` of source ``k`` is
    ``offsets[k] + i``.

    Args:
        sources: ``{name: dataset or dataset config}``, in order (e.g.
            ``dict(refmatte=dict(type='RefMatteDataset', ...), refcoco=...)``).
        lazy_init: defer building the sub-datasets' data lists to :meth:`full_init`.
    """

    def __init__(self, sources: Dict[str, Union[dict, Dataset]], lazy_init: bool = False) -> None:
        if not isinstance(sources, dict) or not sources:
            raise ValueError(f'MultiSourceDataset: sources must be a non-empty dict '
                             f'{{name: dataset config}}, got {sources!r}')
        self.names: List[str] = [str(n) for n in sources]
        self.datasets = []
        for name, cfg in sources.items():
            if isinstance(cfg, dict):
                cfg = dict(cfg)
                if lazy_init:
                    cfg.setdefault('lazy_init', True)
                self.datasets.append(DATASETS.build(cfg))
            elif isinstance(cfg, Dataset):
                self.datasets.append(cfg)
            else:
                raise TypeError(f'MultiSourceDataset: source {name!r} must be a dataset or a '
                                f'config dict, got {type(cfg).__name__}')
        self._metainfo = dict(sources=tuple(self.names))
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return dict(self._metainfo)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        for d in self.datasets:
            if hasattr(d, 'full_init'):
                d.full_init()
        self.sizes = [len(d) for d in self.datasets]
        empty = [n for n, s in zip(self.names, self.sizes) if s == 0]
        if empty:
            raise ValueError(f'MultiSourceDataset: source(s) {empty} have no sample')
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        self._fully_initialized = True

    @force_full_init
    def __len__(self) -> int:
        return self.offsets[-1]

    @force_full_init
    def source_range(self, name: str) -> Tuple[int, int]:
        """``(start, stop)``: the global indices of source ``name``."""
        k = self._source_number(name)
        return self.offsets[k], self.offsets[k + 1]

    def _source_number(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f'MultiSourceDataset has no source {name!r}; sources: {self.names}')
        return self.names.index(name)

    @force_full_init
    def locate(self, idx: int) -> Tuple[str, int]:
        """``(source name, index within the source)`` of global index ``idx``."""
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'MultiSourceDataset: index {idx} out of range (0..{len(self) - 1})')
        k = int(np.searchsorted(self.offsets, idx, side='right')) - 1
        return self.names[k], idx - self.offsets[k]

    def get_data_info(self, idx: int) -> dict:
        name, local = self.locate(idx)
        return self.datasets[self.names.index(name)].get_data_info(local)

    def __getitem__(self, idx: int):
        name, local = self.locate(idx)
        return self.datasets[self.names.index(name)][local]

    def __repr__(self) -> str:
        sizes = getattr(self, 'sizes', ['?'] * len(self.names))
        return (f'{type(self).__name__}(' +
                ', '.join(f'{n}={s}' for n, s in zip(self.names, sizes)) + ')')


def expand_schedule(schedule: Sequence[Slot]) -> List[str]:
    """One period of a schedule: the source of each iteration.

    A slot is a source name, or a list of names taken in turn at successive passes
    through the pattern (``['a', ['x', 'y']]`` -> ``a x a y``).
    """
    if isinstance(schedule, str) or not schedule:
        raise ValueError(f'schedule must be a non-empty list of source names (or lists of '
                         f'names), got {schedule!r}')
    slots = []
    for k, slot in enumerate(schedule):
        names = [slot] if isinstance(slot, str) else list(slot)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f'schedule slot {k}: expected a source name or a non-empty list '
                             f'of names, got {slot!r}')
        slots.append(names)
    cycles = math.lcm(*(len(s) for s in slots))
    p = len(slots)
    return [slots[i % p][(i // p) % len(slots[i % p])] for i in range(p * cycles)]


@DATA_SAMPLERS.register_module()
class SourceScheduleBatchSampler(Sampler):
    """Batches that follow a per-iteration source schedule; each batch from one source.

    Iteration ``i`` (0-based) of an epoch uses source ``period[i % len(period)]``
    (:func:`expand_schedule`). Each source is read as an endless stream: successive
    passes over it, each a fresh permutation seeded by ``(seed, epoch, source,
    pass)``; under DDP every rank takes its own shard (``perm[rank::world_size]``,
    padded by wrapping so that shards are equal, as mmengine's ``DefaultSampler``).
    The batch of iteration ``i`` is a pure function of ``(seed, epoch, i, rank,
    world_size)``: the same run resumes exactly, and all ranks use the same source at
    every iteration.

    Args:
        sampler: the dataloader's sampler (mmengine passes it); only its ``dataset``
            (a :class:`MultiSourceDataset`), ``seed`` and ``epoch`` are read.
        batch_size: samples per batch (per rank).
        schedule: the source pattern (module docstring).
        iters_per_epoch: batches per epoch; None: enough whole schedule periods for one
            pass over the (rank's shard of the) schedule's first source.
        seed: None: the sampler's seed (or a synchronised random one).
        shuffle: False reads each source in order (pass after pass).
    """

    def __init__(self, sampler: Sampler, batch_size: int, schedule: Sequence[Slot],
                 iters_per_epoch: Optional[int] = None, seed: Optional[int] = None,
                 shuffle: bool = True) -> None:
        name = type(self).__name__
        dataset = getattr(sampler, 'dataset', sampler)
        if not isinstance(dataset, MultiSourceDataset):
            raise TypeError(f'{name} needs a MultiSourceDataset (dict(type='
                            f"'MultiSourceDataset', sources=dict(name=dataset_cfg, ...))), got "
                            f'{type(dataset).__name__}')
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'{name}: batch_size must be a positive int, got {batch_size!r}')
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.period = expand_schedule(schedule)
        unknown = sorted(set(self.period) - set(dataset.names))
        if unknown:
            raise ValueError(f'{name}: schedule names source(s) {unknown} that the '
                             f'MultiSourceDataset lacks; its sources: {dataset.names}')
        self.schedule = list(schedule)
        self.rank, self.world_size = get_dist_info()
        if seed is None:
            seed = getattr(sampler, 'seed', None)
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.shuffle = shuffle
        self._epoch: Optional[int] = None
        dataset.full_init()
        if iters_per_epoch is None:
            first = self.period[0]
            need = math.ceil(self._shard_size(first) / batch_size)
            per_period = self.period.count(first)
            iters_per_epoch = math.ceil(need / per_period) * len(self.period)
        if isinstance(iters_per_epoch, bool) or not isinstance(iters_per_epoch, int) \
                or iters_per_epoch < 1:
            raise ValueError(f'{name}: iters_per_epoch must be a positive int, got '
                             f'{iters_per_epoch!r}')
        self.iters_per_epoch = iters_per_epoch
        self._perm = lru_cache(maxsize=16)(self._permutation)

    # ------------------------------------------------------------------ helpers
    def _shard_size(self, source: str) -> int:
        start, stop = self.dataset.source_range(source)
        return math.ceil((stop - start) / self.world_size)

    def _permutation(self, source: str, epoch: int, pass_: int) -> np.ndarray:
        """This rank's shard of one pass over ``source`` (global indices)."""
        start, stop = self.dataset.source_range(source)
        n = stop - start
        if self.shuffle:
            rng = np.random.default_rng(
                [self.seed, epoch, self.dataset.names.index(source), pass_])
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        total = self._shard_size(source) * self.world_size
        order = np.resize(order, total)  # pad by wrapping
        return order[self.rank::self.world_size] + start

    def _stream(self, source: str, epoch: int, begin: int, count: int) -> List[int]:
        size = self._shard_size(source)
        out = []
        for pos in range(begin, begin + count):
            out.append(int(self._perm(source, epoch, pos // size)[pos % size]))
        return out

    @property
    def epoch(self) -> int:
        if self._epoch is not None:
            return self._epoch
        return int(getattr(self.sampler, 'epoch', 0))

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` (mmengine sets the sampler's epoch, which is read otherwise)."""
        self._epoch = int(epoch)

    def source_at(self, iteration: int) -> str:
        """The source of 0-based ``iteration`` (of any epoch)."""
        return self.period[iteration % len(self.period)]

    def batch_at(self, iteration: int, epoch: Optional[int] = None) -> List[int]:
        """The global dataset indices of 0-based ``iteration`` of ``epoch``."""
        epoch = self.epoch if epoch is None else epoch
        source = self.source_at(iteration)
        p = len(self.period)
        whole, rest = divmod(iteration, p)
        seen = whole * self.period.count(source) + self.period[:rest].count(source)
        return self._stream(source, epoch, seen * self.batch_size, self.batch_size)

    def __iter__(self) -> Iterator[List[int]]:
        epoch = self.epoch
        for i in range(self.iters_per_epoch):
            yield self.batch_at(i, epoch)

    def __len__(self) -> int:
        return self.iters_per_epoch

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(schedule={self.schedule}, batch_size='
                f'{self.batch_size}, iters_per_epoch={self.iters_per_epoch}, seed={self.seed})')
