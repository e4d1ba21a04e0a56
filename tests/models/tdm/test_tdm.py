"""The text-grounded model (TDM) on its tiny config: the expression steers the output,
the composite alpha, the fixed timestep, the losses on hand-made inputs, the paper
configs at full size on the meta device, the inference API with and without text."""
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config

pytest.importorskip('diffusers')

from mattebox.guidance import MissingGuidanceError  # noqa: E402
from mattebox.models.tdm.losses import TDMLoss, trimap_target  # noqa: E402
from mattebox.registry import MODELS  # noqa: E402
from mattebox.structures import MattingDataSample  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

TINY = f'{ROOT}/configs/tdm/tdm_tiny_stage2_synthetic-referring.py'
PAPER = [f'{ROOT}/configs/tdm/tdm_sd21_stage{i}_8xb4_refmatte-mix.py' for i in (1, 2)]


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return MODELS.build(Config.fromfile(TINY).model).eval()


def batch(texts, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(image=torch.rand(len(texts), 3, size, size, generator=g) * 2 - 1,
                text=list(texts))


def test_the_expression_changes_the_output(model):
    inputs = batch(['the red object', 'the blue shape on the left'])
    inputs['image'][1] = inputs['image'][0]  # one image, two expressions
    with torch.no_grad():
        out = model._forward_test(inputs)
        again = model._forward_test(batch(['the red object']))
    assert out.shape == (2, 1, 64, 64)
    assert (out[0] - out[1]).abs().max() > 1e-3
    assert torch.allclose(again[0], out[0], atol=1e-5)  # the same image and text (cached)


def test_composite_alpha_is_fg_plus_alpha_times_unknown(model):
    with torch.no_grad():
        out = model.coarse(batch(['the green thing'], size=128)['image'], ['the green thing'])
    probs = out['trimap_logits'].softmax(dim=1)
    assert out['trimap_logits'].shape == (1, 3, 64, 64)  # the coarse size
    assert torch.allclose(out['composite'], probs[:, 2:] + out['alpha_lr'] * probs[:, 1:2])
    assert out['detail'].shape == (1, 8, 64, 64)


def test_the_unet_runs_once_at_the_configured_timestep(model):
    seen = []
    hook = model.unet.time_proj.register_forward_hook(lambda m, a, o: seen.append(a[0]))
    try:
        with torch.no_grad():
            model._forward_test(batch(['the red object', 'the red object']))
    finally:
        hook.remove()
    assert len(seen) == 1 and seen[0].tolist() == [999.0, 999.0]


def test_text_is_required_and_the_tokenizer_too(model):
    with pytest.raises(MissingGuidanceError, match='TDM needs guidance text'):
        model(dict(image=torch.zeros(1, 3, 64, 64)), mode='tensor')
    cfg = Config.fromfile(TINY).model
    cfg.text_encoder.tokenizer = None
    with pytest.raises(ValueError, match='model.text_encoder.tokenizer'):
        MODELS.build(cfg)._forward_test(batch(['the red object']))


def test_training_gives_every_named_loss_and_gradients(model):
    model.train()
    try:
        inputs = batch(['the red object', 'the small blue shape'])
        samples = []
        for i in range(2):
            s = MattingDataSample()
            alpha = torch.zeros(1, 64, 64)
            alpha[:, 16:48, 16:48] = 1.0
            alpha[:, 16:48, 14:16] = 0.5
            s.set_data(dict(gt_alpha=alpha))
            s.set_metainfo(dict(binary_gt=i == 1))
            samples.append(s)
        losses = model(inputs, samples, mode='loss')
        assert set(losses) == {'loss_stm', 'loss_ctm', 'loss_sg', 'loss_alpha_lr', 'loss_r'}
        sum(losses.values()).backward()
        assert model.unet.conv_in.weight.grad.abs().sum() > 0
        assert all(p.grad is None for p in model.vae.parameters())
        assert all(p.grad is None for p in model.text_encoder.parameters())
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()


# ------------------------------------------------------------------- losses
def test_trimap_target_from_a_hand_made_alpha():
    alpha = torch.zeros(1, 1, 1, 9)
    alpha[..., 4] = 0.5
    alpha[..., 5:] = 1.0
    assert trimap_target(alpha, kernel=1).tolist() == [[[0, 0, 0, 0, 1, 2, 2, 2, 2]]]
    assert trimap_target(alpha, kernel=3).tolist() == [[[0, 0, 0, 1, 1, 1, 2, 2, 2]]]


def test_loss_values_on_hand_made_inputs():
    gt = torch.zeros(2, 1, 4, 4)
    gt[:, :, :, 2:] = 1.0
    out = dict(trimap_logits=torch.zeros(2, 3, 4, 4),  # uniform: CE = ln 3
               alpha_lr=torch.full((2, 1, 4, 4), 0.25),
               composite=torch.full((2, 1, 4, 4), 0.5),
               refined=torch.full((2, 1, 4, 4), 0.75),
               paste=torch.zeros(2, 1, 4, 4, dtype=torch.bool))
    out['paste'][:, :, 0, :] = True  # the band: one row, half 0 and half 1 in the truth
    binary = torch.tensor([False, True])
    losses = TDMLoss(trimap_kernel=1)(out, gt, binary)
    assert math.isclose(losses['loss_stm'].item(), 10 * math.log(3), rel_tol=1e-6)
    assert math.isclose(losses['loss_ctm'].item(), 0.1 * 0.5, rel_tol=1e-6)  # |0.5 - gt|
    assert math.isclose(losses['loss_sg'].item(), 0.5 * math.log(2), rel_tol=1e-6)  # BCE(0.5)
    assert math.isclose(losses['loss_alpha_lr'].item(), 10 * (0.25 + 0.75) / 2, rel_tol=1e-6)
    assert math.isclose(losses['loss_r'].item(), 1 * (0.75 + 0.25) / 2, rel_tol=1e-6)
    # definitions, regions and weights are options; a zero weight drops the term
    custom = TDMLoss(terms=dict(ctm=dict(kind='mse', weight=1.0), sg=dict(kind='l1'),
                                alpha_lr=dict(region='unknown'), r=dict(weight=0.0)),
                     trimap_kernel=1)(out, gt, binary)
    assert math.isclose(custom['loss_ctm'].item(), 0.25, rel_tol=1e-6)
    assert math.isclose(custom['loss_sg'].item(), 0.5 * 0.5, rel_tol=1e-6)
    assert 'loss_r' not in custom
    # no binary sample: SG is 0, still on the graph
    logits = torch.zeros(2, 3, 4, 4, requires_grad=True)
    none = TDMLoss(trimap_kernel=1)({**out, 'trimap_logits': logits}, gt)
    assert none['loss_sg'].item() == 0
    with pytest.raises(ValueError, match="TDMLoss sg: kind must be one of"):
        TDMLoss(terms=dict(sg=dict(kind='focal')))
    with pytest.raises(ValueError, match='unknown terms'):
        TDMLoss(terms=dict(stn=dict(weight=1)))


# ------------------------------------------------------------------ configs
def test_paper_configs_have_the_published_sizes():
    """SD 2.1's UNet (865,910,724 parameters) and VAE (83,653,863), the OpenCLIP ViT-H
    text tower (340,387,840 in SD2's 23-layer form), 40 tokens, built on the meta
    device; stage 1 trains localisation only, stage 2 every term."""
    counts = []
    for path in PAPER:
        cfg = Config.fromfile(path)
        with torch.device('meta'):
            m = MODELS.build(cfg.model)
        size = {part: sum(p.numel() for p in getattr(m, part).parameters())
                for part in ('unet', 'vae', 'text_encoder')}
        assert size == dict(unet=865_910_724, vae=83_653_863, text_encoder=340_387_840)
        assert m.text_encoder.max_length == 40 and m.test_cfg.image_size == 512
        assert m.refiner.max_long_edge == 2048 and m.refiner.half_first_above == 1024
        counts.append({k: v['weight'] for k, v in m.loss.terms.items()})
        assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert counts[0] == dict(stm=10.0, ctm=0.0, sg=0.5, alpha_lr=0.0, r=0.0)
    assert counts[1] == dict(stm=10.0, ctm=0.1, sg=0.5, alpha_lr=10.0, r=1.0)


def test_in_channels_8_adds_a_zero_latent_and_grafts_conv_in_with_zeros(tmp_path):
    from mattebox.models.diffusion.latent import graft_conv_in
    w = torch.randn(32, 4, 3, 3)
    grafted = graft_conv_in({'conv_in.weight': w}, 8, mode='zero')['conv_in.weight']
    assert torch.equal(grafted[:, :4], w) and (grafted[:, 4:] == 0).all()
    cfg = Config.fromfile(TINY).model
    cfg.unet.in_channels = 8
    torch.manual_seed(0)
    m = MODELS.build(cfg).eval()
    with torch.no_grad():
        assert m._forward_test(batch(['the red object'])).shape == (1, 1, 64, 64)
    cfg.unet.in_channels = 6
    with pytest.raises(ValueError, match='unet.in_channels must be 4'):
        MODELS.build(cfg)


def test_text_layer_option_and_the_cache_reset_on_load(model):
    from mattebox.models.diffusion.latent import TextEncoder
    enc = model.text_encoder
    last = enc.encode(['the red object'])
    other = TextEncoder(config=enc.model.config.to_dict(), tokenizer=None, max_length=40,
                        layer=-1)
    other.model.load_state_dict(enc.model.state_dict())
    ids = enc.tokenizer(['the red object'], padding='max_length', max_length=40,
                        return_tensors='pt').input_ids
    assert torch.allclose(other.encode_ids(ids), last, atol=1e-6)  # -1 + final norm = last
    other.layer = 0
    assert not torch.allclose(other.encode_ids(ids), last, atol=1e-3)
    assert 'the red object' in enc._cache
    enc.load_state_dict(enc.state_dict())
    assert not enc._cache


# -------------------------------------------------------------------- API
@pytest.fixture(scope='module')
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('tdm_api')
    cfg = Config.fromfile(TINY)
    config = str(tmp / 'tdm_tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    m = MODELS.build(cfg.model)
    checkpoint = str(tmp / 'tdm_tiny.pth')
    torch.save({'meta': {'iter': 0}, 'state_dict': m.state_dict()}, checkpoint)
    return config, checkpoint


def test_the_inferencer_mattes_with_text_and_refuses_without(files):
    from mattebox.apis import GuidanceError, MattingInferencer
    matter = MattingInferencer(*files, device='cpu')
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    red = matter(image, text='the red object')
    blue = matter(image, text='the blue shape on the right')
    assert red.alpha.shape == (50, 70) and red.alpha.dtype == np.float32
    assert np.abs(red.alpha - blue.alpha).max() > 1e-3
    assert red.cutout().shape == (50, 70, 4)
    with pytest.raises((GuidanceError, MissingGuidanceError), match='text'):
        matter(image)
