"""SDMatte on tiny configs: the masked SDPA processor against explicit masked attention,
the whole UNet against the original's attention, prompts, outputs of every prompt kind
at any size, gradients, the two-copy composition."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

pytest.importorskip('diffusers')

from mattebox.models.diffusion.latent import (PromptAttnProcessor, key_bias,  # noqa: E402
                                              masked_attention_reference)
from mattebox.models.sdmatte.prompts import box_prompt, mask_prompt, point_prompt  # noqa: E402
from mattebox.registry import MODELS, TRANSFORMS  # noqa: E402
from mattebox.structures import MattingDataSample  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

TINY = f'{ROOT}/configs/sdmatte/sdmatte_tiny_synthetic.py'


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    m = MODELS.build(Config.fromfile(TINY).model).eval()
    with torch.no_grad():  # non-zero coordinate MLPs, so that coordinates matter
        for mlp in (m.point_embedding, m.bbox_embedding):
            mlp.linear_2.weight.normal_(0, 0.02)
    return m


def attention(heads=2, dim=32):
    from diffusers.models.attention_processor import Attention
    torch.manual_seed(1)
    return Attention(query_dim=dim, heads=heads, dim_head=dim // heads).eval()


def original_style_bias(key_mask, tokens, heads):
    """The original's mask preparation: the latent-size mask flattened, (1 - m) * -10000,
    reshaped to a square, nearest-resized to the level's square, repeated per head."""
    n = key_mask.shape[0]
    flat = (1 - key_mask.flatten(1)) * -10000.0
    current, target = int(math.sqrt(flat.shape[1])), int(math.sqrt(tokens))
    square = flat.view(n, 1, current, current)
    if current != target:
        square = F.interpolate(square, size=(target, target), mode='nearest')
    return square.view(n, 1, tokens).repeat_interleave(heads, dim=0)


@pytest.mark.parametrize('latent,level', [((8, 8), (8, 8)), ((8, 8), (4, 4)),
                                          ((6, 10), (6, 10)), ((6, 10), (3, 5)),
                                          ((7, 9), (4, 5))])
def test_masked_sdpa_equals_explicit_masked_attention(latent, level):
    attn = attention()
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, level[0] * level[1], 32, generator=g)
    key_mask = (torch.rand(2, 1, *latent, generator=g) > 0.5).float()
    key_mask[1] = torch.rand(1, *latent, generator=g)  # a soft map (points)
    with torch.no_grad():
        ours = PromptAttnProcessor(mask_keys=True)(attn, hidden,
                                                   prompt=dict(key_mask=key_mask))
        q, k, v = (f(hidden) for f in (attn.to_q, attn.to_k, attn.to_v))
        split = lambda t: t.view(2, -1, 2, 16).transpose(1, 2).reshape(4, -1, 16)  # noqa
        m = F.interpolate(key_mask, size=level, mode='nearest')
        bias = ((1 - m) * -10000.0).flatten(1)[:, None].repeat_interleave(2, dim=0)
        out = masked_attention_reference(split(q), split(k), split(v), bias)
        out = out.view(2, 2, -1, 16).transpose(1, 2).reshape(2, -1, 32)
        reference = attn.to_out[0](out)
        if latent[0] == latent[1]:  # square: also the original's own preparation
            assert torch.equal(bias, original_style_bias(key_mask, hidden.shape[1], 2))
    assert torch.allclose(ours, reference, atol=1e-5), (ours - reference).abs().max()


def test_keys_outside_the_prompt_get_no_attention():
    attn = attention()
    g = torch.Generator().manual_seed(2)
    hidden = torch.randn(1, 64, 32, generator=g)
    key_mask = torch.zeros(1, 1, 8, 8)
    key_mask[..., 2:5, 3:7] = 1  # a box
    outside = (key_mask.flatten() == 0)
    changed = hidden.clone()
    changed[0, outside] = torch.randn(int(outside.sum()), 32, generator=g) * 10
    processor = PromptAttnProcessor(mask_keys=True)
    with torch.no_grad():
        a = processor(attn, hidden, prompt=dict(key_mask=key_mask))
        b = processor(attn, changed, prompt=dict(key_mask=key_mask))
        plain = PromptAttnProcessor()(attn, changed)
    # the outputs of the queries inside the box see only keys inside the box
    inside = ~outside
    assert torch.allclose(a[0, inside], b[0, inside], atol=1e-5)
    assert not torch.allclose(plain[0, inside], a[0, inside], atol=1e-3)
    assert key_bias(key_mask, 16, torch.float32).shape == (1, 1, 1, 16)


