"""SwinUNet: DiffusionMat's image encoder: shapes, size checks, key names, Swin-T init."""
import pytest
import torch

from mattebox.models.backbones.swin_unet import SwinUNet, shifted_window_mask
from mattebox.registry import MODELS

TINY = dict(embed_dim=24, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
# SwinUnet() of networks_swtu/vision_transformer.py (Swin-T encoder, mirrored decoder,
# 32 output channels), counted on the original architecture definition.
FULL_SIZE_PARAMS = 41_383_044


def official_swin_state_dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                             window_size=7, in_chans=3, num_classes=1000, img_size=224):
    """Random tensors with the names and shapes of an official Swin checkpoint's 'model'."""
    ws = window_size
    sd = {
        'patch_embed.proj.weight': torch.randn(embed_dim, in_chans, 4, 4),
        'patch_embed.proj.bias': torch.randn(embed_dim),
        'patch_embed.norm.weight': torch.randn(embed_dim),
        'patch_embed.norm.bias': torch.randn(embed_dim),
    }
    resolution = img_size // 4
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        c = embed_dim * 2**i
        for j in range(depth):
            p = f'layers.{i}.blocks.{j}.'
            sd.update({
                p + 'norm1.weight': torch.randn(c), p + 'norm1.bias': torch.randn(c),
                p + 'attn.relative_position_bias_table': torch.randn((2 * ws - 1)**2, heads),
                p + 'attn.relative_position_index': torch.randint(0, 169, (ws * ws, ws * ws)),
                p + 'attn.qkv.weight': torch.randn(3 * c, c),
                p + 'attn.qkv.bias': torch.randn(3 * c),
                p + 'attn.proj.weight': torch.randn(c, c), p + 'attn.proj.bias': torch.randn(c),
                p + 'norm2.weight': torch.randn(c), p + 'norm2.bias': torch.randn(c),
                p + 'mlp.fc1.weight': torch.randn(4 * c, c), p + 'mlp.fc1.bias': torch.randn(4 * c),
                p + 'mlp.fc2.weight': torch.randn(c, 4 * c), p + 'mlp.fc2.bias': torch.randn(c),
            })
            if j % 2 == 1 and resolution > ws:  # Swin stores masks of shifted blocks
                n_windows = (resolution // ws)**2
                sd[p + 'attn_mask'] = torch.zeros(n_windows, ws * ws, ws * ws)
        if i < len(depths) - 1:
            sd[f'layers.{i}.downsample.reduction.weight'] = torch.randn(2 * c, 4 * c)
            sd[f'layers.{i}.downsample.norm.weight'] = torch.randn(4 * c)
            sd[f'layers.{i}.downsample.norm.bias'] = torch.randn(4 * c)
            resolution //= 2
    top = embed_dim * 2**(len(depths) - 1)
    sd.update({'norm.weight': torch.randn(top), 'norm.bias': torch.randn(top),
               'head.weight': torch.randn(num_classes, top), 'head.bias': torch.randn(num_classes)})
    return sd


@pytest.mark.parametrize('size', [(64, 64), (96, 64), (64, 96), (32, 32)])
def test_output_shape_for_sides_multiple_of_32(size):
    model = SwinUNet(**TINY).eval()
    out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 32, *size)
    assert torch.isfinite(out).all()


def test_rejects_sides_not_multiple_of_32():
    model = SwinUNet(**TINY)
    with pytest.raises(ValueError, match=r'multiples of 32 \(pad the image first\), got 48x64'):
        model(torch.randn(1, 3, 48, 64))
    with pytest.raises(ValueError, match=r'expects \(B, 3, H, W\)'):
        model(torch.randn(1, 1, 64, 64))


def test_shifted_window_mask_separates_regions():
    mask = shifted_window_mask(14, 14, 7, 3, torch.device('cpu'))
    assert mask.shape == (4, 49, 49)
    assert (mask[0] == 0).all()  # the top-left window holds one region only
    last = mask[3]  # bottom-right window: 4 regions (sizes 4x4, 4x3, 3x4, 3x3)
    assert (last == 0).sum().item() == 16 * 16 + 12 * 12 + 12 * 12 + 9 * 9
    assert set(last.unique().tolist()) == {-100.0, 0.0}


