"""Swin-UNet image encoder of DiffusionMat, in plain PyTorch.

Follows DiffusionMat's copy of Swin-Unet (``cnnlstm/DiffusionMat``:
``networks_swtu/swin_transformer_unet_skip_expand_decoder_sys.py::SwinTransformerSys``,
wrapped by ``networks_swtu/vision_transformer.py::SwinUnet``), which is Swin-Unet
(Cao et al. 2021) with the fixed ``img_size`` of the upstream code replaced by the
arbitrary-size handling of Swin's detection code: every block pads its feature map to a
multiple of the window size and builds the shifted-window mask for that padded size.
This module does the same, so it accepts any input whose sides are multiples of
``patch_size * 2 ** (num_stages - 1)`` (32 for Swin-T). Module names equal the original's
``SwinTransformerSys`` names; the released ``ckpt_adobe.pth[0]`` has them under a
``module.swin_unet.`` prefix, which a converter strips.
"""
import os
from typing import Optional, Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torch.nn import functional as F

from mattebox.registry import MODELS


class DropPath(nn.Module):
    """Stochastic depth per sample (the ``timm`` DropPath semantics)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


class Mlp(nn.Module):
    """Linear-GELU-Linear feed-forward (keys ``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def window_partition(x: Tensor, window_size: int) -> Tensor:
    """``(B, H, W, C)`` -> ``(B * nW, window_size, window_size, C)``."""
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    # contiguous first: with one window row (or column) reshape may return a strided view
    # that the caller's .view() rejects (as the original, which calls .contiguous())
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, c)


