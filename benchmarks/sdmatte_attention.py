"""SDMatte's masked self-attention: the original's way against mattebox's processor, and
one whole-model inference.

    python benchmarks/sdmatte_attention.py [--sizes 512 1024] [--repeats 3] [--model-size 512]

For each input size, one self-attention of the first Stable Diffusion 2 level (320
channels, 5 heads of 64: the largest attention of the UNet, 4096 tokens at 512 x 512 and
16384 at 1024 x 1024) with a box-shaped key mask, timed and measured (peak resident
memory above the start, sampled every millisecond by a thread) in the same process,
interleaved, medians of ``--repeats``:

- **original**: SDMatte's patched attention (``utils/replace.py``): the classic processor
  with ``baddbmm(bias, q, k^T)``, i.e. the whole (N x heads) x L x L score tensor in
  fp32, then softmax and ``@ v``;
- **mattebox**: :class:`~mattebox.models.diffusion.latent.PromptAttnProcessor`
  (``scaled_dot_product_attention`` with the additive key bias; no score tensor).

Both outputs are compared (max abs difference). Then the whole SD2-size SDMatte (random
weights: the time does not depend on them) on one ``--model-size`` image with a box
prompt. Goal at 1024 x 1024: mattebox >= 2x faster and <= 1/2 the original's peak memory.
"""
import argparse
import os.path as osp
import statistics
import sys
import threading
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402


class PeakRSS:
    """Peak resident memory (MB) above the level at entry, sampled by a thread."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval, self.peak = interval, 0.0

    @staticmethod
    def rss() -> float:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    def _watch(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.rss() - self.start)
            time.sleep(self.interval)

    def __enter__(self) -> 'PeakRSS':
        self.start, self._stop = self.rss(), False
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self.thread.join()
        self.peak = max(self.peak, self.rss() - self.start)


def original_attention(attn, hidden, bias):
    """SDMatte's classic-processor path with the materialised masked scores."""
    q = attn.head_to_batch_dim(attn.to_q(hidden))
    k = attn.head_to_batch_dim(attn.to_k(hidden))
    v = attn.head_to_batch_dim(attn.to_v(hidden))
    scores = torch.baddbmm(bias, q, k.transpose(-1, -2), beta=1, alpha=attn.scale)
    probs = scores.softmax(dim=-1)
    del scores
    out = attn.batch_to_head_dim(torch.bmm(probs, v))
    return attn.to_out[0](out)


def attention_case(size: int, repeats: int):
    from diffusers.models.attention_processor import Attention

    from mattebox.models.diffusion.latent import PromptAttnProcessor, key_bias
    torch.manual_seed(0)
    attn = Attention(query_dim=320, heads=5, dim_head=64, bias=False).eval()
    side = size // 8
    hidden = torch.randn(1, side * side, 320)
    key_mask = torch.zeros(1, 1, side, side)
    key_mask[..., side // 4:side * 3 // 4, side // 5:side * 4 // 5] = 1
    bias = key_bias(key_mask, side * side, torch.float32)[:, 0].repeat_interleave(5, dim=0)
    processor = PromptAttnProcessor(mask_keys=True)
    times = {'original': [], 'mattebox': []}
    peaks = {'original': [], 'mattebox': []}
    with torch.no_grad():
        for _ in range(repeats):
            for name in ('mattebox', 'original'):
                with PeakRSS() as mem:
                    start = time.perf_counter()
                    if name == 'original':
                        out = original_attention(attn, hidden, bias)
                    else:
                        out = processor(attn, hidden, prompt=dict(key_mask=key_mask))
                    times[name].append(time.perf_counter() - start)
                peaks[name].append(mem.peak)
                if name == 'mattebox':
                    ours = out
                else:
                    diff = (out - ours).abs().max().item()
                del out
    return ({k: statistics.median(v) for k, v in times.items()},
            {k: statistics.median(v) for k, v in peaks.items()}, diff)


def model_case(size: int) -> float:
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mattebox.registry import MODELS
    cfg = Config.fromfile('configs/sdmatte/sdmatte_sd2_8xb1-30k_matting-mix.py').model
    cfg.test_cfg.image_size = size
    with DefaultScope.overwrite_default_scope('mattebox'):
        model = MODELS.build(cfg).eval()
    model.empty_text_embedding.zero_()  # a converted checkpoint brings the real one
    inputs = dict(image=torch.rand(1, 3, size, size) * 2 - 1,
                  boxes=torch.tensor([[[size * 0.2, size * 0.1, size * 0.8, size * 0.9]]]),
                  boxes_valid=torch.ones(1, 1, dtype=torch.bool))
    with torch.no_grad():
        start = time.perf_counter()
        alpha = model(inputs, mode='tensor')
        elapsed = time.perf_counter() - start
    assert alpha.shape == (1, 1, size, size)
    return elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[512, 1024])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--model-size', type=int, default=512,
                        help='image side of the whole-model run (0: skip it)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from mattebox import register_all_modules
    register_all_modules(init_default_scope=False)
    print(f'SDMatte masked self-attention, SD2 level 1 (320 ch, 5 heads), {args.threads} '
          f'threads, torch {torch.__version__}, medians of {args.repeats}', flush=True)
    for size in args.sizes:
        t, m, diff = attention_case(size, args.repeats)
        print(f'{size}x{size} input ({(size // 8) ** 2} tokens): original {t["original"]:.3f} s, '
              f'{m["original"]:.0f} MB; mattebox {t["mattebox"]:.3f} s, {m["mattebox"]:.0f} MB; '
              f'time ratio {t["original"] / t["mattebox"]:.1f}x, memory ratio '
              f'{m["original"] / max(m["mattebox"], 1):.1f}x; max |diff| {diff:.2e}',
              flush=True)
    if args.model_size:
        seconds = model_case(args.model_size)
        print(f'whole SDMatte (SD2 size, box prompt), one {args.model_size}x{args.model_size} '
              f'image on the CPU: {seconds:.1f} s')


if __name__ == '__main__':
    main()
