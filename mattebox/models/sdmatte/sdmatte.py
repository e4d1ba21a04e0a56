"""SDMatte: "Grafting Diffusion Models for Interactive Matting" (ICCV 2025), and its
variants LiteSDMatte and SDMatte* (``vivoCameraResearch/SDMatte``).

One deterministic step of a Stable Diffusion 2 UNet in latent space, driven by a visual
prompt (points, a box or a mask) and an opacity flag. Built on the shared latent adapter
(:mod:`mattebox.models.diffusion.latent`): a stock diffusers UNet, a frozen VAE codec,
the cached empty-caption embedding, and attention changed through processors. Every
deviation from the original is listed in ``configs/sdmatte/README.md``.
"""
import copy
import random
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from mattebox.guidance import GuidanceSpec, unknown_region
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor
from ..diffusion.latent import (SD2_EMPTY_CAPTION_IDS, LatentCodec, TextEncoder, build_unet,
                                feature_hooks, graft_conv_in, install_prompt_processors,
                                load_component, point_coordinate_layout, require_diffusers)
from .prompts import PROMPT_KINDS, box_prompt, mask_prompt, point_prompt

COORD_MLP_INITS = ('zero_last', 'zero_all', 'default')


@MODELS.register_module()
class SDMatte(BaseMattor):
    """SDMatte, LiteSDMatte (a BK-SDM UNet, the tiny VAE, distillation) and SDMatte*
    (box prompts only): one class, the variant is the config.

    Forward (``_run``), as the original ``modeling/SDMatte/meta_arch.py``:

    1. the image (in [-1, 1]) and the prompt map (in [-1, 1], repeated to 3 channels) are
       encoded by the frozen VAE (posterior mean x scaling factor);
    2. ``conv_in`` takes their 8-channel concatenation;
    3. the timestep slot carries ``t = 1 - transparent`` through SD2's own
       ``time_proj`` / ``time_embedding``; the prompt's coordinates (4 box values, or 10
       point pairs) go through sinusoids and an MLP (``bbox_embedding`` /
       ``point_embedding``) whose output is added to the time embedding (the UNet's
       ``class_embed_type='identity'`` adds it);
    4. ``aux_conv_in`` (3 x 3 conv) turns the prompt latent into tokens that the
       cross-attentions of ``prompt.prompt_cross_attention`` (the mid block) attend to;
       the other cross-attentions attend to the cached embedding of the empty caption;
    5. the self-attentions of ``prompt.masked_self_attention`` (down, mid, up) get the
       prompt map, sampled at the top-left pixel of each latent cell and resized
       (nearest) to each level, as an additive key bias (0 inside, -10000 outside);
    6. the VAE decodes the UNet's output; alpha = channel mean, clipped to [-1, 1],
       mapped to [0, 1].

    Args:
        unet: diffusers ``UNet2DConditionModel`` config (``in_channels`` 8,
            ``class_embed_type='identity'``).
        vae: :class:`LatentCodec` arguments (``kind``, ``config``,
            ``tiny_input_zero_one``).
        text_encoder: ``dict(config=..., random=False, tokenizer=None, max_length=77,
            empty_caption_ids=SD2's)``: the text encoder whose empty-caption embedding the
            cross-attentions use. It is computed once, when the model is built from
            ``pretrained.text_encoder`` (or from a random encoder with ``random=True``,
            for tiny test models), and stored as the buffer ``empty_text_embedding``; a
            converted or trained checkpoint brings it. With a ``tokenizer`` folder the
            encoder is kept and a ``text`` guidance (a caption, RefMatte-RW100) is
            encoded instead of the empty caption.
        pretrained: what to initialise from (training): ``dict(unet=..., vae=...,
            text_encoder=...)``, each a local component folder (e.g.
            stable-diffusion-2/unet) or, for the UNet and the VAE, a mattebox checkpoint
            (``unet.*`` / ``vae.vae.*`` keys, e.g. a ``LatentCodecTrainer`` one for the
            tiny configs). A 4-channel ``conv_in`` is grafted to 8 channels (repeated,
            halved) and copied into the first channels of ``aux_conv_in`` (zeros
            elsewhere); nothing is written back.
        prompt: ``box_coord_channels`` (320), ``point_embed_dim`` (1680),
            ``max_points`` (10), ``masked_self_attention`` (``('down', 'mid', 'up')``),
            ``prompt_cross_attention`` (``('mid',)``), ``attention_mask`` (True).
        coord_mlp_init: the coordinate MLPs' initialisation: ``'zero_last'`` (default:
            their output starts at 0 and both layers learn), ``'zero_all'`` (the
            original: both layers zero, so the first layers never learn) or
            ``'default'``.
        loss: the matting loss (``SDMatteLoss``).
        distill: LiteSDMatte's feature distillation: ``dict(teacher_config=...,
            teacher_checkpoint=..., weight=0.01)``: the teacher (a frozen SDMatte) runs
            on the same prompt; the loss is ``weight`` x the sum of the MSEs between the
            outputs of the last down block, the mid block and the last up block.
        train_cfg: ``prompt_types`` (one drawn per step, ``('points', 'boxes',
            'mask')``), ``point_sigma`` (25), ``allow_scratch`` (False: training
            without ``pretrained`` weights is refused unless set), ``allow_random_vae``
            (False: even with ``allow_scratch``, training needs ``pretrained.vae``: a
            frozen random VAE cannot represent a matte).
        test_cfg: ``image_size`` (1024: the image is squashed to it, as the original;
            the prompt is built there and the alpha resized back), ``prompt_order``
            (which prompt to use when several are given: ``('boxes', 'points',
            'mask')``), ``point_sigma`` (35), plus the options of :class:`BaseMattor`.
    """

    guidance_spec = GuidanceSpec(one_of=('points', 'boxes', 'mask'), optional=('transparent', ))
    FILE_ARGUMENTS = ('pretrained.unet', 'pretrained.vae', 'pretrained.text_encoder',
                      'text_encoder.tokenizer', 'distill.teacher_config',
                      'distill.teacher_checkpoint')
    #: SDMatte takes foreground clicks only (the original has no background points)
    point_labels = (1, )

    def __init__(self, unet: dict, vae: dict, text_encoder: Optional[dict] = None,
                 pretrained: Optional[dict] = None, prompt: Optional[dict] = None,
                 coord_mlp_init: str = 'zero_last',
                 loss: Optional[dict] = dict(type='SDMatteLoss'),
                 distill: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        require_diffusers('SDMatte')
        test_cfg = {**dict(image_size=1024, prompt_order=('boxes', 'points', 'mask'),
                           point_sigma=35.0), **(test_cfg or {})}
        size = test_cfg['image_size']
        test_cfg.setdefault('resize', dict(type='ResizeToSize', size=size, mode='bilinear',
                                           trimap_mode='nearest', mask_mode='nearest'))
        test_cfg.setdefault('clamp_known', False)
        train_cfg = {**dict(prompt_types=PROMPT_KINDS, point_sigma=25.0, allow_scratch=False,
                            allow_random_vae=False), **(train_cfg or {})}
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        self.prompt_cfg = {**dict(box_coord_channels=320, point_embed_dim=1680, max_points=10,
                                  masked_self_attention=('down', 'mid', 'up'),
                                  prompt_cross_attention=('mid', ), attention_mask=True),
                           **(prompt or {})}
        for key, kinds in (('prompt_types', self.train_cfg.prompt_types),
                           ('prompt_order', self.test_cfg.prompt_order)):
            bad = [k for k in kinds if k not in PROMPT_KINDS]
            if bad or not kinds:
                raise ValueError(f'SDMatte {key}: prompt kinds must be among {PROMPT_KINDS}, '
                                 f'got {list(kinds)}')
        if coord_mlp_init not in COORD_MLP_INITS:
            raise ValueError(f'SDMatte coord_mlp_init must be one of {COORD_MLP_INITS}, got '
                             f'{coord_mlp_init!r}')
        kinds = tuple(self.train_cfg.prompt_types)
        self.guidance_spec = GuidanceSpec(one_of=[k for k in PROMPT_KINDS if k in kinds],
                                          optional=('transparent', ) + (
                                              ('text', ) if (text_encoder or {}).get(
                                                  'tokenizer') else ()))
        self.train_guidance_spec = GuidanceSpec(required=('trimap', ) + kinds,
                                                optional=('transparent', ))

        self.unet = build_unet(unet)
        if self.unet.config.class_embed_type != 'identity':
            raise ValueError("SDMatte: the UNet config needs class_embed_type='identity' (the "
                             'coordinate embedding is added to the time embedding there)')
        self.vae = LatentCodec(**vae)
        from diffusers.models.embeddings import TimestepEmbedding
        time_dim = self.unet.config.block_out_channels[0] * 4
        pc = self.prompt_cfg
        self.point_embedding = TimestepEmbedding(int(pc['point_embed_dim']), time_dim)
        self.bbox_embedding = TimestepEmbedding(4 * int(pc['box_coord_channels']), time_dim)
        latent_ch = self.unet.config.in_channels // 2
        self.aux_conv_in = nn.Conv2d(latent_ch, self.unet.config.cross_attention_dim, 3,
                                     padding=1)
        self.coord_mlp_init = coord_mlp_init
        self._init_coordinate_mlps()
        self.roles = install_prompt_processors(
            self.unet, pc['masked_self_attention'] if pc['attention_mask'] else (),
            pc['prompt_cross_attention'])

        text_encoder = dict(text_encoder or {})
        self.text_encoder: Optional[TextEncoder] = None
        ids = text_encoder.pop('empty_caption_ids', SD2_EMPTY_CAPTION_IDS)
        length = int(text_encoder.get('max_length', len(ids)))
        self.register_buffer('empty_text_embedding', torch.full(
            (1, length, self.unet.config.cross_attention_dim), float('nan')))
        self.pretrained = {k: v for k, v in dict(pretrained or {}).items() if v}
        if self.pretrained:
            self.load_pretrained(self.pretrained, text_encoder, ids)
        if not self.pretrained.get('text_encoder') and (text_encoder.get('random')
                                                        or text_encoder.get('tokenizer')):
            encoder = TextEncoder(config=text_encoder.get('config'),
                                  tokenizer=text_encoder.get('tokenizer'),
                                  max_length=length)
            self.empty_text_embedding.copy_(encoder.encode_ids(torch.tensor([ids])))
            if text_encoder.get('tokenizer'):
                self.text_encoder = encoder
        self.loss = MODELS.build(copy.deepcopy(loss)) if loss else None
        self.distill_cfg = dict(distill or {})
        # the teacher is built for training only (init_weights / the first step), and is
        # not a submodule: not saved, not optimised
        self._teacher: List[nn.Module] = []

    # --------------------------------------------------------------- building
    def _init_coordinate_mlps(self) -> None:
        if self.coord_mlp_init == 'default':
            return
        for mlp in (self.point_embedding, self.bbox_embedding):
            layers = [mlp.linear_2] if self.coord_mlp_init == 'zero_last' else [
                mlp.linear_1, mlp.linear_2]
            for layer in layers:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def load_pretrained(self, folders: dict, text_encoder: dict, ids: list) -> None:
        """Initialise from local component folders (see ``pretrained``)."""
        unknown = set(folders) - {'unet', 'vae', 'text_encoder'}
        if unknown:
            raise ValueError(f'SDMatte pretrained: unknown components {sorted(unknown)} '
                             "(expected 'unet', 'vae', 'text_encoder')")
        if folders.get('unet'):
            state = load_component(
                self.unet, folders['unet'], 'unet.', 'model.pretrained.unet',
                transform=lambda s: graft_conv_in(s, self.unet.config.in_channels))
            weight, bias = state['conv_in.weight'], state['conv_in.bias']
            if weight.shape[1] == self.aux_conv_in.in_channels:  # Stable Diffusion's own
                with torch.no_grad():
                    self.aux_conv_in.weight.zero_()
                    self.aux_conv_in.bias.zero_()
                    self.aux_conv_in.weight[:weight.shape[0]] = weight
                    self.aux_conv_in.bias[:bias.shape[0]] = bias
        if folders.get('vae'):
            load_component(self.vae.vae, folders['vae'], 'vae.vae.', 'model.pretrained.vae')
            self.vae.freeze()
        if folders.get('text_encoder'):
            encoder = TextEncoder(pretrained=folders['text_encoder'],
                                  tokenizer=text_encoder.get('tokenizer'),
                                  max_length=self.empty_text_embedding.shape[1])
            self.empty_text_embedding.copy_(encoder.encode_ids(torch.tensor([ids])))
            if text_encoder.get('tokenizer'):
                self.text_encoder = encoder
        print_log(f'SDMatte: initialised from {folders}', logger='current')

    @staticmethod
    def _build_teacher(cfg: dict) -> nn.Module:
        from mmengine.config import Config

        from mattebox.engine.checkpoint import load_model_weights
        missing = [k for k in ('teacher_config', 'teacher_checkpoint') if not cfg.get(k)]
        if missing:
            raise ValueError(f'SDMatte distill needs {missing} (the config and the checkpoint '
                             'of a trained SDMatte)')
        teacher_cfg = Config.fromfile(cfg['teacher_config']).model
        teacher_cfg.pop('distill', None)
        teacher = MODELS.build(teacher_cfg)
        load_model_weights(teacher, cfg['teacher_checkpoint'])
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def init_weights(self) -> None:
        """Refuse to train from random diffusion weights unless asked (the paper grafts
        onto Stable Diffusion 2: give ``model.pretrained``)."""
        if not self.pretrained and not self.train_cfg.allow_scratch:
            raise ValueError(
                'SDMatte: model.pretrained is not set, so the UNet and the VAE are random. '
                'Give the local Stable Diffusion folders, e.g. --cfg-options '
                'model.pretrained.unet=PATH/stable-diffusion-2/unet '
                'model.pretrained.vae=PATH/stable-diffusion-2/vae '
                'model.pretrained.text_encoder=PATH/stable-diffusion-2/text_encoder, or set '
                'model.train_cfg.allow_scratch=True (tiny models, fine-tuning from load_from)')
        if not self.pretrained.get('vae') and not self.train_cfg.allow_random_vae:
            raise ValueError(
                'SDMatte: model.pretrained.vae is not set: the frozen VAE would be random, and '
                'a random decoder cannot represent a matte. Give a local VAE (a diffusers vae '
                'folder, or a checkpoint of configs/sdmatte/latent_codec_*_tiny_synthetic.py '
                'for the tiny configs), or set model.train_cfg.allow_random_vae=True (when '
                'load_from brings the VAE)')
        self.vae.freeze()
        self.teacher()

    def teacher(self) -> Optional[nn.Module]:
        """The distillation teacher (built on first use), or None without ``distill``."""
        if self.distill_cfg and not self._teacher:
            self._teacher.append(self._build_teacher(self.distill_cfg))
        return self._teacher[0] if self._teacher else None

    # ----------------------------------------------------------------- forward
    def _text_embedding(self, inputs: Batch, batch: int) -> Tensor:
        if self.text_encoder is not None and 'text' in inputs:
            return self.text_encoder.encode(inputs['text']).to(self.empty_text_embedding)
        if torch.isnan(self.empty_text_embedding).any():
            raise ValueError('SDMatte: the empty-caption embedding is not set: load a '
                             'checkpoint of this model (trained, or converted with '
                             'tools/convert/sdmatte.py), or build it with '
                             'model.pretrained.text_encoder')
        return self.empty_text_embedding.expand(batch, -1, -1)

    def prompt_kind(self, inputs: Batch, kinds: Sequence[str]) -> str:
        """The first of ``kinds`` that the batch has."""
        for kind in kinds:
            if kind in inputs:
                return kind
        raise ValueError(f'SDMatte: the batch has none of the prompts {list(kinds)}')

    def build_prompt(self, inputs: Batch, kind: str, sigma: float) -> Tuple[Tensor, Tensor]:
        """(prompt map N x 1 x H x W in [0, 1], coordinates) for the batch's ``kind``."""
        size = tuple(inputs['image'].shape[-2:])
        if kind == 'boxes':
            return box_prompt(inputs['boxes'], inputs['boxes_valid'], size)
        if kind == 'points':
            return point_prompt(inputs['points'], inputs['points_valid'], size, sigma,
                                int(self.prompt_cfg['max_points']))
        return mask_prompt(inputs['mask'])

    def coordinate_embedding(self, kind: str, coords: Tensor) -> Tensor:
        """The time-path embedding of the prompt's coordinates (N x time dim)."""
        from diffusers.models.embeddings import get_timestep_embedding
        n = coords.shape[0]
        if kind == 'points':
            count, channels = point_coordinate_layout(coords.shape[1],
                                                      int(self.prompt_cfg['point_embed_dim']))
            padded = F.pad(coords, (0, count - coords.shape[1]))
            emb = get_timestep_embedding(padded.flatten(), channels, flip_sin_to_cos=True,
                                         downscale_freq_shift=0)
            return self.point_embedding(emb.reshape(n, -1).to(coords.dtype))
        emb = get_timestep_embedding(coords.flatten(), int(self.prompt_cfg['box_coord_channels']),
                                     flip_sin_to_cos=True, downscale_freq_shift=0)
        return self.bbox_embedding(emb.reshape(n, -1).to(coords.dtype))

    def _run(self, image: Tensor, prompt_map: Tensor, kind: str, coords: Tensor,
             transparent: Tensor, text_embedding: Tensor) -> Tensor:
        """The network: image in [-1, 1], prompt map in [0, 1] -> alpha in [0, 1]."""
        n = image.shape[0]
        rgb_latent = self.vae.encode(image)
        prompt_latent = self.vae.encode((prompt_map * 2 - 1).repeat(1, 3, 1, 1).to(image.dtype))
        tokens = self.aux_conv_in(prompt_latent)
        tokens = tokens.view(n, tokens.shape[1], -1).permute(0, 2, 1)
        key_mask = None
        if self.prompt_cfg['attention_mask']:
            key_mask = F.interpolate(prompt_map, scale_factor=1 / self.vae.downsample,
                                     mode='nearest')
        timestep = 1 - transparent.long()
        latent = self.unet(torch.cat([rgb_latent, prompt_latent], dim=1), timestep,
                           encoder_hidden_states=text_embedding,
                           class_labels=self.coordinate_embedding(kind, coords),
                           cross_attention_kwargs=dict(prompt=dict(
                               key_mask=key_mask, prompt_tokens=tokens))).sample
        decoded = self.vae.decode(latent)
        return (decoded.mean(dim=1, keepdim=True).clamp(-1, 1) + 1) / 2

    def _prepare(self, inputs: Batch, kind: str, sigma: float):
        image = inputs['image']
        prompt_map, coords = self.build_prompt(inputs, kind, sigma)
        transparent = inputs.get('transparent')
        if transparent is None:
            transparent = torch.zeros(image.shape[0], dtype=torch.bool, device=image.device)
        return (image, prompt_map.to(image), kind, coords.to(image), transparent,
                self._text_embedding(inputs, image.shape[0]).to(image))

    def _forward(self, inputs: Batch) -> Tensor:
        return self._forward_test(inputs)

    def _forward_test(self, inputs: Batch) -> Tensor:
        kind = self.prompt_kind(inputs, self.test_cfg.prompt_order)
        with torch.no_grad():
            return self._run(*self._prepare(inputs, kind, float(self.test_cfg.point_sigma)))

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, Tensor]:
        kinds = list(self.train_cfg.prompt_types)
        kind = kinds[random.randrange(len(kinds))] if len(kinds) > 1 else kinds[0]
        args = self._prepare(inputs, kind, float(self.train_cfg.point_sigma))
        features, hooks = feature_hooks(self.unet) if self.teacher() else ([], [])
        try:
            alpha = self._run(*args)
        finally:
            for hook in hooks:
                hook.remove()
        target = stack_field(data_samples, 'gt_alpha')
        losses = self.loss(alpha, target, unknown_region(inputs['trimap'], fg_value=1))
        if self._teacher:
            losses['loss_distill'] = self._distillation(args, features)
        return losses

    def _distillation(self, args: tuple, features: List[Tensor]) -> Tensor:
        teacher = self._teacher[0]
        device = args[0].device
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        teacher_features, hooks = feature_hooks(teacher.unet)
        try:
            with torch.no_grad():
                teacher._run(*args)
        finally:
            for hook in hooks:
                hook.remove()
        if len(features) != len(teacher_features):
            raise ValueError(f'SDMatte distillation: the student has {len(features)} feature '
                             f'maps, the teacher {len(teacher_features)} (mid blocks differ?)')
        for i, (s, t) in enumerate(zip(features, teacher_features)):
            if s.shape != t.shape:
                raise ValueError(
                    f'SDMatte distillation: feature map {i} is {tuple(s.shape)} in the '
                    f'student and {tuple(t.shape)} in the teacher; their VAEs must '
                    'downsample alike and their UNets have the same channels')
        total = sum(F.mse_loss(s, t) for s, t in zip(features, teacher_features))
        return float(self.distill_cfg.get('weight', 0.01)) * total

    def train(self, mode: bool = True) -> 'SDMatte':
        super().train(mode)
        self.vae.train(False)
        for teacher in self._teacher:
            teacher.eval()
        return self
