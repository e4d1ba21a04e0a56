"""Time the matting metrics on a 1920 x 1080 matte against a plain transcription.

Usage (one core, as the speed target is stated)::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/metrics_speed.py [--repeats 15] [--ref-repeats 3] [--case both]

The matte is synthetic but shaped like a portrait from a matting test set: a soft
silhouette with hair-like strands, a trimap whose unknown band is the dilated soft edge
(about 5 % of the image), and a prediction that differs from the ground truth in the band
the way a network's does (blur, low-frequency bias, noise). ``masked`` clamps the
prediction to the trimap's known regions (what mattebox models return when given a
trimap); ``unmasked`` keeps low-amplitude noise everywhere, which makes the connected
components far more fragmented (a harder case for Conn).

For each metric it prints the median time of ``mattebox.evaluation.functional`` and of
the straightforward NumPy/SciPy transcription of the MATLAB code in
``tests/evaluation/dim_reference.py`` (run in the same process, same inputs), their
ratio and the relative difference of the values, plus, for context, the time of a
transcription of MMagic's implementation (same module).
"""
import argparse
import importlib.util
import os
import os.path as osp
import platform
import sys
import time

for _var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mattebox.evaluation import functional as F  # noqa: E402


def _load_reference():
    path = osp.join(ROOT, 'tests', 'evaluation', 'dim_reference.py')
    spec = importlib.util.spec_from_file_location('dim_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_matte(height: int = 1080, width: int = 1920, seed: int = 0, masked: bool = True):
    """A portrait-like ``(pred, gt, trimap)``, uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width / 2
    # head + body as soft-edged ellipses, with a wobbly outline
    head = np.hypot((xx - cx) / (0.09 * width), (yy - 0.33 * height) / (0.2 * height))
    body = np.hypot((xx - cx) / (0.2 * width), (yy - 1.0 * height) / (0.45 * height))
    wobble = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32),
                              (0, 0), 25) * 6
    d = np.minimum(head, body)
    gt = np.clip((1.0 - d) * 40 + wobble, 0, 1)
    # hair-like strands above the head: thin, soft, semi-transparent
    strands = np.zeros((height, width), np.float32)
    for _ in range(160):
        x0 = cx + rng.normal(0, 0.07 * width)
        y0 = 0.2 * height + rng.normal(0, 0.03 * height)
        angle = rng.normal(-np.pi / 2, 0.6)
        length = rng.uniform(0.05, 0.2) * height
        x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
        cv2.line(strands, (int(x0), int(y0)), (int(x1), int(y1)),
                 float(rng.uniform(0.3, 1.0)), 1, cv2.LINE_AA)
    strands = cv2.GaussianBlur(strands, (0, 0), 0.8)
    gt = np.clip(np.maximum(gt, strands), 0, 1)
    gt8 = (gt * 255).round().astype(np.uint8)

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25))
    trimap = np.full((height, width), 128, np.uint8)
    trimap[cv2.erode((gt8 == 255).astype(np.uint8), kernel) == 1] = 255
    trimap[cv2.dilate((gt8 > 0).astype(np.uint8), kernel) == 0] = 0

    bias = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32),
                            (0, 0), 12) * 60
    pred = cv2.GaussianBlur(gt, (0, 0), 1.5) * 255 + bias + rng.normal(0, 6, gt.shape)
    if not masked:
        pred = pred + rng.normal(0, 3, gt.shape)
    pred8 = np.clip(pred, 0, 255).round().astype(np.uint8)
    if masked:
        pred8[trimap == 0] = 0
        pred8[trimap == 255] = 255
    return pred8, gt8, trimap


def _median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_case(name: str, masked: bool, args, ref) -> None:
    pred, gt, trimap = make_matte(args.height, args.width, args.seed, masked)
    n_unknown = int((trimap == 128).sum())
    print(f'\n== {name}: {args.width} x {args.height}, unknown band {n_unknown} px '
          f'({100 * n_unknown / trimap.size:.1f} %)')
    rows = [
        ('SAD', lambda: F.sad(pred, gt, trimap), lambda: ref.dim_sad(pred, gt, trimap),
         lambda: ref.mmagic_sad(pred, gt, trimap)),
        ('MSE', lambda: F.mse(pred, gt, trimap), lambda: ref.dim_mse(pred, gt, trimap),
         lambda: ref.mmagic_mse(pred, gt, trimap)),
        ('GRAD', lambda: F.gradient_error(pred, gt, trimap),
         lambda: ref.dim_gradient(pred, gt, trimap) / 1000,
         lambda: ref.mmagic_gradient(pred, gt, trimap)),
        ('CONN', lambda: F.connectivity_error(pred, gt, trimap),
         lambda: ref.dim_connectivity(pred, gt, trimap) / 1000,
         lambda: ref.mmagic_connectivity(pred, gt, trimap)),
    ]
    print(f'{"metric":<7}{"fast ms":>10}{"reference ms":>15}{"ratio":>9}'
          f'{"value":>14}{"rel diff":>11}{"mmagic-style ms":>18}')
    total_fast = total_ref = total_mmagic = 0.0
    for label, fast, slow, mmagic in rows:
        value, expected = fast(), slow()
        t_fast = _median_time(fast, args.repeats)
        t_ref = _median_time(slow, args.ref_repeats)
        t_mmagic = _median_time(mmagic, args.ref_repeats)
        total_fast += t_fast
        total_ref += t_ref
        total_mmagic += t_mmagic
        rel = abs(value - expected) / abs(expected) if expected else abs(value)
        print(f'{label:<7}{t_fast * 1e3:>10.2f}{t_ref * 1e3:>15.1f}{t_ref / t_fast:>8.1f}x'
              f'{value:>14.6g}{rel:>11.1e}{t_mmagic * 1e3:>18.1f}')
    print(f'{"all 4":<7}{total_fast * 1e3:>10.2f}{total_ref * 1e3:>15.1f}'
          f'{total_ref / total_fast:>8.1f}x{"":>25}{total_mmagic * 1e3:>18.1f}')
    # the four together, back to back, as an evaluation loop calls them
    together = _median_time(lambda: [fast() for _, fast, _, _ in rows], args.repeats)
    verdict = 'OK' if together <= 0.1 else 'OVER the 0.1 s target'
    print(f'four metrics back to back: {together * 1e3:.1f} ms per image ({verdict})')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=15, help='timed runs (median)')
    parser.add_argument('--ref-repeats', type=int, default=3,
                        help='timed runs of the reference (median)')
    parser.add_argument('--case', choices=['masked', 'unmasked', 'both'], default='both')
    parser.add_argument('--height', type=int, default=1080)
    parser.add_argument('--width', type=int, default=1920)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    threads = {v: os.environ.get(v) for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                                                'OPENBLAS_NUM_THREADS')}
    print(f'python {platform.python_version()}, numpy {np.__version__}, opencv '
          f'{cv2.__version__} (cv2 threads {cv2.getNumThreads()}), {threads}')
    ref = _load_reference()
    cases = {'masked': True, 'unmasked': False}
    for name, masked in cases.items():
        if args.case in (name, 'both'):
            run_case(name, masked, args, ref)


if __name__ == '__main__':
    main()