def window_reverse(windows: Tensor, window_size: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: -> ``(B, H, W, C)``."""
    b = windows.shape[0] // ((h // window_size) * (w // window_size))
    x = windows.view(b, h // window_size, w // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def shifted_window_mask(height: int, width: int, window_size: int, shift_size: int,
                        device: torch.device) -> Tensor:
    """Additive attention mask (0 / -100) for shifted windows on a padded map.

    The padded ``height x width`` map (multiples of the window size) is split into three
    bands per axis, ``[0, -ws)``, ``[-ws, -shift)``, ``[-shift, end)``; tokens of
    different bands never attend to each other after the cyclic shift.

    Returns:
        ``(nW, ws * ws, ws * ws)``.
    """
    img_mask = torch.zeros((1, height, width, 1), device=device)
    bands = (slice(0, -window_size), slice(-window_size, -shift_size),
             slice(-shift_size, None))
    region = 0
    for hs in bands:
        for ws in bands:
            img_mask[:, hs, ws, :] = region
            region += 1
    windows = window_partition(img_mask, window_size).view(-1, window_size * window_size)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with relative position bias.

    Keys: ``relative_position_bias_table`` ``((2ws-1)^2, heads)``,
    ``relative_position_index`` ``(ws^2, ws^2)`` (persistent buffer, as in Swin),
    ``qkv`` ``(3C, C)``, ``proj`` ``(C, C)``.

    Args:
        dim: channels.
        window_size: side of the square window.
        num_heads: attention heads (must divide ``dim``).
        qkv_bias: learnable q/k/v bias.
        qk_scale: overrides ``head_dim ** -0.5``.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'num_heads={num_heads} must divide dim={dim}')
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads)**-0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        coords = torch.stack(torch.meshgrid(
            torch.arange(window_size), torch.arange(window_size), indexing='ij')).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative += window_size - 1
        relative[:, :, 0] *= 2 * window_size - 1
        self.register_buffer('relative_position_index', relative.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Attend within windows.

        Args:
            x: ``(B * nW, N, C)`` window tokens.
            mask: ``(nW, N, N)`` additive mask or ``None``.
        """
        b_, n, c = x.shape
        qkv = self.qkv(x).reshape(b_, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(b_ // nw, nw, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(b_, n, c)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return f'dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}'


class SwinBlock(nn.Module):
    """(Shifted-)window attention block (``SwinTransformerBlock``).

    Keys: ``norm1``, ``attn.*``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``. The normalised
    feature map is zero-padded at the bottom/right to a multiple of the window size
    (padded tokens are not masked, as in the original), cyclically shifted for odd
    blocks with a mask computed for the padded size, then cropped back.

    Args:
        dim: channels.
        num_heads: attention heads.
        window_size: window side.
        shift_size: cyclic shift (0 or ``window_size // 2``).
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        qkv_bias: learnable q/k/v bias.
        qk_scale: overrides the attention scale.
        drop: dropout rate.
        attn_drop: attention dropout rate.
        drop_path: stochastic depth rate.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int = 7, shift_size: int = 0,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0) -> None:
        super().__init__()
        if not 0 <= shift_size < window_size:
            raise ValueError(f'shift_size must lie in [0, {window_size}), got {shift_size}')
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale,
                                    attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        b, length, c = x.shape
        if length != height * width:
            raise ValueError(f'token count {length} != {height} x {width}')
        ws = self.window_size
        shortcut = x
        x = self.norm1(x).view(b, height, width, c)
        pad_b = (ws - height % ws) % ws
        pad_r = (ws - width % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        hp, wp = x.shape[1:3]
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask = shifted_window_mask(hp, wp, ws, self.shift_size, x.device).to(x.dtype)
        else:
            mask = None
        windows = self.attn(window_partition(x, ws).view(-1, ws * ws, c), mask=mask)
        x = window_reverse(windows.view(-1, ws, ws, c), ws, hp, wp)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = x[:, :height, :width, :].reshape(b, height * width, c)
        x = shortcut + self.drop_path(x)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 token merge: LayerNorm(4C) then Linear(4C -> 2C) (keys ``norm``, ``reduction``).

    Concatenation order ``[x(0,0), x(1,0), x(0,1), x(1,1)]`` as in Swin.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        b, _, c = x.shape
        x = x.view(b, height, width, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2],
                       x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


def _expand_tokens(x: Tensor, height: int, width: int, scale: int) -> Tensor:
    """``(B, H*W, s*s*C)`` -> ``(B, sH*sW, C)``: ``b h w (p1 p2 c) -> b (h p1) (w p2) c``."""
    b, _, channels = x.shape
    c = channels // (scale * scale)
    x = x.view(b, height, width, scale, scale, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, height * scale * width * scale, c)


class PatchExpand(nn.Module):
    """2x token expansion: Linear(C -> 2C), pixel shuffle, LayerNorm(C/2)
    (keys ``expand``, ``norm``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.expand = nn.Linear(dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(dim // 2)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        return self.norm(_expand_tokens(self.expand(x), height, width, 2))


class FinalPatchExpandX4(nn.Module):
    """4x token expansion: Linear(C -> 16C), pixel shuffle, LayerNorm(C)
    (``FinalPatchExpand_X4``; keys ``expand``, ``norm``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.expand = nn.Linear(dim, 16 * dim, bias=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        return self.norm(_expand_tokens(self.expand(x), height, width, 4))


class SwinStage(nn.Module):
    """Blocks of one resolution plus an optional resampling layer.

    Encoder stages (``BasicLayer``) end with ``downsample`` (:class:`PatchMerging`),
    decoder stages (``BasicLayer_up``) with ``upsample`` (:class:`PatchExpand`).
    Blocks alternate unshifted and shifted windows.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float, qkv_bias: bool, qk_scale: Optional[float], drop: float,
                 attn_drop: float, drop_path: Sequence[float], downsample: bool = False,
                 upsample: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2,
                      mlp_ratio, qkv_bias, qk_scale, drop, attn_drop, drop_path[i])
            for i in range(depth)
        ])
        if downsample:
            self.downsample = PatchMerging(dim)
        if upsample:
            self.upsample = PatchExpand(dim)

    def forward(self, x: Tensor, height: int, width: int) -> Tensor:
        for block in self.blocks:
            x = block(x, height, width)
        if hasattr(self, 'downsample'):
            x = self.downsample(x, height, width)
        if hasattr(self, 'upsample'):
            x = self.upsample(x, height, width)
        return x


class PatchEmbed(nn.Module):
    """Strided convolution into patch tokens, optional LayerNorm (keys ``proj``, ``norm``)."""

    def __init__(self, patch_size: int, in_channels: int, embed_dim: int,
                 patch_norm: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size,
                              stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> tokens ``(B, H/p * W/p, embed_dim)``."""
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.norm(x) if self.norm is not None else x


@MODELS.register_module()
class SwinUNet(nn.Module):
    """Swin-UNet mapping an image to a full-resolution feature map (DiffusionMat encoder).

    Encoder: patch embedding, ``len(depths)`` Swin stages (patch merging between them),
    LayerNorm ``norm``. Decoder (mirrors the encoder): ``layers_up.0`` is a
    :class:`PatchExpand` of the bottleneck; ``layers_up.k`` (k >= 1) concatenates the
    skip of encoder stage ``s = num_stages - 1 - k``, projects it back with
    ``concat_back_dim.k`` and runs a stage with the depth, heads and drop-path rates of
    encoder stage ``s`` (the original ignores its ``depths_decoder`` argument), followed
    by a patch expand except at the last stage; then ``norm_up``, a 4x
    :class:`FinalPatchExpandX4` ``up`` and a bias-free 1x1 conv ``output``.

    Full-size keys and shapes (Swin-T, ``out_channels=32``)::

        patch_embed.proj.weight (96, 3, 4, 4), .bias (96,); patch_embed.norm.* (96,)
        layers.{i}.blocks.{j}.norm1.*, .norm2.*               (C_i,)
        layers.{i}.blocks.{j}.attn.relative_position_bias_table (169, heads_i)
        layers.{i}.blocks.{j}.attn.relative_position_index      (49, 49)
        layers.{i}.blocks.{j}.attn.qkv.weight (3C_i, C_i), .bias; attn.proj (C_i, C_i)
        layers.{i}.blocks.{j}.mlp.fc1.weight (4C_i, C_i); mlp.fc2.weight (C_i, 4C_i)
        layers.{i}.downsample.reduction.weight (2C_i, 4C_i); .norm.* (4C_i,)   i < 3
        norm.* (768,)
        layers_up.0.expand.weight (1536, 768); layers_up.0.norm.* (384,)
        layers_up.{k}.blocks.{j}.*   as layers.{3-k}.blocks.{j}.*              k >= 1
        layers_up.1.upsample.expand.weight (768, 384); layers_up.1.upsample.norm.* (192,)
        layers_up.2.upsample.expand.weight (384, 192); layers_up.2.upsample.norm.* (96,)
        concat_back_dim.{k}.weight (C_{3-k}, 2C_{3-k}), .bias                 k >= 1
        norm_up.* (96,); up.expand.weight (1536, 96); up.norm.* (96,)
        output.weight (32, 96, 1, 1)

    with ``C_i = 96 * 2**i``. Deviations from the original: sides that are not multiples
    of ``patch_size * 2 ** (num_stages - 1)`` raise a ``ValueError`` (the original pads
    in the patch embedding and patch merging but then fails in the decoder); no
    absolute position embedding (``ape=False`` in DiffusionMat); a 1-channel input is not
    silently repeated to 3 channels (the wrapper ``SwinUnet.forward`` does that).

    Args:
        in_channels: image channels.
        out_channels: feature channels of the output map (DiffusionMat: 32).
        embed_dim: width of the first stage.
        depths: blocks per stage.
        num_heads: attention heads per stage.
        window_size: window side.
        patch_size: side of the patch embedding (the output is upsampled 4x at the end,
            so only 4 gives a full-resolution output).
        mlp_ratio: MLP hidden width relative to the stage width.
        qkv_bias: learnable q/k/v bias.
        qk_scale: overrides the attention scale.
        drop_rate: dropout rate.
        attn_drop_rate: attention dropout rate.
        drop_path_rate: stochastic depth, rising linearly over the encoder blocks.
        patch_norm: LayerNorm after the patch embedding.
        pretrained: local ImageNet Swin checkpoint loaded by :meth:`init_weights` with
            :meth:`init_from_swin_t`; never downloaded.
    """

    #: constructor arguments naming local files (checked at start-up)
    FILE_ARGUMENTS = ('pretrained', )

    def __init__(self, in_channels: int = 3, out_channels: int = 32, embed_dim: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24), window_size: int = 7,
                 patch_size: int = 4, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: Optional[float] = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 patch_norm: bool = True, pretrained: Optional[str] = None) -> None:
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f'depths {list(depths)} and num_heads {list(num_heads)} must '
                             'have the same length')
        if patch_size != 4:
            raise ValueError(f'patch_size must be 4 (the decoder ends with a 4x expand), '
                             f'got {patch_size}')
        if pretrained is not None and not os.path.isfile(pretrained):
            raise FileNotFoundError(
                f'SwinUNet pretrained: no such file {pretrained!r} (give a local ImageNet '
                'Swin checkpoint, e.g. swin_tiny_patch4_window7_224.pth, or None)')
        self.in_channels = in_channels
        self.num_stages = len(depths)
        self.size_divisor = patch_size * 2**(self.num_stages - 1)
        self.pretrained = pretrained
        dims = [embed_dim * 2**i for i in range(self.num_stages)]
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        rates = [dpr[sum(depths[:i]):sum(depths[:i + 1])] for i in range(self.num_stages)]
        common = dict(window_size=window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                      qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate)

        self.patch_embed = PatchEmbed(patch_size, in_channels, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        self.layers = nn.ModuleList([
            SwinStage(dims[i], depths[i], num_heads[i], drop_path=rates[i],
                      downsample=i < self.num_stages - 1, **common)
            for i in range(self.num_stages)
        ])
        self.layers_up = nn.ModuleList()
        self.concat_back_dim = nn.ModuleList()
        for k in range(self.num_stages):
            s = self.num_stages - 1 - k
            if k == 0:
                self.layers_up.append(PatchExpand(dims[s]))
                self.concat_back_dim.append(nn.Identity())
            else:
                self.layers_up.append(
                    SwinStage(dims[s], depths[s], num_heads[s], drop_path=rates[s],
                              upsample=k < self.num_stages - 1, **common))
                self.concat_back_dim.append(nn.Linear(2 * dims[s], dims[s]))
        self.norm = nn.LayerNorm(dims[-1])
        self.norm_up = nn.LayerNorm(embed_dim)
        self.up = FinalPatchExpandX4(embed_dim)
        self.output = nn.Conv2d(embed_dim, out_channels, kernel_size=1, bias=False)
        self.apply(self._init_module)

    @staticmethod
    def _init_module(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Load ``pretrained`` (if given) with :meth:`init_from_swin_t`."""
        if self.pretrained is not None:
            self.init_from_swin_t(self.pretrained)

    def init_from_swin_t(self, path: str) -> dict[str, list[str]]:
        """Initialise encoder and mirrored decoder from an ImageNet Swin checkpoint.

        Reads the official Swin layout (``{'model': state_dict}``, keys like
        ``layers.0.blocks.0.attn.qkv.weight``; a bare state dict is accepted too). As
        DiffusionMat does (``runners/diffusionmat.py::Diffusion.image_matting_train``,
        the same rule as Swin-Unet's ``SwinUnet.load_from``), every ``layers.{i}.rest``
        is also copied to ``layers_up.{num_stages - 1 - i}.rest``, so decoder stage k
        starts from the blocks of encoder stage ``num_stages - 1 - k``. Keys the model
        lacks (``head.*``, ``attn_mask`` buffers, mirrored ``downsample`` keys, the
        mirror of the last stage) are ignored; keys whose shapes differ are skipped with
        a log line; the decoder's ``upsample``, ``concat_back_dim``, ``norm_up``, ``up``
        and ``output`` keep their initialisation.

        Args:
            path: local checkpoint file; nothing is downloaded.

        Returns:
            ``{'loaded': [...], 'mismatched': [...], 'ignored': [...]}`` key lists.

        Raises:
            FileNotFoundError: when ``path`` is not a file.
            ValueError: when the file does not hold a Swin state dict.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f'SwinUNet.init_from_swin_t: no such file {path!r}')
        from mattebox.engine.checkpoint import load_checkpoint_file
        checkpoint = load_checkpoint_file(path)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get('model'), dict):
            source = checkpoint['model']
        elif isinstance(checkpoint, dict) and 'patch_embed.proj.weight' in checkpoint:
            source = checkpoint
        else:
            found = list(checkpoint)[:5] if isinstance(checkpoint, dict) else \
                type(checkpoint).__name__
            raise ValueError(f'{path}: expected a Swin checkpoint {{"model": state_dict}} '
                             f'with key "patch_embed.proj.weight", found {found}')
        candidates = dict(source)
        for key, value in source.items():
            if key.startswith('layers.'):
                stage, rest = key[len('layers.'):].split('.', 1)
                mirrored = f'layers_up.{self.num_stages - 1 - int(stage)}.{rest}'
                candidates[mirrored] = value
        own = self.state_dict()
        loaded, mismatched, ignored = {}, [], []
        for key, value in candidates.items():
            if key not in own:
                ignored.append(key)
            elif tuple(value.shape) != tuple(own[key].shape):
                mismatched.append(key)
                print_log(f'SwinUNet.init_from_swin_t: skip {key}: shape '
                          f'{tuple(value.shape)} in {path}, {tuple(own[key].shape)} in '
                          'the model', logger='current')
            else:
                loaded[key] = value
        self.load_state_dict(loaded, strict=False)
        print_log(f'SwinUNet.init_from_swin_t: loaded {len(loaded)} tensors from {path} '
                  f'({len(mismatched)} shape-mismatched, {len(ignored)} not in the model; '
                  f'{len(own) - len(loaded)} model tensors keep their initialisation)',
                  logger='current')
        return dict(loaded=sorted(loaded), mismatched=mismatched, ignored=ignored)

    def forward(self, x: Tensor) -> Tensor:
        """Encode and decode an image.

        Args:
            x: ``(B, in_channels, H, W)``, ``H`` and ``W`` multiples of
                ``size_divisor`` (32 for four stages).

        Returns:
            ``(B, out_channels, H, W)`` feature map.

        Raises:
            ValueError: on a wrong channel count or sides that are not multiples of
                ``size_divisor``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'SwinUNet expects (B, {self.in_channels}, H, W), got '
                             f'{tuple(x.shape)}')
        height, width = x.shape[2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(f'SwinUNet input sides must be multiples of {self.size_divisor}'
                             f' (pad the image first), got {height}x{width}')
        x = self.pos_drop(self.patch_embed(x))
        h, w = height // 4, width // 4
        skips = []
        for stage in self.layers:
            skips.append(x)
            x = stage(x, h, w)
            if hasattr(stage, 'downsample'):
                h, w = h // 2, w // 2
        x = self.norm(x)
        for k, stage in enumerate(self.layers_up):
            if k > 0:
                x = self.concat_back_dim[k](torch.cat([x, skips[self.num_stages - 1 - k]], -1))
            x = stage(x, h, w)
            if k < self.num_stages - 1:
                h, w = h * 2, w * 2
        x = self.up(self.norm_up(x), h, w)
        x = x.view(x.shape[0], 4 * h, 4 * w, -1).permute(0, 3, 1, 2)
        return self.output(x)
