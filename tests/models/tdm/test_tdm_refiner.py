"""The text-grounded model's sparse refiner: masked convolutions with spconv's active-set
semantics, masked batch norm, the dense backend against spconv on the same weights, the
paste band, the empty band, the two-scale schedule."""
import copy

import pytest
import torch
import torch.nn.functional as F

from mattebox.models.tdm.refiner import (SparseBlock, SparseRefiner, dilate, erode,
                                         spconv_available)

needs_spconv = pytest.mark.skipif(
    not spconv_available(), reason='spconv is not installed (pip install -e ".[sparse]"); '
    'the dense backend is tested alone')


def refiner(**kw):
    torch.manual_seed(0)
    r = SparseRefiner(**{**dict(detail_channels=4, layers=(('subm', 8), ('sparse', 8),
                                                            ('subm', 8), ('sparse', 8)),
                                max_long_edge=96, half_first_above=64), **kw})
    with torch.no_grad():  # a non-trivial residual, running statistics not at 0 / 1
        r.net.blocks[-1].conv.weight.normal_(0, 0.5)
        for b in r.net.blocks[:-1]:
            b.norm.running_mean.uniform_(-0.2, 0.2)
            b.norm.running_var.uniform_(0.5, 2.0)
    return r.eval()


def inputs(n=2, size=(96, 80), seed=1):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, *size, generator=g) * 2 - 1
    alpha = torch.rand(n, 1, 32, 32, generator=g)
    blobs = F.interpolate(torch.rand(n, 1, 5, 5, generator=g), size=(32, 32), mode='bilinear')
    unknown = (blobs > 0.55).float()  # a few blobs: wide bands that survive the erosion
    detail = torch.randn(n, 4, 32, 32, generator=g)
    return image, alpha, unknown, detail


def test_a_submanifold_layer_keeps_the_active_set_and_a_sparse_one_grows_it():
    """One active pixel: a submanifold 3 x 3 layer outputs there only (centre weight x
    value + bias); a growing layer outputs on its 3 x 3 neighbourhood, w[ky, kx] x value +
    bias at (y + 1 - ky, x + 1 - kx) (cross-correlation), zero elsewhere."""
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 4] = 2.0
    mask = x != 0
    for kind in ('subm', 'sparse'):
        block = SparseBlock(1, 1, kind, 3, norm=False, act=False)
        with torch.no_grad():
            block.conv.weight.copy_(torch.arange(1., 10.).view(1, 1, 3, 3))
            block.conv.bias.fill_(0.5)
        out, active = block.dense(x, mask)
        expected = torch.zeros(7, 7)
        if kind == 'subm':
            expected[3, 4] = 5 * 2 + 0.5
            assert torch.equal(active, mask)
        else:
            for ky in range(3):
                for kx in range(3):
                    expected[3 + 1 - ky, 4 + 1 - kx] = (3 * ky + kx + 1) * 2 + 0.5
            assert torch.equal(active, dilate(mask, 3))
            assert int(active.sum()) == 9
        assert torch.equal(out[0, 0], expected)


def test_masked_batch_norm_uses_the_active_sites_only():
    torch.manual_seed(0)
    block = SparseBlock(2, 3, 'subm', 3, norm=True, act=False).train()
    x = torch.randn(2, 2, 9, 9)
    mask = torch.rand(2, 1, 9, 9) > 0.5
    x = x * mask
    out, _ = block.dense(x, mask)
    conv = (F.conv2d(x, block.conv.weight, block.conv.bias, padding=1))
    active = conv.permute(0, 2, 3, 1)[mask[:, 0]]  # M x C
    mean, var = active.mean(0), active.var(0, unbiased=False)
    normed = out.permute(0, 2, 3, 1)[mask[:, 0]]
    assert torch.allclose(normed, (active - mean) / torch.sqrt(var + 1e-5), atol=1e-5)
    assert (out.permute(0, 2, 3, 1)[~mask[:, 0]] == 0).all()  # inactive sites stay empty
    assert torch.allclose(block.norm.running_mean, 0.1 * mean, atol=1e-6)


