"""tools/convert/sdmatte.py on files in the layout of SDMatte's release: detectron2's
{'model', 'trainer' (with omegaconf objects), 'iteration'}, the new modules inside the
UNet, the VAE and the text encoder; made here from a tiny model (no download)."""
import os
import os.path as osp
import subprocess
import sys
import types

import pytest
import torch
from mmengine.config import Config

pytest.importorskip('diffusers')

from mattebox.engine.checkpoint import UnsafeCheckpointError, load_model_weights  # noqa: E402
from mattebox.models.diffusion.latent import SD2_EMPTY_CAPTION_IDS, TextEncoder  # noqa: E402
from mattebox.registry import MODELS  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tools.convert.sdmatte import (CONFIGS, convert, convert_state_dict,  # noqa: E402
                                   load_release)

TINY = osp.join(ROOT, 'configs/sdmatte/sdmatte_tiny_synthetic.py')


def fake_omegaconf():
    """A stand-in 'omegaconf' package whose objects pickle as the real ones do (a class
    rebuilt with NEWOBJ + BUILD, metadata with typing.Any), injected while saving."""
    import typing
    package = types.ModuleType('omegaconf')
    dictconfig = types.ModuleType('omegaconf.dictconfig')
    base = types.ModuleType('omegaconf.base')

    class DictConfig:
        def __init__(self, content):
            self._content = content
            self._metadata = base.ContainerMetadata(typing.Any)

    class ContainerMetadata:
        def __init__(self, ref_type):
            self.ref_type = ref_type

    for cls, module in ((DictConfig, 'omegaconf.dictconfig'), (ContainerMetadata, 'omegaconf.base')):
        cls.__module__, cls.__qualname__ = module, cls.__name__
    dictconfig.DictConfig, base.ContainerMetadata = DictConfig, ContainerMetadata
    return {'omegaconf': package, 'omegaconf.dictconfig': dictconfig, 'omegaconf.base': base}


def save_release(model, text_encoder, path, trainer=None):
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(('point_embedding.', 'bbox_embedding.', 'aux_conv_in.')):
            state['unet.' + key] = value
        elif key.startswith('vae.vae.'):
            state[key[len('vae.'):]] = value
        elif key.startswith('unet.'):
            state[key] = value
    for key, value in text_encoder.model.state_dict().items():
        state['text_encoder.' + key] = value
    modules = fake_omegaconf()
    sys.modules.update(modules)
    try:
        config = trainer or {'hooks': {'cfg': modules['omegaconf.dictconfig'].DictConfig(
            {'lr': 5e-5})}, 'optimizer': {}}
        torch.save({'model': state, 'trainer': config, 'iteration': 30500}, path)
    finally:
        for name in modules:
            sys.modules.pop(name)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY).model
    model = MODELS.build(cfg).eval()
    with torch.no_grad():
        for mlp in (model.point_embedding, model.bbox_embedding):
            mlp.linear_2.weight.normal_(0, 0.02)
    encoder = TextEncoder(config=cfg.text_encoder.config)
    model.empty_text_embedding.copy_(encoder.encode_ids(torch.tensor([SD2_EMPTY_CAPTION_IDS])))
    path = tmp_path_factory.mktemp('release') / 'SDMatte.pth'
    save_release(model, encoder, str(path))
    return model, str(path)


def test_every_original_key_is_mapped(release):
    model, path = release
    with pytest.raises(ModuleNotFoundError, match="No module named 'omegaconf'"):
        torch.load(path, weights_only=False)  # the original's way needs omegaconf
    released = load_release(path)
    assert released['iteration'] == 30500
    stand_in = released['trainer']['hooks']['cfg']
    assert type(stand_in).__name__ == 'DictConfig' and stand_in.state['_content'] == {'lr': 5e-5}
    out, text, dropped = convert_state_dict(released['model'])
    assert dropped == [] and len(text) > 0
    assert 'point_embedding.linear_1.weight' in out and 'aux_conv_in.weight' in out
    assert 'vae.vae.encoder.conv_in.weight' in out
    assert not any(k.startswith('unet.point_embedding') for k in out)
    assert set(out) | {'empty_text_embedding'} == set(model.state_dict())


def test_converted_release_loads_strictly_and_computes_what_the_original_did(release,
                                                                             tmp_path):
    model, path = release
    out = tmp_path / 'converted.pth'
    proc = subprocess.run([sys.executable, 'tools/convert/sdmatte.py', path, str(out),
                           '--config', TINY], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'sdmatte:' in proc.stdout
    torch.manual_seed(5)
    fresh = MODELS.build(Config.fromfile(TINY).model).eval()
    load_model_weights(fresh, str(out))
    assert torch.equal(fresh.empty_text_embedding, model.empty_text_embedding)
    inputs = dict(image=torch.rand(1, 3, 64, 64) * 2 - 1,
                  points=torch.tensor([[[20.0, 30.0, 1.0]]]),
                  points_valid=torch.ones(1, 1, dtype=torch.bool))
    with torch.no_grad():
        assert torch.allclose(fresh(inputs, mode='tensor'), model(inputs, mode='tensor'),
                              atol=1e-6)
    foreign = tmp_path / 'notes.pth'  # a file the converter did not write is kept
    foreign.write_bytes(b'mine')
    proc = subprocess.run([sys.executable, 'tools/convert/sdmatte.py', path, str(foreign),
                           '--config', TINY], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    assert proc.returncode == 2 and 'refusing to overwrite it' in proc.stderr
    assert 'give --overwrite' in proc.stderr and foreign.read_bytes() == b'mine'


def test_the_variant_and_the_architecture_are_checked(release):
    _, path = release
    with pytest.raises(ValueError, match="looks like 'sdmatte'"):
        convert(path, TINY, variant='lite')
    with pytest.raises(ValueError, match='the converted weights do not fit'):
        convert(path, CONFIGS['sdmatte'])  # tiny weights, SD2-size config


class Exploit:
    def __reduce__(self):
        return (os.system, ('touch PWNED_SDMATTE',))


def test_code_in_the_release_is_refused(release, tmp_path):
    model, _ = release
    path = tmp_path / 'evil.pth'
    encoder = TextEncoder(config=Config.fromfile(TINY).model.text_encoder.config)
    save_release(model, encoder, str(path), trainer={'x': Exploit()})
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        convert(str(path), TINY)
    assert not osp.exists('PWNED_SDMATTE') and not osp.exists(osp.join(ROOT, 'PWNED_SDMATTE'))
