"""An encoder followed by a decoder, as one backbone."""
import torch
import torch.nn as nn

from mattebox.registry import MODELS


@MODELS.register_module()
class SimpleEncoderDecoder(nn.Module):
    """``decoder(encoder(x))``. Submodule names (``encoder``, ``decoder``) follow MMagic.

    Args:
        encoder: config of the encoder.
        decoder: config of the decoder; ``in_channels`` defaults to the encoder's
            ``out_channels``.
    """

    def __init__(self, encoder: dict, decoder: dict) -> None:
        super().__init__()
        self.encoder = MODELS.build(encoder)
        decoder = dict(decoder)
        if hasattr(self.encoder, 'out_channels'):
            decoder.setdefault('in_channels', self.encoder.out_channels)
        self.decoder = MODELS.build(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
