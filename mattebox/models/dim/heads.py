"""DIM's decoder and refinement stage."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from mattebox.registry import MODELS


def max_unpool_2x2(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``F.max_unpool2d(x, indices, kernel_size=2, stride=2)``, also under
    ``torch.use_deterministic_algorithms(True)``.

    torch has no deterministic max-unpooling kernel (it raises in deterministic mode,
    on CPU and CUDA). There, each value is instead placed by comparing its index with
    the flat position of every pixel of its 2 x 2 window: an upsampling by expansion
    and an element-wise select, both deterministic forward and backward, and exactly
    the values (and gradients) of ``max_unpool2d`` for indices of a 2 x 2 / stride 2
    max-pooling of an even-sized input (each index inside its own window). Outside
    deterministic mode ``max_unpool2d`` itself runs.

    Raises:
        ValueError: in deterministic mode, an index outside its window (the pooled
            input had an odd size).
    """
    if not torch.are_deterministic_algorithms_enabled():
        return F.max_unpool2d(x, indices, kernel_size=2, stride=2)
    n, c, h, w = x.shape

    def up(t: torch.Tensor) -> torch.Tensor:
        return t[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)

    position = torch.arange(4 * h * w, device=x.device).view(1, 1, 2 * h, 2 * w)
    hit = up(indices) == position
    if int(hit.sum()) != x.numel():
        raise ValueError('max_unpool_2x2: indices outside their 2 x 2 window (the pooled '
                         'input had an odd height or width); pad inputs to even sizes')
    return torch.where(hit, up(x), x.new_zeros(()))


def xavier_init_convs(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution (MMagic's init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


@MODELS.register_module()
class PlainDecoder(nn.Module):
    """DIM decoder: 5 x 5 convolutions with max-unpooling by the encoder's indices
    (:func:`max_unpool_2x2`, which also runs in deterministic mode).

    Layer names follow MMagic's ``PlainDecoder``. Returns the raw (pre-sigmoid) alpha.

    Args:
        in_channels: channels of the encoder output (512 for VGG16).
        base_channels: width of the last block (64 in DIM); blocks have 8, 8, 4, 2, 1, 1
            times this.
    """

    def __init__(self, in_channels: int = 512, base_channels: int = 64) -> None:
        super().__init__()
        b = base_channels
        self.deconv6_1 = nn.Conv2d(in_channels, 8 * b, kernel_size=1)
        self.deconv5_1 = nn.Conv2d(8 * b, 8 * b, kernel_size=5, padding=2)
        self.deconv4_1 = nn.Conv2d(8 * b, 4 * b, kernel_size=5, padding=2)
        self.deconv3_1 = nn.Conv2d(4 * b, 2 * b, kernel_size=5, padding=2)
        self.deconv2_1 = nn.Conv2d(2 * b, b, kernel_size=5, padding=2)
        self.deconv1_1 = nn.Conv2d(b, b, kernel_size=5, padding=2)
        self.deconv1 = nn.Conv2d(b, 1, kernel_size=5, padding=2)
        self.relu = nn.ReLU(inplace=True)
        xavier_init_convs(self)

    def forward(self, inputs: Dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.relu(self.deconv6_1(inputs['out']))
        out = max_unpool_2x2(out, inputs['max_idx_5'])
        out = self.relu(self.deconv5_1(out))
        out = max_unpool_2x2(out, inputs['max_idx_4'])
        out = self.relu(self.deconv4_1(out))
        out = max_unpool_2x2(out, inputs['max_idx_3'])
        out = self.relu(self.deconv3_1(out))
        out = max_unpool_2x2(out, inputs['max_idx_2'])
        out = self.relu(self.deconv2_1(out))
        out = max_unpool_2x2(out, inputs['max_idx_1'])
        out = self.relu(self.deconv1_1(out))
        return self.deconv1(out)


@MODELS.register_module()
class PlainRefiner(nn.Module):
    """DIM refinement stage: four 3 x 3 convolutions on (image, alpha) that add a
    residual to the raw alpha. Layer names follow MMagic's ``PlainRefiner``.

    Args:
        conv_channels: width of the hidden convolutions.
    """

    def __init__(self, conv_channels: int = 64) -> None:
        super().__init__()
        self.refine_conv1 = nn.Conv2d(4, conv_channels, kernel_size=3, padding=1)
        self.refine_conv2 = nn.Conv2d(conv_channels, conv_channels, kernel_size=3, padding=1)
        self.refine_conv3 = nn.Conv2d(conv_channels, conv_channels, kernel_size=3, padding=1)
        self.refine_pred = nn.Conv2d(conv_channels, 1, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        xavier_init_convs(self)

    def forward(self, x: torch.Tensor, raw_alpha: torch.Tensor) -> torch.Tensor:
        """Args: ``x`` (N x 4: image + sigmoid alpha), ``raw_alpha`` (N x 1, pre-sigmoid).
        Returns the refined alpha in [0, 1]."""
        out = self.relu(self.refine_conv1(x))
        out = self.relu(self.refine_conv2(out))
        out = self.relu(self.refine_conv3(out))
        return torch.sigmoid(raw_alpha + self.refine_pred(out))
