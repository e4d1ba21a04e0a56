"""Time of the start-up data check (``validate='header'``, the datasets' default) on a
large synthetic dataset, against decoding the same files (``validate='decode'``),
measured in one process.

    python benchmarks/startup_check.py [--samples 10000] [--size 320] [--nproc N]

Writes SAMPLES training samples in the Composition-1k layout into a temporary folder
(alpha, fg, bg, merged: 4 distinct PNG files per sample, SIZE x SIZE), then times

- building ``AdobeComp1kDataset`` with its default start-up check (annotation,
  paths inside ``data_root``, every file's header and end: exists, complete, size,
  channels, bit depth),
- ``validate_samples(level='header')`` alone,
- ``validate_samples(level='decode')`` on a subset, scaled to all samples (the full
  decode check of ``check_dataset.py``),

each the median of ``--repeats`` runs. The files were just written, so they are in the
page cache: on a cold cache (a dataset on a network disk just mounted) both checks wait
for the disk, the header check reading two small pieces of each file instead of all of
it.
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import cv2
import numpy as np


def make_dataset(root: str, samples: int, size: int) -> None:
    rng = np.random.default_rng(0)
    kinds = ('alpha', 'fg', 'bg', 'merged')
    for kind in kinds:
        os.makedirs(os.path.join(root, 'train', kind))
    # a few distinct images, re-encoded per sample (the check reads each file anyway)
    alpha = rng.integers(0, 256, (size, size), dtype=np.uint8)
    colour = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    encoded = {'alpha': cv2.imencode('.png', alpha)[1].tobytes(),
               'colour': cv2.imencode('.png', colour)[1].tobytes()}
    entries = []
    for i in range(samples):
        entry = {}
        for kind in kinds:
            rel = f'train/{kind}/{i:05d}.png'
            with open(os.path.join(root, rel), 'wb') as f:
                f.write(encoded['alpha' if kind == 'alpha' else 'colour'])
            entry[f'{kind}_path'] = rel
        entries.append(entry)
    with open(os.path.join(root, 'training_list.json'), 'w') as f:
        json.dump(entries, f)


def timed(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=10_000)
    parser.add_argument('--size', type=int, default=320)
    parser.add_argument('--nproc', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--decode-subset', type=int, default=500,
                        help='samples decoded for the decode-level estimate')
    args = parser.parse_args(argv)
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from mmengine.logging import MMLogger

    from mattebox.datasets import AdobeComp1kDataset
    from mattebox.datasets.validation import validate_samples
    MMLogger.get_instance('mmengine', log_level='WARNING')

    root = tempfile.mkdtemp(prefix='mattebox-startup-check-')
    try:
        start = time.perf_counter()
        make_dataset(root, args.samples, args.size)
        print(f'{args.samples} samples x 4 PNG files ({args.size} x {args.size}) written in '
              f'{time.perf_counter() - start:.1f} s to {root}; {args.nproc} threads; load '
              f'{os.getloadavg()[0]:.2f}')
        ds = AdobeComp1kDataset(ann_file='training_list.json', data_root=root, validate=False)
        data_list = [ds.get_data_info(i) for i in range(len(ds))]

        def build_with_check():
            built = AdobeComp1kDataset(ann_file='training_list.json', data_root=root)
            assert len(built) == args.samples

        def build_without_check():
            AdobeComp1kDataset(ann_file='training_list.json', data_root=root,
                               validate=False, allow_outside_root=True)

        def header():
            assert validate_samples(data_list, level='header', nproc=args.nproc) == []

        subset = data_list[:args.decode_subset]

        def decode():
            assert validate_samples(subset, level='decode', nproc=args.nproc) == []

        t_build = timed(build_with_check, args.repeats)
        t_plain = timed(build_without_check, args.repeats)
        t_header = timed(header, args.repeats)
        t_decode = timed(decode, args.repeats) * args.samples / len(subset)
        files = 4 * args.samples
        print(f'dataset built with the start-up check ({args.samples} samples): '
              f'{t_build:6.2f} s  (without it: {t_plain:.2f} s; the check adds '
              f'{t_build - t_plain:.2f} s)')
        print(f"validate_samples(level='header'):   {t_header:6.2f} s  "
              f'({files / t_header:,.0f} files/s)')
        print(f"validate_samples(level='decode'):   {t_decode:6.2f} s  "
              f'({files / t_decode:,.0f} files/s; from {len(subset)} samples)')
        print(f'header check / decode check: {t_header / t_decode:.3f} '
              f'({t_decode / t_header:.0f}x faster)')
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