def test_the_model_equals_the_original_attention_path(model):
    """The whole tiny model with its SDPA processors equals the same weights run with
    the original's attention (classic processor, baddbmm with the square-resized bias)."""
    class Original:
        def __init__(self, masked, tokens):
            self.masked, self.use_tokens = masked, tokens

        def __call__(self, attn, hidden_states, encoder_hidden_states=None,
                     attention_mask=None, temb=None, prompt=None):
            if self.use_tokens:
                encoder_hidden_states = prompt['prompt_tokens']
            n, tokens, _ = hidden_states.shape
            source = hidden_states if encoder_hidden_states is None else encoder_hidden_states
            q = attn.head_to_batch_dim(attn.to_q(hidden_states))
            k = attn.head_to_batch_dim(attn.to_k(source))
            v = attn.head_to_batch_dim(attn.to_v(source))
            if self.masked:
                bias = original_style_bias(prompt['key_mask'], tokens, attn.heads)
            else:
                bias = torch.zeros(q.shape[0], 1, k.shape[1])
            out = attn.batch_to_head_dim(masked_attention_reference(q, k, v, bias, attn.scale))
            return attn.to_out[1](attn.to_out[0](out))

    inputs = dict(image=torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)),
                  boxes=torch.tensor([[[8.0, 10.0, 40.0, 50.0]]]),
                  boxes_valid=torch.ones(1, 1, dtype=torch.bool))
    with torch.no_grad():
        ours = model(inputs, mode='tensor')
        original = copy.deepcopy(model)
        processors = {name: Original(role == 'masked self', role == 'prompt cross')
                      for name, role in original.roles.items()}
        original.unet.set_attn_processor(processors)
        theirs = original(inputs, mode='tensor')
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def batch(kind, h, w, transparent=False):
    g = torch.Generator().manual_seed(h * w)
    inputs = dict(image=torch.rand(1, 3, h, w, generator=g) * 2 - 1,
                  transparent=torch.tensor([transparent]))
    if kind == 'boxes':
        inputs.update(boxes=torch.tensor([[[w * 0.2, h * 0.3, w * 0.7, h * 0.9]]]),
                      boxes_valid=torch.ones(1, 1, dtype=torch.bool))
    elif kind == 'points':
        inputs.update(points=torch.tensor([[[w * 0.5, h * 0.5, 1.0], [w * 0.3, h * 0.6, 1.0]]]),
                      points_valid=torch.ones(1, 2, dtype=torch.bool))
    else:
        mask = torch.zeros(1, 1, h, w)
        mask[..., h // 4:h // 2, w // 3:w // 2] = 1
        inputs['mask'] = mask
    sample = MattingDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w)))
    return inputs, [sample]


@pytest.mark.parametrize('kind', ['boxes', 'points', 'mask'])
@pytest.mark.parametrize('size', [(64, 64), (50, 77), (96, 40)])
def test_every_prompt_kind_gives_alpha_at_the_input_size(model, kind, size):
    inputs, samples = batch(kind, *size)
    with torch.no_grad():
        alpha = model.predict_alphas(inputs, samples)[0]
        out = model.predict(inputs, samples)[0].pred_alpha
    assert alpha.shape == size and out.shape == size and out.dtype == torch.uint8
    assert 0 <= float(alpha.min()) and float(alpha.max()) <= 1


