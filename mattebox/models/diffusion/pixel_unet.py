"""Pixel-space DDPM UNet: DiffusionMat's alpha prior and its correction module.

The architecture follows the UNet of DiffusionMat (``cnnlstm/DiffusionMat``:
``model.py::UNet`` for the prior, ``model_wo_t.py::UNet_wo_T`` for the corrector), itself
the CIFAR-10 DDPM UNet of ``w86763777/pytorch-ddpm`` with the attention blocks removed and
a single middle residual block. Module names are chosen so that a state dict of the
original loads 1:1 (after stripping a ``module.`` DataParallel prefix, see below).
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn import init

from mattebox.registry import MODELS


class Swish(nn.Module):
    """``x * sigmoid(x)`` (``model.py::Swish``)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)


def sinusoidal_table(num_timesteps: int, dim: int) -> Tensor:
    """Fixed sinusoidal timestep table of shape ``(num_timesteps, dim)``.

    Sines and cosines are interleaved per frequency (``[sin f0, cos f0, sin f1, ...]``),
    frequencies ``exp(-2i / dim * log 10000)`` (``model.py::TimeEmbedding.__init__``);
    this differs from the ``[sin..., cos...]`` concatenation of other DDPM code.
    """
    if dim % 2:
        raise ValueError(f'time embedding width must be even, got {dim}')
    freqs = torch.exp(-(torch.arange(0, dim, step=2) / dim * math.log(10000)))
    angles = torch.arange(num_timesteps).float()[:, None] * freqs[None, :]
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).view(num_timesteps, dim)