def test_full_size_parameter_count_and_official_encoder_shapes():
    model = SwinUNet()
    assert sum(p.numel() for p in model.parameters()) == FULL_SIZE_PARAMS
    own = model.state_dict()
    official = official_swin_state_dict()
    for key, value in official.items():
        if key.startswith('head.') or key.endswith('attn_mask'):
            assert key not in own
        else:
            assert own[key].shape == value.shape, key
    # decoder stage k mirrors encoder stage 3 - k
    assert own['layers_up.1.blocks.5.mlp.fc1.weight'].shape == (1536, 384)
    assert own['layers_up.3.blocks.1.attn.relative_position_bias_table'].shape == (169, 3)
    assert own['layers_up.0.expand.weight'].shape == (1536, 768)
    assert own['concat_back_dim.1.weight'].shape == (384, 768)
    assert own['up.expand.weight'].shape == (1536, 96)
    assert own['output.weight'].shape == (32, 96, 1, 1)


def test_init_from_swin_t_loads_encoder_and_mirrored_decoder(tmp_path):
    torch.manual_seed(0)
    model = SwinUNet(**TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    official = official_swin_state_dict(embed_dim=24, depths=(2, 2, 2, 2),
                                        num_heads=(1, 2, 2, 4))
    official['layers.2.blocks.1.mlp.fc2.bias'] = torch.randn(7)  # wrong shape: skipped
    path = tmp_path / 'swin_tiny_patch4_window7_224.pth'
    torch.save({'model': official}, path)

    report = model.init_from_swin_t(str(path))
    own = model.state_dict()
    for key in ['patch_embed.proj.weight', 'layers.1.blocks.0.attn.qkv.weight',
                'layers.0.downsample.reduction.weight', 'norm.weight']:
        assert torch.equal(own[key], official[key]), key
    # encoder stage i -> decoder stage 3 - i
    assert torch.equal(own['layers_up.2.blocks.0.attn.qkv.weight'],
                       official['layers.1.blocks.0.attn.qkv.weight'])
    assert torch.equal(own['layers_up.3.blocks.1.mlp.fc2.weight'],
                       official['layers.0.blocks.1.mlp.fc2.weight'])
    assert torch.equal(own['layers_up.1.blocks.1.attn.relative_position_bias_table'],
                       official['layers.2.blocks.1.attn.relative_position_bias_table'])
    # the shape-mismatched key is skipped in both places it would go
    assert report['mismatched'] == ['layers.2.blocks.1.mlp.fc2.bias',
                                    'layers_up.1.blocks.1.mlp.fc2.bias']
    assert torch.equal(own['layers.2.blocks.1.mlp.fc2.bias'],
                       before['layers.2.blocks.1.mlp.fc2.bias'])
    # keys the model lacks are ignored; decoder-only layers keep their initialisation
    for key in ['head.weight', 'layers.0.blocks.1.attn_mask', 'layers_up.0.blocks.0.norm1.weight',
                'layers_up.3.downsample.reduction.weight']:
        assert key in report['ignored'], key
    for key in ['layers_up.0.expand.weight', 'layers_up.1.upsample.expand.weight',
                'concat_back_dim.1.weight', 'norm_up.weight', 'up.expand.weight',
                'output.weight']:
        assert torch.equal(own[key], before[key]), key
    n_encoder = sum(1 for k in official if k in own and k != 'layers.2.blocks.1.mlp.fc2.bias')
    n_mirrored = sum(1 for k in report['loaded'] if k.startswith('layers_up.'))
    assert len(report['loaded']) == n_encoder + n_mirrored
    assert n_mirrored == 3 * 2 * 14 - 1  # stages 0-2, 2 blocks of 14 tensors, minus the skip


def test_pretrained_argument_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='SwinUNet pretrained: no such file'):
        SwinUNet(**TINY, pretrained=str(tmp_path / 'missing.pth'))
    model = SwinUNet(**TINY)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        model.init_from_swin_t(str(tmp_path / 'missing.pth'))
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'foo': torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match='expected a Swin checkpoint'):
        model.init_from_swin_t(str(bad))

    official = official_swin_state_dict(embed_dim=24, depths=(2, 2, 2, 2),
                                        num_heads=(1, 2, 2, 4))
    good = tmp_path / 'swin.pth'
    torch.save({'model': official}, good)
    built = MODELS.build(dict(type='SwinUNet', **TINY, pretrained=str(good)))
    assert not torch.equal(built.patch_embed.proj.weight, official['patch_embed.proj.weight'])
    built.init_weights()
    assert torch.equal(built.patch_embed.proj.weight, official['patch_embed.proj.weight'])
