"""Overhead of the inference API over calling the network directly, and the time of
foreground estimation.

    python benchmarks/inference_api.py [--config CONFIG] [--size 1920 1080] [--repeats 5]

Builds the model of ``--config`` (random weights: the time does not depend on them) and
one synthetic image of ``--size`` (W H) with a trimap. Interleaved in one process, each
repeat times

- **direct**: the network alone on the same, already normalised and padded tensors
  (``model._forward_test``), the floor any API must pay;
- **API**: ``MattingInferencer(...)(image, trimap=trimap)`` from the in-memory RGB
  array and trimap: guidance checks, pipeline, batching, normalisation, padding, the
  network, undoing the padding, clamping, the float alpha.

and prints the medians and their ratio (goal <= 1.05x for DIM at 1920 x 1080), then the
median time of :func:`mattebox.foreground.estimate_foreground` at that size (goal <= 1 s)
and of a whole ``cutout()``, and how much of the old background the estimate removes:
the mean error of a composite over a new background, in the soft pixels of a synthetic
composite with known foreground, with the photo's colours vs the estimate. Compare
ratios, not absolute times, on a shared machine.
"""
import argparse
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

DEFAULT_CONFIG = 'configs/dim/dim_stage1-v16_1xb1-1000k_comp1k.py'


def make_image(width: int, height: int):
    """An RGB image and a trimap with an unknown ring (from the synthetic generator's
    look: smooth colours with texture)."""
    from mattebox.datasets.synthetic import make_sample
    sample = make_sample(0, (height, width))
    rgb = np.ascontiguousarray(sample['merged'][..., ::-1])
    alpha = sample['alpha']
    from mattebox.guidance import trimap_from_alpha
    return rgb, trimap_from_alpha(alpha, 15), alpha


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--size', type=int, nargs=2, default=(1920, 1080), metavar=('W', 'H'))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from mattebox.apis import MattingInferencer
    from mattebox.foreground import estimate_foreground

    matter = MattingInferencer(args.config, None, device='cpu')
    model = matter.model
    rgb, trimap, alpha = make_image(*args.size)
    # the direct path's tensors: what the API's pipeline and preprocessor make
    packed = matter.pipeline({'merged': np.ascontiguousarray(rgb[..., ::-1]),
                              'trimap': trimap, 'ori_trimap': trimap,
                              'ori_shape': trimap.shape})
    batch = model.data_preprocessor({'inputs': [packed['inputs']],
                                     'data_samples': [packed['data_samples']]}, False)
    padded, _ = model.test_resize.apply(batch['inputs'])
    print(f'{matter.model_name} from {args.config}, {args.size[0]}x{args.size[1]} (padded '
          f'to {padded["image"].shape[-1]}x{padded["image"].shape[-2]}), {args.threads} '
          f'threads, torch {torch.__version__}, {args.repeats} interleaved repeats',
          flush=True)

    with torch.inference_mode():
        model._forward_test(padded)  # warm-up of both paths
        matter(rgb, trimap=trimap)
        direct, api = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model._forward_test(padded)
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = matter(rgb, trimap=trimap)
            api.append(time.perf_counter() - start)
            print(f'  direct {direct[-1]:.3f} s   API {api[-1]:.3f} s', flush=True)
    d, a = statistics.median(direct), statistics.median(api)
    print(f'network alone (median): {d:.3f} s')
    print(f'inference API (median): {a:.3f} s')
    print(f'API / direct          : {a / d:.3f}x (median of pairs '
          f'{statistics.median(x / y for x, y in zip(api, direct)):.3f}x; goal <= 1.05x)')

    fg_times, cutout_times = [], []
    a01 = alpha.astype(np.float32) / 255
    for _ in range(args.repeats):
        start = time.perf_counter()
        estimate_foreground(rgb, a01)
        fg_times.append(time.perf_counter() - start)
        result._foreground = None
        start = time.perf_counter()
        result.cutout()
        cutout_times.append(time.perf_counter() - start)
    print(f'foreground estimation {args.size[0]}x{args.size[1]} (median): '
          f'{statistics.median(fg_times):.3f} s (goal <= 1 s); whole cutout(): '
          f'{statistics.median(cutout_times):.3f} s')
    naive, ours = halo_errors()
    print(f'composite over a new background, soft pixels of a synthetic composite: mean '
          f'error {naive:.4f} with the photo\'s colours, {ours:.4f} with the estimate '
          f'({naive / ours:.1f}x less)')


def halo_errors(seed: int = 3, size=(320, 480)):
    """Mean error of a green-screen composite in the soft pixels of a synthetic sample
    (0 < alpha < 1, known foreground): with the image's colours, with the estimate."""
    from mattebox.datasets.synthetic import make_sample
    from mattebox.foreground import estimate_foreground
    s = make_sample(seed, size)
    fg = s['fg'][..., ::-1].astype(np.float32) / 255
    bg = s['bg'][..., ::-1].astype(np.float32) / 255
    a = (s['alpha'].astype(np.float32) / 255)[..., None]
    image = fg * a + bg * (1 - a)
    green = np.zeros_like(image)
    green[..., 1] = 1
    truth = fg * a + green * (1 - a)
    soft = (a[..., 0] > 0.02) & (a[..., 0] < 0.98)

    def error(colours):
        return float(np.abs(colours * a + green * (1 - a) - truth)[soft].mean())

    return error(image), error(estimate_foreground(image, a[..., 0]))


if __name__ == '__main__':
    main()
