"""The text-grounded model's two-scale sparse refiner: a small network that runs only on
the uncertain band of the coarse matte, at high resolution.

One set of weights, two backends with the same result:

- ``'spconv'`` (the original's choice; ``pip install -e ".[sparse]"``): the band's
  pixels become a ``spconv`` sparse tensor; ``SubMConv2d`` layers keep the active set,
  ``SparseConv2d`` layers grow it by the kernel (an output site is active when any
  input site under the kernel is);
- ``'dense'`` (plain PyTorch, runs and exports everywhere): the same layers as masked
  convolutions on the full image: the input is zero outside the active set, a
  submanifold layer's output is kept on the active set only, a growing layer's active
  set is max-pooled (dilated) by the kernel first; batch norm gathers the active
  features (``M x C``) and normalises them exactly as spconv's ``BatchNorm1d`` does.

Weights are stored as ``nn.Conv2d`` weights (``out x in x kh x kw``); the spconv
backend passes them permuted to spconv's ``out x kh x kw x in`` layout, so gradients
reach the same parameters from either backend.
"""
import logging
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BACKENDS = ('auto', 'dense', 'spconv')
LAYER_KINDS = ('subm', 'sparse')
SPARSE_HINT = 'pip install -e ".[sparse]"  (spconv 2.3; the CPU wheel works on CPU)'


