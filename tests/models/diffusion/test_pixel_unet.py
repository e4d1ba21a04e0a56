"""PixelUNet: DiffusionMat prior / corrector layout, key names, shapes and errors."""
import math

import pytest
import torch

from mattebox.models.diffusion import PixelUNet
from mattebox.models.diffusion.pixel_unet import sinusoidal_table
from mattebox.registry import MODELS

# Parameter counts of DiffusionMat's released networks, from model.py::UNet(in_channel=1,
# T=1000, ch=64, ch_mult=[1, 1, 2, 2], num_res_blocks=1) and model_wo_t.py::UNet_wo_T
# (in_channel=33, same widths); the prior count includes the frozen 1000 x 64 table.
PRIOR_PARAMS = 4_341_633
PRIOR_TRAINABLE = 4_277_633
CORRECTOR_PARAMS = 3_884_673


def original_param_count(in_ch, ch, ch_mult, num_res_blocks, num_timesteps, with_time,
                         out_ch=1):
    """Parameter count following the construction rules of DiffusionMat's model.py."""
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    norm = lambda c: 2 * c  # noqa: E731
    tdim = 4 * ch

    def res(cin, cout):
        total = norm(cin) + conv(cin, cout, 3) + norm(cout) + conv(cout, cout, 3)
        total += conv(cin, cout, 1) if cin != cout else 0
        return total + (tdim * cout + cout if with_time else 0)

    total = conv(in_ch, ch, 3)
    if with_time:
        total += num_timesteps * ch + (ch * tdim + tdim) + (tdim * tdim + tdim)
    skips, now = [ch], ch
    for level, mult in enumerate(ch_mult):
        for _ in range(num_res_blocks):
            total += res(now, ch * mult)
            now = ch * mult
            skips.append(now)
        if level != len(ch_mult) - 1:
            total += conv(now, now, 3)
            skips.append(now)
    total += res(now, now)  # one middle block
    for level, mult in reversed(list(enumerate(ch_mult))):
        for _ in range(num_res_blocks + 1):
            total += res(skips.pop() + now, ch * mult)
            now = ch * mult
        if level != 0:
            total += conv(now, now, 3)
    return total + norm(now) + conv(now, out_ch, 3)


