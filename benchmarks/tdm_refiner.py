"""TDM's sparse refiner on CPU: the dense PyTorch backend against spconv, same weights,
one process.

One 512 x 512 coarse inference (the text-grounded model: VAE encoder, one UNet step,
decoder; random weights) on a real photograph (``../shared/real_samples/GT05``, 552 x
800, upscaled so that its long edge is 2048), then the two-scale refinement to 2048
(1024 first, then 2048) with each backend. The band is realistic: the coarse alpha and
its unknown band come from the photograph's ground-truth alpha (at 512), the detail
features from the model. Prints median times (``--repeats``), the peak resident memory
each refinement adds (Linux ``VmHWM`` after resetting it), the band sizes and the
dense / spconv ratios; the spconv row is skipped, with the reason, when spconv is not
installed. ``--model paper`` builds Stable Diffusion 2.1's size (about 5 GB; default
``tiny``, the tiny config's network: the refiner is the paper's size in both).

    OMP_NUM_THREADS=1 python benchmarks/tdm_refiner.py [--model paper] [--repeats 3]
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import cv2
import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
SAMPLE = osp.join(ROOT, '..', 'shared', 'real_samples', 'GT05')
CONFIGS = {'tiny': 'configs/tdm/tdm_tiny_stage2_synthetic-referring.py',
           'paper': 'configs/tdm/tdm_sd21_stage2_8xb4_refmatte-mix.py'}
PAPER_REFINER = dict(layers=(('subm', 32), ('sparse', 32), ('subm', 32), ('subm', 32)),
                     kernel_size=3, max_long_edge=2048, half_first_above=1024,
                     band='trimap', band_threshold=0.5, paste_erode=3)


def rss_peak_kb() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def rss_kb() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def build(model_name: str):
    from mmengine.config import Config

    from mattebox import register_all_modules
    from mattebox.models.tdm.refiner import SparseRefiner
    from mattebox.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, CONFIGS[model_name]))
    # the committed tiny tokenizer: any ids below the vocabulary size will do here
    cfg.model.text_encoder.tokenizer = osp.join(ROOT, 'configs/tdm/tiny_tokenizer')
    cfg.model.refiner = None
    cfg.model.test_cfg.image_size = 512  # the paper's coarse size, whatever the network
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    refiner = SparseRefiner(detail_channels=model.decoder.detail_head.out_channels,
                            **PAPER_REFINER).eval()
    with torch.no_grad():  # a non-trivial residual and normalisation
        refiner.net.blocks[-1].conv.weight.normal_(0, 0.05)
        for b in refiner.net.blocks[:-1]:
            b.norm.running_var.uniform_(0.5, 2.0)
    return model, refiner


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', choices=sorted(CONFIGS), default='tiny')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--long-edge', type=int, default=2048)
    args = parser.parse_args()
    from mattebox.models.tdm.refiner import spconv_available

    image = cv2.imread(osp.join(SAMPLE, 'merged.jpg'))[..., ::-1]
    alpha = cv2.imread(osp.join(SAMPLE, 'alpha.jpg'), cv2.IMREAD_GRAYSCALE)
    if image is None or alpha is None:
        sys.exit(f'missing {SAMPLE}/merged.jpg or alpha.jpg')
    h, w = alpha.shape
    scale = args.long_edge / max(h, w)
    size = (round(h * scale), round(w * scale))
    big = cv2.resize(np.ascontiguousarray(image), size[::-1], interpolation=cv2.INTER_CUBIC)
    x = torch.from_numpy(big).permute(2, 0, 1)[None].float() / 127.5 - 1
    a512 = cv2.resize(alpha, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    coarse = torch.from_numpy(a512)[None, None]
    unknown = torch.from_numpy(cv2.dilate(((a512 > 0.02) & (a512 < 0.98)).astype(np.uint8),
                                          np.ones((5, 5), np.uint8)).astype(np.float32))[None, None]

    model, refiner = build(args.model)
    with torch.no_grad():
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = model.coarse(x, ['the person'])
            times.append(time.perf_counter() - t)
    t_coarse = statistics.median(times)
    detail = out['detail']
    print(f'TDM ({args.model}) 512 x 512 coarse pass: {t_coarse:.3f} s (median of '
          f'{args.repeats}); image {size[0]} x {size[1]}, stages '
          f'{refiner.stage_sizes(size)}; torch threads {torch.get_num_threads()}')

    rows = {}
    backends = ['dense'] + (['spconv'] if spconv_available() else [])
    results = {}
    can_peak = reset_peak()
    for backend in backends:
        with torch.no_grad():
            refiner(x, coarse, unknown, detail, backend=backend)  # warm-up (spconv builds)
            times, peaks = [], []
            for _ in range(args.repeats):
                base = rss_kb()
                reset_peak()
                t = time.perf_counter()
                result, pastes = refiner(x, coarse, unknown, detail, backend=backend,
                                         return_bands=True)
                times.append(time.perf_counter() - t)
                peaks.append((rss_peak_kb() - base) / 1024)
        results[backend] = result
        rows[backend] = (statistics.median(times), max(peaks))
        bands = ', '.join(f'{int(p.sum()):,} px ({100 * float(p.float().mean()):.1f} %)'
                          for p in pastes)
        print(f'  {backend:7s} refine to {size[0]} x {size[1]}: '
              f'{rows[backend][0]:.3f} s, peak +{rows[backend][1]:.0f} MiB'
              f'{"" if can_peak else " (VmHWM reset unavailable)"}; pasted {bands}')
    if 'spconv' not in rows:
        print('  spconv  skipped: spconv is not installed (pip install -e ".[sparse]")')
        return
    diff = (results['dense'] - results['spconv']).abs().max().item()
    td, md = rows['dense']
    ts, ms = rows['spconv']
    print(f'  dense / spconv: time x{td / ts:.2f}, peak memory x{md / max(ms, 1e-6):.2f}; '
          f'max |dense - spconv| = {diff:.2e}')
    print(f'  512 inference + refinement: dense {t_coarse + td:.3f} s, '
          f'spconv {t_coarse + ts:.3f} s')


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()
