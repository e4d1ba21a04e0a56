"""MattingInferencer on DIM: trimap, mask, refused guidance, odd sizes, inputs of every
kind, results, and equality with the test path of tools/test.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mattebox.apis import GuidanceError, InputError, MattingInferencer
from mattebox.guidance import band_width_for, trimap_from_mask
from tests.conftest import ROOT


@pytest.fixture(scope='module')
def matter(dim_files):
    config, checkpoint = dim_files
    return MattingInferencer(config, checkpoint, device='cpu')


def first_test_sample(root):
    with open(osp.join(root, 'test_list.json')) as f:
        entry = json.load(f)['data_list'][0]
    return {k: osp.join(root, v) for k, v in entry.items() if k.endswith('_path')}


def test_alpha_with_a_trimap_equals_the_test_path(matter, dim_files, synthetic_root, tmp_path):
    """The API's alpha, quantised, is exactly what tools/test.py --save-pred writes."""
    config, checkpoint = dim_files
    pred_dir = tmp_path / 'pred'
    proc = subprocess.run([sys.executable, 'tools/test.py', config, checkpoint, '--save-pred',
                           str(pred_dir), '--work-dir', str(tmp_path / 'w')], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ,
                                                               'PYTHONPATH': ROOT})
    assert proc.returncode == 0, proc.stderr[-3000:]
    paths = first_test_sample(synthetic_root)
    result = matter(paths['merged_path'], trimap=paths['trimap_path'])
    assert result.alpha.dtype == np.float32 and result.alpha.shape == (64, 64)
    saved = cv2.imread(str(pred_dir / osp.basename(paths['merged_path'])), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(result.alpha_uint8, saved)
    trimap = cv2.imread(paths['trimap_path'], cv2.IMREAD_GRAYSCALE)
    assert (result.alpha[trimap == 255] == 1).all() and (result.alpha[trimap == 0] == 0).all()
    unknown = result.alpha[trimap == 128]
    assert ((unknown > 0) & (unknown < 1)).any()


def test_image_inputs_of_every_kind_agree(matter, synthetic_root):
    from PIL import Image
    paths = first_test_sample(synthetic_root)
    trimap = cv2.imread(paths['trimap_path'], cv2.IMREAD_GRAYSCALE)
    rgb = cv2.imread(paths['merged_path'])[..., ::-1].copy()
    reference = matter(paths['merged_path'], trimap=paths['trimap_path']).alpha
    assert np.array_equal(matter(rgb, trimap=trimap).alpha, reference)
    assert np.array_equal(matter(Image.fromarray(rgb), trimap=Image.fromarray(trimap)).alpha,
                          reference)
    as_float = matter(rgb.astype(np.float32) / 255, trimap=trimap)
    assert as_float.image.dtype == np.float32  # used as is, no round trip through uint8
    np.testing.assert_allclose(as_float.alpha, reference, atol=1e-4)


def test_a_mask_becomes_a_trimap_band(matter, synthetic_root):
    paths = first_test_sample(synthetic_root)
    alpha = cv2.imread(paths['alpha_path'], cv2.IMREAD_GRAYSCALE)
    mask = np.where(alpha > 128, 255, 0).astype(np.uint8)
    result = matter(paths['merged_path'], mask=mask, band_width=3)
    expected = trimap_from_mask(mask, 3)
    assert np.array_equal(result.guidance['trimap'], expected)
    assert result.guidance['notes'] == ['trimap made from the mask (unknown band 3 px on '
                                        'each side)']
    assert np.array_equal(matter(paths['merged_path'], trimap=expected).alpha, result.alpha)
    default = matter(paths['merged_path'], mask=mask)
    assert np.array_equal(default.guidance['trimap'],
                          trimap_from_mask(mask, band_width_for(mask.shape)))


def test_guidance_dim_cannot_take_is_refused_with_what_it_takes(matter, synthetic_root):
    paths = first_test_sample(synthetic_root)
    with pytest.raises(GuidanceError) as info:
        matter(paths['merged_path'], box=(10, 10, 40, 50))
    assert str(info.value).startswith('DIM takes trimap; it cannot use a box')
    with pytest.raises(GuidanceError, match='DIM takes trimap; it cannot use text'):
        matter(paths['merged_path'], trimap=paths['trimap_path'], text='the cat')
    with pytest.raises(GuidanceError, match=r'DIM needs a trimap; none was given\. Give '
                       r'trimap= \(--trimap\), or mask= \(--mask\), made into a trimap band'):
        matter(paths['merged_path'])
    with pytest.raises(GuidanceError, match='give either a trimap or a mask'):
        matter(paths['merged_path'], trimap=paths['trimap_path'],
               mask=np.zeros((64, 64), np.uint8))


def test_families_taking_a_kind_are_named(matter, synthetic_root):
    """The refusal lists the registered families that take what was given."""
    from mattebox.guidance import GuidanceSpec
    from mattebox.models.base_mattor import BaseMattor
    from mattebox.registry import MODELS

    @MODELS.register_module(force=True)
    class BoxMatter(BaseMattor):
        guidance_spec = GuidanceSpec(one_of=('boxes', 'points'))

    try:
        with pytest.raises(GuidanceError, match='families that take a box: BoxMatter'):
            matter(first_test_sample(synthetic_root)['merged_path'], box=(1, 1, 5, 5))
    finally:
        MODELS._module_dict.pop('BoxMatter')


def test_odd_sizes_come_back_at_their_own_size(matter):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (77, 101, 3), dtype=np.uint8)
    trimap = np.zeros((77, 101), np.uint8)
    trimap[20:60, 30:80] = 128
    trimap[30:50, 40:70] = 255
    result = matter(image, trimap=trimap)
    assert result.alpha.shape == (77, 101)
    assert (result.alpha[trimap == 0] == 0).all() and (result.alpha[trimap == 255] == 1).all()
    cutout = result.cutout()
    assert cutout.shape == (77, 101, 4) and cutout.dtype == np.uint8
    assert np.array_equal(cutout[..., 3], result.alpha_uint8)
    green = result.composite((0, 177, 64))
    assert green.shape == (77, 101, 3)
    assert (green[trimap == 0] == [0, 177, 64]).all()
    assert np.array_equal(green[trimap == 255], result.foreground[trimap == 255])


