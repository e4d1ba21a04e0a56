"""DiffusionMat's alpha-matte prior on its own: training it, testing it, loading it.

DiffusionMat needs a pixel-space DDPM over alpha mattes before its correction module can
be trained. The original project releases such a prior (``ckpt_diffusion.pt``) but not
the code that trained it; :class:`AlphaDDPM` trains one with the plain DDPM objective
(epsilon prediction, MSE, uniform timesteps; the ``pytorch-ddpm`` trainer the prior's
UNet comes from), and :func:`prior_state_dict_from` reads a prior out of any of the
files a user may have.
"""
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor

from mattebox.guidance import GuidanceSpec
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample, stack_field

from ..base_mattor import Batch, BaseMattor

PRIOR_PREFIX = 'prior.'


def _strip(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def prior_state_dict_from(checkpoint: object, path: str = '<checkpoint>') -> Dict[str, Tensor]:
    """The prior's state dict (PixelUNet keys, no prefix) from a loaded checkpoint.

    Accepted layouts:

    * a mattebox checkpoint ``{'state_dict': {...}}`` of :class:`AlphaDDPM` or of
      ``DiffusionMat`` (also a file written by ``tools/convert/diffusionmat.py``): the
      ``prior.*`` keys, prefix removed;
    * DiffusionMat's released ``ckpt_diffusion.pt`` (``{'net_model': ..., 'ema_model':
      ...}``): ``net_model``, the weights the original uses;
    * a bare state dict, with or without the ``prior.`` prefix.

    A ``module.`` prefix (DataParallel) is removed everywhere.

    Raises:
        ValueError: when no prior weights are found (the message names the file and
            shows its first keys).
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{path}: expected a dict checkpoint holding the prior, got '
                         f'{type(checkpoint).__name__}')
    if isinstance(checkpoint.get('state_dict'), Mapping):
        state = checkpoint['state_dict']
    elif isinstance(checkpoint.get('net_model'), Mapping):
        state = checkpoint['net_model']
    else:
        state = checkpoint
    state = {_strip(k, 'module.'): v for k, v in state.items() if isinstance(v, Tensor)}
    prefixed = {k[len(PRIOR_PREFIX):]: v for k, v in state.items()
                if k.startswith(PRIOR_PREFIX)}
    if prefixed:
        return prefixed
    if 'head.weight' in state and 'tail.2.weight' in state:
        return state
    raise ValueError(f'{path}: no prior weights found (expected "prior.*" keys in '
                     "'state_dict', a 'net_model' entry or a bare PixelUNet state dict); "
                     f'first keys: {list(checkpoint)[:6]}')


def load_prior_weights(prior: torch.nn.Module, path: str, config_key: str) -> List[str]:
    """Load a prior checkpoint file strictly into ``prior``.

    Args:
        prior: the prior network (``PixelUNet``).
        path: local checkpoint file (see :func:`prior_state_dict_from`).
        config_key: the config key that named the file, for error messages.

    Returns:
        The loaded key names.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file holds no prior, or one whose keys or shapes differ from
            the configured network.
    """
    from mattebox.engine.checkpoint import load_checkpoint_file
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{config_key}: prior checkpoint not found: {path} (train one with '
            'configs/diffusionmat/diffusionmat_prior_*.py or convert the released '
            'ckpt_diffusion.pt with tools/convert/diffusionmat.py)')
    state = prior_state_dict_from(load_checkpoint_file(path), path)
    own = prior.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f'{k}: {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model'
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f'{config_key}: the prior in {path} does not match the configured prior '
            f'network:\n  missing keys ({len(missing)}): {missing[:8]}\n  unexpected keys '
            f'({len(unexpected)}): {unexpected[:8]}\n  shape mismatches: {shapes[:8]}\n'
            'Is model.prior configured like the prior that was trained?')
    prior.load_state_dict(state, strict=True)
    return sorted(state)


def noise_generator(seed: Optional[int], device: torch.device) -> Optional[torch.Generator]:
    """A generator seeded with ``seed`` on ``device``, or None (global RNG)."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def noised_start(schedule, x0: Tensor, t_start: int, at_previous_level: bool,
                 generator: Optional[torch.Generator] = None) -> Tensor:
    """``x0`` noised to the level a DiffusionMat sampling loop starts from.

    The original noises with ``abar[t_start - 1]`` and then treats the result as level
    ``t_start`` (``at_previous_level=True``); ``False`` noises with ``abar[t_start]``.
    """
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    return schedule.add_noise(x0, noise, t_start - 1 if at_previous_level else t_start)


