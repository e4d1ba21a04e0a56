"""DiffusionMat: sampling loop, ARP, padding, per-step training, prior loading.

The references below re-implement the released code's loops
(``runners/diffusionmat_test.py``, ``runners/diffusion_utils.py::diffusionmat_module``)
with plain tensor formulas, independently of ``NoiseSchedule``.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from mattebox.models.diffusionmat import (AlphaDDPM, DiffusionMat,
                                          alpha_reliability_propagation, unknown_region)
from mattebox.models.test_resize import reflect_pad
from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample

TINY_PRIOR = dict(type='PixelUNet', in_channels=1, ch=32, ch_mult=(1, ), dropout=0.1)
TINY_ENCODER = dict(type='SwinUNet', embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4),
                    drop_path_rate=0.0)
TINY_CORRECTOR = dict(type='PixelUNet', in_channels=33, ch=32, ch_mult=(1, ), dropout=0.0,
                      time_embedding=False)
# Tests about padding use this stand-in encoder (fast); the real SwinUNet on a padded
# odd-size single image is covered by test_swin_encoder_on_a_non_square_single_image.
STUB_ENCODER = dict(type='_DiffusionMatTestEncoder')


@MODELS.register_module(name='_DiffusionMatTestEncoder', force=True)
class _StubEncoder(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 32, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


def tiny_model(**kwargs) -> DiffusionMat:
    torch.manual_seed(0)
    cfg = dict(prior=TINY_PRIOR, encoder=TINY_ENCODER, corrector=TINY_CORRECTOR,
               data_preprocessor=dict(type='MattorPreprocessor', mean=MEAN, std=STD),
               train_cfg=dict(allow_random_prior=True), test_cfg=dict(seed=0))
    cfg.update(kwargs)
    model = DiffusionMat(**cfg)
    # a random prior with non-trivial outputs (the released init makes them ~0)
    with torch.no_grad():
        model.prior.tail[-1].weight.normal_(0, 0.05)
        model.corrector.tail[-1].weight.normal_(0, 0.05)
    return model


def trimap_batch(n=2, h=32, w=32) -> torch.Tensor:
    trimap = torch.full((n, 1, h, w), 128 / 255)
    trimap[:, :, :h // 4] = 0.0
    trimap[:, :, -h // 4:] = 1.0
    return trimap


def make_inputs(n=2, h=32, w=32, seed=1) -> dict:
    """A batch as the data preprocessor makes it: normalised image and 0-1 trimap."""
    g = torch.Generator().manual_seed(seed)
    return dict(image=torch.randn(n, 3, h, w, generator=g), trimap=trimap_batch(n, h, w),
                image_mean=torch.tensor(MEAN).view(1, 3, 1, 1),
                image_std=torch.tensor(STD).view(1, 3, 1, 1))


def abar() -> torch.Tensor:
    betas = torch.from_numpy(np.linspace(1e-4, 0.02, 1000, dtype=np.float64)).float()
    return (1 - betas).cumprod(0)


def ddim(x, e, a_t, a_next):
    x0 = (x - e * (1 - a_t).sqrt()) / a_t.sqrt()
    return a_next.sqrt() * x0 + (1 - a_next).sqrt() * e


def _level(args) -> int:
    """The timestep of a prior call seen by a forward pre-hook."""
    t = args[1]
    return int(t) if isinstance(t, int) else int(t[0])


def batch_of(n=2, size=32, seed=2):
    """Packed samples (0-255 BGR images, 0/128/255 trimaps), as PackMattingInputs gives."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        sample = MattingDataSample()
        alpha = (torch.rand(1, size, size, generator=g) * 255).round()
        trimap = torch.full((1, size, size), 128.0)
        trimap[:, :size // 4] = 0
        trimap[:, -size // 4:] = 255
        alpha[trimap == 0], alpha[trimap == 255] = 0, 255
        fg = (torch.rand(3, size, size, generator=g) * 255).round()
        bg = (torch.rand(3, size, size, generator=g) * 255).round()
        sample.set_data(dict(gt_alpha=alpha, gt_fg=fg, gt_bg=bg, trimap=trimap,
                             gt_merged=(fg * alpha + bg * (255 - alpha)) / 255))
        samples.append(sample)
    return dict(inputs=[s.gt_merged.clone() for s in samples], data_samples=samples)


# --------------------------------------------------------------------------- inference
def test_alpha_reliability_propagation_keeps_the_unknown_region_only():
    x, inv = torch.full((1, 1, 2, 2), 0.3), torch.full((1, 1, 2, 2), -0.7)
    unknown = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    out = alpha_reliability_propagation(x, inv, unknown)
    assert out.flatten().tolist() == pytest.approx([0.3, -0.7, -0.7, 0.3])


def test_unknown_region_is_everything_but_exact_zero_and_one():
    trimap = torch.tensor([[[[0.0, 1.0, 128 / 255, 0.2]]]])
    assert unknown_region(trimap).flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match='trimap in \\[0, 1\\]'):
        unknown_region(trimap * 255)


def test_known_pixels_are_exact_and_arp_equals_the_inverted_trimap():
    model = tiny_model().eval()
    inputs = make_inputs()
    with torch.no_grad():
        out = model.sample(inputs, return_details=True)
    trimap = inputs['trimap']
    alpha = out['alpha']
    assert torch.equal(alpha[trimap == 0], torch.zeros_like(alpha[trimap == 0]))
    assert torch.equal(alpha[trimap == 1], torch.ones_like(alpha[trimap == 1]))
    assert out['timesteps'] == [0, 50, 100, 150, 200, 250]
    known = unknown_region(trimap) == 0
    assert len(out['states']) == 5
    for i, state in enumerate(out['states']):
        level = len(out['timesteps']) - 2 - i
        inverted = out['trimap_trajectory'][level]
        assert torch.equal(state[known], inverted[known]), f'step {i} (level {level})'
        assert not torch.equal(state[~known], inverted[~known])  # the corrector acted
    # the unknown region of the output is the last state's
    assert torch.equal(alpha[~known], out['states'][-1][~known])


def test_sampling_matches_the_original_loop():
    model = tiny_model().eval()
    inputs = make_inputs()
    image, trimap = inputs['image'], inputs['trimap']
    with torch.no_grad():
        ours = model.sample(inputs, generator=torch.Generator().manual_seed(7))
        # runners/diffusionmat_test.py, written out
        a = abar()
        seq = [int(s) for s in np.linspace(0, 1, 5 + 1) * 250]
        unknown = torch.ones_like(trimap)
        unknown[trimap == 0] = 0
        unknown[trimap == 1] = 0
        feat = model.encoder(image)
        x_inv, x_invs = trimap, {0: trimap}
        for i, j in zip(seq[:-1], seq[1:]):
            x_inv = ddim(x_inv, model.prior(x_inv, i), a[i], a[j])
            x_invs[j] = x_inv
        e = torch.randn(trimap.shape, generator=torch.Generator().manual_seed(7))
        x = trimap * a[249].sqrt() + e * (1 - a[249]).sqrt()
        for i, j in zip(reversed(seq[1:]), reversed(seq[:-1])):
            x = ddim(x, model.prior(x, i), a[i], a[j])
            x = model.corrector(torch.cat([feat, x], 1))
            x = x * unknown + x_invs[j] * (1 - unknown)
        x[trimap == 0] = 0
        x[trimap == 1] = 1
    assert torch.allclose(ours, x, atol=1e-5)


def test_prior_calls_follow_the_released_schedule():
    model = tiny_model().eval()
    calls = []
    model.prior.register_forward_pre_hook(lambda m, args: calls.append(_level(args)))
    with torch.no_grad():
        model.sample(make_inputs(n=1))
    assert calls == [0, 50, 100, 150, 200] + [250, 200, 150, 100, 50]


@pytest.mark.parametrize('size,padding', [((50, 70), (46, 58)), ((64, 64), (32, 32))])
def test_odd_sizes_are_padded_top_left_and_cropped_back(size, padding):
    model = tiny_model(encoder=STUB_ENCODER).eval()
    h, w = size
    inputs = make_inputs(n=1, h=h, w=w)
    padded, state = model.test_resize.apply(inputs)
    top, left = state['top'], state['left']
    assert (top, left) == padding
    for key in ('image', 'trimap'):
        assert padded[key].shape[-2:] == (h + top, w + left)
        assert torch.equal(padded[key][..., top:, left:], inputs[key])  # the input, bottom-right
    assert padded['image'].shape[-1] % 32 == 0 and padded['image'].shape[-2] % 32 == 0
    reference = np.pad(inputs['image'][0, 0].numpy(), ((top, 0), (left, 0)), mode='reflect')
    assert np.array_equal(padded['image'][0, 0].numpy(), reference)

    seen = []
    original = model._forward_test
    model._forward_test = lambda x: seen.append(x['image'].shape) or original(x)
    sample = MattingDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
    trimap = (inputs['trimap'][0] * 255).round()
    sample.set_data(dict(trimap=trimap))
    with torch.no_grad():
        out = model.predict(inputs, [sample])[0].pred_alpha
    assert seen == [torch.Size([1, 3, h + top, w + left])]
    assert out.shape == (h, w) and out.dtype == torch.uint8
    assert (out[trimap[0] == 0] == 0).all() and (out[trimap[0] == 255] == 255).all()


def test_model_output_is_exact_on_known_pixels_without_postprocess_clamp():
    model = tiny_model(encoder=STUB_ENCODER, test_cfg=dict(seed=0, clamp_known=False)).eval()
    inputs = make_inputs(n=1, h=50, w=70)
    sample = MattingDataSample(metainfo=dict(ori_shape=(50, 70), img_shape=(50, 70)))
    with torch.no_grad():
        out = model.predict(inputs, [sample])[0].pred_alpha
    trimap = inputs['trimap'][0, 0]
    assert (out[trimap == 0] == 0).all() and (out[trimap == 1] == 255).all()


def test_swin_encoder_on_a_non_square_single_image():
    # 50 x 70 pads to 96 x 128: one attention-window row but several columns at stage 3
    model = tiny_model().eval()
    padded = model.test_resize.apply(make_inputs(n=1, h=50, w=70))[0]
    with torch.no_grad():
        out = model.sample(padded)
    assert out.shape == (1, 1, 96, 128)


def test_reflect_pad_handles_paddings_longer_than_the_side():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    out = reflect_pad(x, 7, 2, 9, 5)
    assert np.array_equal(out[0, 0].numpy(), np.pad(x[0, 0].numpy(), ((7, 2), (9, 5)),
                                                    mode='reflect'))


# ---------------------------------------------------------------------------- training
def test_first_training_step_losses_match_the_original():
    model = tiny_model().eval()  # eval: no dropout, so both sides are deterministic
    data = model.data_preprocessor(batch_of(), True)
    inputs, samples = data['inputs'], data['data_samples']
    torch.manual_seed(3)
    ours = next(model.training_steps(inputs, samples))

    image, trimap = inputs['image'], inputs['trimap']
    alpha = torch.stack([s.gt_alpha for s in samples])
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    fg = (torch.stack([s.gt_fg for s in samples]) - mean) / std
    bg = (torch.stack([s.gt_bg for s in samples]) - mean) / std
    a = abar()
    seq = [0, 50, 100, 150, 200, 250]
    unknown = torch.ones_like(trimap)
    unknown[trimap == 0] = 0
    unknown[trimap == 1] = 0
    torch.manual_seed(3)
    e = torch.randn_like(trimap)
    with torch.no_grad():
        x = trimap * a[249].sqrt() + e * (1 - a[249]).sqrt()
        x_inv, invs = torch.cat([alpha, trimap]), {0: torch.cat([alpha, trimap])}
        for i, j in zip(seq[:-1], seq[1:]):
            x_inv = ddim(x_inv, model.prior(x_inv, i), a[i], a[j])
            invs[j] = x_inv
        x = ddim(x, model.prior(x, 250), a[250], a[200])
    x = model.corrector(torch.cat([model.encoder(image), x], 1))
    x = x * unknown + invs[200][2:] * (1 - unknown)
    x0 = x / a[200].sqrt() - (1 - a[200]).sqrt() / a[200].sqrt() * model.prior(x, 200)
    comp = fg * x0 + bg * (1 - x0)
    assert ours['loss_comp'].item() == pytest.approx(
        F.l1_loss(comp * unknown, image * unknown).item(), rel=1e-4)
    assert ours['loss_alpha'].item() == pytest.approx(
        F.l1_loss(x0 * unknown, alpha * unknown).item(), rel=1e-4)
    assert ours['loss_inv'].item() == pytest.approx(
        2 * F.mse_loss(x * unknown, invs[200][:2] * unknown).item(), rel=1e-4)


def test_last_step_uses_the_state_as_clean_estimate():
    model = tiny_model(train_cfg=dict(allow_random_prior=True, num_steps=1, t_start=10),
                       loss_inv=None, loss_comp=None).eval()
    data = model.data_preprocessor(batch_of(), True)
    calls = []
    model.prior.register_forward_pre_hook(lambda m, args: calls.append(_level(args)))
    losses = next(model.training_steps(data['inputs'], data['data_samples']))
    assert set(losses) == {'loss_alpha'}
    assert calls == [0, 10]  # inversion 0 -> 10, then the step 10 -> 0; no x0 call at 0


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize('accumulate', [False, True])
def test_train_step_updates_encoder_and_corrector_never_the_prior(accumulate):
    model = tiny_model(train_cfg=dict(allow_random_prior=True, num_steps=3,
                                      accumulate_steps=accumulate))
    model.train()
    assert not model.prior.training and model.encoder.training and model.corrector.training
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    prior, encoder, corrector = (_snapshot(m) for m in (model.prior, model.encoder,
                                                         model.corrector))
    log = model.train_step(batch_of(), OptimWrapper(optimizer))
    assert set(log) == {'loss', 'loss_inv', 'loss_alpha', 'loss_comp'}
    assert all(torch.isfinite(v) for v in log.values())
    for key, value in model.prior.state_dict().items():
        assert torch.equal(value, prior[key]), key
    assert all(p.grad is None for p in model.prior.parameters())
    assert all(not p.requires_grad for p in model.prior.parameters())
    changed = [k for k, v in model.encoder.state_dict().items() if not torch.equal(v, encoder[k])]
    assert 'patch_embed.proj.weight' in changed and 'output.weight' in changed
    changed = [k for k, v in model.corrector.state_dict().items()
               if not torch.equal(v, corrector[k])]
    assert 'head.weight' in changed and 'tail.2.weight' in changed
    # one optimiser step per denoising step, or one in all
    steps = optimizer.state[model.corrector.head.weight]['step'].item()
    assert steps == (1 if accumulate else 3)


def test_loss_normalisation_unknown_divides_by_the_unknown_area():
    losses = {}
    for mode in ('image', 'unknown'):
        model = tiny_model(train_cfg=dict(allow_random_prior=True, num_steps=1, t_start=10,
                                          loss_normalisation=mode)).eval()
        batch = model.data_preprocessor(batch_of(), True)  # fresh samples: rescaled in place
        torch.manual_seed(0)
        losses[mode] = next(model.training_steps(batch['inputs'], batch['data_samples']))
    fraction = 0.5  # rows 8..23 of 32 are unknown
    assert losses['unknown']['loss_alpha'].item() == pytest.approx(
        losses['image']['loss_alpha'].item() / fraction, rel=1e-5)


# ------------------------------------------------------------------------------- prior
def _prior_files(tmp_path, prior):
    state = prior.state_dict()
    files = {
        'mattebox': {'meta': {'iter': 10}, 'state_dict': {f'prior.{k}': v for k, v in
                                                          state.items()}},
        'original': {'net_model': state, 'ema_model': {k: v * 0 for k, v in state.items()},
                     'step': 3},
        'bare': dict(state),
        'dataparallel': {f'module.{k}': v for k, v in state.items()},
    }
    paths = {}
    for name, obj in files.items():
        paths[name] = tmp_path / f'{name}.pth'
        torch.save(obj, paths[name])
    return paths


def test_prior_checkpoint_layouts_load_and_freeze(tmp_path):
    source = tiny_model().prior
    for name, path in _prior_files(tmp_path, source).items():
        model = tiny_model(prior_checkpoint=str(path))
        for key, value in model.prior.state_dict().items():
            assert torch.equal(value, source.state_dict()[key]), (name, key)
        assert all(not p.requires_grad for p in model.prior.parameters())


def test_alpha_ddpm_checkpoint_is_a_prior_checkpoint(tmp_path):
    ddpm = AlphaDDPM(prior=TINY_PRIOR)
    path = tmp_path / 'prior.pth'
    torch.save({'state_dict': ddpm.state_dict()}, path)
    model = tiny_model(prior_checkpoint=str(path))
    assert torch.equal(model.prior.head.weight, ddpm.prior.head.weight)


def test_prior_checkpoint_errors_name_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match='model.prior_checkpoint: prior checkpoint '
                       'not found'):
        tiny_model(prior_checkpoint=str(tmp_path / 'missing.pth'))
    other = AlphaDDPM(prior=dict(TINY_PRIOR, ch_mult=(1, 2)))
    torch.save({'state_dict': other.state_dict()}, tmp_path / 'wide.pth')
    with pytest.raises(ValueError, match='does not match the configured prior'):
        tiny_model(prior_checkpoint=str(tmp_path / 'wide.pth'))
    torch.save({'state_dict': {'encoder.x': torch.zeros(1)}}, tmp_path / 'none.pth')
    with pytest.raises(ValueError, match='no prior weights found'):
        tiny_model(prior_checkpoint=str(tmp_path / 'none.pth'))


