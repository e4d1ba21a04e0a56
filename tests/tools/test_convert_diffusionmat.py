"""tools/convert/diffusionmat.py on files in the layouts of DiffusionMat's releases.

The fake originals are generated from the construction rules of the original code
(``model.py::UNet``, ``model_wo_t.py::UNet_wo_T``,
``networks_swtu/swin_transformer_unet_skip_expand_decoder_sys.py::SwinTransformerSys``
wrapped as ``SwinUnet.swin_unet`` in ``nn.DataParallel``), not from mattebox's modules.
"""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mattebox.models.backbones import SwinUNet
from mattebox.models.diffusion import PixelUNet
from mattebox.registry import MODELS
from tests.conftest import ROOT
from tools.convert.diffusionmat import (DEFAULT_CONFIG, check_against_model, convert,
                                        convert_model, convert_prior)

TINY_CONFIG = os.path.join(ROOT, 'configs/diffusionmat/diffusionmat_tiny_synthetic.py')
TINY = dict(unet=dict(ch=32, ch_mult=(1, 2)),
            swin=dict(embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8)))
FULL = dict(unet=dict(ch=64, ch_mult=(1, 1, 2, 2)),
            swin=dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)))
# parameter counts of the released networks (tests/models/diffusion, tests/models/backbones)
PRIOR_PARAMS, CORRECTOR_PARAMS, ENCODER_PARAMS = 4_341_633, 3_884_673, 41_383_044



pytestmark = pytest.mark.usefixtures('one_torch_thread')

def original_unet(in_ch, ch, ch_mult, num_res_blocks=1, T=1000, with_time=True, make=torch.randn):
    """Keys and shapes of model.py::UNet (with_time) / model_wo_t.py::UNet_wo_T."""
    sd, tdim = {}, 4 * ch

    def conv(name, cin, cout, k):
        sd[f'{name}.weight'], sd[f'{name}.bias'] = make(cout, cin, k, k), make(cout)

    def norm(name, c):
        sd[f'{name}.weight'], sd[f'{name}.bias'] = make(c), make(c)

    def res(name, cin, cout):
        norm(f'{name}.block1.0', cin)
        conv(f'{name}.block1.2', cin, cout, 3)
        if with_time:
            sd[f'{name}.temb_proj.1.weight'], sd[f'{name}.temb_proj.1.bias'] = \
                make(cout, tdim), make(cout)
        norm(f'{name}.block2.0', cout)
        conv(f'{name}.block2.3', cout, cout, 3)
        if cin != cout:
            conv(f'{name}.shortcut', cin, cout, 1)

    if with_time:
        sd['time_embedding.timembedding.0.weight'] = make(T, ch)
        sd['time_embedding.timembedding.1.weight'] = make(tdim, ch)
        sd['time_embedding.timembedding.1.bias'] = make(tdim)
        sd['time_embedding.timembedding.3.weight'] = make(tdim, tdim)
        sd['time_embedding.timembedding.3.bias'] = make(tdim)
    conv('head', in_ch, ch, 3)
    chs, now, n = [ch], ch, 0
    for i, mult in enumerate(ch_mult):
        for _ in range(num_res_blocks):
            res(f'downblocks.{n}', now, ch * mult)
            now, n = ch * mult, n + 1
            chs.append(now)
        if i != len(ch_mult) - 1:
            conv(f'downblocks.{n}.main', now, now, 3)
            n += 1
            chs.append(now)
    res('middleblocks.0', now, now)
    n = 0
    for i, mult in reversed(list(enumerate(ch_mult))):
        for _ in range(num_res_blocks + 1):
            res(f'upblocks.{n}', chs.pop() + now, ch * mult)
            now, n = ch * mult, n + 1
        if i != 0:
            conv(f'upblocks.{n}.main', now, now, 3)
            n += 1
    norm('tail.0', now)
    conv('tail.2', now, 1, 3)
    return sd