class TimeEmbedding(nn.Module):
    """Frozen sinusoidal table followed by a two-layer MLP (``model.py::TimeEmbedding``).

    Keys: ``timembedding.0.weight`` (the table, a frozen parameter),
    ``timembedding.1.{weight,bias}``, ``timembedding.3.{weight,bias}``.

    Args:
        num_timesteps: rows of the table.
        dim: width of the table (the UNet's ``ch``).
        out_dim: width of the embedding (``4 * ch``).
    """

    def __init__(self, num_timesteps: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.timembedding = nn.Sequential(
            nn.Embedding.from_pretrained(sinusoidal_table(num_timesteps, dim)),
            nn.Linear(dim, out_dim),
            Swish(),
            nn.Linear(out_dim, out_dim),
        )
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.xavier_uniform_(module.weight)
                init.zeros_(module.bias)

    def forward(self, t: Tensor) -> Tensor:
        return self.timembedding(t)


class DownSample(nn.Module):
    """Stride-2 3x3 convolution (key ``main``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        init.xavier_uniform_(self.main.weight)
        init.zeros_(self.main.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x)


class UpSample(nn.Module):
    """Nearest 2x upsampling then a 3x3 convolution (key ``main``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.main = nn.Conv2d(channels, channels, 3, stride=1, padding=1)
        init.xavier_uniform_(self.main.weight)
        init.zeros_(self.main.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(F.interpolate(x, scale_factor=2, mode='nearest'))


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels (``model.py::AttnBlock``).

    Not used by DiffusionMat (its ``ResBlock`` has the attention commented out); kept
    for ``attn`` levels, with the key names of pytorch-ddpm (``group_norm``,
    ``proj_q``, ``proj_k``, ``proj_v``, ``proj``).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(32, channels)
        self.proj_q = nn.Conv2d(channels, channels, 1)
        self.proj_k = nn.Conv2d(channels, channels, 1)
        self.proj_v = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        for module in (self.proj_q, self.proj_k, self.proj_v, self.proj):
            init.xavier_uniform_(module.weight)
            init.zeros_(module.bias)
        init.xavier_uniform_(self.proj.weight, gain=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        y = self.group_norm(x)
        q = self.proj_q(y).permute(0, 2, 3, 1).reshape(b, h * w, c)
        k = self.proj_k(y).reshape(b, c, h * w)
        v = self.proj_v(y).permute(0, 2, 3, 1).reshape(b, h * w, c)
        weights = torch.softmax(torch.bmm(q, k) * (int(c)**(-0.5)), dim=-1)
        y = torch.bmm(weights, v).reshape(b, h, w, c).permute(0, 3, 1, 2)
        return x + self.proj(y)


class ResBlock(nn.Module):
    """GroupNorm-Swish-Conv residual block with an optional timestep projection.

    Keys: ``block1.0`` (GroupNorm), ``block1.2`` (3x3 conv), ``temb_proj.1`` (Linear,
    only with a time embedding), ``block2.0`` (GroupNorm), ``block2.3`` (3x3 conv after
    Swish and Dropout), ``shortcut`` (1x1 conv, only when the width changes), ``attn``
    (only for attention levels). From ``model.py::ResBlock`` / ``model_wo_t.py::ResBlock``.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        tdim: width of the time embedding, or ``None`` for a block without one.
        dropout: dropout rate before the second convolution.
        attn: append an :class:`AttnBlock`.
    """

    def __init__(self, in_ch: int, out_ch: int, tdim: Optional[int], dropout: float,
                 attn: bool = False) -> None:
        super().__init__()
        self.block1 = nn.Sequential(
            nn.GroupNorm(32, in_ch), Swish(), nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.temb_proj = nn.Sequential(Swish(), nn.Linear(tdim, out_ch)) \
            if tdim is not None else None
        self.block2 = nn.Sequential(
            nn.GroupNorm(32, out_ch), Swish(), nn.Dropout(dropout),
            nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.attn = AttnBlock(out_ch) if attn else nn.Identity()
        # pytorch-ddpm re-initialises every conv/linear here, the attention's included
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                init.xavier_uniform_(module.weight)
                init.zeros_(module.bias)
        init.xavier_uniform_(self.block2[-1].weight, gain=1e-5)

    def forward(self, x: Tensor, temb: Optional[Tensor] = None) -> Tensor:
        h = self.block1(x)
        if self.temb_proj is not None:
            h = h + self.temb_proj(temb)[:, :, None, None]
        h = self.block2(h)
        return self.attn(h + self.shortcut(x))


@MODELS.register_module()
class PixelUNet(nn.Module):
    """DDPM UNet over pixels, as DiffusionMat's alpha prior and correction module.

    * Prior (``model.py::UNet``, released as ``ckpt_diffusion.pt['net_model']``):
      ``PixelUNet(in_channels=1, ch=64, ch_mult=(1, 1, 2, 2), num_res_blocks=1,
      dropout=0.1)``, called as ``unet(x, t)`` and returning the predicted noise.
    * Corrector (``model_wo_t.py::UNet_wo_T``, released as ``ckpt_adobe.pth[1]``):
      the same with ``in_channels=33, time_embedding=False``, called as ``unet(x)``
      and returning the corrected noisy alpha.

    State-dict keys (for the prior; the corrector has no ``time_embedding.*`` and no
    ``*.temb_proj.*``), with ``ResBlock`` keys as documented in :class:`ResBlock`::

        time_embedding.timembedding.0.weight  (1000, 64)   frozen sinusoidal table
        time_embedding.timembedding.1.weight  (256, 64)    .bias (256,)
        time_embedding.timembedding.3.weight  (256, 256)   .bias (256,)
        head.weight (64, in, 3, 3), head.bias (64,)
        downblocks.{0,2,4,6}   ResBlock 64->64, 64->64, 64->128 (+shortcut), 128->128
        downblocks.{1,3,5}.main.{weight,bias}   DownSample 64, 64, 128
        middleblocks.0         ResBlock 128->128
        upblocks.{0,1,3,4}     ResBlock 256->128, 256->128, 256->128, 192->128
        upblocks.{6,7,9,10}    ResBlock 192->64, 128->64, 128->64, 128->64
        upblocks.{2,5,8}.main.{weight,bias}     UpSample 128, 128, 64
        tail.0.{weight,bias} (64,)  GroupNorm;  tail.2.weight (out, 64, 3, 3), .bias (out,)

    The released corrector/encoder file was saved from ``nn.DataParallel`` models, so its
    keys start with ``module.``; strip that prefix. The prior's keys need no change.

    Differences from the original: ``out_channels`` is an argument (the original hard-codes
    1); ``attn`` levels really add attention (the original accepts ``attn=[1]`` and
    ignores it, so DiffusionMat's configs must use ``attn=()``).

    Args:
        in_channels: input channels (prior 1, corrector 32 image features + 1 alpha = 33).
        out_channels: output channels (1).
        ch: base width; every width must be a multiple of 32 (GroupNorm with 32 groups).
        ch_mult: width multiplier per resolution level.
        num_res_blocks: residual blocks per level on the way down (``+1`` on the way up).
        attn: levels (indices into ``ch_mult``) whose residual blocks get attention.
        dropout: dropout rate inside the residual blocks.
        num_timesteps: rows of the sinusoidal table (the diffusion's ``T``).
        time_embedding: ``False`` builds the time-free corrector.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ch: int = 64,
                 ch_mult: Sequence[int] = (1, 1, 2, 2), num_res_blocks: int = 1,
                 attn: Sequence[int] = (), dropout: float = 0.1, num_timesteps: int = 1000,
                 time_embedding: bool = True) -> None:
        super().__init__()
        if any(not 0 <= i < len(ch_mult) for i in attn):
            raise ValueError(f'attn levels {list(attn)} out of range for ch_mult '
                             f'{list(ch_mult)}')
        if any((ch * m) % 32 for m in ch_mult):
            raise ValueError(f'every width ch * mult must be a multiple of 32 (GroupNorm '
                             f'groups), got ch={ch}, ch_mult={list(ch_mult)}')
        self.in_channels = in_channels
        self.num_timesteps = num_timesteps
        self.size_divisor = 2**(len(ch_mult) - 1)
        tdim = ch * 4 if time_embedding else None
        self.time_embedding = TimeEmbedding(num_timesteps, ch, tdim) \
            if time_embedding else None

        self.head = nn.Conv2d(in_channels, ch, kernel_size=3, stride=1, padding=1)
        self.downblocks = nn.ModuleList()
        skip_channels = [ch]
        now_ch = ch
        for level, mult in enumerate(ch_mult):
            out_ch = ch * mult
            for _ in range(num_res_blocks):
                self.downblocks.append(
                    ResBlock(now_ch, out_ch, tdim, dropout, attn=level in attn))
                now_ch = out_ch
                skip_channels.append(now_ch)
            if level != len(ch_mult) - 1:
                self.downblocks.append(DownSample(now_ch))
                skip_channels.append(now_ch)

        self.middleblocks = nn.ModuleList([ResBlock(now_ch, now_ch, tdim, dropout)])

        self.upblocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            out_ch = ch * mult
            for _ in range(num_res_blocks + 1):
                self.upblocks.append(ResBlock(skip_channels.pop() + now_ch, out_ch, tdim,
                                              dropout, attn=level in attn))
                now_ch = out_ch
            if level != 0:
                self.upblocks.append(UpSample(now_ch))

        self.tail = nn.Sequential(
            nn.GroupNorm(32, now_ch), Swish(),
            nn.Conv2d(now_ch, out_channels, 3, stride=1, padding=1))
        init.xavier_uniform_(self.head.weight)
        init.zeros_(self.head.bias)
        init.xavier_uniform_(self.tail[-1].weight, gain=1e-5)
        init.zeros_(self.tail[-1].bias)

    def _timestep_batch(self, t: Union[int, Tensor], x: Tensor) -> Tensor:
        if isinstance(t, Tensor):
            if t.is_floating_point():
                raise TypeError(f't must be an integer tensor, got dtype {t.dtype}')
            t = t.to(device=x.device, dtype=torch.long)
            if t.dim() == 0:
                t = t.expand(x.shape[0])
        else:
            t = torch.full((x.shape[0], ), int(t), dtype=torch.long, device=x.device)
        if t.shape != (x.shape[0], ):
            raise ValueError(f't must have shape ({x.shape[0]},), got {tuple(t.shape)}')
        if bool((t < 0).any()) or bool((t >= self.num_timesteps).any()):
            raise ValueError(f't must lie in [0, {self.num_timesteps - 1}], got {t.tolist()}')
        return t

    def forward(self, x: Tensor, t: Optional[Union[int, Tensor]] = None) -> Tensor:
        """Run the UNet.

        Args:
            x: ``(B, in_channels, H, W)`` with ``H`` and ``W`` multiples of
                ``2 ** (len(ch_mult) - 1)``.
            t: timesteps (``int`` or long tensor ``(B,)``) with a time embedding;
                must be ``None`` without one.

        Returns:
            ``(B, out_channels, H, W)``: the predicted noise (prior) or the corrected
            alpha (corrector).
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'PixelUNet expects (B, {self.in_channels}, H, W), got '
                             f'{tuple(x.shape)}')
        if x.shape[2] % self.size_divisor or x.shape[3] % self.size_divisor:
            raise ValueError(f'PixelUNet input sides must be multiples of '
                             f'{self.size_divisor}, got {tuple(x.shape[2:])}')
        if self.time_embedding is None:
            if t is not None:
                raise ValueError('this PixelUNet has no time embedding '
                                 '(time_embedding=False); call it without t')
            temb = None
        else:
            if t is None:
                raise ValueError('this PixelUNet has a time embedding; pass t')
            temb = self.time_embedding(self._timestep_batch(t, x))

        h = self.head(x)
        skips = [h]
        for layer in self.downblocks:
            h = layer(h, temb) if isinstance(layer, ResBlock) else layer(h)
            skips.append(h)
        for layer in self.middleblocks:
            h = layer(h, temb)
        for layer in self.upblocks:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), temb)
            else:
                h = layer(h)
        return self.tail(h)
