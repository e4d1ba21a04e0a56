import subprocess
import sys

import pytest
import torch

from mattebox.engine.errors import OutputRefusedError

from tests.conftest import ROOT
from tools.convert.mmagic_dim import convert, convert_state_dict, reference_model


def mmagic_like_checkpoint(with_refiner: bool, base: int = 4) -> dict:
    """A checkpoint in MMagic's layout: DataParallel prefix, meta, extra buffers."""
    state = reference_model(with_refiner, base).state_dict()
    state = {f'module.{k}': torch.randn_like(v) for k, v in state.items()}
    state['data_preprocessor.mean'] = torch.zeros(1, 3, 1, 1)
    return {'meta': {'mmedit_version': '0.14.0', 'iter': 1000000}, 'state_dict': state}


def test_key_mapping():
    ckpt = mmagic_like_checkpoint(True)
    converted, dropped = convert_state_dict(ckpt['state_dict'])
    assert dropped == ['data_preprocessor.mean']
    assert 'backbone.encoder.layer1.0.weight' in converted
    assert 'backbone.decoder.deconv1.weight' in converted
    assert 'refiner.refine_pred.bias' in converted
    assert all(not k.startswith('module.') for k in converted)
    assert torch.equal(converted['backbone.encoder.conv6.weight'],
                       ckpt['state_dict']['module.backbone.encoder.conv6.weight'])


@pytest.mark.parametrize('with_refiner', [False, True])
def test_converted_checkpoint_loads_strictly(tmp_path, with_refiner):
    src, dst = tmp_path / 'mmagic.pth', tmp_path / 'out.pth'
    ckpt = mmagic_like_checkpoint(with_refiner)
    torch.save(ckpt, src)
    proc = subprocess.run([sys.executable, 'tools/convert/mmagic_dim.py', str(src), str(dst)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = torch.load(dst, weights_only=True)
    model = reference_model(with_refiner, base_channels=4)
    result = model.load_state_dict(out['state_dict'], strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.backbone.decoder.deconv1.weight,
                       ckpt['state_dict']['module.backbone.decoder.deconv1.weight'])


def test_full_size_checkpoint_loads_into_stage3_config(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mattebox.registry import MODELS
    src, dst = tmp_path / 'mmagic.pth', tmp_path / 'out.pth'
    ckpt = mmagic_like_checkpoint(True, base=64)
    torch.save(ckpt, src)
    convert(str(src), str(dst))
    cfg = Config.fromfile(f'{ROOT}/configs/dim/dim_stage3-v16-pln_1xb1-1000k_comp1k.py')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, str(dst), strict=True)  # raises on missing/unexpected keys
    assert torch.equal(model.refiner.refine_conv1.weight,
                       ckpt['state_dict']['module.refiner.refine_conv1.weight'])
    assert torch.equal(model.backbone.encoder.layer5[4].weight,
                       ckpt['state_dict']['module.backbone.encoder.layer5.4.weight'])


def test_converter_rejects_wrong_shapes_and_foreign_files(tmp_path):
    ckpt = mmagic_like_checkpoint(False)
    ckpt['state_dict']['module.backbone.decoder.deconv1.weight'] = torch.zeros(2, 2)
    torch.save(ckpt, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='shape mismatches: .*deconv1.weight'):
        convert(str(tmp_path / 'bad.pth'), str(tmp_path / 'out.pth'))
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(1)}}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='no DIM weights found'):
        convert(str(tmp_path / 'other.pth'), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()
    with pytest.raises(OutputRefusedError, match='refusing to write over an input file'):
        convert(str(tmp_path / 'bad.pth'), str(tmp_path / 'bad.pth'))