def test_training_refuses_a_random_prior():
    model = tiny_model(train_cfg=dict(allow_random_prior=False))
    with pytest.raises(ValueError, match='model.prior_checkpoint is not set'):
        model.init_weights()
    tiny_model().init_weights()  # allow_random_prior=True


def test_config_errors():
    with pytest.raises(ValueError, match=r"test_cfg keys \['pad_rule'\] were replaced"):
        tiny_model(test_cfg=dict(pad_rule='center'))
    with pytest.raises(ValueError, match="position must be one of"):
        tiny_model(test_cfg=dict(resize=dict(type='PadToMultiple', position='center')))
    with pytest.raises(ValueError, match='test_cfg: num_steps must lie in'):
        tiny_model(test_cfg=dict(t_start=3, num_steps=5))
    bad = dict(TINY_CORRECTOR, in_channels=34)
    model = tiny_model(corrector=bad).eval()
    with pytest.raises(ValueError, match='!= corrector.in_channels'):
        model.sample(make_inputs(n=1))


# --------------------------------------------------------------------------- AlphaDDPM
def test_alpha_ddpm_loss_is_the_noise_mse():
    model = AlphaDDPM(prior=TINY_PRIOR, data_preprocessor=dict(type='MattorPreprocessor')).eval()
    batch = batch_of()
    for sample in batch['data_samples']:  # training needs no guidance
        del sample.trimap
    data = model.data_preprocessor(batch, True)
    torch.manual_seed(5)
    loss = model(data['inputs'], data['data_samples'], mode='loss')['loss_eps']
    torch.manual_seed(5)
    alpha = torch.stack([s.gt_alpha for s in data['data_samples']])
    t = torch.randint(0, 1000, (2, ))
    noise = torch.randn_like(alpha)
    a = abar()[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * alpha + (1 - a).sqrt() * noise
    assert loss.item() == pytest.approx(F.mse_loss(model.prior(x_t, t), noise).item(), rel=1e-5)


@pytest.mark.parametrize('source', ['mask', 'trimap'])
def test_alpha_ddpm_predict_returns_mattes_at_the_input_size(source):
    model = AlphaDDPM(prior=TINY_PRIOR, test_cfg=dict(source=source, seed=0)).eval()
    sample = MattingDataSample(metainfo=dict(ori_shape=(50, 70), img_shape=(50, 70)))
    inputs = make_inputs(n=1, h=50, w=70)
    inputs['mask'] = torch.rand(1, 1, 50, 70)
    with torch.no_grad():
        out = model.predict(inputs, [sample])[0].pred_alpha
        again = model.predict(inputs, [sample])[0].pred_alpha
    assert out.shape == (50, 70) and out.dtype == torch.uint8
    assert torch.equal(out, again)  # test_cfg.seed makes it repeatable
    # the source is what is denoised: another mask, another result
    other = dict(inputs, mask=torch.rand(1, 1, 50, 70), trimap=1 - inputs['trimap'])
    with torch.no_grad():
        assert not torch.equal(model.predict(other, [sample])[0].pred_alpha, out)


def test_alpha_ddpm_source_errors():
    with pytest.raises(ValueError, match="now reaches the model as the 'mask' guidance"):
        AlphaDDPM(prior=TINY_PRIOR, test_cfg=dict(source='alpha'))
    model = AlphaDDPM(prior=TINY_PRIOR, test_cfg=dict(source='mask'))
    from mattebox.guidance import MissingGuidanceError
    with pytest.raises(MissingGuidanceError, match='AlphaDDPM needs guidance mask'):
        model(make_inputs(n=1), [MattingDataSample()], mode='predict')
