"""NoiseSchedule: betas, closed forms, DDIM step / inversion / sampling conventions."""
import math

import numpy as np
import pytest
import torch

from mattebox.models.diffusion import NoiseSchedule, make_betas
from mattebox.registry import MODELS


def zero_eps(x, t):
    return torch.zeros_like(x)


@pytest.fixture
def schedule():
    return NoiseSchedule(num_train_timesteps=1000, beta_schedule='linear',
                         beta_start=1e-4, beta_end=0.02)


def test_linear_betas_endpoints_and_cumprod(schedule):
    betas = schedule.betas
    assert betas.shape == (1000, )
    assert betas.dtype == torch.float32
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-6)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-6)
    steps = torch.diff(betas.double())
    assert torch.allclose(steps, torch.full_like(steps, (0.02 - 1e-4) / 999), atol=1e-9)
    # float32 cumulative product of float32 (1 - beta), as the original computes it
    assert torch.equal(schedule.alphas_cumprod, (1.0 - betas).cumprod(dim=0))
    reference = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))
    assert np.allclose(schedule.alphas_cumprod.numpy(), reference, rtol=1e-5)


def test_cosine_betas_follow_the_cosine_alpha_bar():
    betas = make_betas('cosine', 1000)
    assert betas.shape == (1000, ) and betas.max() <= 0.999 and betas.min() > 0
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2)**2  # noqa: E731
    abar = np.cumprod(1.0 - betas)
    assert abar[499] == pytest.approx(f(500) / f(0), rel=1e-9)
    schedule = NoiseSchedule(beta_schedule='cosine')
    assert schedule.alphas_cumprod[499].item() == pytest.approx(f(500) / f(0), rel=1e-4)


def test_unknown_schedule_is_rejected():
    with pytest.raises(ValueError, match="'linear' or 'cosine', got 'quadratic'"):
        NoiseSchedule(beta_schedule='quadratic')


def test_buffers_are_not_checkpointed_and_registry_builds_it(schedule):
    assert schedule.state_dict() == {}
    built = MODELS.build(dict(type='NoiseSchedule', num_train_timesteps=500))
    assert isinstance(built, NoiseSchedule) and built.alphas_cumprod.shape == (500, )


def test_add_noise_matches_closed_form(schedule):
    torch.manual_seed(0)
    x0 = torch.rand(3, 1, 4, 4)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 249, 999])
    abar = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000))[[0, 249, 999]]
    expected = (torch.from_numpy(np.sqrt(abar)).float().view(3, 1, 1, 1) * x0 +
                torch.from_numpy(np.sqrt(1 - abar)).float().view(3, 1, 1, 1) * noise)
    assert torch.allclose(schedule.add_noise(x0, noise, t), expected, atol=1e-5)
    # an int applies to the whole batch
    same = schedule.add_noise(x0, noise, 249)
    assert torch.allclose(same[1], expected[1], atol=1e-6)


def test_predict_x0_inverts_add_noise(schedule):
    torch.manual_seed(1)
    x0 = torch.rand(2, 1, 8, 8)
    noise = torch.randn_like(x0)
    t = torch.tensor([10, 600])
    x_t = schedule.add_noise(x0, noise, t)
    assert torch.allclose(schedule.predict_x0(x_t, noise, t), x0, atol=1e-4)


def test_ddim_step_to_minus_one_returns_predict_x0(schedule):
    torch.manual_seed(2)
    x_t = torch.randn(2, 1, 8, 8)
    eps = torch.randn_like(x_t)
    t = torch.tensor([250, 50])
    out = schedule.ddim_step(x_t, eps, t, -1)
    assert torch.allclose(out, schedule.predict_x0(x_t, eps, t), atol=1e-6)
    # per-element: only the element stepping to -1 gets the clean estimate
    mixed = schedule.ddim_step(x_t, eps, t, torch.tensor([-1, 0]))
    assert torch.allclose(mixed[0], out[0], atol=1e-6)
    abar0 = schedule.alphas_cumprod[0]
    expected1 = abar0.sqrt() * schedule.predict_x0(x_t, eps, t)[1] + (1 - abar0).sqrt() * eps[1]
    assert torch.allclose(mixed[1], expected1, atol=1e-6)


def test_ddim_step_rejects_out_of_range_timesteps(schedule):
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r't must lie in \[0, 999\]'):
        schedule.ddim_step(x, x, 1000, 0)
    with pytest.raises(ValueError, match=r't_prev must lie in \[-1, 999\]'):
        schedule.ddim_step(x, x, 10, -2)
    with pytest.raises(ValueError, match=r'shape \(2,\)'):
        schedule.ddim_step(x, x, torch.tensor([1, 2, 3]), 0)


