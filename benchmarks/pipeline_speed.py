"""Throughput of the DIM training pipelines against the cost of decoding their files.

Example::

    python benchmarks/pipeline_speed.py                 # 0, 1 and 2 workers
    python benchmarks/pipeline_speed.py --workers 0 --repeats 3

On synthetic 1920 x 1080 sources (JPEG fg / bg / merged, PNG alpha; made once and kept
in ``--data-dir``) it times, at 320 x 320 output:

(a) ``premerged``: the DIM pipeline on pre-merged images (``configs/dim/
    dim_stage1-v16_1xb1-1000k_comp1k.py``: 4 files);
(b) ``online``: the online-merge pipeline (``configs/_base_/datasets/
    comp1k_online_merge.py``: 3 files, crop first, then merge);

and, in the same run, the decode floor of each: a pipeline that only decodes the same
files with ``read_image`` (what ``LoadImageFromFile`` does), and the same with
``cv2.imread``. Each measurement goes through a torch ``DataLoader`` (batch 1,
mmengine's ``pseudo_collate``) with 0, 1 or 2 workers; a pipeline and its floors are
measured back to back and the ratio (floor samples/s / pipeline samples/s) is the median
over ``--repeats`` rounds. Samples/s are medians too. Each sample's CPU time (thread
time of the process that ran its pipeline) is recorded as well: the CPU ratio does not
depend on what else the machine is doing, the wall-clock ratio does (a shared machine
gives a wide spread of per-round ratios; the spread is printed).

The machine's allocator state changes decoding speed: the script re-executes itself with
``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456`` unless they are set
(see docs/ENVIRONMENT_NOTES in the shared folder).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Tuple

MALLOC_ENV = {'MALLOC_MMAP_THRESHOLD_': '67108864', 'MALLOC_TRIM_THRESHOLD_': '268435456'}

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=osp.join(ROOT, 'work_dirs', 'bench_sources'),
                        help='where the synthetic sources are kept (made once)')
    parser.add_argument('--num-sources', type=int, default=6,
                        help='distinct synthetic samples (default: 6)')
    parser.add_argument('--size', type=int, nargs=2, default=(1080, 1920),
                        metavar=('H', 'W'), help='source size (default: 1080 1920)')
    parser.add_argument('--samples', type=int, default=30,
                        help='samples timed per measurement (default: 30)')
    parser.add_argument('--warmup', type=int, default=4,
                        help='samples run before timing (default: 4)')
    parser.add_argument('--repeats', type=int, default=7,
                        help='rounds; medians are reported (default: 7)')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--pipelines', nargs='+', default=['premerged', 'online'],
                        choices=['premerged', 'online'])
    parser.add_argument('--floors', nargs='+', default=['read_image', 'imread'],
                        choices=['read_image', 'imread'],
                        help='decode floors: read_image (np.fromfile + cv2.imdecode, '
                        'what LoadImageFromFile does) and/or cv2.imread')
    parser.add_argument('--json', help='also write the results to this json file')
    return parser.parse_args(argv)


# ------------------------------------------------------------------------ sources
def make_sources(out_dir: str, n: int, size) -> Dict[str, str]:
    """Synthetic 1080p samples: drawn at 1/4 size, upscaled, with film grain so that the
    JPEGs are not unusually compressible. Returns the annotation files."""
    import cv2
    import numpy as np

    from mattebox.datasets.synthetic import composite, make_sample

    h, w = size
    out_dir = osp.abspath(out_dir)
    stamp = osp.join(out_dir, f'sources_{n}_{h}x{w}.json')
    if osp.isfile(stamp):
        return json.load(open(stamp))
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    entries = []
    for i in range(n):
        s = make_sample(i, (h // 4, w // 4))
        up = {k: cv2.resize(v, (w, h), interpolation=cv2.INTER_CUBIC if k != 'alpha'
                            else cv2.INTER_LINEAR) for k, v in s.items()}
        for k in ('fg', 'bg'):
            grain = rng.normal(0, 4, up[k].shape)
            up[k] = np.clip(up[k] + grain, 0, 255).astype(np.uint8)
        up['merged'] = composite(up['fg'], up['bg'], up['alpha'])
        entry = {}
        for k, ext in (('alpha', 'png'), ('fg', 'jpg'), ('bg', 'jpg'), ('merged', 'jpg')):
            path = osp.join(out_dir, f'{i:03d}_{k}.{ext}')
            params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == 'jpg' else []
            assert cv2.imwrite(path, up[k], params)
            entry[f'{k}_path'] = osp.basename(path)
        entries.append(entry)
    anns = {}
    for name, keys in (('premerged', ('alpha', 'fg', 'bg', 'merged')),
                       ('online', ('alpha', 'fg', 'bg'))):
        path = osp.join(out_dir, f'{name}_{n}_{h}x{w}.json')
        json.dump([{f'{k}_path': e[f'{k}_path'] for k in keys} for e in entries],
                  open(path, 'w'))
        anns[name] = path
    json.dump(anns, open(stamp, 'w'))
    return anns


# ---------------------------------------------------------------------- pipelines
def register_floor_transforms():
    import cv2
    from mmcv.transforms import BaseTransform

    from mattebox.datasets.transforms import read_image
    from mattebox.registry import TRANSFORMS

    flags = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE}

    @TRANSFORMS.register_module(force=True)
    class BenchDecodeOnly(BaseTransform):
        """Decode the files (read_image or cv2.imread) and return a tiny result."""

        def __init__(self, keys, reader='read_image'):
            self.keys, self.reader = keys, reader

        def transform(self, results):
            total = 0
            for key in self.keys:
                color = 'grayscale' if key == 'alpha' else 'color'
                path = results[f'{key}_path']
                img = (read_image(path, color) if self.reader == 'read_image'
                       else cv2.imread(path, flags[color]))
                total += img.shape[0]
            return {'n': total}


def pipelines(names: List[str], floors: List[str]) -> Dict[str, dict]:
    """name -> dict(pipeline, ann key, files)."""
    from mmengine.config import Config
    dim = Config.fromfile(osp.join(ROOT, 'configs/dim/dim_stage1-v16_1xb1-1000k_comp1k.py'))
    online = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/comp1k_online_merge.py'))
    out = {}
    for name in names:
        pipe = (dim if name == 'premerged' else online).train_dataloader.dataset.pipeline
        keys = [t['key'] for t in pipe if t['type'] == 'LoadImageFromFile']
        out[name] = dict(ann=name, pipeline=list(pipe))
        for floor in floors:
            out[f'{name}:{floor}'] = dict(
                ann=name, pipeline=[dict(type='BenchDecodeOnly', keys=keys, reader=floor)])
    return out


class _Timed:
    """``dataset[i]`` plus the CPU time its pipeline took in the process that ran it."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        start = time.thread_time()
        out = self.dataset[i]
        return out, time.thread_time() - start


