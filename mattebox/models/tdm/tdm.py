"""TDM: "Teaching Diffusion Models to Ground Alpha Matte" (Xiang et al., TMLR 2025):
text-grounded matting with one step of a Stable Diffusion 2.1 UNet.

Built on the shared latent adapter (:mod:`mattebox.models.diffusion.latent`): a frozen
VAE codec (posterior mode), a stock diffusers UNet run once at a fixed timestep, a
frozen CLIP text encoder with cached embeddings (40 tokens), the UNet's decoder (up)
block features read by forward hooks. A separate decoder turns them into a 3-class
trimap, a low-resolution alpha and detail features; a two-scale sparse refiner
(:mod:`.refiner`) refines the uncertain band at high resolution. What is known and
what is a documented guess: ``configs/tdm/README.md``.
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from mattebox.guidance import GuidanceSpec
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor
from ..diffusion.latent import (LatentCodec, TextEncoder, build_unet, graft_conv_in,
                                load_component, require_diffusers, up_block_hooks)
from .refiner import SparseRefiner


def _conv_norm_act(cin: int, cout: int, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1),
                         nn.GroupNorm(min(groups, cout), cout), nn.ReLU(inplace=True))


class TDMDecoder(nn.Module):
    """UNet features -> (trimap logits, low-resolution alpha, detail features).

    The hooked up-block features (and the UNet's own output latent) are projected
    (1 x 1) to ``channels``, resized to the finest of them (the latent size) and summed;
    then ``upsample_steps`` x2 stages (bilinear, concatenated with the image at that
    size, 3 x 3 conv, GroupNorm, ReLU; channels halved down to ``min_channels``) reach
    the input size, where three 3 x 3 heads give the trimap logits (bg / unknown / fg),
    the alpha (sigmoid) and the detail features.

    Args:
        feature_channels: channels of the hooked up blocks.
        latent_channels: channels of the UNet output.
        channels: width after the projection.
        detail_channels: channels of the detail features (the refiner's input).
        upsample_steps: log2 of the VAE's downsampling.
        min_channels: the narrowest stage.
        norm_groups: GroupNorm groups.
    """

    def __init__(self, feature_channels: Sequence[int], latent_channels: int = 4,
                 channels: int = 256, detail_channels: int = 16, upsample_steps: int = 3,
                 min_channels: int = 32, norm_groups: int = 32) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in feature_channels)
        self.latent_in = nn.Conv2d(latent_channels, channels, 1)
        self.fuse = _conv_norm_act(channels, channels, norm_groups)
        ups, c = [], channels
        for _ in range(upsample_steps):
            out = max(min_channels, c // 2)
            ups.append(_conv_norm_act(c + 3, out, norm_groups))
            c = out
        self.ups = nn.ModuleList(ups)
        self.trimap_head = nn.Conv2d(c, 3, 3, padding=1)
        self.alpha_head = nn.Conv2d(c, 1, 3, padding=1)
        self.detail_head = nn.Conv2d(c, detail_channels, 3, padding=1)

    def forward(self, features: List[Tensor], latent: Tensor, image: Tensor):
        size = max((f.shape[-2:] for f in features), key=lambda s: s[0] * s[1])
        size = tuple(size)
        x = self.latent_in(F.interpolate(latent, size=size, mode='bilinear',
                                         align_corners=False))
        for lateral, f in zip(self.laterals, features):
            y = lateral(f)
            x = x + (y if tuple(y.shape[-2:]) == size else F.interpolate(
                y, size=size, mode='bilinear', align_corners=False))
        x = self.fuse(x)
        for i, up in enumerate(self.ups):
            target = tuple(image.shape[-2:]) if i == len(self.ups) - 1 else (
                x.shape[-2] * 2, x.shape[-1] * 2)
            x = F.interpolate(x, size=target, mode='bilinear', align_corners=False)
            rgb = F.interpolate(image, size=target, mode='bilinear', align_corners=False,
                                antialias=True)
            x = up(torch.cat([x, rgb], dim=1))
        return self.trimap_head(x), torch.sigmoid(self.alpha_head(x)), self.detail_head(x)


@MODELS.register_module()
class TDM(BaseMattor):
    """Text-grounded diffusion matting: the object a referring expression names.

    Forward (:meth:`coarse`, then :class:`SparseRefiner`):

    1. the image (in [-1, 1]) is squashed to ``image_size`` (512: aspect ratio not
       kept) and encoded by the frozen VAE (posterior mode x scaling factor); with
       ``unet.in_channels`` 8 a zero latent is concatenated;
    2. the expression is tokenised to ``text_encoder.max_length`` (40) tokens and
       encoded by the frozen text encoder (cached);
    3. the UNet runs once at ``timestep`` with the text in its cross-attentions; the
       outputs of its up blocks ``feature_blocks`` and its output latent go to the
       :class:`TDMDecoder`: trimap logits, alpha, detail features at ``image_size``;
    4. composite alpha = P(fg) + alpha x P(unknown) (softmax of the trimap logits);
    5. the refiner refines the band at the input resolution (long edge capped at 2048;
       half resolution first above 1024); without a refiner the composite is resized.

    Args:
        unet: diffusers ``UNet2DConditionModel`` config (``in_channels`` 4 or 8).
        vae: :class:`LatentCodec` arguments.
        text_encoder: :class:`TextEncoder` arguments (``config``, ``tokenizer``,
            ``max_length`` (40), ``layer``, ``final_norm``); the weights come from
            ``pretrained.text_encoder`` or are random (tiny configs).
        decoder: :class:`TDMDecoder` arguments (its ``feature_channels`` and
            ``upsample_steps`` follow from the UNet and the VAE).
        refiner: :class:`SparseRefiner` arguments, or None.
        feature_blocks: which up blocks the decoder reads (indices, coarse to fine).
        timestep: the UNet's fixed timestep input. The paper writes "1.0" (as
            GenPercept / Lotus / E2E-FT); our reading is the normalised end of the
            schedule, i.e. diffusers' integer timestep T - 1 = 999 (Lotus / E2E-FT feed
            999). ``timestep=1`` is the literal reading. See the README.
        pretrained: ``dict(unet=..., vae=..., text_encoder=...)``: local component
            folders (or mattebox checkpoints for the UNet and the VAE); a 4-channel
            ``conv_in`` is grafted to 8 with zeros on the zero-latent channels.
        loss: :class:`TDMLoss` config.
        train_cfg: ``refine`` (True: run the refiner and its R loss; stage 1 sets
            False), ``allow_scratch`` (False: training without ``pretrained`` weights is
            refused unless set), ``allow_random_vae`` (False).
        test_cfg: ``image_size`` (512), ``refine`` (True), ``refiner_backend``
            (``None``: the refiner's own), plus the options of :class:`BaseMattor`.
    """

    guidance_spec = GuidanceSpec(required=('text', ))
    FILE_ARGUMENTS = ('pretrained.unet', 'pretrained.vae', 'pretrained.text_encoder',
                      'text_encoder.tokenizer')

    def __init__(self, unet: dict, vae: dict, text_encoder: dict,
                 decoder: Optional[dict] = None, refiner: Optional[dict] = None,
                 feature_blocks: Sequence[int] = (-3, -2, -1), timestep: float = 999,
                 pretrained: Optional[dict] = None,
                 loss: Optional[dict] = dict(type='TDMLoss'),
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        require_diffusers('TDM')
        test_cfg = {**dict(image_size=512, refine=True, refiner_backend=None),
                    **(test_cfg or {})}
        # the model resizes itself (coarse at image_size, refinement at the input size)
        test_cfg.setdefault('resize', dict(type='PadToMultiple', divisor=1))
        test_cfg.setdefault('clamp_known', False)
        train_cfg = {**dict(refine=True, allow_scratch=False, allow_random_vae=False),
                     **(train_cfg or {})}
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.unet = build_unet(unet)
        in_ch = self.unet.config.in_channels
        self.vae = LatentCodec(**vae)
        latent_ch = self.vae.vae.config.latent_channels
        if in_ch not in (latent_ch, 2 * latent_ch):
            raise ValueError(f'TDM: unet.in_channels must be {latent_ch} (the image latent) '
                             f'or {2 * latent_ch} (plus a zero latent), got {in_ch}')
        self.timestep = float(timestep)
        count = len(self.unet.up_blocks)
        self.feature_blocks = tuple(sorted({int(i) % count for i in feature_blocks}))
        up_channels = list(reversed(self.unet.config.block_out_channels))
        decoder = dict(decoder or {})
        steps = max(0, self.vae.downsample.bit_length() - 1)
        self.decoder = TDMDecoder(feature_channels=[up_channels[i] for i in self.feature_blocks],
                                  latent_channels=self.unet.config.out_channels,
                                  upsample_steps=decoder.pop('upsample_steps', steps), **decoder)
        self.refiner = SparseRefiner(**{
            'detail_channels': self.decoder.detail_head.out_channels, **dict(refiner)
        }) if refiner else None

        self.pretrained = {k: v for k, v in dict(pretrained or {}).items() if v}
        unknown = set(self.pretrained) - {'unet', 'vae', 'text_encoder'}
        if unknown:
            raise ValueError(f'TDM pretrained: unknown components {sorted(unknown)} '
                             "(expected 'unet', 'vae', 'text_encoder')")
        text_encoder = dict(text_encoder)
        text_encoder.setdefault('max_length', 40)
        if self.pretrained.get('text_encoder'):
            text_encoder.pop('config', None)
            text_encoder['pretrained'] = self.pretrained['text_encoder']
        self.text_encoder = TextEncoder(**text_encoder)
        width = self.text_encoder.model.config.hidden_size
        if width != self.unet.config.cross_attention_dim:
            raise ValueError(f'TDM: the text encoder gives {width}-channel tokens, the UNet '
                             f'cross-attends to {self.unet.config.cross_attention_dim}')
        if self.pretrained.get('unet'):
            load_component(self.unet, self.pretrained['unet'], 'unet.', 'model.pretrained.unet',
                           transform=lambda s: graft_conv_in(s, in_ch, mode='zero'))
        if self.pretrained.get('vae'):
            load_component(self.vae.vae, self.pretrained['vae'], 'vae.vae.',
                           'model.pretrained.vae')
            self.vae.freeze()
        if self.pretrained:
            print_log(f'TDM: initialised from {self.pretrained}', logger='current')
        self.loss = MODELS.build(copy.deepcopy(loss)) if loss else None

    def init_weights(self) -> None:
        """Refuse to train from random diffusion weights unless asked."""
        if not self.pretrained.get('unet') and not self.train_cfg.allow_scratch:
            raise ValueError(
                'TDM: model.pretrained.unet is not set, so the UNet is random. Give the '
                'local Stable Diffusion 2.1 folders, e.g. --cfg-options '
                'model.pretrained.unet=PATH/stable-diffusion-2-1/unet '
                'model.pretrained.vae=PATH/stable-diffusion-2-1/vae '
                'model.pretrained.text_encoder=PATH/stable-diffusion-2-1/text_encoder '
                'model.text_encoder.tokenizer=PATH/stable-diffusion-2-1/tokenizer, or set '
                'model.train_cfg.allow_scratch=True (tiny models, load_from)')
        if not self.pretrained.get('vae') and not self.train_cfg.allow_random_vae:
            raise ValueError(
                'TDM: model.pretrained.vae is not set: the frozen VAE would be random. Give '
                'a local VAE (a diffusers vae folder, or a checkpoint of '
                'configs/sdmatte/latent_codec_kl_tiny_synthetic.py for the tiny configs), '
                'or set model.train_cfg.allow_random_vae=True (when load_from brings it)')
        self.vae.freeze()

    # ----------------------------------------------------------------- forward
    def text_embedding(self, texts: Sequence[str]) -> Tensor:
        if self.text_encoder.tokenizer is None:
            raise ValueError('TDM: encoding the expression needs a tokenizer: set '
                             'model.text_encoder.tokenizer to the local tokenizer folder '
                             '(e.g. stable-diffusion-2-1/tokenizer)')
        return self.text_encoder.encode(list(texts))

    def coarse(self, image: Tensor, texts: Sequence[str]) -> Dict[str, Tensor]:
        """The 512 path: image N x 3 x H x W in [-1, 1] (any size: squashed to
        ``image_size``) -> ``trimap_logits``, ``alpha_lr``, ``composite``, ``unknown``
        (P(unknown)), ``detail``, all at ``image_size``."""
        size = int(self.test_cfg.image_size)
        small = image if tuple(image.shape[-2:]) == (size, size) else F.interpolate(
            image, size=(size, size), mode='bilinear', align_corners=False, antialias=True)
        latent = self.vae.encode(small)
        if self.unet.config.in_channels == 2 * latent.shape[1]:
            latent = torch.cat([latent, torch.zeros_like(latent)], dim=1)
        text = self.text_embedding(texts).to(latent)
        t = torch.full((latent.shape[0], ), self.timestep, device=latent.device)
        features, hooks = up_block_hooks(self.unet, self.feature_blocks)
        try:
            out = self.unet(latent, t, encoder_hidden_states=text).sample
        finally:
            for hook in hooks:
                hook.remove()
        logits, alpha, detail = self.decoder(features, out, small)
        probs = logits.softmax(dim=1)
        composite = probs[:, 2:3] + alpha * probs[:, 1:2]
        return dict(trimap_logits=logits, alpha_lr=alpha, composite=composite,
                    unknown=probs[:, 1:2], detail=detail)

    def refine(self, image: Tensor, out: Dict[str, Tensor], backend: Optional[str] = None,
               return_bands: bool = False):
        """The refiner on the coarse outputs, at the input size (capped)."""
        return self.refiner(image, out['composite'], out['unknown'], out['detail'],
                            backend=backend, return_bands=return_bands)

    def _forward(self, inputs: Batch) -> Tensor:
        return self._forward_test(inputs)

    def _forward_test(self, inputs: Batch) -> Tensor:
        image = inputs['image']
        with torch.no_grad():
            out = self.coarse(image, inputs['text'])
            size = tuple(image.shape[-2:])
            if self.refiner is not None and self.test_cfg.refine:
                alpha = self.refine(image, out, self.test_cfg.refiner_backend)
            else:
                alpha = out['composite']
            if tuple(alpha.shape[-2:]) != size:
                alpha = F.interpolate(alpha, size=size, mode='bilinear', align_corners=False)
        return alpha.clamp(0, 1)

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, Tensor]:
        image = inputs['image']
        out = self.coarse(image, inputs['text'])
        if self.refiner is not None and self.train_cfg.refine:
            refined, pastes = self.refine(image, out, return_bands=True)
            out.update(refined=refined, paste=pastes[-1])
        target = stack_field(data_samples, 'gt_alpha').to(image)
        binary = torch.tensor([bool(s.metainfo.get('binary_gt', False)) for s in data_samples],
                              device=image.device)
        return self.loss(out, target, binary)

    def train(self, mode: bool = True) -> 'TDM':
        super().train(mode)
        self.vae.train(False)
        self.text_encoder.train(False)
        return self