def original_swin_sys(embed_dim, depths, num_heads, window_size=7, in_chans=3,
                      num_classes=32, make=torch.randn):
    """Keys and shapes of SwinTransformerSys(ape=False, patch_norm=True)."""
    sd, ws, L = {}, window_size, len(depths)

    def linear(name, cin, cout, bias=True):
        sd[f'{name}.weight'] = make(cout, cin)
        if bias:
            sd[f'{name}.bias'] = make(cout)

    def norm(name, c):
        sd[f'{name}.weight'], sd[f'{name}.bias'] = make(c), make(c)

    def blocks(prefix, dim, depth, heads):
        for j in range(depth):
            p = f'{prefix}.blocks.{j}'
            norm(f'{p}.norm1', dim)
            sd[f'{p}.attn.relative_position_bias_table'] = make((2 * ws - 1)**2, heads)
            sd[f'{p}.attn.relative_position_index'] = torch.zeros(ws * ws, ws * ws,
                                                                   dtype=torch.long)
            linear(f'{p}.attn.qkv', dim, 3 * dim)
            linear(f'{p}.attn.proj', dim, dim)
            norm(f'{p}.norm2', dim)
            linear(f'{p}.mlp.fc1', dim, 4 * dim)
            linear(f'{p}.mlp.fc2', 4 * dim, dim)

    sd['patch_embed.proj.weight'] = make(embed_dim, in_chans, 4, 4)
    sd['patch_embed.proj.bias'] = make(embed_dim)
    norm('patch_embed.norm', embed_dim)
    dims = [embed_dim * 2**i for i in range(L)]
    for i in range(L):
        blocks(f'layers.{i}', dims[i], depths[i], num_heads[i])
        if i < L - 1:
            linear(f'layers.{i}.downsample.reduction', 4 * dims[i], 2 * dims[i], bias=False)
            norm(f'layers.{i}.downsample.norm', 4 * dims[i])
    for k in range(L):
        s = L - 1 - k
        if k == 0:
            linear('layers_up.0.expand', dims[s], 2 * dims[s], bias=False)
            norm('layers_up.0.norm', dims[s] // 2)
            continue
        linear(f'concat_back_dim.{k}', 2 * dims[s], dims[s])
        blocks(f'layers_up.{k}', dims[s], depths[s], num_heads[s])
        if k < L - 1:
            linear(f'layers_up.{k}.upsample.expand', dims[s], 2 * dims[s], bias=False)
            norm(f'layers_up.{k}.upsample.norm', dims[s] // 2)
    norm('norm', dims[-1])
    norm('norm_up', embed_dim)
    linear('up.expand', embed_dim, 16 * embed_dim, bias=False)
    norm('up.norm', embed_dim)
    sd['output.weight'] = make(num_classes, embed_dim, 1, 1)
    return sd


def original_files(size, make=torch.randn):
    """(ckpt_diffusion.pt content, ckpt_adobe.pth content) in the released layouts."""
    prior = original_unet(1, with_time=True, make=make, **size['unet'])
    ddpm_ckpt = {
        'net_model': prior,
        'ema_model': {k: v.clone() for k, v in prior.items()},
        'sched': {'base_lrs': [2e-4], 'last_epoch': 5, '_step_count': 6, 'lr_lambdas': [None]},
        'optim': {'state': {}, 'param_groups': [{'lr': 2e-4, 'betas': (0.9, 0.999),
                                                 'params': [0, 1]}]},
        'step': 5,
        'x_T': torch.randn(2, 1, 8, 8),
    }
    encoder = {f'module.swin_unet.{k}': v for k, v in
               original_swin_sys(make=make, **size['swin']).items()}
    corrector = {f'module.{k}': v for k, v in
                 original_unet(33, with_time=False, make=make, **size['unet']).items()}
    optimizer = {'state': {0: {'step': torch.tensor(3.0), 'exp_avg': torch.zeros(2),
                               'exp_avg_sq': torch.zeros(2)}},
                 'param_groups': [{'lr': 1e-4, 'betas': (0.5, 0.999), 'eps': 1e-8,
                                   'weight_decay': 0, 'amsgrad': False, 'params': [0]}]}
    return ddpm_ckpt, [encoder, corrector, optimizer, 120000]


def _strip(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items()}


def test_every_original_key_is_mapped_once():
    ddpm, adobe = original_files(TINY)
    prior, report = convert_prior(ddpm)
    model, model_report = convert_model(adobe)
    assert set(prior) == {f'prior.{k}' for k in ddpm['net_model']}
    assert set(model) == ({f'encoder.{k[len("module.swin_unet."):]}' for k in adobe[0]} |
                          {f'corrector.{k[len("module."):]}' for k in adobe[1]})
    assert len(prior) + len(model) == len(ddpm['net_model']) + len(adobe[0]) + len(adobe[1])
    assert torch.equal(prior['prior.tail.2.weight'], ddpm['net_model']['tail.2.weight'])
    assert sorted(report['prior_entries_not_converted']) == ['ema_model', 'optim', 'sched',
                                                             'step', 'x_T']
    assert model_report['trained_steps'] == 120000
    assert 'optimizer state' in model_report['model_items_not_converted']['item 2']


def test_full_size_originals_load_into_the_comp1k_config():
    ddpm, adobe = original_files(FULL, make=torch.zeros)
    count = lambda sd: sum(v.numel() for k, v in sd.items()  # noqa: E731
                           if not k.endswith('relative_position_index'))
    assert count(ddpm['net_model']) == PRIOR_PARAMS
    assert count(adobe[0]) == ENCODER_PARAMS and count(adobe[1]) == CORRECTOR_PARAMS
    state = {**convert_prior(ddpm)[0], **convert_model(adobe)[0]}
    model = MODELS.build(Config.fromfile(DEFAULT_CONFIG).model)
    # what the converter checks: every key, every shape
    check_against_model(state, DEFAULT_CONFIG, expected=model.state_dict())
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_cli_converts_and_the_networks_compute_what_the_originals_do(tmp_path):
    torch.manual_seed(0)
    ddpm, adobe = original_files(TINY, make=lambda *s: torch.randn(*s) * 0.1)
    torch.save(ddpm, tmp_path / 'ckpt_diffusion.pt')
    torch.save(adobe, tmp_path / 'ckpt_adobe.pth')
    out = tmp_path / 'converted.pth'
    proc = subprocess.run(
        [sys.executable, 'tools/convert/diffusionmat.py', '--prior',
         str(tmp_path / 'ckpt_diffusion.pt'), '--model', str(tmp_path / 'ckpt_adobe.pth'),
         '--config', TINY_CONFIG, str(out)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert proc.returncode == 0, proc.stderr
    assert 'corrector, encoder, prior' in proc.stdout

    model = MODELS.build(Config.fromfile(TINY_CONFIG).model).eval()
    load_checkpoint(model, str(out), strict=True, logger='silent')
    # the "originals": the same architectures loaded with the original state dicts
    prior = PixelUNet(in_channels=1, ch=32, ch_mult=(1, 2)).eval()
    prior.load_state_dict(ddpm['net_model'])
    encoder = SwinUNet(**TINY['swin']).eval()
    encoder.load_state_dict(_strip(adobe[0], 'module.swin_unet.'))
    corrector = PixelUNet(in_channels=33, ch=32, ch_mult=(1, 2), time_embedding=False).eval()
    corrector.load_state_dict(_strip(adobe[1], 'module.'))
    x, image = torch.rand(2, 1, 32, 32), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.prior(x, torch.tensor([3, 250])), prior(x, torch.tensor([3, 250])))
        feat = model.encoder(image)
        assert torch.equal(feat, encoder(image))
        both = torch.cat([feat, x], 1)
        assert torch.equal(model.corrector(both), corrector(both))
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['converted_from'] == ['ckpt_diffusion.pt', 'ckpt_adobe.pth']


def test_prior_only_output_is_a_prior_checkpoint(tmp_path):
    ddpm, _ = original_files(TINY)
    torch.save(ddpm, tmp_path / 'ckpt_diffusion.pt')
    state = convert(str(tmp_path / 'ckpt_diffusion.pt'), str(tmp_path / 'prior.pth'),
                    config=TINY_CONFIG)
    assert all(k.startswith('prior.') for k in state)
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.model.prior_checkpoint = str(tmp_path / 'prior.pth')
    model = MODELS.build(cfg.model)
    assert torch.equal(model.prior.head.weight, ddpm['net_model']['head.weight'])


def test_ema_entry_can_be_chosen():
    ddpm, _ = original_files(TINY)
    ddpm['ema_model'] = {k: v + 1 for k, v in ddpm['net_model'].items()}
    state, report = convert_prior(ddpm, key='ema_model')
    assert torch.equal(state['prior.head.bias'], ddpm['net_model']['head.bias'] + 1)
    assert 'net_model' in report['prior_entries_not_converted']


def test_unmapped_keys_and_wrong_layouts_fail(tmp_path):
    ddpm, adobe = original_files(TINY)
    adobe[0]['module.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"keys without the expected prefix.*module.extra"):
        convert_model(adobe)
    _, adobe = original_files(TINY)
    with pytest.raises(ValueError, match='is the list in the order'):
        convert_model([adobe[1], adobe[0]])
    with pytest.raises(ValueError, match='pytorch-ddpm layout'):
        convert_prior({'model': ddpm['net_model']})
    state = convert_prior(ddpm)[0]
    with pytest.raises(ValueError, match='shape mismatches'):
        check_against_model(state, DEFAULT_CONFIG, prior_only=True)  # tiny vs full size


def test_refused_objects_and_missing_files_are_reported(tmp_path):
    from mattebox.engine.checkpoint import UnsafeCheckpointError
    ddpm, _ = original_files(TINY)
    ddpm['args'] = torch.nn.Identity()  # an object outside the weights-only allow-list
    torch.save(ddpm, tmp_path / 'unsafe.pt')
    with pytest.raises(UnsafeCheckpointError, match='torch.nn.modules.linear.Identity'):
        convert(str(tmp_path / 'unsafe.pt'), str(tmp_path / 'out.pth'), config=TINY_CONFIG)
    proc = subprocess.run(
        [sys.executable, 'tools/convert/diffusionmat.py', '--prior',
         str(tmp_path / 'missing.pt'), str(tmp_path / 'out.pth')],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr
    assert f'Checkpoint file not found: {tmp_path / "missing.pt"}' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()