class _DropFxTracingNotice(logging.Filter):
    """spconv's tensors ask ``torch.fx`` whether it is tracing, and torch >= 2.10 logs a
    deprecation notice for that (once per process, about torch's API, not the user's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith('is_fx_tracing will return true')


logging.getLogger('torch.fx._symbolic_trace').addFilter(_DropFxTracingNotice())


def spconv_available() -> bool:
    """Whether ``spconv.pytorch`` imports."""
    import importlib
    try:
        importlib.import_module('spconv.pytorch')
    except Exception:  # ImportError, or a broken build
        return False
    return True


def dilate(mask: Tensor, kernel: int) -> Tensor:
    """Boolean N x 1 x H x W mask grown by a ``kernel`` x ``kernel`` square."""
    if kernel <= 1:
        return mask
    return F.max_pool2d(mask.float(), kernel, stride=1, padding=kernel // 2) > 0


def erode(mask: Tensor, kernel: int) -> Tensor:
    """Boolean mask shrunk by a ``kernel`` x ``kernel`` square (outside the image counts
    as inside the mask, so the band is not eroded at the image border)."""
    if kernel <= 1:
        return mask
    return ~dilate(~mask, kernel)


class SparseBlock(nn.Module):
    """One layer: a (submanifold or growing) convolution, optional batch norm, ReLU.

    Args:
        in_channels, out_channels: channels.
        kind: ``'subm'`` (keeps the active set) or ``'sparse'`` (grows it by the kernel).
        kernel_size: odd kernel side.
        norm: batch norm (over the active sites) after the convolution.
        act: ReLU at the end.
    """

    def __init__(self, in_channels: int, out_channels: int, kind: str = 'subm',
                 kernel_size: int = 3, norm: bool = True, act: bool = True) -> None:
        super().__init__()
        if kind not in LAYER_KINDS:
            raise ValueError(f'SparseBlock: kind must be one of {LAYER_KINDS}, got {kind!r}')
        if kernel_size % 2 != 1:
            raise ValueError(f'SparseBlock: kernel_size must be odd, got {kernel_size}')
        self.kind = kind
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              padding=kernel_size // 2, bias=True)
        self.norm = nn.BatchNorm1d(out_channels) if norm else None
        self.act = act

    def batch_norm(self, features: Tensor) -> Tensor:
        """Batch norm of M x C active features (statistics over the active sites, as
        spconv's ``BatchNorm1d`` on ``SparseConvTensor.features``)."""
        n = self.norm
        if n is None or features.shape[0] == 0:
            return features
        if n.training:
            if features.shape[0] < 2:  # one active site: no batch statistics
                return features
            n.num_batches_tracked.add_(1)
            return F.batch_norm(features, n.running_mean, n.running_var, n.weight, n.bias,
                                True, n.momentum, n.eps)
        return F.batch_norm(features, n.running_mean, n.running_var, n.weight, n.bias, False,
                            0.0, n.eps)

    # ------------------------------------------------------------ dense backend
    def dense(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        """N x C x H x W features (zero outside ``mask``) -> (features, active mask)."""
        if self.kind == 'sparse':
            mask = dilate(mask, self.kernel_size)
        y = F.conv2d(x, self.conv.weight, None, padding=self.kernel_size // 2)
        y = (y + self.conv.bias[None, :, None, None]) * mask
        if self.norm is not None:
            active = mask[:, 0]
            flat = y.permute(0, 2, 3, 1)
            y = flat.index_put((active, ), self.batch_norm(flat[active])).permute(0, 3, 1, 2)
        if self.act:
            y = F.relu(y)
        return y, mask

    # ----------------------------------------------------------- spconv backend
    def sparse(self, x, key: str):
        """A spconv ``SparseConvTensor`` through this layer (``key``: the indice key of
        its active set, shared by the submanifold layers on that set)."""
        import spconv.pytorch as spconv
        cls = spconv.SubMConv2d if self.kind == 'subm' else spconv.SparseConv2d
        conv = cls(self.conv.in_channels, self.conv.out_channels, self.kernel_size,
                   padding=self.kernel_size // 2, bias=False,
                   indice_key=key if self.kind == 'subm' else None)
        weight = self.conv.weight.permute(0, 2, 3, 1).contiguous()
        # spconv's CPU kernels take no fused bias: add it to the active features
        y = conv._conv_forward(self.training, x, weight, None)
        features = self.batch_norm(y.features + self.conv.bias)
        if self.act:
            features = F.relu(features)
        return y.replace_feature(features)


class SparseRefinerNet(nn.Module):
    """The band network: ``layers`` (``(kind, channels)``) then a 1-channel output layer
    (submanifold, no norm, no activation): a residual added to the current alpha.

    Args:
        in_channels: input channels (RGB + alpha + detail features).
        layers: the hidden layers, e.g. ``(('subm', 32), ('sparse', 32), ('subm', 32))``.
        kernel_size: every layer's kernel.
    """

    def __init__(self, in_channels: int, layers: Sequence[Sequence], kernel_size: int = 3) -> None:
        super().__init__()
        blocks: List[SparseBlock] = []
        channels = in_channels
        for kind, out in layers:
            blocks.append(SparseBlock(channels, int(out), kind, kernel_size))
            channels = int(out)
        blocks.append(SparseBlock(channels, 1, 'subm', kernel_size, norm=False, act=False))
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():  # start as the identity: a zero residual
            self.blocks[-1].conv.weight.mul_(0.1)
            self.blocks[-1].conv.bias.zero_()

    @property
    def growth(self) -> int:
        """How far (pixels) the active set grows through the layers."""
        return sum(b.kernel_size // 2 for b in self.blocks if b.kind == 'sparse')

    def forward_dense(self, x: Tensor, band: Tensor) -> Tuple[Tensor, Tensor]:
        """N x C x H x W inputs, band N x 1 x H x W -> (residual, final active mask).

        Runs on the bounding box of the band grown by :attr:`growth` (everything
        outside it is zero in every layer), so the cost follows the band's extent."""
        n, _, h, w = x.shape
        ys, xs = band.any(dim=0)[0].nonzero(as_tuple=True)
        out = x.new_zeros(n, 1, h, w)
        mask_out = torch.zeros_like(band)
        if ys.numel() == 0:
            return out, mask_out
        g = self.growth
        y0, y1 = max(0, int(ys.min()) - g), min(h, int(ys.max()) + g + 1)
        x0, x1 = max(0, int(xs.min()) - g), min(w, int(xs.max()) + g + 1)
        mask = band[..., y0:y1, x0:x1]
        y = x[..., y0:y1, x0:x1] * mask
        for block in self.blocks:
            y, mask = block.dense(y, mask)
        out[..., y0:y1, x0:x1] = y
        mask_out[..., y0:y1, x0:x1] = mask
        return out, mask_out

    def forward_spconv(self, x: Tensor, band: Tensor) -> Tuple[Tensor, Tensor]:
        import spconv.pytorch as spconv
        n, _, h, w = x.shape
        # (batch, y, x), spconv's order; spconv reads the buffer as row-major: contiguous
        coords = band[:, 0].nonzero().int().contiguous()
        features = x.permute(0, 2, 3, 1)[band[:, 0]].contiguous()
        st = spconv.SparseConvTensor(features, coords, [h, w], n)
        level = 0
        for block in self.blocks:
            if block.kind == 'sparse':
                level += 1
            st = block.sparse(st, f'tdm_refiner_{level}')
        idx = st.indices.long()
        out = x.new_zeros(n, h, w, st.features.shape[1])
        out = out.index_put((idx[:, 0], idx[:, 1], idx[:, 2]), st.features).permute(0, 3, 1, 2)
        mask = torch.zeros(n, 1, h, w, dtype=torch.bool, device=x.device)
        mask[idx[:, 0], 0, idx[:, 1], idx[:, 2]] = True
        return out, mask


class SparseRefiner(nn.Module):
    """Two-scale refinement of the uncertain band (the original's spconv refiner).

    The work size is the input image's size with the long edge capped at
    ``max_long_edge`` (2048). When its long edge is over ``half_first_above`` (1024),
    a first stage runs at half the work size, then a second at the work size; otherwise
    one stage at the work size. Each stage upsamples the current alpha (bilinear), takes
    the band (the coarse trimap's unknown probability, upsampled, over
    ``band_threshold``; or, with ``band='alpha'``, the current alpha strictly between
    ``alpha_eps`` and ``1 - alpha_eps``), runs the band network on
    ``[RGB, alpha, detail features]`` there, and pastes ``clamp(alpha + residual)`` back
    **only inside the band eroded by** ``paste_erode`` pixels. An empty band leaves the
    upsampled coarse alpha as it is.

    Args:
        detail_channels: channels of the decoder's detail features.
        layers: the band network's hidden layers (``(kind, channels)``).
        kernel_size: its kernels.
        max_long_edge, half_first_above: see above.
        band: ``'trimap'`` or ``'alpha'``.
        band_threshold, alpha_eps: see above.
        paste_erode: erosion (kernel side) of the band before pasting.
        backend: ``'auto'`` (spconv when installed, else dense), ``'dense'`` or
            ``'spconv'``.
    """

    def __init__(self, detail_channels: int = 16,
                 layers: Sequence[Sequence] = (('subm', 32), ('sparse', 32), ('subm', 32),
                                               ('subm', 32)),
                 kernel_size: int = 3, max_long_edge: int = 2048, half_first_above: int = 1024,
                 band: str = 'trimap', band_threshold: float = 0.5, alpha_eps: float = 0.01,
                 paste_erode: int = 3, backend: str = 'auto') -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f'SparseRefiner: backend must be one of {BACKENDS}, got {backend!r}')
        if band not in ('trimap', 'alpha'):
            raise ValueError(f"SparseRefiner: band must be 'trimap' or 'alpha', got {band!r}")
        self.net = SparseRefinerNet(3 + 1 + detail_channels, layers, kernel_size)
        self.max_long_edge = int(max_long_edge)
        self.half_first_above = int(half_first_above)
        self.band = band
        self.band_threshold = float(band_threshold)
        self.alpha_eps = float(alpha_eps)
        self.paste_erode = int(paste_erode)
        self.backend = backend

    def needs_backward(self, image: Tensor) -> bool:
        return torch.is_grad_enabled() and (image.requires_grad or any(
            p.requires_grad for p in self.parameters()))

    def resolved_backend(self, backend: Optional[str] = None,
                         image: Optional[Tensor] = None) -> str:
        """The backend a call uses. ``'auto'``: spconv when it is installed, except for
        a CPU pass that needs gradients (spconv 2.3's CPU build has no backward: it
        asks for a CUDA stream), which runs dense."""
        backend = backend or self.backend
        cpu_backward = image is not None and image.device.type == 'cpu' and \
            self.needs_backward(image)
        if backend == 'auto':
            return 'spconv' if spconv_available() and not cpu_backward else 'dense'
        if backend == 'spconv':
            if not spconv_available():
                raise ImportError(f'SparseRefiner backend spconv: spconv is not installed '
                                  f'({SPARSE_HINT}); or use backend="dense"')
            if cpu_backward:
                raise RuntimeError('SparseRefiner backend spconv: spconv has no backward pass '
                                   'on CPU; train with backend="dense" or "auto", or run '
                                   'under torch.no_grad()')
        return backend

    def stage_sizes(self, size: Tuple[int, int]) -> List[Tuple[int, int]]:
        """The (h, w) of each stage for an image of ``size``."""
        h, w = size
        scale = min(1.0, self.max_long_edge / max(h, w))
        work = (max(1, round(h * scale)), max(1, round(w * scale)))
        if max(work) > self.half_first_above:
            return [(max(1, work[0] // 2), max(1, work[1] // 2)), work]
        return [work]

    def band_mask(self, alpha: Tensor, unknown: Tensor, size: Tuple[int, int]) -> Tensor:
        if self.band == 'alpha':
            return (alpha > self.alpha_eps) & (alpha < 1 - self.alpha_eps)
        up = F.interpolate(unknown, size=size, mode='bilinear', align_corners=False)
        return up > self.band_threshold

    def forward(self, image: Tensor, alpha: Tensor, unknown: Tensor, detail: Tensor,
                backend: Optional[str] = None, return_bands: bool = False):
        """Refine.

        Args:
            image: N x 3 x H x W, the full-resolution image (normalised).
            alpha: N x 1 x h x w coarse (composite) alpha in [0, 1].
            unknown: N x 1 x h' x w' unknown-class probability of the coarse trimap.
            detail: N x C x h'' x w'' detail features.
            backend: overrides the configured backend.
            return_bands: also return the list of paste masks, one per stage.

        Returns:
            N x 1 x H2 x W2 alpha at the work size (the caller resizes it to H x W when
            the long edge was capped), and the paste masks with ``return_bands``.
        """
        backend = self.resolved_backend(backend, image)
        pastes = []
        for size in self.stage_sizes(tuple(image.shape[-2:])):
            alpha = F.interpolate(alpha, size=size, mode='bilinear', align_corners=False)
            band = self.band_mask(alpha, unknown, size)
            paste = erode(band, self.paste_erode)
            pastes.append(paste)
            if not paste.any():
                continue
            rgb = image if tuple(image.shape[-2:]) == size else F.interpolate(
                image, size=size, mode='bilinear', align_corners=False, antialias=True)
            feats = F.interpolate(detail, size=size, mode='bilinear', align_corners=False)
            x = torch.cat([rgb, alpha, feats.to(rgb)], dim=1)
            run = self.net.forward_spconv if backend == 'spconv' else self.net.forward_dense
            residual, _ = run(x, band)
            alpha = torch.where(paste, (alpha + residual).clamp(0, 1), alpha)
        return (alpha, pastes) if return_bands else alpha
