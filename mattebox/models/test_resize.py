"""Test-time padding and resizing of a batch, with ``undo`` for the prediction.

A model's ``test_cfg.resize`` names one of these; :class:`~.base_mattor.BaseMattor`
applies it to the whole batch before ``_forward_test`` and undoes it on the predicted
alpha. Dense guidance (``trimap``, ``mask``) is padded or resized with the image;
``points`` and ``boxes`` are moved so that they stay on the same pixels (same
conventions as the data transforms, :mod:`mattebox.guidance`).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from mattebox.registry import MODELS

DENSE_FIELDS = ('image', 'trimap', 'mask')
POSITIONS = ('bottom_right', 'top_left')
PAD_MODES = ('reflect', 'replicate', 'constant')


def reflect_pad(x: Tensor, top: int, bottom: int, left: int, right: int) -> Tensor:
    """Reflect-pad an N x C x H x W tensor as ``np.pad(..., mode='reflect')`` does.

    Paddings longer than the side minus one are done in several reflections, as numpy
    does (torch's single reflection would fail); a side of one pixel is replicated.
    """
    while top or bottom or left or right:
        h, w = x.shape[-2:]
        st, sb = min(top, h - 1), min(bottom, h - 1)
        sl, sr = min(left, w - 1), min(right, w - 1)
        if (top and not st) or (bottom and not sb) or (left and not sl) or (right and not sr):
            return F.pad(x, (left, right, top, bottom), mode='replicate')
        x = F.pad(x, (sl, sr, st, sb), mode='reflect')
        top, bottom, left, right = top - st, bottom - sb, left - sl, right - sr
    return x


def _move(inputs: Dict, scale: Tuple[float, float], shift: Tuple[float, float]) -> Dict:
    """Scale then shift the ``points`` (pixel centres) and ``boxes`` (pixel edges)."""
    sx, sy = scale
    dx, dy = shift
    out = dict(inputs)
    if 'points' in inputs:
        p = inputs['points'].clone()
        p[..., 0] = (p[..., 0] + 0.5) * sx - 0.5 + dx
        p[..., 1] = (p[..., 1] + 0.5) * sy - 0.5 + dy
        out['points'] = p
    if 'boxes' in inputs:
        b = inputs['boxes'].clone()
        b[..., 0::2] = b[..., 0::2] * sx + dx
        b[..., 1::2] = b[..., 1::2] * sy + dy
        out['boxes'] = b
    return out


class TestResize:
    """Base of the test-time resize pieces: :meth:`apply` and :meth:`undo`."""

    def apply(self, inputs: Dict) -> Tuple[Dict, dict]:
        """Return the resized batch and the state :meth:`undo` needs."""
        raise NotImplementedError

    def undo(self, pred: Tensor, state: dict) -> Tensor:
        """Map an N x C x h x w prediction of the resized batch back to the batch size."""
        raise NotImplementedError


@MODELS.register_module()
class PadToMultiple(TestResize):
    """Pad the batch so that H and W are multiples of ``divisor`` (plus ``extra``).

    Args:
        divisor: the multiple (32 for DIM's five poolings).
        position: ``'bottom_right'`` (DIM, MMagic) or ``'top_left'`` (DiffusionMat's
            original padding).
        mode: ``'reflect'`` (numpy-style, repeated for paddings longer than the side),
            ``'replicate'`` or ``'constant'`` (zeros).
        extra: further padding on the padded sides (DiffusionMat: 32).
    """

    def __init__(self, divisor: int = 32, position: str = 'bottom_right',
                 mode: str = 'reflect', extra: int = 0) -> None:
        if position not in POSITIONS:
            raise ValueError(f'PadToMultiple: position must be one of {POSITIONS}, got '
                             f'{position!r}')
        if mode not in PAD_MODES:
            raise ValueError(f'PadToMultiple: mode must be one of {PAD_MODES}, got {mode!r}')
        if int(divisor) < 1 or int(extra) < 0:
            raise ValueError(f'PadToMultiple: divisor must be >= 1 and extra >= 0, got '
                             f'{divisor} and {extra}')
        self.divisor, self.position, self.mode, self.extra = (int(divisor), position, mode,
                                                              int(extra))

    def padding(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right) for an H x W batch."""
        ph = (-h) % self.divisor + self.extra
        pw = (-w) % self.divisor + self.extra
        return (ph, 0, pw, 0) if self.position == 'top_left' else (0, ph, 0, pw)

    def _pad(self, x: Tensor, pads: Tuple[int, int, int, int]) -> Tensor:
        top, bottom, left, right = pads
        if self.mode == 'reflect':
            return reflect_pad(x, top, bottom, left, right)
        if self.mode == 'constant':
            return F.pad(x, (left, right, top, bottom), mode='constant', value=0.0)
        return F.pad(x, (left, right, top, bottom), mode=self.mode)

    def apply(self, inputs: Dict) -> Tuple[Dict, dict]:
        h, w = inputs['image'].shape[-2:]
        pads = self.padding(h, w)
        state = dict(top=pads[0], left=pads[2], h=h, w=w)
        if not any(pads):
            return inputs, state
        out = _move(inputs, (1.0, 1.0), (pads[2], pads[0]))
        for key in DENSE_FIELDS:
            if key in inputs:
                out[key] = self._pad(inputs[key], pads)
        return out, state

    def undo(self, pred: Tensor, state: dict) -> Tensor:
        top, left = state['top'], state['left']
        return pred[..., top:top + state['h'], left:left + state['w']]

    def __repr__(self) -> str:
        return (f'PadToMultiple(divisor={self.divisor}, position={self.position!r}, '
                f'mode={self.mode!r}, extra={self.extra})')


class _Interpolate(TestResize):
    """Resize every dense field to :meth:`target` and back."""

    def __init__(self, mode: str = 'bilinear', trimap_mode: str = 'nearest',
                 mask_mode: str = 'bilinear', align_corners: Optional[bool] = None) -> None:
        self.mode, self.trimap_mode, self.mask_mode = mode, trimap_mode, mask_mode
        self.align_corners = align_corners

    def target(self, h: int, w: int) -> Tuple[int, int]:
        raise NotImplementedError

    def _resize(self, x: Tensor, size: Sequence[int], mode: str) -> Tensor:
        corners = self.align_corners if mode in ('bilinear', 'bicubic') else None
        return F.interpolate(x, size=tuple(size), mode=mode, align_corners=corners)

    def apply(self, inputs: Dict) -> Tuple[Dict, dict]:
        h, w = inputs['image'].shape[-2:]
        size = self.target(h, w)
        state = dict(h=h, w=w)
        if tuple(size) == (h, w):
            return inputs, state
        out = _move(inputs, (size[1] / w, size[0] / h), (0.0, 0.0))
        modes = dict(image=self.mode, trimap=self.trimap_mode, mask=self.mask_mode)
        for key in DENSE_FIELDS:
            if key in inputs:
                out[key] = self._resize(inputs[key], size, modes[key])
        return out, state

    def undo(self, pred: Tensor, state: dict) -> Tensor:
        if tuple(pred.shape[-2:]) == (state['h'], state['w']):
            return pred
        return self._resize(pred, (state['h'], state['w']), self.mode)


@MODELS.register_module()
class ResizeToMultiple(_Interpolate):
    """Resize the batch down to the nearest multiples of ``divisor`` (at least one).

    Args:
        divisor: the multiple.
        mode: interpolation of the image and of the prediction's way back.
        trimap_mode: interpolation of the trimap (``'nearest'`` keeps 0 / 128 / 255).
        mask_mode: interpolation of the mask.
        align_corners: passed to ``F.interpolate`` for linear modes.
    """

    def __init__(self, divisor: int = 32, mode: str = 'bilinear', **kwargs) -> None:
        super().__init__(mode=mode, **kwargs)
        self.divisor = int(divisor)

    def target(self, h: int, w: int) -> Tuple[int, int]:
        d = self.divisor
        return max(d, h - h % d), max(d, w - w % d)

    def __repr__(self) -> str:
        return f'ResizeToMultiple(divisor={self.divisor}, mode={self.mode!r})'


@MODELS.register_module()
class ResizeToSize(_Interpolate):
    """Squash the batch to a fixed ``size`` (H, W), aspect ratio not kept (SDMatte's
    1024 x 1024), and the prediction back.

    Args:
        size: (H, W), or one int for a square.
        mode, trimap_mode, mask_mode, align_corners: as :class:`ResizeToMultiple`.
    """

    def __init__(self, size=1024, mode: str = 'bilinear', **kwargs) -> None:
        super().__init__(mode=mode, **kwargs)
        self.size = (int(size), int(size)) if isinstance(size, int) else tuple(
            int(s) for s in size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f'ResizeToSize: size must be an int or (H, W), got {size!r}')

    def target(self, h: int, w: int) -> Tuple[int, int]:
        return self.size

    def __repr__(self) -> str:
        return f'ResizeToSize(size={self.size}, mode={self.mode!r})'
