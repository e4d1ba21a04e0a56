import pytest
import torch

from mattebox.models.data_preprocessor import MattorPreprocessor
from mattebox.structures import MattingDataSample


def packed(h, w, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, h, w), generator=g).to(dtype)
    trimap = torch.tensor([0, 128, 255]).repeat(h * w // 3 + 1)[:h * w].view(1, h, w)
    sample = MattingDataSample(trimap=trimap.to(dtype), gt_alpha=img[:1].clone(),
                               gt_fg=img.clone())
    return img, sample


def test_normalisation_rgb_and_trimap_scale():
    pre = MattorPreprocessor(mean=(10, 20, 30), std=(2, 4, 5))
    img, sample = packed(4, 6)
    out = pre({'inputs': [img], 'data_samples': [sample]})
    batch = out['inputs']
    assert set(batch) == {'image', 'image_mean', 'image_std', 'trimap'}
    x = batch['image']
    assert x.dtype == torch.float32 and x.shape == (1, 3, 4, 6)
    rgb = img.flip(0).float()
    expected = (rgb - torch.tensor([10., 20, 30]).view(3, 1, 1)) / torch.tensor(
        [2., 4, 5]).view(3, 1, 1)
    assert torch.allclose(x[0], expected)
    assert torch.allclose(batch['image'] * batch['image_std'] + batch['image_mean'],
                          rgb[None])
    assert batch['trimap'].shape == (1, 1, 4, 6)
    assert batch['trimap'][0, 0].unique().tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    ds = out['data_samples'][0]
    assert ds.gt_alpha.dtype == torch.float32 and float(ds.gt_alpha.max()) <= 1.0
    assert torch.allclose(ds.gt_fg, img.flip(0).float() / 255)  # RGB like the input


def test_uint8_and_float_packing_give_the_same_batch():
    pre = MattorPreprocessor()
    img8, s8 = packed(5, 7, torch.uint8)
    imgf, sf = packed(5, 7, torch.float32)
    a = pre({'inputs': [img8], 'data_samples': [s8]})
    b = pre({'inputs': [imgf], 'data_samples': [sf]})
    for key in ('image', 'trimap'):
        assert torch.equal(a['inputs'][key], b['inputs'][key])
    assert torch.equal(a['data_samples'][0].gt_fg, b['data_samples'][0].gt_fg)


def test_padding_of_mixed_sizes():
    pre = MattorPreprocessor()
    (i1, s1), (i2, s2) = packed(4, 6), packed(6, 3, seed=1)
    batch = pre({'inputs': [i1, i2], 'data_samples': [s1, s2]})['inputs']
    assert batch['image'].shape == (2, 3, 6, 6) and batch['trimap'].shape == (2, 1, 6, 6)
    # the narrower sample is padded at the right: black image, background trimap
    assert torch.count_nonzero(batch['trimap'][1, 0, :, 3:]) == 0
    black = (torch.zeros(3) - pre.mean.view(3)) / pre.std.view(3)
    assert torch.allclose(batch['image'][1, :, :, 3:], black.view(3, 1, 1).expand(3, 6, 3))


def test_every_guidance_field_is_batched():
    pre = MattorPreprocessor()
    (i1, s1), (i2, s2) = packed(4, 6), packed(4, 6, seed=1)
    s1.mask = torch.full((1, 4, 6), 255, dtype=torch.uint8)
    s2.mask = torch.zeros((1, 4, 6), dtype=torch.uint8)
    s1.points = torch.tensor([[1.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    s2.points = torch.zeros((0, 3))
    s1.boxes = torch.tensor([[0.0, 0.0, 3.0, 2.0]])
    s2.boxes = torch.tensor([[1.0, 1.0, 6.0, 4.0], [0.0, 0.0, 1.0, 1.0]])
    s1.text, s2.text = 'the red one', 'the hair'
    s1.transparent, s2.transparent = True, False
    batch = pre({'inputs': [i1, i2], 'data_samples': [s1, s2]})['inputs']
    assert batch['mask'].shape == (2, 1, 4, 6)
    assert batch['mask'][0].unique().tolist() == [1.0] and batch['mask'][1].max() == 0
    assert batch['points'].shape == (2, 2, 3)
    assert batch['points_valid'].tolist() == [[True, True], [False, False]]
    assert batch['points'][0, 1].tolist() == [3.0, 0.0, 0.0]
    assert batch['boxes'].shape == (2, 2, 4)
    assert batch['boxes_valid'].tolist() == [[True, False], [True, True]]
    assert batch['boxes'][1, 0].tolist() == [1.0, 1.0, 6.0, 4.0]
    assert batch['text'] == ['the red one', 'the hair']
    assert batch['transparent'].tolist() == [True, False]


def test_guidance_of_some_samples_only_is_an_error():
    pre = MattorPreprocessor()
    (i1, s1), (i2, s2) = packed(4, 4), packed(4, 4, seed=1)
    s1.text = 'the cat'
    s2.set_metainfo(dict(merged_path='b.png'))
    with pytest.raises(KeyError, match=r"some samples of the batch have 'text' and others do "
                       r"not \(without it: \['b.png'\]\)"):
        pre({'inputs': [i1, i2], 'data_samples': [s1, s2]})


def test_samples_without_guidance_give_the_image_only():
    pre = MattorPreprocessor()
    img, _ = packed(4, 4)
    sample = MattingDataSample(metainfo=dict(merged_path='a.png'))
    batch = pre({'inputs': [img], 'data_samples': [sample]})['inputs']
    assert set(batch) == {'image', 'image_mean', 'image_std'}


def test_bad_arguments():
    with pytest.raises(ValueError, match="'trimap_required' was removed"):
        MattorPreprocessor(trimap_required=False)
    with pytest.raises(TypeError, match="unexpected argument 'colour'"):
        MattorPreprocessor(colour=1)
    with pytest.raises(ValueError, match='mean and std need 3 values'):
        MattorPreprocessor(mean=(1, 2))
