"""DiffusionMat: alpha matting as sequential refinement learning (Xu et al., 2023).

Follows the released code of ``cnnlstm/DiffusionMat`` (``runners/diffusionmat_test.py``
for inference, ``runners/diffusionmat.py`` and ``runners/diffusion_utils.py`` for
training); every deviation is listed in ``configs/diffusionmat/README.md``.
"""
import copy
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import Tensor

from mattebox.guidance import GuidanceSpec, trimap_regions
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor
from .prior import (check_prior_fits_schedule, load_prior_weights, noise_generator,
                    noised_start)

LOSS_NORMALISATIONS = ('image', 'unknown')


def alpha_reliability_propagation(x: Tensor, x_inverted: Tensor, unknown: Tensor) -> Tensor:
    """Alpha Reliability Propagation: keep ``x`` in the unknown region only.

    ``x * unknown + x_inverted * (1 - unknown)``: outside the unknown region of the
    trimap the state is replaced by the DDIM-inverted trimap at the same noise level
    (``runners/diffusion_utils.py::diffusionmat_module_test``).

    Args:
        x: corrected state, N x 1 x H x W.
        x_inverted: the inverted trimap at the level of ``x``.
        unknown: 1 in the unknown region, 0 in the known regions.
    """
    return x * unknown + x_inverted * (1 - unknown)


def known_masks(trimap: Tensor) -> Tuple[Tensor, Tensor]:
    """Boolean background / foreground masks of a 0-1 trimap (exactly 0 / exactly 1).

    As the original, every other value (128/255, but also any other grey) is unknown.

    Raises:
        ValueError: on values outside [0, 1] (a 0-255 trimap).
    """
    if trimap.numel() and (bool((trimap < 0).any()) or bool((trimap > 1).any())):
        raise ValueError(f"DiffusionMat expects the batch's trimap in [0, 1] (as "
                         f'MattorPreprocessor makes it), got values in '
                         f'[{trimap.min().item()}, {trimap.max().item()}]')
    background, _, foreground = trimap_regions(trimap, fg_value=1)
    return background, foreground


def unknown_region(trimap: Tensor) -> Tensor:
    """Float mask, 1 where the 0-1 trimap is neither exactly 0 nor exactly 1 (the one
    definition, :func:`mattebox.guidance.trimap_regions`, on a checked 0-1 trimap)."""
    background, foreground = known_masks(trimap)
    return (~(background | foreground)).to(trimap.dtype)


