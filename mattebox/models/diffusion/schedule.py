"""The one shared noise schedule of mattebox: betas, forward noising and DDIM steps.

Conventions follow DiffusionMat (``cnnlstm/DiffusionMat``), which builds on SDEdit/DDIM:

* ``alphas_cumprod[t]`` is indexed directly by ``t`` in ``[0, T-1]``: the state at level
  ``t`` is ``sqrt(abar[t]) * x0 + sqrt(1 - abar[t]) * eps``
  (``runners/diffusion_utils.py::extract`` gathers ``abar`` at ``t``). Level ``-1`` is the
  clean signal (``abar = 1``), used as the target of a final DDIM step
  (``ddim_denoising_step``: ``if t_next.sum() == -t_next.shape[0]: at_next = 1``).
* Betas are built in float64 (``np.linspace``), cast to float32, and ``alphas_cumprod``
  is the float32 cumulative product of ``1 - betas``
  (``runners/diffusionmat_test.py::Diffusion.__init__`` and ``ddim_denoising_step``).
* Data are used as they are: DiffusionMat feeds alpha mattes and trimaps in ``[0, 1]``
  (``trimap / 255``), not rescaled to ``[-1, 1]``. The schedule never rescales.
"""
import math
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from mattebox.registry import MODELS

Timesteps = Union[int, Tensor]
EpsModel = Callable[[Tensor, Tensor], Tensor]
StepCallback = Callable[[Tensor, Tensor, Tensor, int], Tensor]


def make_betas(beta_schedule: str, num_train_timesteps: int, beta_start: float = 1e-4,
               beta_end: float = 0.02, cosine_s: float = 0.008,
               max_beta: float = 0.999) -> np.ndarray:
    """Build a float64 beta sequence.

    Args:
        beta_schedule: ``'linear'`` (DDPM: evenly spaced from ``beta_start`` to
            ``beta_end``, both included; DiffusionMat ``runners/diffusion_utils.py::
            get_beta_schedule``) or ``'cosine'`` (Nichol & Dhariwal 2021,
            ``abar(t) = cos(((t/T + s)/(1 + s)) * pi/2)^2``, betas clipped at
            ``max_beta``).
        num_train_timesteps: number of diffusion steps ``T``.
        beta_start: first beta of the linear schedule.
        beta_end: last beta of the linear schedule.
        cosine_s: offset ``s`` of the cosine schedule.
        max_beta: upper clip of the cosine betas.

    Returns:
        Array of shape ``(T,)``, dtype float64.

    Raises:
        ValueError: on an unknown schedule name or non-positive ``T``.
    """
    if num_train_timesteps < 1:
        raise ValueError(f'num_train_timesteps must be >= 1, got {num_train_timesteps}')
    if beta_schedule == 'linear':
        return np.linspace(beta_start, beta_end, num_train_timesteps, dtype=np.float64)
    if beta_schedule == 'cosine':
        steps = np.arange(num_train_timesteps + 1, dtype=np.float64) / num_train_timesteps
        abar = np.cos((steps + cosine_s) / (1 + cosine_s) * math.pi / 2) ** 2
        betas = 1.0 - abar[1:] / abar[:-1]
        return np.minimum(betas, max_beta)
    raise ValueError(
        f"beta_schedule must be 'linear' or 'cosine', got {beta_schedule!r}")