def test_the_prompt_and_the_opacity_change_the_output(model):
    a, samples = batch('boxes', 64, 64)
    b = dict(a, boxes=torch.tensor([[[40.0, 0.0, 64.0, 20.0]]]))
    c = dict(a, transparent=torch.tensor([True]))
    with torch.no_grad():
        outs = [model.predict_alphas(x, samples)[0] for x in (a, b, c)]
    assert (outs[0] - outs[1]).abs().max() > 1e-3
    assert (outs[0] - outs[2]).abs().max() > 1e-4


def test_only_the_unet_and_the_new_modules_get_gradients():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY).model
    cfg.train_cfg.prompt_types = ('boxes', )
    model = MODELS.build(cfg).train()
    inputs, _ = batch('boxes', 64, 64)
    inputs['trimap'] = torch.full((1, 1, 64, 64), 128 / 255)
    inputs['trimap'][..., :10, :] = 0
    sample = MattingDataSample(gt_alpha=torch.rand(1, 64, 64))
    losses = model(inputs, [sample], mode='loss')
    assert set(losses) == {'loss_unknown_l1', 'loss_known_l1', 'loss_unknown_lap',
                           'loss_known_lap'}
    sum(losses.values()).backward()
    named = dict(model.named_parameters())
    trained = [n for n, p in named.items() if p.grad is not None]
    assert all(n.startswith(('unet.', 'aux_conv_in.', 'bbox_embedding.')) for n in trained)
    assert any(n.startswith('unet.down_blocks') for n in trained)
    assert 'aux_conv_in.weight' in trained and 'bbox_embedding.linear_2.weight' in trained
    assert all(named[n].grad is None and not named[n].requires_grad
               for n in named if n.startswith('vae.'))
    assert all(named[n].grad is None for n in named if n.startswith('point_embedding.'))


@pytest.mark.parametrize('init', ['zero_last', 'zero_all'])
def test_coordinate_mlp_initialisation(init):
    cfg = Config.fromfile(TINY).model
    cfg.coord_mlp_init = init
    model = MODELS.build(cfg)
    for mlp in (model.point_embedding, model.bbox_embedding):
        assert mlp.linear_2.weight.abs().sum() == 0 and mlp.linear_2.bias.abs().sum() == 0
        first_zero = mlp.linear_1.weight.abs().sum() == 0
        assert bool(first_zero) == (init == 'zero_all')