def test_ddim_timesteps_match_the_original_spacing(schedule):
    # README command: --t 250 --sample_step 5
    assert schedule.ddim_timesteps(250, 5) == [0, 50, 100, 150, 200, 250]
    # int() truncation of np.linspace(0, 1, n + 1) * t_start
    assert schedule.ddim_timesteps(300, 7) == [0, 42, 85, 128, 171, 214, 257, 300]
    assert schedule.ddim_timesteps(500, 1) == [0, 500]
    with pytest.raises(ValueError, match=r't_start must lie in \[1, 999\], got 1000'):
        schedule.ddim_timesteps(1000, 5)
    with pytest.raises(ValueError, match=r'num_steps must lie in \[1, t_start=3\], got 5'):
        schedule.ddim_timesteps(3, 5)


def test_invert_then_sample_with_zero_eps_returns_the_input(schedule):
    torch.manual_seed(3)
    x0 = torch.rand(2, 1, 8, 8)
    steps = schedule.ddim_timesteps(250, 5)
    trajectory = schedule.ddim_invert(zero_eps, x0, steps)
    assert len(trajectory) == len(steps) and trajectory[0] is x0
    # with eps = 0 each level is x0 rescaled by sqrt(abar[t] / abar[0]): level 0 is abar[0]
    abar = schedule.alphas_cumprod
    for k, t in enumerate(steps):
        assert torch.allclose(trajectory[k], x0 * (abar[t] / abar[0]).sqrt(), atol=1e-6)
    back = schedule.ddim_sample(zero_eps, trajectory[-1], steps)
    assert torch.allclose(back, x0, atol=1e-5)


def test_invert_then_sample_is_exact_for_a_constant_eps_model(schedule):
    torch.manual_seed(4)
    x0 = torch.rand(2, 1, 8, 8)

    def const_eps(x, t):
        return torch.full_like(x, 0.3)

    steps = schedule.ddim_timesteps(400, 8)
    trajectory = schedule.ddim_invert(const_eps, x0, steps)
    assert not torch.allclose(trajectory[-1], x0)
    assert torch.allclose(schedule.ddim_sample(const_eps, trajectory[-1], steps), x0, atol=1e-4)


def test_model_gets_long_timesteps_and_callback_gets_levels(schedule):
    seen, calls = [], []

    def model(x, t):
        seen.append((t.dtype, tuple(t.shape), t.tolist()))
        return torch.zeros_like(x)

    def callback(x_prev, t, t_prev, index):
        calls.append((t.tolist(), t_prev.tolist(), index))
        return x_prev + 1.0

    x = torch.zeros(2, 1, 4, 4)
    out = schedule.ddim_sample(model, x, [0, 50, 100], step_callback=callback)
    assert seen[0] == (torch.long, (2, ), [100, 100])
    assert [s[2] for s in seen] == [[100, 100], [50, 50]]
    assert calls == [([100, 100], [50, 50], 1), ([50, 50], [0, 0], 0)]
    # the callback's output is what the next step consumes: two +1 shifts, rescaled
    abar = schedule.alphas_cumprod
    expected = (abar[0] / abar[50]).sqrt() * 1.0 + 1.0
    assert torch.allclose(out, torch.full_like(out, expected.item()), atol=1e-6)

    seen.clear()
    schedule.ddim_invert(model, x, [0, 50, 100])
    assert [s[2] for s in seen] == [[0, 0], [50, 50]]  # eps taken at the lower level


def test_sample_can_finish_at_the_clean_level(schedule):
    x = torch.randn(1, 1, 4, 4)

    def eps_model(x, t):
        return torch.full_like(x, 0.1)

    out = schedule.ddim_sample(eps_model, x, [-1, 100])
    assert torch.allclose(out, schedule.predict_x0(x, torch.full_like(x, 0.1), 100), atol=1e-6)


def test_sequences_are_validated(schedule):
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match='strictly increasing'):
        schedule.ddim_sample(zero_eps, x, [0, 50, 50])
    with pytest.raises(ValueError, match=r'must lie in \[0, 999\]'):
        schedule.ddim_invert(zero_eps, x, [-1, 50])
    with pytest.raises(ValueError, match='at least 2 levels'):
        schedule.ddim_sample(zero_eps, x, [10])