def count(module, trainable=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def test_full_size_prior_matches_the_original_parameter_count():
    prior = PixelUNet(in_channels=1, ch=64, ch_mult=(1, 1, 2, 2), num_res_blocks=1,
                      dropout=0.1, num_timesteps=1000)
    assert original_param_count(1, 64, (1, 1, 2, 2), 1, 1000, True) == PRIOR_PARAMS
    assert count(prior) == PRIOR_PARAMS
    assert count(prior, trainable=True) == PRIOR_TRAINABLE  # the table is frozen


def test_full_size_corrector_matches_the_original_parameter_count():
    corrector = PixelUNet(in_channels=33, ch=64, ch_mult=(1, 1, 2, 2), num_res_blocks=1,
                          dropout=0.1, time_embedding=False)
    assert original_param_count(33, 64, (1, 1, 2, 2), 1, 1000, False) == CORRECTOR_PARAMS
    assert count(corrector) == CORRECTOR_PARAMS


def test_prior_state_dict_uses_the_original_key_names():
    keys = {k: tuple(v.shape) for k, v in PixelUNet().state_dict().items()}
    # 5 time + 2 head + 13 res blocks x 10 + 9 shortcuts x 2 + 6 resamplers x 2 + 4 tail
    assert len(keys) == 171
    assert keys['time_embedding.timembedding.0.weight'] == (1000, 64)
    assert keys['time_embedding.timembedding.1.weight'] == (256, 64)
    assert keys['time_embedding.timembedding.3.weight'] == (256, 256)
    assert keys['head.weight'] == (64, 1, 3, 3)
    assert keys['downblocks.0.temb_proj.1.weight'] == (64, 256)
    assert keys['downblocks.1.main.weight'] == (64, 64, 3, 3)
    assert keys['downblocks.4.shortcut.weight'] == (128, 64, 1, 1)
    assert keys['middleblocks.0.block2.3.weight'] == (128, 128, 3, 3)
    assert keys['upblocks.0.block1.0.weight'] == (256, )
    assert keys['upblocks.4.block1.2.weight'] == (128, 192, 3, 3)
    assert keys['upblocks.8.main.weight'] == (64, 64, 3, 3)
    assert keys['upblocks.10.block2.3.weight'] == (64, 64, 3, 3)
    assert keys['tail.0.weight'] == (64, ) and keys['tail.2.weight'] == (1, 64, 3, 3)
    assert 'middleblocks.1.block1.0.weight' not in keys  # a single middle block


def test_corrector_has_no_time_keys():
    keys = PixelUNet(in_channels=33, time_embedding=False).state_dict()
    assert not [k for k in keys if 'temb_proj' in k or 'time_embedding' in k]
    assert keys['head.weight'].shape == (64, 33, 3, 3)
    assert len(keys) == 171 - 5 - 2 * 13  # table+MLP, and temb_proj of 13 res blocks


def test_time_table_interleaves_sin_and_cos():
    table = sinusoidal_table(1000, 64)
    assert table.shape == (1000, 64)
    assert table[1, 0].item() == pytest.approx(math.sin(1.0))
    assert table[1, 1].item() == pytest.approx(math.cos(1.0))
    freq = math.exp(-2 / 64 * math.log(10000))
    assert table[7, 2].item() == pytest.approx(math.sin(7 * freq), abs=1e-6)
    assert table[7, 3].item() == pytest.approx(math.cos(7 * freq), abs=1e-6)


@pytest.mark.parametrize('size', [(32, 32), (64, 64), (32, 64)])
def test_output_shapes_with_time(size):
    torch.manual_seed(0)
    unet = PixelUNet(ch=32, ch_mult=(1, 2), num_timesteps=100).eval()
    x = torch.rand(2, 1, *size)
    out = unet(x, torch.tensor([0, 99]))
    assert out.shape == (2, 1, *size)
    assert torch.equal(unet(x, 5), unet(x, torch.tensor([5, 5])))


@pytest.mark.parametrize('size', [(32, 32), (64, 32)])
def test_output_shapes_without_time(size):
    unet = PixelUNet(in_channels=33, ch=32, ch_mult=(1, 1, 2), time_embedding=False)
    assert unet(torch.rand(1, 33, *size)).shape == (1, 1, *size)


def test_attention_levels_add_attention_blocks():
    unet = PixelUNet(ch=32, ch_mult=(1, 2), attn=(1, ), num_timesteps=10)
    keys = unet.state_dict()
    assert keys['downblocks.2.attn.proj_q.weight'].shape == (64, 64, 1, 1)
    assert 'downblocks.0.attn.proj_q.weight' not in keys
    assert unet(torch.rand(1, 1, 16, 16), 3).shape == (1, 1, 16, 16)


def test_errors_are_explicit():
    unet = PixelUNet(ch=32, ch_mult=(1, 2, 2), num_timesteps=10)
    with pytest.raises(ValueError, match=r'multiples of 4, got \(30, 32\)'):
        unet(torch.rand(1, 1, 30, 32), 0)
    with pytest.raises(ValueError, match='pass t'):
        unet(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r't must lie in \[0, 9\]'):
        unet(torch.rand(1, 1, 32, 32), 10)
    with pytest.raises(ValueError, match=r'expects \(B, 1, H, W\)'):
        unet(torch.rand(1, 2, 32, 32), 0)
    corrector = PixelUNet(in_channels=2, ch=32, ch_mult=(1, 2), time_embedding=False)
    with pytest.raises(ValueError, match='no time embedding'):
        corrector(torch.rand(1, 2, 32, 32), 0)
    with pytest.raises(ValueError, match='multiple of 32'):
        PixelUNet(ch=16)
    with pytest.raises(ValueError, match='attn levels'):
        PixelUNet(ch=32, ch_mult=(1, 2), attn=(2, ))


def test_registry_builds_prior_and_corrector():
    prior = MODELS.build(dict(type='PixelUNet', ch=32, ch_mult=(1, 2), num_timesteps=10))
    corrector = MODELS.build(dict(type='PixelUNet', in_channels=3, ch=32, ch_mult=(1, 2),
                                  time_embedding=False))
    assert prior.time_embedding is not None and corrector.time_embedding is None