def test_prompt_maps_follow_the_original_conventions():
    maps, coords = box_prompt(torch.tensor([[[2.0, 3.0, 6.4, 5.0]]]),
                              torch.ones(1, 1, dtype=torch.bool), (8, 10))
    expected = torch.zeros(8, 10)
    expected[3:5, 2:6] = 1  # map[y0:y1, x0:x1], edges rounded
    assert torch.equal(maps[0, 0], expected)
    assert torch.allclose(coords, torch.tensor([[2 / 10, 3 / 8, 6.4 / 10, 5 / 8]]))
    points = torch.tensor([[[3.0, 4.0, 1.0], [7.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    maps, coords = point_prompt(points, torch.ones(1, 3, dtype=torch.bool), (8, 10),
                                sigma=2.0, max_points=10)
    from mattebox.guidance import point_heatmap
    assert torch.allclose(maps[0, 0], torch.from_numpy(point_heatmap(
        points[0, :2].numpy(), (8, 10), 2.0)))
    assert coords.shape == (1, 20)  # the background click is not a prompt
    assert torch.allclose(coords[0, :4], torch.tensor([3 / 10, 4 / 8, 7 / 10, 1 / 8]))
    assert (coords[0, 4:] == 0).all()
    mask = torch.zeros(1, 1, 8, 10)
    mask[..., 2:6, 3:9] = 0.7
    maps, coords = mask_prompt(mask)
    assert torch.allclose(coords, torch.tensor([[3 / 10, 2 / 8, 8 / 10, 5 / 8]]))  # inclusive
    _, empty = mask_prompt(torch.zeros(1, 1, 4, 4))
    assert empty.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_the_two_copy_composition_labels_exactly_one_copy():
    rng = np.random.default_rng(0)
    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 8:20] = 200
    fg = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    bg = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    transform = TRANSFORMS.build(dict(type='CompositeTwoCopies', blur_prob=0.0))
    seen = set()
    for seed in range(12):
        np.random.seed(seed)
        out = transform(dict(alpha=alpha, fg=fg, bg=bg))
        a = out['alpha']
        assert a.shape == (20, 60) and out['merged'].shape == (20, 60, 3)
        left, right = a[:, :30], a[:, 30:]
        labelled = out['labelled_copy']
        seen.add(labelled)
        assert np.array_equal(left if labelled == 'left' else right, alpha)
        assert not (right if labelled == 'left' else left).any()
        # both copies are in the image: the foreground shows in each half
        m = out['merged']
        a01 = alpha.astype(np.float32)[..., None] / 255
        for cols in (slice(0, 30), slice(30, 60)):
            expected = fg * a01 + out['bg'][:, cols] * (1 - a01)
            assert np.allclose(m[:, cols], expected, atol=1e-3)
    assert seen == {'left', 'right'}


def test_the_empty_caption_must_come_from_somewhere():
    cfg = Config.fromfile(TINY).model
    cfg.text_encoder = dict(config=cfg.text_encoder.config)  # no random encoder
    model = MODELS.build(cfg).eval()
    assert torch.isnan(model.empty_text_embedding).all()
    inputs, samples = batch('boxes', 64, 64)
    with pytest.raises(ValueError, match='the empty-caption embedding is not set'):
        model.predict_alphas(inputs, samples)


def test_training_refuses_random_diffusion_weights():
    cfg = Config.fromfile(TINY).model
    cfg.train_cfg.allow_scratch = False
    with pytest.raises(ValueError, match='model.pretrained is not set'):
        MODELS.build(cfg).init_weights()


def test_mattebox_works_without_diffusers():
    """`import mattebox` and DIM never import diffusers; an SDMatte config says how to
    install it."""
    import subprocess
    import sys
    code = '''
import sys
sys.modules["diffusers"] = None      # as if not installed
sys.modules["transformers"] = None
from mmengine.config import Config
from mattebox import register_all_modules
register_all_modules()
from mattebox.registry import MODELS
MODELS.build(Config.fromfile("configs/dim/dim_tiny_synthetic.py").model)
try:
    MODELS.build(Config.fromfile("configs/sdmatte/sdmatte_tiny_synthetic.py").model)
except ImportError as e:
    print("REFUSED:", e)
'''
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, env={'PYTHONPATH': ROOT, 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'REFUSED: SDMatte needs diffusers and transformers: pip install -e ".[diffusion]"' \
        in proc.stdout


def test_paper_configs_have_the_published_sizes():
    """SD2's UNet (865,910,724 parameters) with conv_in widened to 8 channels, SD's VAE
    (83,653,863), BK-SDM-v2-Base's UNet (0.58B) and TAESD (2.4M), built on the meta
    device (no memory, no weights)."""
    counts = {}
    for name in ('sdmatte_sd2_8xb1-30k_matting-mix', 'litesdmatte_bk-sdm-v2_8xb1-30k_matting-mix'):
        cfg = Config.fromfile(f'{ROOT}/configs/sdmatte/{name}.py')
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        counts[name] = {part: sum(p.numel() for p in getattr(model, part).parameters())
                        for part in ('unet', 'vae', 'point_embedding', 'bbox_embedding',
                                     'aux_conv_in')}
    sd2 = counts['sdmatte_sd2_8xb1-30k_matting-mix']
    assert sd2['unet'] == 865_910_724 + 4 * 320 * 9  # + the grafted input channels
    assert sd2['vae'] == 83_653_863
    assert sd2['point_embedding'] == 1680 * 1280 + 1280 + 1280 * 1280 + 1280
    assert sd2['bbox_embedding'] == 2 * (1280 * 1280 + 1280)
    assert sd2['aux_conv_in'] == 4 * 1024 * 9 + 1024
    lite = counts['litesdmatte_bk-sdm-v2_8xb1-30k_matting-mix']
    assert lite['unet'] == 583_492_484 and lite['vae'] == 2_445_063