@MODELS.register_module()
class AlphaDDPM(BaseMattor):
    """Unconditional DDPM over alpha mattes in ``[0, 1]``: DiffusionMat's prior, alone.

    Training (``'loss'``): for the ground-truth alpha ``a`` of each sample, draw
    ``t ~ U{0, ..., T-1}`` and ``eps ~ N(0, I)`` and regress the prior's prediction
    ``prior(sqrt(abar_t) a + sqrt(1 - abar_t) eps, t)`` onto ``eps`` with ``loss_eps``
    (MSE by default). The image and the trimap are not used.

    Testing (``'predict'``): the prior is judged by how well it brings a matte back
    from DiffusionMat's start level, without the image: the source guidance
    (``test_cfg.source``: ``'mask'``, which the test configs make from the ground-truth
    alpha with ``GenerateMaskPrompt(threshold=None, operations=())``, or ``'trimap'``)
    is noised to level ``t_start`` and denoised by ``num_steps`` deterministic DDIM
    steps down to level 0, exactly as DiffusionMat's loop does without corrector and
    ARP. From the alpha an untrained prior returns noise and a trained one returns a
    close copy, so ``tools/test.py`` prints meaningful SAD / MSE / Grad / Conn numbers.
    ``'tensor'`` mode runs the same.

    The checkpoint keys are ``prior.*``: a checkpoint of this model is a valid
    ``prior_checkpoint`` of ``DiffusionMat``.

    Args:
        prior: config of the UNet (``PixelUNet`` with a time embedding).
        schedule: config of the noise schedule (``NoiseSchedule``).
        loss_eps: config of the noise-regression loss.
        train_cfg: unused (kept for the common interface).
        test_cfg: ``source`` (``'mask'`` or ``'trimap'``), ``t_start`` (250),
            ``num_steps`` (5), ``start_noise_at_previous_level`` (True, as DiffusionMat),
            ``seed`` (None: global RNG; an int makes predictions repeatable), plus the
            options of :class:`BaseMattor` (padding is at the bottom/right).
        data_preprocessor: ``MattorPreprocessor``.
        init_cfg: mmengine init config.
    """

    #: training reads only the ground-truth alpha
    train_guidance_spec = GuidanceSpec()

    def __init__(self, prior: dict, schedule: Optional[dict] = None,
                 loss_eps: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        test_cfg = {**dict(source='mask', t_start=250, num_steps=5,
                           start_noise_at_previous_level=True, seed=None), **(test_cfg or {})}
        super().__init__(data_preprocessor=data_preprocessor, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg)
        if self.test_cfg.source not in ('mask', 'trimap'):
            hint = (" (the ground-truth alpha now reaches the model as the 'mask' guidance: "
                    "add GenerateMaskPrompt(threshold=None, operations=()) to the test "
                    "pipeline and set source='mask')" if self.test_cfg.source == 'alpha'
                    else '')
            raise ValueError("AlphaDDPM test_cfg.source must be 'mask' or 'trimap', got "
                             f'{self.test_cfg.source!r}{hint}')
        self.guidance_spec = GuidanceSpec(required=(self.test_cfg.source, ))
        self.prior = MODELS.build(prior)
        self.schedule = MODELS.build(schedule or dict(type='NoiseSchedule'))
        self.loss_eps = MODELS.build(loss_eps or dict(type='MSELoss'))
        check_prior_fits_schedule(self.prior, self.schedule, 'AlphaDDPM')
        # fail at build time, not after a training run, on impossible sampling settings
        self.schedule.ddim_timesteps(int(self.test_cfg.t_start), int(self.test_cfg.num_steps))

    def _forward(self, inputs: Batch) -> Tensor:
        return self._forward_test(inputs)

    def _forward_train(self, inputs: Batch,
                       data_samples: Sequence[MattingDataSample]) -> Dict[str, Tensor]:
        alpha = stack_field(data_samples, 'gt_alpha')
        t = torch.randint(0, self.schedule.num_train_timesteps, (alpha.shape[0], ),
                          device=alpha.device)
        noise = torch.randn_like(alpha)
        x_t = self.schedule.add_noise(alpha, noise, t)
        return {'loss_eps': self.loss_eps(self.prior(x_t, t), noise)}

    @torch.no_grad()
    def denoise_from(self, x0: Tensor) -> Tensor:
        """Noise ``x0`` (N x 1 x H x W in [0, 1]) to ``t_start`` and DDIM-denoise it."""
        cfg = self.test_cfg
        timesteps = self.schedule.ddim_timesteps(int(cfg.t_start), int(cfg.num_steps))
        generator = noise_generator(cfg.seed, x0.device)
        x = noised_start(self.schedule, x0, int(cfg.t_start),
                         bool(cfg.start_noise_at_previous_level), generator)
        return self.schedule.ddim_sample(self.prior, x, timesteps)

    def _forward_test(self, inputs: Batch) -> Tensor:
        return self.denoise_from(inputs[self.test_cfg.source])


def check_prior_fits_schedule(prior: torch.nn.Module, schedule, owner: str) -> None:
    """The prior's time table must cover every timestep of the schedule."""
    table = getattr(prior, 'num_timesteps', None)
    if table is not None and table < schedule.num_train_timesteps:
        raise ValueError(f'{owner}: the prior embeds {table} timesteps but the schedule has '
                         f'{schedule.num_train_timesteps}; set prior.num_timesteps >= '
                         'schedule.num_train_timesteps')

