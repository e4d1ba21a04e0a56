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
    x = out['inputs']
    assert x.dtype == torch.float32 and x.shape == (1, 4, 4, 6)
    rgb = img.flip(0).float()
    expected = (rgb - torch.tensor([10., 20, 30]).view(3, 1, 1)) / torch.tensor(
        [2., 4, 5]).view(3, 1, 1)
    assert torch.allclose(x[0, :3], expected)
    assert x[0, 3].unique().tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    ds = out['data_samples'][0]
    assert ds.gt_alpha.dtype == torch.float32 and float(ds.gt_alpha.max()) <= 1.0
    assert torch.allclose(ds.gt_fg, img.flip(0).float() / 255)  # RGB like the input


def test_uint8_and_float_packing_give_the_same_batch():
    pre = MattorPreprocessor()
    img8, s8 = packed(5, 7, torch.uint8)
    imgf, sf = packed(5, 7, torch.float32)
    a = pre({'inputs': [img8], 'data_samples': [s8]})
    b = pre({'inputs': [imgf], 'data_samples': [sf]})
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'][0].gt_fg, b['data_samples'][0].gt_fg)


def test_label_trimap_and_padding_of_mixed_sizes():
    pre = MattorPreprocessor(proc_trimap='label')
    (i1, s1), (i2, s2) = packed(4, 6), packed(6, 3, seed=1)
    x = pre({'inputs': [i1, i2], 'data_samples': [s1, s2]})['inputs']
    assert x.shape == (2, 4, 6, 6)
    assert set(x[0, 3].unique().tolist()) == {0.0, 1.0, 2.0}
    # the narrower sample is padded at the right: black image, background trimap
    assert torch.count_nonzero(x[1, 3, :, 3:]) == 0
    black = (torch.zeros(3) - pre.mean.view(3)) / pre.std.view(3)
    assert torch.allclose(x[1, :3, :, 3:], black.view(3, 1, 1).expand(3, 6, 3))


def test_missing_trimap_is_a_clear_error():
    pre = MattorPreprocessor()
    img, _ = packed(4, 4)
    sample = MattingDataSample(metainfo=dict(merged_path='a.png'))
    with pytest.raises(KeyError, match=r"samples without a trimap \(\['a.png'\]\)"):
        pre({'inputs': [img], 'data_samples': [sample]})
    free = MattorPreprocessor(trimap_required=False)
    assert free({'inputs': [img], 'data_samples': [sample]})['inputs'].shape == (1, 3, 4, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match='proc_trimap must be one of'):
        MattorPreprocessor(proc_trimap='onehot')
    with pytest.raises(ValueError, match='mean and std need 3 values'):
        MattorPreprocessor(mean=(1, 2))