@MODELS.register_module()
class DiffusionMat(BaseMattor):
    """DiffusionMat: a frozen alpha prior, a correction module and ARP.

    Submodules: ``prior`` (``prior(x, t) -> eps``, a DDPM UNet over alpha mattes,
    frozen and kept in eval mode), ``encoder`` (``encoder(image) -> N x 32 x H x W``,
    a Swin-UNet) and ``corrector`` (``corrector(cat([feat, x], 1)) -> x``, the prior's
    UNet without time embedding on 33 channels), plus ``schedule`` (the shared
    ``NoiseSchedule``).

    Guidance: a trimap (0, 128/255, 1 in the batch).

    Inference (:meth:`sample`): the padded trimap (0 / 1 / 128/255) is DDIM-inverted
    through the prior on the levels ``[0, t_start/K, ..., t_start]`` (from the clean
    trimap as level 0); the trimap is noised to level ``t_start``; each of the ``K``
    DDIM steps of the prior is followed by the corrector and by alpha reliability
    propagation with the inverted trimap at the step's target level; the last step goes
    to level 0; pixels where the trimap is exactly 0 / 1 are then set to 0 / 1.

    Training (:meth:`train_step`): one DDIM inversion of the ground-truth alpha and of
    the trimap per batch (no gradient), the noised trimap as start, then for each of
    the ``K`` steps a separate optimiser step on encoder + corrector with
    ``loss_inv`` (MSE of the corrected state to the inverted alpha at the same level),
    ``loss_alpha`` (L1 of the one-step clean estimate, through the frozen prior, to the
    alpha) and ``loss_comp`` (L1 of the composite with that estimate to the image, in
    the preprocessor's normalised colour space) over the unknown region. The state is
    detached between steps. ``train_cfg.accumulate_steps=True`` instead sums the ``K``
    step losses (their mean) into one optimiser step (a deviation from the paper, and
    what happens under ``MMDistributedDataParallel``, which calls ``forward(mode='loss')``
    rather than this model's ``train_step``).

    Args:
        prior: config of the prior (``PixelUNet``, 1 channel, with time embedding).
        encoder: config of the image encoder (``SwinUNet`` with 32 output channels).
        corrector: config of the corrector (``PixelUNet`` with ``time_embedding=False``,
            ``in_channels`` = encoder channels + 1).
        schedule: config of the noise schedule (``NoiseSchedule``).
        prior_checkpoint: local file with the trained prior: a checkpoint of
            ``AlphaDDPM`` (``configs/diffusionmat/diffusionmat_prior_*.py``), a file
            from ``tools/convert/diffusionmat.py``, a DiffusionMat checkpoint or the
            original ``ckpt_diffusion.pt``. Loaded when the model is built; a missing
            file fails then. ``None`` leaves the prior random: training then refuses to
            start (see ``train_cfg.allow_random_prior``), testing expects the prior in the
            tested checkpoint (it always is).
        loss_inv: loss between the corrected state and the inverted ground truth
            (paper: MSE, weight 2).
        loss_alpha: loss between the clean estimate and the alpha (L1, weight 1).
        loss_comp: composition loss (L1, weight 1); ``None`` disables it.
        train_cfg: ``t_start`` (250), ``num_steps`` (5), ``accumulate_steps`` (False),
            ``loss_normalisation`` (``'image'``: ``mean((pred - gt) * unknown)`` over all
            pixels, as the original's ``F.l1_loss(x * unknown, y * unknown)``;
            ``'unknown'``: the mean over unknown pixels), ``start_noise_at_previous_level``
            (True, as in ``test_cfg``), ``allow_random_prior``
            (False: :meth:`init_weights`, which the Runner calls before training,
            raises without ``prior_checkpoint``).
        test_cfg: ``t_start`` (250), ``num_steps`` (5), ``resize`` (default, as the
            original: ``PadToMultiple(divisor=32, position='top_left', extra=32,
            mode='reflect')``, i.e. reflect-pad the top/left by the amount that reaches
            a multiple of 32 plus 32), ``start_noise_at_previous_level`` (True: noise the trimap with
            ``abar[t_start - 1]`` as the original), ``seed`` (None: global RNG), and the
            options of :class:`BaseMattor`.
        data_preprocessor: ``MattorPreprocessor`` (ImageNet mean/std on RGB as the
            original; trimap divided by 255).
        init_cfg: mmengine init config.
    """

    guidance_spec = GuidanceSpec(required=('trimap', ))
    FILE_ARGUMENTS = ('prior_checkpoint', )

    def __init__(self, prior: dict, encoder: dict, corrector: dict,
                 schedule: Optional[dict] = None, prior_checkpoint: Optional[str] = None,
                 loss_inv: Optional[dict] = dict(type='MSELoss', loss_weight=2.0),
                 loss_alpha: Optional[dict] = dict(type='L1Loss', loss_weight=1.0),
                 loss_comp: Optional[dict] = dict(type='L1Loss', loss_weight=1.0),
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        test_cfg = {**dict(t_start=250, num_steps=5, resize=dict(
            type='PadToMultiple', divisor=32, position='top_left', extra=32, mode='reflect'),
                           start_noise_at_previous_level=True, seed=None),
                    **(test_cfg or {})}
        train_cfg = {**dict(t_start=250, num_steps=5, accumulate_steps=False,
                            loss_normalisation='image', start_noise_at_previous_level=True,
                            allow_random_prior=False),
                     **(train_cfg or {})}
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if self.train_cfg.loss_normalisation not in LOSS_NORMALISATIONS:
            raise ValueError(f'DiffusionMat train_cfg.loss_normalisation must be one of '
                             f'{LOSS_NORMALISATIONS}, got {self.train_cfg.loss_normalisation!r}')
        if loss_inv is None and loss_alpha is None and loss_comp is None:
            raise ValueError('DiffusionMat needs at least one of loss_inv, loss_alpha, '
                             'loss_comp')
        self.prior = MODELS.build(copy.deepcopy(prior))
        self.encoder = MODELS.build(copy.deepcopy(encoder))
        self.corrector = MODELS.build(copy.deepcopy(corrector))
        self.schedule = MODELS.build(copy.deepcopy(schedule or dict(type='NoiseSchedule')))
        self.loss_inv = MODELS.build(copy.deepcopy(loss_inv)) if loss_inv else None
        self.loss_alpha = MODELS.build(copy.deepcopy(loss_alpha)) if loss_alpha else None
        self.loss_comp = MODELS.build(copy.deepcopy(loss_comp)) if loss_comp else None
        check_prior_fits_schedule(self.prior, self.schedule, 'DiffusionMat')
        for name, cfg in (('train_cfg', self.train_cfg), ('test_cfg', self.test_cfg)):
            try:
                self.schedule.ddim_timesteps(int(cfg.t_start), int(cfg.num_steps))
            except ValueError as e:
                raise ValueError(f'DiffusionMat {name}: {e}') from e
        self.prior_checkpoint = prior_checkpoint
        if prior_checkpoint is not None:
            self.load_prior(prior_checkpoint)
        self.freeze_prior()

    # ------------------------------------------------------------------ the prior
    def load_prior(self, path: str) -> None:
        """Load the prior's weights from ``path`` (see ``prior_checkpoint``)."""
        keys = load_prior_weights(self.prior, path, 'model.prior_checkpoint')
        print_log(f'DiffusionMat: loaded the prior ({len(keys)} tensors) from {path}',
                  logger='current')
        self.prior_checkpoint = path
        self.freeze_prior()

    def freeze_prior(self) -> None:
        """No gradients to the prior's parameters; eval mode (no dropout)."""
        self.prior.eval()
        for p in self.prior.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'DiffusionMat':
        super().train(mode)
        self.prior.eval()
        return self

    def init_weights(self) -> None:
        """Initialise the encoder (e.g. from ImageNet Swin-T) and check the prior.

        The Runner calls this before training only. Training on a random prior is
        meaningless, so without ``prior_checkpoint`` this raises unless
        ``train_cfg.allow_random_prior`` is set (for a prior that comes from
        ``load_from`` / ``resume``, or for tests).
        """
        if self.prior_checkpoint is None and not self.train_cfg.allow_random_prior:
            raise ValueError(
                'DiffusionMat: model.prior_checkpoint is not set, so the prior is random. '
                'Give a trained prior with --cfg-options model.prior_checkpoint=PATH (a '
                'checkpoint of configs/diffusionmat/diffusionmat_prior_*.py, or the '
                'released ckpt_diffusion.pt converted by tools/convert/diffusionmat.py); '
                'if the prior comes from load_from/resume, set '
                'model.train_cfg.allow_random_prior=True')
        super().init_weights()
        self.freeze_prior()

    # ---------------------------------------------------------------- inference
    def _timesteps(self, cfg) -> List[int]:
        return self.schedule.ddim_timesteps(int(cfg.t_start), int(cfg.num_steps))

    def _correct(self, feat: Tensor, x: Tensor) -> Tensor:
        """The corrector on ``[32 image features, state]``."""
        expected = getattr(self.corrector, 'in_channels', feat.shape[1] + x.shape[1])
        if feat.shape[1] + x.shape[1] != expected:
            raise ValueError(f'DiffusionMat: encoder features ({feat.shape[1]} channels) + '
                             f'state ({x.shape[1]}) != corrector.in_channels '
                             f'({expected})')
        return self.corrector(torch.cat([feat, x], dim=1))

    def sample(self, inputs: Batch, generator: Optional[torch.Generator] = None,
               return_details: bool = False):
        """DiffusionMat's sampling loop on a batch whose sides fit the networks.

        Args:
            inputs: the batch: ``image`` (normalised RGB) and ``trimap`` (in [0, 1]).
            generator: RNG of the start noise (default: ``test_cfg.seed`` or the
                global RNG).
            return_details: also return the trajectory (see Returns).

        Returns:
            The alpha, N x 1 x H x W (known pixels exactly 0 / 1); with
            ``return_details`` a dict with ``alpha``, ``timesteps``,
            ``trimap_trajectory`` (the inverted trimap, one entry per level),
            ``start`` (the noised trimap) and ``states`` (the state after corrector and
            ARP of each step, ``states[i]`` at level ``timesteps[-2 - i]``).
        """
        cfg = self.test_cfg
        image, trimap = inputs['image'], inputs['trimap']
        background, foreground = known_masks(trimap)
        unknown = (~(background | foreground)).to(trimap.dtype)
        timesteps = self._timesteps(cfg)
        if generator is None:
            generator = noise_generator(cfg.seed, image.device)
        feat = self.encoder(image)
        trimap_trajectory = self.schedule.ddim_invert(self.prior, trimap, timesteps)
        start = noised_start(self.schedule, trimap, int(cfg.t_start),
                             bool(cfg.start_noise_at_previous_level), generator)
        states = []

        def correct_and_propagate(x_prev: Tensor, t: Tensor, t_prev: Tensor,
                                  index: int) -> Tensor:
            x = self._correct(feat, x_prev)
            x = alpha_reliability_propagation(x, trimap_trajectory[index], unknown)
            states.append(x)
            return x

        x = self.schedule.ddim_sample(self.prior, start, timesteps,
                                      step_callback=correct_and_propagate)
        alpha = x.masked_fill(background, 0.0).masked_fill(foreground, 1.0)
        if not return_details:
            return alpha
        return dict(alpha=alpha, timesteps=timesteps, trimap_trajectory=trimap_trajectory,
                    start=start, states=states)

    def _forward(self, inputs: Batch) -> Tensor:
        return self.sample(inputs)

    def _forward_test(self, inputs: Batch) -> Tensor:
        with torch.no_grad():
            return self.sample(inputs)

    # ----------------------------------------------------------------- training
    @staticmethod
    def _normalised(rgb01: Tensor, inputs: Batch) -> Tensor:
        """0-1 RGB -> the colour space of ``inputs['image']`` (its ``image_mean`` /
        ``image_std``; as is when the batch has none)."""
        mean, std = inputs.get('image_mean'), inputs.get('image_std')
        if mean is None or std is None:
            return rgb01
        return (rgb01 * 255.0 - mean) / std

    def _masked_loss(self, loss_fn, pred: Tensor, target: Tensor, unknown: Tensor) -> Tensor:
        if self.train_cfg.loss_normalisation == 'image':
            return loss_fn(pred * unknown, target * unknown)
        return loss_fn(pred, target, unknown)

    def _clean_estimate(self, x: Tensor, t: int) -> Tensor:
        """One-step x0 estimate through the frozen prior (``x`` itself at level 0)."""
        if t <= 0:
            return x
        return self.schedule.predict_x0(x, self.prior(x, t), t)

    def training_steps(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Iterator[Dict[str, Tensor]]:
        """Yield the loss dict of each of the ``K`` denoising steps of one batch.

        The caller may update the parameters between steps: each step recomputes the
        image features with the current encoder. The carried state is detached.
        """
        cfg = self.train_cfg
        image, trimap = inputs['image'], inputs['trimap']
        alpha = stack_field(data_samples, 'gt_alpha')
        unknown = unknown_region(trimap)
        if self.loss_comp is not None:
            fg = self._normalised(stack_field(data_samples, 'gt_fg'), inputs)
            bg = self._normalised(stack_field(data_samples, 'gt_bg'), inputs)
        timesteps = self._timesteps(cfg)
        batch = alpha.shape[0]
        with torch.no_grad():
            trajectory = self.schedule.ddim_invert(self.prior, torch.cat([alpha, trimap]),
                                                   timesteps)
            x = noised_start(self.schedule, trimap, int(cfg.t_start),
                             bool(cfg.start_noise_at_previous_level))
        for index in range(len(timesteps) - 1, 0, -1):
            t, t_prev = timesteps[index], timesteps[index - 1]
            alpha_inv, trimap_inv = trajectory[index - 1][:batch], trajectory[index - 1][batch:]
            with torch.no_grad():
                x_prev = self.schedule.ddim_step(x, self.prior(x, t), t, t_prev)
            x_new = self._correct(self.encoder(image), x_prev)
            x_new = alpha_reliability_propagation(x_new, trimap_inv, unknown)
            x0 = self._clean_estimate(x_new, t_prev)
            losses = {}
            if self.loss_inv is not None:
                losses['loss_inv'] = self._masked_loss(self.loss_inv, x_new, alpha_inv, unknown)
            if self.loss_alpha is not None:
                losses['loss_alpha'] = self._masked_loss(self.loss_alpha, x0, alpha, unknown)
            if self.loss_comp is not None:
                composite = fg * x0 + bg * (1 - x0)
                losses['loss_comp'] = self._masked_loss(self.loss_comp, composite, image,
                                                        unknown)
            yield losses
            x = x_new.detach()

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, Tensor]:
        """The mean over the ``K`` steps of each loss (one graph per step)."""
        totals: Dict[str, Tensor] = {}
        count = 0
        for losses in self.training_steps(inputs, data_samples):
            count += 1
            for name, value in losses.items():
                totals[name] = totals[name] + value if name in totals else value
        return {name: value / count for name, value in totals.items()}

    def train_step(self, data, optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One batch: ``K`` optimiser steps, one per denoising step (the paper).

        With ``train_cfg.accumulate_steps`` the mean of the ``K`` step losses is
        optimised in one step instead (mmengine's default ``train_step``).

        Returns:
            The log variables averaged over the steps.
        """
        if self.train_cfg.accumulate_steps:
            return super().train_step(data, optim_wrapper)
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, True)
        steps = self.training_steps(data['inputs'], data['data_samples'])
        logs: Dict[str, Tensor] = {}
        count = 0
        while True:
            with optim_wrapper.optim_context(self):
                losses = next(steps, None)
            if losses is None:
                break
            loss, log_vars = self.parse_losses(losses)
            optim_wrapper.update_params(loss)
            count += 1
            for name, value in log_vars.items():
                value = value.detach()
                logs[name] = logs[name] + value if name in logs else value
        return {name: value / count for name, value in logs.items()}
