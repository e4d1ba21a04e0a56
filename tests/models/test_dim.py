import pytest
import torch
from mmengine.config import Config

from mattebox.registry import MODELS
from mattebox.structures import MattingDataSample
from tests.conftest import ROOT


def build_dim(refiner=False, base=4, **train_cfg):
    cfg = dict(
        type='DIM',
        data_preprocessor=dict(type='MattorPreprocessor'),
        backbone=dict(type='SimpleEncoderDecoder',
                      encoder=dict(type='VGG16', in_channels=4, base_channels=base),
                      decoder=dict(type='PlainDecoder', base_channels=base)),
        loss_alpha=dict(type='CharbonnierLoss', loss_weight=0.5),
        loss_comp=dict(type='CharbonnierCompLoss', loss_weight=0.5),
        test_cfg=dict(resize=dict(type='PadToMultiple', divisor=32, mode='reflect')))
    if refiner:
        cfg.update(refiner=dict(type='PlainRefiner', conv_channels=8),
                   loss_refine=dict(type='CharbonnierLoss'))
    if train_cfg:
        cfg['train_cfg'] = train_cfg
    return MODELS.build(cfg)


def make_sample(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    trimap = torch.full((1, h, w), 128.0)
    trimap[:, : h // 3] = 0
    trimap[:, -h // 3:] = 255
    sample = MattingDataSample(
        trimap=trimap, ori_trimap=trimap[0].to(torch.uint8),
        gt_alpha=torch.rand(1, h, w, generator=g) * 255,
        gt_fg=torch.rand(3, h, w, generator=g) * 255,
        gt_bg=torch.rand(3, h, w, generator=g) * 255,
        gt_merged=torch.rand(3, h, w, generator=g) * 255)
    sample.set_metainfo(dict(ori_shape=(h, w), img_shape=(h, w)))
    return {'inputs': torch.rand(3, h, w, generator=g) * 255, 'data_samples': sample}


def test_published_parameter_counts():
    counts = {}
    for name in ('dim_stage1-v16_1xb1-1000k_comp1k', 'dim_stage3-v16-pln_1xb1-1000k_comp1k'):
        cfg = Config.fromfile(f'{ROOT}/configs/dim/{name}.py')
        model = MODELS.build(cfg.model)
        counts[name] = sum(p.numel() for p in model.parameters())
    assert counts['dim_stage1-v16_1xb1-1000k_comp1k'] == 26_200_001
    assert counts['dim_stage3-v16-pln_1xb1-1000k_comp1k'] == 26_276_802


def test_predict_odd_size_pads_and_restores():
    model = build_dim().eval()
    data = model.data_preprocessor({'inputs': [make_sample(50, 70)['inputs']],
                                    'data_samples': [make_sample(50, 70)['data_samples']]})
    with torch.no_grad():
        padded, _ = model.test_resize.apply(data['inputs'])
        assert padded['image'].shape[-2:] == padded['trimap'].shape[-2:] == (64, 96)
        raw, _ = model(padded, mode='tensor')
        out = model(data['inputs'], data['data_samples'], mode='predict')
    pred = out[0].pred_alpha
    assert pred.shape == (50, 70) and pred.dtype == torch.uint8
    # the padded forward, cropped back, equals the prediction in the unknown band
    expected = (raw[0, 0, :50, :70].clamp(0, 1) * 255).round().to(torch.uint8)
    trimap = data['data_samples'][0].ori_trimap
    assert torch.equal(pred[trimap == 128], expected[trimap == 128])
    assert (pred[trimap == 0] == 0).all() and (pred[trimap == 255] == 255).all()


def test_predict_interp_restores_original_size():
    model = build_dim().eval()
    model.test_resize = MODELS.build(dict(type='ResizeToMultiple', divisor=32, mode='bilinear'))
    s = make_sample(50, 70)
    data = model.data_preprocessor({'inputs': [s['inputs']], 'data_samples': [s['data_samples']]})
    resized, _ = model.test_resize.apply(data['inputs'])
    assert resized['image'].shape[-2:] == resized['trimap'].shape[-2:] == (32, 64)
    assert len(resized['trimap'].unique()) == 3  # nearest keeps bg / unknown / fg only
    with torch.no_grad():
        out = model(data['inputs'], data['data_samples'], mode='predict')
    assert out[0].pred_alpha.shape == (50, 70)


def test_tensor_mode_returns_alpha_and_refine():
    x = dict(image=torch.randn(2, 3, 64, 96), trimap=torch.rand(2, 1, 64, 96))
    alpha, refine = build_dim()(x, mode='tensor')
    assert alpha.shape == (2, 1, 64, 96) and refine is None
    assert 0 <= alpha.min() and alpha.max() <= 1
    alpha, refine = build_dim(refiner=True)(x, mode='tensor')
    assert refine.shape == (2, 1, 64, 96) and not torch.equal(alpha, refine)


def test_loss_mode_and_stages():
    batch = [make_sample(64, 64, seed=i) for i in range(2)]

    def losses(model):
        data = model.data_preprocessor({'inputs': [b['inputs'] for b in batch],
                                        'data_samples': [b['data_samples'].clone()
                                                         for b in batch]}, True)
        return model(data['inputs'], data['data_samples'], mode='loss')

    assert set(losses(build_dim())) == {'loss_alpha', 'loss_comp'}
    stage2 = build_dim(refiner=True, train_backbone=False, train_refiner=True)
    assert set(losses(stage2)) == {'loss_refine'}
    assert all(not p.requires_grad for p in stage2.backbone.parameters())
    stage2.train()
    assert not stage2.backbone.training and stage2.refiner.training
    stage3 = build_dim(refiner=True, train_backbone=True, train_refiner=True)
    assert set(losses(stage3)) == {'loss_alpha', 'loss_comp', 'loss_refine'}


def test_loss_ignores_known_region():
    model = build_dim()
    s = make_sample(64, 64)
    data = model.data_preprocessor({'inputs': [s['inputs']], 'data_samples': [s['data_samples']]},
                                   True)
    ds = data['data_samples'][0]
    before = model(data['inputs'], data['data_samples'], mode='loss')
    trimap = ds.trimap[0]
    # changing ground truth where the trimap is known must not change the losses
    ds.gt_alpha[0][trimap != 128] = 1.0
    ds.gt_merged[:, trimap != 128] = 1.0
    after = model(data['inputs'], data['data_samples'], mode='loss')
    for k in before:
        assert torch.allclose(before[k], after[k]), k
    ds.gt_alpha[0][trimap == 128] = 1.0
    changed = model(data['inputs'], data['data_samples'], mode='loss')
    assert not torch.allclose(before['loss_alpha'], changed['loss_alpha'])


def test_dim_config_errors():
    with pytest.raises(ValueError, match='need a refiner'):
        build_dim(train_refiner=True)
    with pytest.raises(ValueError, match='forward mode'):
        build_dim()(dict(image=torch.zeros(1, 3, 32, 32)), mode='bogus')
    with pytest.raises(TypeError, match='inputs must be the batch dict'):
        build_dim()(torch.zeros(1, 4, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match=r"test_cfg keys \['resize_method'\] were replaced"):
        build_dim().__class__(**{**_dim_args(), 'test_cfg': dict(resize_method='pad')})
    with pytest.raises(ValueError, match="'proc_trimap' was removed"):
        MODELS.build(dict(type='MattorPreprocessor', proc_trimap='label'))


def _dim_args():
    return dict(backbone=dict(type='SimpleEncoderDecoder',
                              encoder=dict(type='VGG16', in_channels=4, base_channels=4),
                              decoder=dict(type='PlainDecoder', base_channels=4)),
                loss_alpha=dict(type='CharbonnierLoss'))


def test_a_batch_without_trimap_says_how_to_give_one():
    from mattebox.guidance import MissingGuidanceError
    model = build_dim()
    for mode in ('loss', 'predict', 'tensor'):
        with pytest.raises(MissingGuidanceError) as info:
            model(dict(image=torch.zeros(1, 3, 32, 32), boxes=torch.zeros(1, 1, 4)),
                  [MattingDataSample()], mode=mode)
        msg = str(info.value)
        assert msg.startswith("DIM needs guidance trimap, but the batch has ['boxes']")
        assert 'GenerateTrimap' in msg and '--trimap' in msg and '--mask' in msg


@pytest.mark.parametrize('encoding', ['onehot', 'label'])
def test_formatted_trimaps_reach_the_model_decoded(encoding):
    """FormatTrimap's labels / one-hot trimaps become the same batch trimap, hence the
    same losses, as the plain 0 / 128 / 255 one."""
    from mattebox.datasets.transforms import FormatTrimap
    model = build_dim()
    s = make_sample(64, 64)
    plain = s['data_samples'].clone()
    formatted = FormatTrimap(to_onehot=encoding == 'onehot').transform(
        dict(trimap=plain.trimap[0].numpy().astype('uint8')))
    other = plain.clone()
    packed = torch.from_numpy(formatted['trimap'])
    other.trimap = packed.permute(2, 0, 1) if packed.ndim == 3 else packed[None]
    other.set_metainfo(dict(format_trimap=formatted['format_trimap']))

    def losses(sample):
        data = model.data_preprocessor({'inputs': [s['inputs']], 'data_samples': [sample]},
                                       True)
        return data['inputs']['trimap'], model(data['inputs'], data['data_samples'],
                                              mode='loss')

    (t1, expected), (t2, got) = losses(plain), losses(other)
    assert torch.equal(t1, t2)
    assert expected['loss_alpha'] > 0
    for key in expected:
        assert torch.allclose(expected[key], got[key]), key


@pytest.mark.parametrize('encoding', ['onehot', 'label'])
def test_predict_clamps_with_formatted_trimaps(encoding):
    """Without ori_trimap the packed trimap is decoded before clamping."""
    model = build_dim().eval()
    rows = torch.tensor([0, 1, 1, 2]).view(4, 1).expand(4, 4)  # bg, unknown x2, fg
    if encoding == 'onehot':
        trimap = torch.nn.functional.one_hot(rows, 3).permute(2, 0, 1).float()
        sample = MattingDataSample(trimap=trimap)
    else:
        sample = MattingDataSample(trimap=rows[None].float())
        sample.set_metainfo(dict(format_trimap='label'))
    sample.set_metainfo(dict(ori_shape=(4, 4), img_shape=(4, 4)))
    out = model.postprocess(torch.full((1, 4, 4), 0.5), sample)
    assert out.dtype == torch.float32
    assert out[0].tolist() == [0] * 4
    assert out[1].tolist() == out[2].tolist() == [0.5] * 4
    assert out[3].tolist() == [1] * 4
