"""Training a small VAE for the tiny latent-diffusion configs.

The Stable-Diffusion matting models keep their VAE frozen: it is Stable Diffusion's,
which reconstructs images (and alpha mattes seen as grey images) well. A tiny test model
has no such VAE, and a random frozen decoder cannot represent a matte (a latent
optimised for one matte through a random 4-level decoder still misses it by 0.31 mean
absolute error). :class:`LatentCodecTrainer` trains a small codec on the synthetic
images and mattes first, as the tiny DiffusionMat trains its prior first; its checkpoint
is then the tiny model's ``pretrained.vae``.
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mattebox.guidance import GuidanceSpec
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor
from .latent import LatentCodec


@MODELS.register_module()
class LatentCodecTrainer(BaseMattor):
    """Train a :class:`LatentCodec` to reconstruct images and alpha mattes.

    Training: the normalised image (in [-1, 1]) and the ground-truth alpha (in [-1, 1],
    repeated to 3 channels) are encoded, a latent is drawn from the posterior (KL
    codec; the tiny codec is deterministic), decoded, and compared with L1; the KL
    codec adds ``kl_weight`` x the KL divergence to a standard normal.

    Testing: the ``mask`` guidance (the test configs give the ground-truth alpha, as for
    the DiffusionMat prior) is encoded with the posterior mean and decoded, and the
    channel mean is the prediction: the metrics say how well the codec carries a matte.

    The checkpoint keys are ``vae.vae.*``, those of the models' codecs: a checkpoint of
    this model is a valid ``pretrained.vae`` of ``SDMatte``.

    Args:
        vae: :class:`LatentCodec` arguments (``frozen`` is set to False).
        kl_weight: weight of the KL term (KL codec).
        alpha_weight: weight of the alpha reconstruction.
    """

    guidance_spec = GuidanceSpec(required=('mask', ))
    train_guidance_spec = GuidanceSpec()

    def __init__(self, vae: dict, kl_weight: float = 1e-6, alpha_weight: float = 1.0,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        test_cfg = {**dict(clamp_known=False), **(test_cfg or {})}
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.vae = LatentCodec(**{**vae, 'frozen': False})
        self.kl_weight, self.alpha_weight = float(kl_weight), float(alpha_weight)

    def _reconstruct(self, x: Tensor, sample: bool) -> tuple:
        vae = self.vae.vae
        if self.vae.kind == 'tiny':
            return vae.decode(vae.encode(x).latents).sample, x.new_zeros(())
        posterior = vae.encode(x).latent_dist
        z = posterior.sample() if sample else posterior.mean
        return vae.decode(z).sample, posterior.kl().mean()

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, Tensor]:
        image = inputs['image']
        alpha = (stack_field(data_samples, 'gt_alpha') * 2 - 1).repeat(1, 3, 1, 1)
        rec, kl = self._reconstruct(torch.cat([image, alpha]), sample=True)
        n = image.shape[0]
        losses = {'loss_image': F.l1_loss(rec[:n], image),
                  'loss_alpha': self.alpha_weight * F.l1_loss(rec[n:], alpha)}
        if self.vae.kind == 'kl':
            losses['loss_kl'] = self.kl_weight * kl
        return losses

    def _forward(self, inputs: Batch) -> Tensor:
        return self._forward_test(inputs)

    def _forward_test(self, inputs: Batch) -> Tensor:
        x = (inputs['mask'] * 2 - 1).repeat(1, 3, 1, 1)
        with torch.no_grad():
            latent = self.vae.encode(x)
            return (self.vae.decode(latent).mean(dim=1, keepdim=True).clamp(-1, 1) + 1) / 2
