"""Time the RefMatte protocol (ReferringMattingMetric's per-sample errors) at 512 x 512.

Usage (one core)::

    OMP_NUM_THREADS=1 python benchmarks/referring_metric.py [--repeats 7] [--size 512]

The ground truth is one object of a synthetic referring image
(:func:`mattebox.datasets.synthetic_referring.make_referring_sample`, the largest one),
the prediction that alpha blurred, biased and noisy, as a network's. Prints the median
time of each metric of :func:`mattebox.evaluation.referring_errors`, of the whole
per-sample protocol, its ratio to a whole-image SAD alone (the baseline, same process,
same inputs) and the time the protocol would take over RefMatte-Test (6,243 instances x
4 expressions = 24,972 samples) on one core.
"""
import argparse
import os
import os.path as osp
import sys
import time

for _var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mattebox.datasets.synthetic_referring import make_referring_sample  # noqa: E402
from mattebox.evaluation import REFERRING_METRICS, referring_errors  # noqa: E402
from mattebox.evaluation import functional as F  # noqa: E402

REFMATTE_TEST_SAMPLES = 6243 * 4


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--size', type=int, default=512)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sample = make_referring_sample(0, (args.size, args.size))
    ranks = [o['size_rank'] for o in sample['objects']]
    gt = sample['alphas'][ranks.index(0)]
    rng = np.random.default_rng(0)
    pred = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 2.0) * 0.97 + 3
    pred = np.clip(pred + rng.normal(0, 2, gt.shape), 0, 255).astype(np.uint8)
    print(f'RefMatte protocol per sample, {args.size} x {args.size}, median of '
          f'{args.repeats}, OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]}')
    base = median_time(lambda: F.sad(pred, gt, region='all'), args.repeats)
    print(f'  baseline whole-image SAD      {1e3 * base:8.2f} ms')
    for m in REFERRING_METRICS:
        t = median_time(lambda: referring_errors(pred, gt, metrics=(m,)), args.repeats)
        print(f'  {m:6s}                        {1e3 * t:8.2f} ms  ({t / base:6.1f} x SAD)')
    full = median_time(lambda: referring_errors(pred, gt), args.repeats)
    print(f'  all 7 (one call)              {1e3 * full:8.2f} ms  ({full / base:6.1f} x SAD)')
    print(f'  RefMatte-Test ({REFMATTE_TEST_SAMPLES} samples): '
          f'{full * REFMATTE_TEST_SAMPLES / 60:.1f} min of metric time on one core')


if __name__ == '__main__':
    main()