def _collate(batch):
    from mmengine.dataset import pseudo_collate
    return pseudo_collate([b[0] for b in batch]), sum(b[1] for b in batch)


def measure(dataset, workers: int, samples: int, warmup: int) -> Tuple[float, float]:
    """(samples per second through a DataLoader with batch 1, mean CPU seconds of the
    pipeline per sample), over ``samples`` samples after ``warmup`` samples."""
    import numpy as np
    from torch.utils.data import DataLoader, Sampler

    class Cycle(Sampler):
        def __iter__(self):
            i = 0
            while True:
                yield i % len(dataset)
                i += 1

    def init(worker_id):
        np.random.seed(worker_id)

    np.random.seed(0)
    loader = DataLoader(_Timed(dataset), batch_size=1, sampler=Cycle(), num_workers=workers,
                        collate_fn=_collate, worker_init_fn=init,
                        prefetch_factor=2 if workers else None)
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    cpu = 0.0
    start = time.perf_counter()
    for _ in range(samples):
        cpu += next(it)[1]
    elapsed = time.perf_counter() - start
    del it, loader  # shuts the workers down
    return samples / elapsed, cpu / samples


def main(argv=None) -> int:
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.environ.update(MALLOC_ENV)
        os.execv(sys.executable, [sys.executable, osp.abspath(__file__)] + sys.argv[1:])
    args = parse_args(argv)
    import cv2
    import torch

    from mattebox import register_all_modules
    from mattebox.registry import DATASETS
    register_all_modules()
    register_floor_transforms()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # workers each use one thread, as DataLoader workers do

    anns = make_sources(args.data_dir, args.num_sources, args.size)
    variants = pipelines(args.pipelines, args.floors)
    datasets = {name: DATASETS.build(dict(
        type='AdobeComp1kDataset', ann_file=anns[v['ann']], data_root=args.data_dir,
        pipeline=v['pipeline'], serialize_data=False)) for name, v in variants.items()}
    print(f'sources: {args.num_sources} x {args.size[0]}x{args.size[1]} in {args.data_dir}; '
          f'{args.samples} samples per measurement, {args.repeats} rounds, '
          f'cv2 threads 1, torch threads 1, '
          f'MALLOC_MMAP_THRESHOLD_={os.environ["MALLOC_MMAP_THRESHOLD_"]}', flush=True)

    results = {}
    for workers in args.workers:
        walls: Dict[str, List[float]] = {name: [] for name in variants}
        cpus: Dict[str, List[float]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name in variants:  # each pipeline and its floors back to back
                wall, cpu = measure(datasets[name], workers, args.samples, args.warmup)
                walls[name].append(wall)
                cpus[name].append(cpu)
        for name in args.pipelines:
            row = dict(workers=workers, pipeline=name,
                       samples_per_s=statistics.median(walls[name]),
                       cpu_ms=1000 * statistics.median(cpus[name]))
            line = (f'workers={workers} {name:9s}: {row["samples_per_s"]:5.1f} samples/s, '
                    f'{row["cpu_ms"]:5.1f} ms CPU/sample')
            for floor in args.floors:
                key = f'{name}:{floor}'
                wall_ratios = [f / p for f, p in zip(walls[key], walls[name])]
                cpu_ratios = [p / f for f, p in zip(cpus[key], cpus[name])]
                row[floor] = dict(
                    samples_per_s=statistics.median(walls[key]),
                    cpu_ms=1000 * statistics.median(cpus[key]),
                    ratio=statistics.median(wall_ratios),
                    ratio_range=[min(wall_ratios), max(wall_ratios)],
                    cpu_ratio=statistics.median(cpu_ratios))
                r = row[floor]
                line += (f' | {floor} floor {r["samples_per_s"]:5.1f}/s '
                         f'{r["cpu_ms"]:5.1f} ms -> ratio {r["ratio"]:.3f}x '
                         f'(rounds {r["ratio_range"][0]:.2f}-{r["ratio_range"][1]:.2f}), '
                         f'CPU ratio {r["cpu_ratio"]:.3f}x')
            results[f'{name}/{workers}'] = row
            print(line, flush=True)
    if args.json:
        json.dump(results, open(args.json, 'w'), indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