@MODELS.register_module()
class NoiseSchedule(nn.Module):
    """Discrete DDPM noise schedule with deterministic DDIM stepping and inversion.

    Holds ``betas`` and ``alphas_cumprod`` as non-persistent buffers (they follow
    ``.to(device)`` but are not written into checkpoints). Every method that takes a
    timestep accepts an ``int`` (applied to the whole batch) or an integer tensor of
    shape ``(B,)`` (one timestep per batch element); a model callable always receives
    the latter (``torch.long``).

    Args:
        num_train_timesteps: number of diffusion steps ``T`` (DiffusionMat: 1000,
            ``configs/matte.yml: diffusion.num_diffusion_timesteps``).
        beta_schedule: ``'linear'`` or ``'cosine'`` (DiffusionMat: linear).
        beta_start: first linear beta (DiffusionMat: 1e-4).
        beta_end: last linear beta (DiffusionMat: 0.02).
        cosine_s: offset of the cosine schedule.
        max_beta: clip of the cosine betas.
    """

    def __init__(self, num_train_timesteps: int = 1000, beta_schedule: str = 'linear',
                 beta_start: float = 1e-4, beta_end: float = 0.02, cosine_s: float = 0.008,
                 max_beta: float = 0.999) -> None:
        super().__init__()
        self.num_train_timesteps = int(num_train_timesteps)
        self.beta_schedule = beta_schedule
        betas = torch.from_numpy(make_betas(
            beta_schedule, self.num_train_timesteps, beta_start, beta_end, cosine_s,
            max_beta)).float()
        self.register_buffer('betas', betas, persistent=False)
        self.register_buffer('alphas_cumprod', (1.0 - betas).cumprod(dim=0),
                             persistent=False)

    def extra_repr(self) -> str:
        return f'num_train_timesteps={self.num_train_timesteps}, ' \
               f'beta_schedule={self.beta_schedule!r}'

    # ------------------------------------------------------------------ helpers
    def _as_batch(self, t: Timesteps, x: Tensor, name: str, allow_clean: bool) -> Tensor:
        """Turn ``t`` into a long tensor of shape ``(B,)`` and check its range."""
        batch = x.shape[0]
        if isinstance(t, Tensor):
            if t.is_floating_point() or t.is_complex():
                raise TypeError(f'{name} must be an integer tensor, got dtype {t.dtype}')
            t = t.to(device=self.alphas_cumprod.device, dtype=torch.long)
            if t.dim() == 0:
                t = t.expand(batch)
            if t.shape != (batch,):
                raise ValueError(f'{name} must have shape ({batch},) to match the batch '
                                 f'of x {tuple(x.shape)}, got {tuple(t.shape)}')
        else:
            t = torch.full((batch,), int(t), dtype=torch.long,
                           device=self.alphas_cumprod.device)
        low = -1 if allow_clean else 0
        if bool((t < low).any()) or bool((t >= self.num_train_timesteps).any()):
            raise ValueError(f'{name} must lie in [{low}, {self.num_train_timesteps - 1}], '
                             f'got {t.tolist()}')
        return t

    def _alpha_bar(self, t: Timesteps, x: Tensor, name: str = 't',
                   allow_clean: bool = False) -> Tensor:
        """``alphas_cumprod`` at ``t``, shaped to broadcast against ``x``.

        A timestep of ``-1`` (only with ``allow_clean``) gives ``abar = 1``.
        """
        t = self._as_batch(t, x, name, allow_clean)
        abar = self.alphas_cumprod[t.clamp(min=0)]
        abar = torch.where(t < 0, torch.ones_like(abar), abar)
        shape = (x.shape[0], ) + (1, ) * (x.dim() - 1)
        return abar.to(device=x.device, dtype=x.dtype).reshape(shape)

    # ----------------------------------------------------------------- closed forms
    def add_noise(self, x0: Tensor, noise: Tensor, t: Timesteps) -> Tensor:
        """Forward process ``q(x_t | x_0)``: ``sqrt(abar[t]) x0 + sqrt(1 - abar[t]) noise``.

        Note that DiffusionMat starts its sampling loop from the trimap noised with
        ``abar[t_start - 1]`` while the first DDIM step treats that state as level
        ``t_start`` (``runners/diffusionmat_test.py``: ``x_start = x0 *
        a[total_noise_levels - 1].sqrt() + ...``); a faithful caller passes
        ``t_start - 1`` here.

        Args:
            x0: clean signal, ``(B, ...)``.
            noise: Gaussian noise of the same shape.
            t: timestep(s) in ``[0, T-1]``.

        Returns:
            The noised signal ``x_t``.
        """
        if noise.shape != x0.shape:
            raise ValueError(f'noise shape {tuple(noise.shape)} differs from x0 shape '
                             f'{tuple(x0.shape)}')
        at = self._alpha_bar(t, x0)
        return x0 * at.sqrt() + noise * (1.0 - at).sqrt()

    def predict_x0(self, x_t: Tensor, eps: Tensor, t: Timesteps) -> Tensor:
        """Clean estimate ``(x_t - sqrt(1 - abar[t]) eps) / sqrt(abar[t])``.

        Args:
            x_t: state at level ``t``.
            eps: predicted noise.
            t: timestep(s) in ``[-1, T-1]`` (``-1`` returns ``x_t``).

        Returns:
            The predicted ``x_0``.
        """
        at = self._alpha_bar(t, x_t, allow_clean=True)
        return (x_t - eps * (1 - at).sqrt()) / at.sqrt()

    def ddim_step(self, x_t: Tensor, eps: Tensor, t: Timesteps, t_prev: Timesteps) -> Tensor:
        """One deterministic DDIM update (eta = 0) from level ``t`` to level ``t_prev``.

        ``x0 = predict_x0(x_t, eps, t)``, then
        ``x_prev = sqrt(abar[t_prev]) x0 + sqrt(1 - abar[t_prev]) eps``
        (DiffusionMat ``runners/diffusion_utils.py::ddim_denoising_step``). The same
        update with ``t_prev > t`` is one DDIM inversion step. ``t_prev = -1`` means
        ``abar = 1``, so the step returns the predicted ``x0``.

        Args:
            x_t: state at level ``t``.
            eps: noise predicted by the model for ``(x_t, t)``.
            t: current timestep(s) in ``[0, T-1]``.
            t_prev: target timestep(s) in ``[-1, T-1]``.

        Returns:
            The state at level ``t_prev``.
        """
        at = self._alpha_bar(t, x_t, 't')
        at_prev = self._alpha_bar(t_prev, x_t, 't_prev', allow_clean=True)
        x0_t = (x_t - eps * (1 - at).sqrt()) / at.sqrt()
        return at_prev.sqrt() * x0_t + (1 - at_prev).sqrt() * eps

    # ---------------------------------------------------------------------- loops
    def ddim_timesteps(self, t_start: int, num_steps: int) -> list[int]:
        """The DDIM levels DiffusionMat visits, ascending, from 0 to ``t_start``.

        Computed as ``[int(s) for s in np.linspace(0, 1, num_steps + 1) * t_start]``
        (``runners/diffusionmat_test.py``: ``seq_inv``), i.e. ``num_steps + 1`` evenly
        spaced levels truncated to integers, both ends included; e.g. ``t_start=250,
        num_steps=5`` gives ``[0, 50, 100, 150, 200, 250]``. Sampling walks it from the
        end down to ``0`` (not to ``-1``); inversion walks it up from ``0``.

        Args:
            t_start: the noise level sampling starts from, in ``[1, T-1]``.
            num_steps: number of DDIM steps, in ``[1, t_start]``.

        Returns:
            ``num_steps + 1`` strictly increasing timesteps.

        Raises:
            ValueError: when ``t_start`` or ``num_steps`` is out of range (more steps
                than levels would repeat timesteps).
        """
        if not 1 <= t_start <= self.num_train_timesteps - 1:
            raise ValueError(f't_start must lie in [1, {self.num_train_timesteps - 1}], '
                             f'got {t_start}')
        if not 1 <= num_steps <= t_start:
            raise ValueError(f'num_steps must lie in [1, t_start={t_start}], got {num_steps}')
        return [int(s) for s in np.linspace(0, 1, num_steps + 1) * t_start]

    def _check_sequence(self, timesteps: Sequence[int], allow_clean: bool) -> list[int]:
        steps = [int(s) for s in (timesteps.tolist() if isinstance(timesteps, Tensor)
                                  else timesteps)]
        if len(steps) < 2:
            raise ValueError(f'timesteps needs at least 2 levels, got {steps}')
        low = -1 if allow_clean else 0
        if steps[0] < low or steps[-1] > self.num_train_timesteps - 1:
            raise ValueError(f'timesteps must lie in [{low}, {self.num_train_timesteps - 1}],'
                             f' got {steps}')
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f'timesteps must be strictly increasing, got {steps}')
        return steps

    def ddim_invert(self, model_fn: EpsModel, x0: Tensor,
                    timesteps: Sequence[int]) -> list[Tensor]:
        """Deterministic DDIM inversion of ``x0`` through every level of ``timesteps``.

        ``x0`` is taken as the state at ``timesteps[0]`` (DiffusionMat: level 0, i.e. it
        is treated as ``x`` at ``abar[0] = 1 - beta_0``, not at ``abar = 1``); each step
        goes from ``timesteps[k-1]`` to ``timesteps[k]`` with the noise the model
        predicts at the lower level: ``eps = model_fn(x, timesteps[k-1])``
        (``runners/diffusionmat_test.py``: ``zip(seq_inv_next[1:], seq_inv[1:])`` with
        ``ddim_denoising_step(x_inv, t=i, t_next=j)``).

        Args:
            model_fn: ``model_fn(x, t) -> eps`` with ``t`` a long tensor ``(B,)``.
            x0: signal to invert, ``(B, ...)``.
            timesteps: strictly increasing levels in ``[0, T-1]``, e.g. from
                :meth:`ddim_timesteps`.

        Returns:
            The trajectory: ``len(timesteps)`` tensors, entry ``k`` is the state at
            ``timesteps[k]`` (entry 0 is ``x0`` itself).
        """
        steps = self._check_sequence(timesteps, allow_clean=False)
        trajectory = [x0]
        x = x0
        for t, t_next in zip(steps[:-1], steps[1:]):
            t_batch = self._as_batch(t, x, 't', allow_clean=False).to(x.device)
            eps = model_fn(x, t_batch)
            x = self.ddim_step(x, eps, t, t_next)
            trajectory.append(x)
        return trajectory

    def ddim_sample(self, model_fn: EpsModel, x_t: Tensor, timesteps: Sequence[int],
                    step_callback: Optional[StepCallback] = None) -> Tensor:
        """Deterministic DDIM sampling from ``timesteps[-1]`` down to ``timesteps[0]``.

        Each step goes from ``timesteps[k]`` to ``timesteps[k-1]`` with
        ``eps = model_fn(x, timesteps[k])``. DiffusionMat ends at level 0
        (``zip(reversed(seq_inv[1:]), reversed(seq_inv_next[1:]))``); put ``-1`` first in
        ``timesteps`` to finish with a step to the clean estimate (as the original's
        training-time visualisation loop does).

        Args:
            model_fn: ``model_fn(x, t) -> eps`` with ``t`` a long tensor ``(B,)``.
            x_t: state at level ``timesteps[-1]``.
            timesteps: strictly increasing levels in ``[-1, T-1]``.
            step_callback: optional ``f(x_prev, t, t_prev, index) -> x_prev`` applied
                after every DDIM step, where ``index`` is the position of ``t_prev`` in
                ``timesteps`` (so a caller can look up ``ddim_invert``'s trajectory at
                the same level). DiffusionMat's corrector and alpha reliability
                propagation go here.

        Returns:
            The state at level ``timesteps[0]``.
        """
        steps = self._check_sequence(timesteps, allow_clean=True)
        x = x_t
        for index in range(len(steps) - 1, 0, -1):
            t_batch = self._as_batch(steps[index], x, 't', False).to(x.device)
            t_prev_batch = self._as_batch(steps[index - 1], x, 't_prev', True).to(x.device)
            eps = model_fn(x, t_batch)
            x = self.ddim_step(x, eps, t_batch, t_prev_batch)
            if step_callback is not None:
                x = step_callback(x, t_batch, t_prev_batch, index - 1)
        return x
