"""VGG16 encoder with max-pooling indices (Deep Image Matting)."""
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mattebox.registry import MODELS

# Convolution positions of torchvision's ``vgg16().features``, in order; they map to
# mattebox's (layerN, index) below so that an ImageNet VGG16 file can initialise it.
_TORCHVISION_CONV_IDS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
_BLOCKS = (2, 2, 3, 3, 3)


def _mattebox_conv_names():
    for layer, n in enumerate(_BLOCKS, start=1):
        for j in range(n):
            yield f'layer{layer}.{2 * j}'


@MODELS.register_module()
class VGG16(nn.Module):
    """VGG16 encoder of DIM: five conv blocks with max-pooling that returns indices,
    then a 1 x 1 ``conv6``. Layer names follow MMagic's ``VGG16`` so its checkpoints
    load directly.

    Args:
        in_channels: input channels (4 for image + trimap).
        base_channels: width of the first block (64 in VGG16); the blocks have
            1, 2, 4, 8, 8 times this. Smaller values give narrow test/demo models.
        batch_norm: add BatchNorm after each convolution.
        pretrained: optional local file with ImageNet VGG16 weights, either in
            torchvision's layout (``features.0.weight`` ...) or in this module's own
            layout. A first convolution with 3 input channels is widened with zeros for
            the extra input channels (the DIM paper initialises the trimap channel to 0).
    """

    #: constructor arguments naming local files (checked at start-up)
    FILE_ARGUMENTS = ('pretrained', )

    def __init__(self, in_channels: int = 4, base_channels: int = 64,
                 batch_norm: bool = False, pretrained: Optional[str] = None) -> None:
        super().__init__()
        b = base_channels
        self.batch_norm = batch_norm
        self._in = in_channels
        self.layer1 = self._make_layer(b, 2)
        self.layer2 = self._make_layer(2 * b, 2)
        self.layer3 = self._make_layer(4 * b, 3)
        self.layer4 = self._make_layer(8 * b, 3)
        self.layer5 = self._make_layer(8 * b, 3)
        self.conv6 = nn.Conv2d(8 * b, 8 * b, kernel_size=1)
        self.bn = nn.BatchNorm2d(8 * b) if batch_norm else None
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = 8 * b
        self.pretrained = pretrained
        self.init_weights()

    def _make_layer(self, channels: int, num_convs: int) -> nn.Sequential:
        layers = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(self._in, channels, kernel_size=3, padding=1))
            if self.batch_norm:
                layers.append(nn.BatchNorm2d(channels))
            layers.append(nn.ReLU(inplace=True))
            self._in = channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2, return_indices=True))
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """Xavier-uniform convolutions (MMagic's init), then the pretrained file if any."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.pretrained:
            self.load_pretrained(self.pretrained)

    def load_pretrained(self, path: str) -> None:
        """Load ImageNet VGG16 weights from a local file (see the class docstring)."""
        from mattebox.engine.checkpoint import load_checkpoint_file
        state = load_checkpoint_file(path)
        state = state.get('state_dict', state)
        if any(k.startswith('features.') for k in state):
            if self.batch_norm:
                raise ValueError(f'{path}: torchvision-layout VGG16 weights can only '
                                 'initialise VGG16(batch_norm=False)')
            renamed = {}
            for tv_id, name in zip(_TORCHVISION_CONV_IDS, _mattebox_conv_names()):
                for p in ('weight', 'bias'):
                    key = f'features.{tv_id}.{p}'
                    if key not in state:
                        raise KeyError(f'{path}: expected key {key!r} of a torchvision VGG16')
                    renamed[f'{name}.{p}'] = state[key]
            state = renamed
        own = self.state_dict()
        first = 'layer1.0.weight'
        if first in state and state[first].shape[1] < own[first].shape[1]:
            w = own[first].new_zeros(own[first].shape)
            w[:, :state[first].shape[1]] = state[first]
            state = dict(state, **{first: w})
        missing, unexpected = self.load_state_dict(state, strict=False)
        print_log(f'VGG16: loaded {path}; missing keys (randomly initialised): {missing}; '
                  f'unexpected keys (ignored): {unexpected}', logger='current')

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Return ``{'out': features, 'max_idx_1': ..., ..., 'max_idx_5': ...}``."""
        out, idx1 = self.layer1(x)
        out, idx2 = self.layer2(out)
        out, idx3 = self.layer3(out)
        out, idx4 = self.layer4(out)
        out, idx5 = self.layer5(out)
        out = self.conv6(out)
        if self.bn is not None:
            out = self.bn(out)
        out = self.relu(out)
        return {'out': out, 'max_idx_1': idx1, 'max_idx_2': idx2, 'max_idx_3': idx3,
                'max_idx_4': idx4, 'max_idx_5': idx5}