@needs_spconv
@pytest.mark.parametrize('size', [(96, 80), (40, 56)])
def test_dense_equals_spconv_on_the_same_weights(size):
    r = refiner()
    args = inputs(size=size)
    with torch.no_grad():
        dense, bands = r(*args, backend='dense', return_bands=True)
        sparse = r(*args, backend='spconv')
    assert sum(int(b.sum()) for b in bands) > 100
    assert (dense != F.interpolate(args[1], size=size, mode='bilinear')).any()
    assert torch.allclose(dense, sparse, atol=1e-5), (dense - sparse).abs().max()


@needs_spconv
def test_training_statistics_agree_between_backends():
    """Train mode: each backend normalises with the batch statistics of the same active
    sites (summed in another order: 1e-4) and updates the running statistics alike."""
    a, b = refiner().train(), refiner().train()
    args = inputs()
    with torch.no_grad():
        dense = a(*args, backend='dense')
        sparse = b(*args, backend='spconv')
    assert torch.allclose(dense, sparse, atol=1e-4)
    for x, y in zip(a.net.blocks[:-1], b.net.blocks[:-1]):
        assert torch.allclose(x.norm.running_mean, y.norm.running_mean, atol=1e-6)
        assert torch.allclose(x.norm.running_var, y.norm.running_var, atol=1e-5)
        assert int(x.norm.num_batches_tracked) == int(y.norm.num_batches_tracked) == 2


@needs_spconv
def test_spconv_has_no_cpu_backward_so_auto_trains_dense():
    r = refiner().train()
    assert r.resolved_backend('auto', torch.zeros(1)) == 'dense'
    with torch.no_grad():
        assert r.resolved_backend('auto', torch.zeros(1)) == 'spconv'
    with pytest.raises(RuntimeError, match='spconv has no backward pass on CPU'):
        r(*inputs(), backend='spconv')


def test_pixels_outside_the_paste_band_are_untouched():
    r = refiner()
    image, alpha, unknown, detail = inputs()
    with torch.no_grad():
        out, pastes = r(image, alpha, unknown, detail, backend='dense', return_bands=True)
        one_stage = copy.deepcopy(r)
        one_stage.max_long_edge = 48  # one stage at 48 x 40: compare at that size
        single, (paste, ) = one_stage(image, alpha, unknown, detail, backend='dense',
                                      return_bands=True)
    coarse = F.interpolate(alpha, size=(48, 40), mode='bilinear', align_corners=False)
    assert paste.any() and (~paste).any()
    assert torch.equal(single[~paste], coarse[~paste])
    assert (single[paste] != coarse[paste]).any()
    # the paste band is the band eroded by paste_erode
    band = F.interpolate(unknown, size=(48, 40), mode='bilinear', align_corners=False) > 0.5
    assert torch.equal(paste, erode(band, 3))
    # two stages: outside both bands the output is the coarse alpha upsampled twice
    assert [tuple(p.shape[-2:]) for p in pastes] == [(48, 40), (96, 80)]


def test_an_empty_band_returns_the_upsampled_coarse_alpha():
    r = refiner()
    image, alpha, _, detail = inputs()
    with torch.no_grad():
        out = r(image, alpha, torch.zeros_like(alpha), detail, backend='dense')
    twice = F.interpolate(F.interpolate(alpha, size=(48, 40), mode='bilinear'),
                          size=(96, 80), mode='bilinear')
    assert torch.equal(out, twice)


def test_two_scales_above_1024_and_the_2048_cap():
    r = SparseRefiner()
    assert r.stage_sizes((3000, 1500)) == [(1024, 512), (2048, 1024)]
    assert r.stage_sizes((1200, 900)) == [(600, 450), (1200, 900)]
    assert r.stage_sizes((800, 1024)) == [(800, 1024)]
    assert r.stage_sizes((512, 512)) == [(512, 512)]


def test_the_dense_backend_has_gradients_and_bad_options_are_refused():
    r = refiner().train()
    image, alpha, unknown, detail = inputs()
    image.requires_grad_(True)
    r(image, alpha, unknown, detail, backend='dense').sum().backward()
    assert image.grad.abs().sum() > 0
    assert all(p.grad is not None for p in r.parameters())
    with pytest.raises(ValueError, match="backend must be one of"):
        SparseRefiner(backend='cuda')
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        SparseBlock(1, 1, 'subm', 2)