def test_bad_inputs_name_the_problem(matter, tmp_path):
    image = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(InputError, match=r'trimap: trimap values must be 0, 128 and 255, '
                       r'found \[1, 2\]'):
        matter(image, trimap=np.tile(np.array([0, 1, 2], np.uint8), (20, 10)))
    with pytest.raises(GuidanceError, match=r'trimap: 10 x 20 pixels, the image 30 x 20'):
        matter(image, trimap=np.zeros((20, 10), np.uint8))
    with pytest.raises(InputError, match='image file not found'):
        matter(str(tmp_path / 'nope.jpg'), trimap=np.zeros((20, 30), np.uint8))
    with pytest.raises(InputError, match=r'a float image must lie in \[0, 1\]'):
        matter(image.astype(np.float32) + 2, trimap=np.zeros((20, 30), np.uint8))
    with pytest.raises(InputError, match='expected an H x W x 3 RGB array'):
        matter(np.zeros((20, 30, 4), np.uint8), trimap=np.zeros((20, 30), np.uint8))


def test_a_checkpoint_of_another_model_is_refused(dim_files, tmp_path):
    from mattebox.engine.checkpoint import CheckpointMismatchError
    config, checkpoint = dim_files
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    wide = {k: torch.zeros(*(2 * s for s in v.shape)) if k.endswith('layer1.0.weight') else v
            for k, v in state.items()}
    wide['extra.weight'] = torch.zeros(1)
    del wide['backbone.decoder.deconv1.bias']
    torch.save({'state_dict': wide}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointMismatchError) as info:
        MattingInferencer(config, str(tmp_path / 'other.pth'), device='cpu')
    msg = str(info.value)
    assert 'does not fit the DIM of the config' in msg
    assert 'missing keys 1: backbone.decoder.deconv1.bias' in msg
    assert 'unexpected keys 1: extra.weight' in msg
    assert 'shape mismatches 1: backbone.encoder.layer1.0.weight' in msg
