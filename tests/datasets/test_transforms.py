"""Tests of the data transforms (mattebox.datasets.transforms)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

from mattebox.datasets import AdobeComp1kDataset
from mattebox.datasets.transforms import (CropAroundUnknown, Flip, GenerateTrimap,
                                          LoadImageFromFile, PackMattingInputs, Resize,
                                          read_image)
from mattebox.registry import TRANSFORMS
from mattebox.structures import MattingDataSample

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
H, W = 20, 30
TRIMAP_VALUES = {0, 128, 255}


# ----------------------------------------------------------------------------- helpers
def _position_image(h: int = H, w: int = W) -> np.ndarray:
    """A BGR uint8 image whose pixel (y, x) is (y, x, (y + 2 x) % 256)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([ys, xs, (ys + 2 * xs) % 256], axis=-1).astype(np.uint8)


def _one_unknown_alpha(y: int, x: int, h: int = H, w: int = W) -> np.ndarray:
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, w // 2:] = 255
    alpha[y, x] = 100 if alpha[y, x] == 0 else 200
    return alpha


def _disk_alpha(h: int = 40, w: int = 50) -> np.ndarray:
    """An opaque disk with a soft (bilinear) edge: values 0, 255 and in between."""
    big = np.zeros((h * 4, w * 4), np.uint8)
    cv2.circle(big, (w * 2, h * 2), min(h, w) * 4 // 3, 255, -1)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)


def _write(path, img) -> str:
    assert cv2.imwrite(str(path), img)
    return str(path)


# ------------------------------------------------------------------ LoadImageFromFile
class TestLoadImageFromFile:

    def test_color_image_round_trip(self, tmp_path):
        rng = np.random.RandomState(0)
        img = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
        path = _write(tmp_path / 'merged.png', img)
        out = LoadImageFromFile(key='merged')({'merged_path': path})
        assert out['merged'].dtype == np.uint8
        assert out['merged'].shape == (H, W, 3)
        np.testing.assert_array_equal(out['merged'], img)
        assert tuple(out['ori_shape']) == (H, W)
        assert tuple(out['ori_merged_shape']) == (H, W)
        assert 'ori_merged' not in out

    def test_grayscale_image_round_trip(self, tmp_path):
        rng = np.random.RandomState(1)
        alpha = rng.randint(0, 256, (H, W), dtype=np.uint8)
        path = _write(tmp_path / 'alpha.png', alpha)
        out = LoadImageFromFile(key='alpha', color_type='grayscale')({'alpha_path': path})
        assert out['alpha'].dtype == np.uint8
        assert out['alpha'].shape == (H, W)
        np.testing.assert_array_equal(out['alpha'], alpha)

    def test_grayscale_file_loaded_as_color_repeats_the_channel(self, tmp_path):
        alpha = np.arange(H * W, dtype=np.uint8).reshape(H, W)
        path = _write(tmp_path / 'alpha.png', alpha)
        out = LoadImageFromFile(key='fg', color_type='color')({'fg_path': path})
        assert out['fg'].shape == (H, W, 3)
        for c in range(3):
            np.testing.assert_array_equal(out['fg'][..., c], alpha)

    def test_unchanged_keeps_the_alpha_channel(self, tmp_path):
        rng = np.random.RandomState(2)
        img = rng.randint(0, 256, (H, W, 4), dtype=np.uint8)
        path = _write(tmp_path / 'rgba.png', img)
        out = LoadImageFromFile(key='fg', color_type='unchanged')({'fg_path': path})
        assert out['fg'].shape == (H, W, 4)
        np.testing.assert_array_equal(out['fg'], img)

    def test_save_original_img_is_an_independent_copy(self, tmp_path):
        alpha = np.full((H, W), 77, np.uint8)
        path = _write(tmp_path / 'alpha.png', alpha)
        out = LoadImageFromFile(key='alpha', color_type='grayscale',
                                save_original_img=True)({'alpha_path': path})
        assert out['ori_alpha'].dtype == np.uint8
        assert not np.shares_memory(out['alpha'], out['ori_alpha'])
        out['alpha'][:] = 0
        out['alpha'] = out['alpha'][:5]
        np.testing.assert_array_equal(out['ori_alpha'], alpha)

    def test_ori_shape_is_set_by_the_first_image(self, tmp_path):
        big = _write(tmp_path / 'big.png', np.zeros((H, W), np.uint8))
        small = _write(tmp_path / 'small.png', np.zeros((7, 9, 3), np.uint8))
        results = {'alpha_path': big, 'merged_path': small}
        results = LoadImageFromFile(key='alpha', color_type='grayscale')(results)
        results = LoadImageFromFile(key='merged')(results)
        assert tuple(results['ori_shape']) == (H, W)
        assert tuple(results['ori_alpha_shape']) == (H, W)
        assert tuple(results['ori_merged_shape']) == (7, 9)

    def test_missing_file_names_key_and_path(self, tmp_path):
        path = str(tmp_path / 'nope' / 'missing.png')
        with pytest.raises(FileNotFoundError) as e:
            LoadImageFromFile(key='alpha', color_type='grayscale')({'alpha_path': path})
        assert path in str(e.value)
        assert "'alpha'" in str(e.value)

    @pytest.mark.parametrize('content', ['truncated', 'garbage', 'empty'])
    def test_undecodable_file_raises_value_error_naming_path(self, tmp_path, content):
        ok, buf = cv2.imencode('.png', _position_image())
        assert ok
        data = {'truncated': buf.tobytes()[:len(buf) // 2],
                'garbage': b'this is not a png at all' * 10,
                'empty': b''}[content]
        path = tmp_path / f'{content}.png'
        path.write_bytes(data)
        with pytest.raises(ValueError) as e:
            LoadImageFromFile(key='merged')({'merged_path': str(path)})
        assert str(path) in str(e.value)
        assert "'merged'" in str(e.value)

    def test_missing_path_key_raises_key_error_naming_it(self):
        with pytest.raises(KeyError, match='trimap_path'):
            LoadImageFromFile(key='trimap', color_type='grayscale')({'alpha_path': 'a.png'})

    def test_bad_color_type(self, tmp_path):
        with pytest.raises(ValueError, match="'rgb'"):
            LoadImageFromFile(key='merged', color_type='rgb')
        path = _write(tmp_path / 'a.png', np.zeros((H, W), np.uint8))
        with pytest.raises(ValueError, match="'rgb'"):
            read_image(path, color_type='rgb')

    def test_read_image_without_key(self, tmp_path):
        img = _position_image()
        path = _write(tmp_path / 'a.png', img)
        np.testing.assert_array_equal(read_image(path), img)
        missing = str(tmp_path / 'b.png')
        with pytest.raises(FileNotFoundError, match=missing):
            read_image(missing)

    def test_built_from_registry(self):
        t = TRANSFORMS.build(dict(type='LoadImageFromFile', key='alpha',
                                  color_type='grayscale', save_original_img=True))
        assert isinstance(t, LoadImageFromFile)
        assert (t.key, t.color_type, t.save_original_img) == ('alpha', 'grayscale', True)


# ------------------------------------------------------------------ CropAroundUnknown
class TestCropAroundUnknown:

    @pytest.mark.parametrize('y,x', [(10, 14), (0, 0), (19, 29), (0, 29), (19, 0), (5, 3)])
    def test_crop_contains_the_only_unknown_pixel(self, y, x):
        np.random.seed(0)
        alpha = _one_unknown_alpha(y, x)
        merged = _position_image()
        results = {'alpha': alpha.copy(), 'merged': merged.copy()}
        out = CropAroundUnknown(keys=['alpha', 'merged'], crop_sizes=[8])(results)
        left, top, cw, ch = out['crop_bbox']
        assert (cw, ch) == (8, 8)
        assert out['alpha'].shape == (8, 8)
        assert out['merged'].shape == (8, 8, 3)
        assert top <= y < top + 8 and left <= x < left + 8
        assert 0 <= top <= H - 8 and 0 <= left <= W - 8
        np.testing.assert_array_equal(out['alpha'], alpha[top:top + 8, left:left + 8])
        np.testing.assert_array_equal(out['merged'], merged[top:top + 8, left:left + 8])
        unknown = (out['alpha'] > 0) & (out['alpha'] < 255)
        assert unknown.sum() == 1
        # merged encodes its position: the crop is aligned with the alpha crop
        assert out['merged'][0, 0, 0] == top and out['merged'][0, 0, 1] == left

    def test_crop_is_centred_on_the_pixel_when_it_fits(self):
        np.random.seed(0)
        out = CropAroundUnknown(keys=['alpha'], crop_sizes=8)(
            {'alpha': _one_unknown_alpha(10, 14)})
        assert out['crop_bbox'] == [14 - 4, 10 - 4, 8, 8]

    def test_no_unknown_pixel_crops_the_centre(self):
        alpha = np.zeros((H, W), np.uint8)
        alpha[:, :7] = 255
        out = CropAroundUnknown(keys=['alpha'], crop_sizes=[10])({'alpha': alpha})
        assert out['crop_bbox'] == [W // 2 - 5, H // 2 - 5, 10, 10]
        np.testing.assert_array_equal(out['alpha'], alpha[5:15, 10:20])

    def test_random_crop_size_and_pixel_with_all_keys_aligned(self):
        np.random.seed(3)
        alpha = _disk_alpha(H, W)
        merged = _position_image()
        fg = 255 - merged
        sizes_seen = set()
        for _ in range(30):
            results = {'alpha': alpha.copy(), 'merged': merged.copy(), 'fg': fg.copy()}
            out = CropAroundUnknown(keys=['alpha', 'merged', 'fg'],
                                    crop_sizes=[4, 6, 12])(results)
            left, top, s, s2 = out['crop_bbox']
            assert s == s2 and s in (4, 6, 12)
            sizes_seen.add(s)
            assert out['alpha'].shape == (s, s)
            assert out['merged'].shape == (s, s, 3)
            np.testing.assert_array_equal(out['alpha'], alpha[top:top + s, left:left + s])
            np.testing.assert_array_equal(out['merged'], merged[top:top + s, left:left + s])
            np.testing.assert_array_equal(out['fg'], fg[top:top + s, left:left + s])
            # centred on an unknown pixel, so the crop holds at least one
            assert ((out['alpha'] > 0) & (out['alpha'] < 255)).any()
        assert sizes_seen == {4, 6, 12}

    def test_small_image_is_upscaled_then_cropped(self):
        np.random.seed(0)
        alpha = _disk_alpha(H, W)
        merged = _position_image()
        results = {'alpha': alpha.copy(), 'merged': merged.copy()}
        out = CropAroundUnknown(keys=['alpha', 'merged'], crop_sizes=[40],
                                interpolations=['nearest', 'bilinear'])(results)
        # scale = max(40 / 20, 40 / 30) = 2 -> 40 x 60, then a 40 x 40 crop
        assert out['alpha'].shape == (40, 40)
        assert out['merged'].shape == (40, 40, 3)
        left, top, s, _ = out['crop_bbox']
        assert top == 0 and 0 <= left <= 20 and s == 40
        big_alpha = cv2.resize(alpha, (60, 40), interpolation=cv2.INTER_NEAREST)
        big_merged = cv2.resize(merged, (60, 40), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(out['alpha'], big_alpha[:, left:left + 40])
        np.testing.assert_array_equal(out['merged'], big_merged[:, left:left + 40])
        assert set(np.unique(out['alpha'])) <= set(np.unique(alpha))

    def test_upscale_when_only_one_side_is_too_small(self):
        np.random.seed(0)
        alpha = _disk_alpha(H, W)
        out = CropAroundUnknown(keys=['alpha'], crop_sizes=[25])({'alpha': alpha})
        assert out['alpha'].shape == (25, 25)
        left, top, s, _ = out['crop_bbox']
        assert top == 0 and 0 <= left <= 38 - 25

    def test_trimap_source_uses_the_128_pixels(self):
        np.random.seed(0)
        alpha = _one_unknown_alpha(2, 2)        # alpha's unknown pixel: top left
        trimap = np.zeros((H, W), np.uint8)
        trimap[:, W // 2:] = 255
        trimap[17, 27] = 128                    # trimap's unknown pixel: bottom right
        out = CropAroundUnknown(keys=['alpha', 'trimap'], crop_sizes=[6],
                                unknown_source='trimap')({'alpha': alpha, 'trimap': trimap})
        left, top, _, _ = out['crop_bbox']
        assert top <= 17 < top + 6 and left <= 27 < left + 6
        assert (out['trimap'] == 128).sum() == 1
        np.testing.assert_array_equal(out['alpha'], alpha[top:top + 6, left:left + 6])

    def test_missing_key_names_it(self):
        with pytest.raises(KeyError, match="'fg'"):
            CropAroundUnknown(keys=['alpha', 'fg'], crop_sizes=[8])(
                {'alpha': _one_unknown_alpha(3, 3)})

    def test_size_mismatch_names_the_keys(self):
        results = {'alpha': np.zeros((H, W), np.uint8),
                   'merged': np.zeros((H + 1, W, 3), np.uint8),
                   'merged_path': 'somewhere/merged.png'}
        with pytest.raises(ValueError) as e:
            CropAroundUnknown(keys=['alpha', 'merged'], crop_sizes=[8])(results)
        msg = str(e.value)
        assert "'alpha'" in msg and "'merged'" in msg
        assert 'somewhere/merged.png' in msg

    @pytest.mark.parametrize('kwargs,match', [
        (dict(keys=['alpha'], crop_sizes=[0]), 'crop_sizes'),
        (dict(keys=['alpha'], crop_sizes=[]), 'crop_sizes'),
        (dict(keys=['alpha'], crop_sizes=[8, -2]), 'crop_sizes'),
        (dict(keys=['alpha'], crop_sizes=[8], unknown_source='fg'), 'unknown_source'),
        (dict(keys=['merged'], crop_sizes=[8]), 'unknown_source'),
        (dict(keys=['alpha', 'merged'], crop_sizes=[8], interpolations=['nearest']),
         'interpolations'),
        (dict(keys=['alpha'], crop_sizes=[8], interpolations='cubic-ish'), 'interpolation'),
    ])
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            CropAroundUnknown(**kwargs)

    def test_non_integer_crop_size_rejected_at_construction(self):
        with pytest.raises(ValueError, match='crop_sizes'):
            CropAroundUnknown(keys=['alpha'], crop_sizes=[8.5])


# ---------------------------------------------------------------------------- Flip
class TestFlip:

    @pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
    def test_always_flip(self, direction):
        alpha = _disk_alpha(H, W)
        merged = _position_image()
        trimap = np.full((H, W), 128, np.uint8)
        trimap[0, 0] = 0
        results = {'alpha': alpha.copy(), 'merged': merged.copy(), 'trimap': trimap.copy()}
        out = Flip(keys=['alpha', 'merged'], flip_ratio=1, direction=direction)(results)
        if direction == 'horizontal':
            np.testing.assert_array_equal(out['alpha'], alpha[:, ::-1])
            np.testing.assert_array_equal(out['merged'], merged[:, ::-1])
        else:
            np.testing.assert_array_equal(out['alpha'], alpha[::-1])
            np.testing.assert_array_equal(out['merged'], merged[::-1])
        np.testing.assert_array_equal(out['trimap'], trimap)   # not in keys: untouched
        assert out['flip'] is True
        assert out['flip_direction'] == direction
        assert out['merged'].flags['C_CONTIGUOUS']

    def test_never_flip(self):
        alpha = _disk_alpha(H, W)
        merged = _position_image()
        out = Flip(keys=['alpha', 'merged'], flip_ratio=0)(
            {'alpha': alpha.copy(), 'merged': merged.copy()})
        np.testing.assert_array_equal(out['alpha'], alpha)
        np.testing.assert_array_equal(out['merged'], merged)
        assert out['flip'] is False

    def test_random_flip_keeps_keys_together(self):
        np.random.seed(0)
        merged = _position_image()
        flips = []
        for _ in range(200):
            out = Flip(keys=['merged', 'fg'], flip_ratio=0.5)(
                {'merged': merged.copy(), 'fg': merged.copy()})
            np.testing.assert_array_equal(out['merged'], out['fg'])
            expected = merged[:, ::-1] if out['flip'] else merged
            np.testing.assert_array_equal(out['merged'], expected)
            flips.append(out['flip'])
        assert 60 < sum(flips) < 140

    def test_errors(self):
        with pytest.raises(ValueError, match='flip_ratio'):
            Flip(keys=['alpha'], flip_ratio=1.5)
        with pytest.raises(ValueError, match='diagonal'):
            Flip(keys=['alpha'], direction='diagonal')
        with pytest.raises(KeyError, match="'fg'"):
            Flip(keys=['alpha', 'fg'], flip_ratio=1)({'alpha': np.zeros((H, W), np.uint8)})


# -------------------------------------------------------------------------- Resize
class TestResize:

    def test_fixed_size_scale_is_width_height(self):
        alpha = _disk_alpha(H, W)
        merged = _position_image()
        out = Resize(keys=['alpha', 'merged'], scale=(50, 40))(
            {'alpha': alpha, 'merged': merged})
        assert out['alpha'].shape == (40, 50)
        assert out['merged'].shape == (40, 50, 3)
        assert tuple(out['img_shape']) == (40, 50)
        np.testing.assert_array_equal(
            out['merged'], cv2.resize(merged, (50, 40), interpolation=cv2.INTER_LINEAR))

    @pytest.mark.parametrize('scale,expected', [((60, 60), (40, 60)), ((15, 100), (10, 15)),
                                                ((300, 25), (25, 38))])
    def test_keep_ratio_fits_inside_scale(self, scale, expected):
        out = Resize(keys=['merged'], scale=scale, keep_ratio=True)(
            {'merged': _position_image()})
        assert out['merged'].shape == expected + (3,)
        assert tuple(out['img_shape']) == expected

    def test_nearest_keeps_alpha_values(self):
        rng = np.random.RandomState(0)
        values = np.array([0, 77, 255], np.uint8)
        alpha = values[rng.randint(0, 3, (H, W))]
        merged = _position_image()
        out = Resize(keys=['alpha', 'merged'], scale=(47, 33),
                     interpolation=['nearest', 'bilinear'])({'alpha': alpha, 'merged': merged})
        assert out['alpha'].shape == (33, 47)
        assert set(np.unique(out['alpha'])) <= {0, 77, 255}
        np.testing.assert_array_equal(
            out['alpha'], cv2.resize(alpha, (47, 33), interpolation=cv2.INTER_NEAREST))
        # bilinear does create new values
        bilinear = Resize(keys=['alpha'], scale=(47, 33))({'alpha': alpha})['alpha']
        assert not set(np.unique(bilinear)) <= {0, 77, 255}

    def test_errors(self):
        with pytest.raises(ValueError, match='scale'):
            Resize(keys=['alpha'], scale=(0, 10))
        with pytest.raises(ValueError, match='scale'):
            Resize(keys=['alpha'], scale=(10, 10, 3))
        with pytest.raises(ValueError, match='interpolation'):
            Resize(keys=['alpha'], scale=(10, 10), interpolation='fancy')
        with pytest.raises(ValueError, match='interpolation'):
            Resize(keys=['alpha', 'merged'], scale=(10, 10), interpolation=['nearest'])
        with pytest.raises(KeyError, match="'merged'"):
            Resize(keys=['alpha', 'merged'], scale=(10, 10))(
                {'alpha': np.zeros((H, W), np.uint8)})
        with pytest.raises(ValueError, match="'merged'"):
            Resize(keys=['alpha', 'merged'], scale=(10, 10))(
                {'alpha': np.zeros((H, W), np.uint8), 'merged': np.zeros((H, 3, 3), np.uint8)})


# ------------------------------------------------------------------ GenerateTrimap
def _expected_trimap(alpha, erode_size, dilate_size, iterations):
    ellipse = lambda s: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (s, s))  # noqa: E731
    eroded = cv2.erode(alpha, ellipse(erode_size), iterations=iterations)
    dilated = cv2.dilate(alpha, ellipse(dilate_size), iterations=iterations)
    trimap = np.full_like(alpha, 128)
    trimap[eroded == 255] = 255
    trimap[dilated == 0] = 0
    return trimap


class TestGenerateTrimap:

    def test_kernel_one_keeps_alpha_classes(self):
        alpha = _disk_alpha()
        out = GenerateTrimap(kernel_size=1, iterations=1)({'alpha': alpha})
        trimap = out['trimap']
        assert trimap.dtype == np.uint8 and trimap.shape == alpha.shape
        np.testing.assert_array_equal(trimap == 255, alpha == 255)
        np.testing.assert_array_equal(trimap == 0, alpha == 0)
        np.testing.assert_array_equal(trimap == 128, (alpha > 0) & (alpha < 255))

    @pytest.mark.parametrize('iterations', [1, 2])
    def test_non_random_matches_cv2(self, iterations):
        alpha = _disk_alpha()
        out = GenerateTrimap(kernel_size=(3, 4), iterations=iterations, random=False)(
            {'alpha': alpha.copy()})
        expected = _expected_trimap(alpha, 3, 3, iterations)
        np.testing.assert_array_equal(out['trimap'], expected)
        assert (out['trimap'] == 128).sum() > ((alpha > 0) & (alpha < 255)).sum()

    def test_non_random_uses_the_smallest_kernel(self):
        alpha = _disk_alpha()
        out = GenerateTrimap(kernel_size=(5, 12), iterations=(2, 4), random=False)(
            {'alpha': alpha})
        np.testing.assert_array_equal(out['trimap'], _expected_trimap(alpha, 5, 5, 2))

    def test_random_trimap_properties(self):
        alpha = _disk_alpha()
        semi = (alpha > 0) & (alpha < 255)
        candidates_fg = {k: cv2.erode(alpha, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (k, k))) == 255 for k in range(1, 10)}
        candidates_bg = {k: cv2.dilate(alpha, cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (k, k))) == 0 for k in range(1, 10)}
        np.random.seed(0)
        unknown_counts = set()
        for _ in range(20):
            trimap = GenerateTrimap(kernel_size=(1, 10))({'alpha': alpha.copy()})['trimap']
            assert set(np.unique(trimap)) <= TRIMAP_VALUES
            assert (trimap[semi] == 128).all()
            assert (alpha[trimap == 255] == 255).all()
            assert (alpha[trimap == 0] == 0).all()
            assert any(np.array_equal(trimap == 255, m) for m in candidates_fg.values())
            assert any(np.array_equal(trimap == 0, m) for m in candidates_bg.values())
            unknown_counts.add(int((trimap == 128).sum()))
        assert len(unknown_counts) > 3    # kernels are actually drawn at random

    @pytest.mark.parametrize('kwargs,match', [
        (dict(kernel_size=0), 'kernel_size'),
        (dict(kernel_size=(5, 5)), 'kernel_size'),
        (dict(kernel_size=(0, 3)), 'kernel_size'),
        (dict(kernel_size=(6, 2)), 'kernel_size'),
        (dict(iterations=0), 'iterations'),
        (dict(iterations=(2, 2)), 'iterations'),
    ])
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            GenerateTrimap(**kwargs)

    @pytest.mark.parametrize('kernel_size', [(1, 5, 9), 2.5])
    def test_malformed_kernel_size_names_the_argument(self, kernel_size):
        with pytest.raises(ValueError, match='kernel_size'):
            GenerateTrimap(kernel_size=kernel_size)

    def test_numpy_integer_kernel_size(self):
        assert GenerateTrimap(kernel_size=np.int64(3)).kernel_size == (3, 4)

    def test_bad_alpha(self):
        t = GenerateTrimap(kernel_size=3)
        with pytest.raises(ValueError, match='float32') as e:
            t({'alpha': np.zeros((H, W), np.float32), 'alpha_path': 'x/alpha.png'})
        assert 'x/alpha.png' in str(e.value)
        with pytest.raises(ValueError, match=r'\(20, 30, 3\)'):
            t({'alpha': np.zeros((H, W, 3), np.uint8)})
        with pytest.raises(KeyError, match="'alpha'"):
            t({'merged': np.zeros((H, W, 3), np.uint8)})


# ---------------------------------------------------------------- PackMattingInputs
class TestPackMattingInputs:

    def _results(self):
        rng = np.random.RandomState(0)
        merged = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
        fg = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
        bg = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
        alpha = _disk_alpha(H, W)
        trimap = _expected_trimap(alpha, 3, 3, 1)
        return dict(merged=merged, fg=fg, bg=bg, alpha=alpha, trimap=trimap,
                    ori_alpha=alpha.copy(), ori_trimap=trimap.copy(),
                    merged_path='d/merged.png', alpha_path='d/alpha.png',
                    ori_shape=(40, 60), sample_idx=3, crop_bbox=[1, 2, 20, 20], flip=True,
                    flip_direction='horizontal')

    def test_full_sample(self):
        r = self._results()
        out = PackMattingInputs()(dict(r))
        assert set(out) == {'inputs', 'data_samples'}
        inputs = out['inputs']
        assert inputs.dtype == torch.uint8 and inputs.shape == (3, H, W)
        np.testing.assert_array_equal(inputs.numpy(), r['merged'].transpose(2, 0, 1))
        s = out['data_samples']
        assert isinstance(s, MattingDataSample)
        for field, key, shape in [('gt_alpha', 'alpha', (1, H, W)), ('trimap', 'trimap', (1, H, W)),
                                  ('gt_fg', 'fg', (3, H, W)), ('gt_bg', 'bg', (3, H, W)),
                                  ('gt_merged', 'merged', (3, H, W))]:
            t = s.get(field)
            assert t.dtype == torch.uint8 and tuple(t.shape) == shape, field
            expected = r[key][None] if r[key].ndim == 2 else r[key].transpose(2, 0, 1)
            np.testing.assert_array_equal(t.numpy(), expected)
        for key in ('ori_alpha', 'ori_trimap'):
            t = s.get(key)
            assert t.dtype == torch.uint8 and tuple(t.shape) == (H, W)
            np.testing.assert_array_equal(t.numpy(), r[key])
        assert set(torch.unique(s.trimap).tolist()) <= TRIMAP_VALUES
        meta = s.metainfo
        assert meta['ori_shape'] == (40, 60)
        assert meta['img_shape'] == (H, W)
        assert meta['merged_path'] == 'd/merged.png'
        assert meta['alpha_path'] == 'd/alpha.png'
        assert meta['sample_idx'] == 3
        assert meta['crop_bbox'] == [1, 2, 20, 20]
        assert meta['flip'] is True
        assert 'flip_direction' not in meta   # not a default meta key

    def test_custom_meta_keys(self):
        out = PackMattingInputs(meta_keys=['flip_direction'])(self._results())
        meta = out['data_samples'].metainfo
        assert meta['flip_direction'] == 'horizontal'
        assert 'sample_idx' not in meta

    def test_merged_only(self):
        merged = _position_image()
        out = PackMattingInputs()({'merged': merged})
        s = out['data_samples']
        assert s.metainfo['ori_shape'] == (H, W)
        assert s.metainfo['img_shape'] == (H, W)
        assert 'gt_alpha' not in s and 'trimap' not in s
        with pytest.raises(AttributeError, match='gt_alpha'):
            s.gt_alpha

    def test_missing_merged(self):
        r = self._results()
        del r['merged']
        with pytest.raises(KeyError, match="'merged'"):
            PackMattingInputs()(r)


# ------------------------------------------------------------------------ pipelines
@pytest.fixture(scope='module')
def dataset_cfg():
    return Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/synthetic.py'))


def test_test_pipeline_on_synthetic(synthetic_root, dataset_cfg):
    pipeline = Compose([dict(t) for t in dataset_cfg.test_pipeline])
    dataset = AdobeComp1kDataset(ann_file='test_list.json', data_root=synthetic_root,
                                 test_mode=True, pipeline=dataset_cfg.test_pipeline)
    assert len(dataset) == 4
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        out = dataset[i]
        direct = pipeline(dict(info))
        torch.testing.assert_close(out['inputs'], direct['inputs'])
        assert out['inputs'].shape == (3, 64, 64) and out['inputs'].dtype == torch.uint8
        merged = cv2.imread(info['merged_path'], cv2.IMREAD_COLOR)
        alpha = cv2.imread(info['alpha_path'], cv2.IMREAD_GRAYSCALE)
        trimap = cv2.imread(info['trimap_path'], cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(out['inputs'].numpy(), merged.transpose(2, 0, 1))
        s = out['data_samples']
        assert s.gt_alpha.shape == (1, 64, 64)
        assert s.trimap.shape == (1, 64, 64)
        assert set(torch.unique(s.trimap).tolist()) <= TRIMAP_VALUES
        np.testing.assert_array_equal(s.ori_alpha.numpy(), alpha)
        np.testing.assert_array_equal(s.ori_trimap.numpy(), trimap)
        assert s.ori_alpha.dtype == torch.uint8
        assert s.metainfo['ori_shape'] == (64, 64)
        assert s.metainfo['img_shape'] == (64, 64)
        assert s.metainfo['sample_idx'] == i
        assert s.metainfo['merged_path'] == info['merged_path']


def test_train_pipeline_on_synthetic(synthetic_root, dataset_cfg):
    np.random.seed(0)
    dataset = AdobeComp1kDataset(ann_file='training_list.json', data_root=synthetic_root,
                                 test_mode=False, pipeline=dataset_cfg.train_pipeline)
    assert len(dataset) == 8
    crop_sizes, flips = set(), set()
    for i in range(len(dataset)):
        out = dataset[i]
        s = out['data_samples']
        assert out['inputs'].shape == (3, 64, 64)
        for field, c in [('gt_alpha', 1), ('gt_fg', 3), ('gt_bg', 3), ('gt_merged', 3),
                         ('trimap', 1)]:
            assert tuple(s.get(field).shape) == (c, 64, 64), field
        trimap, alpha = s.trimap[0], s.gt_alpha[0]
        assert set(torch.unique(trimap).tolist()) <= TRIMAP_VALUES
        assert (trimap == 128).any()
        assert (alpha[trimap == 255] == 255).all()
        assert (alpha[trimap == 0] == 0).all()
        assert (trimap[(alpha > 0) & (alpha < 255)] == 128).all()
        # the keys stay aligned: merged is still (about) the composite of fg and bg
        a = s.gt_alpha / 255
        composite = s.gt_fg * a + s.gt_bg * (1 - a)
        assert (composite - s.gt_merged).abs().mean() < 1.0  # misaligned: > 5
        meta = s.metainfo
        assert meta['ori_shape'] == (64, 64)
        assert meta['img_shape'] == (64, 64)
        left, top, cw, ch = meta['crop_bbox']
        assert cw == ch and cw in (64, 96, 128)
        # the 64 x 64 image is no larger than any crop: upscaled to it, cropped whole
        assert (left, top) == (0, 0)
        crop_sizes.add(cw)
        flips.add(meta['flip'])
        assert 'ori_alpha' not in s
    assert len(crop_sizes) > 1
    assert flips == {True, False}


@pytest.mark.parametrize('trimap', [False, True])
def test_random_unknown_pixel_matches_nonzero_draw(trimap):
    """The fast sampler picks exactly the pixel that np.nonzero + randint would, with the
    official definitions of unknown: trimap == 128, 0 < alpha < 255."""
    from mattebox.datasets.transforms.geometry import random_unknown_pixel
    rng = np.random.default_rng(0)
    values = [0, 128, 255] if trimap else [0, 1, 128, 200, 255]
    for case in range(200):
        h, w = rng.integers(1, 40, size=2)
        src = rng.choice(values, size=(h, w)).astype(np.uint8)
        unknown = (src == 128) if trimap else ((src > 0) & (src < 255))
        for as_float in (False, True):
            arr = src.astype(np.float32) if as_float else src
            np.random.seed(case)
            picked = random_unknown_pixel(arr, trimap)
            np.random.seed(case)
            ys, xs = np.nonzero(unknown)
            if len(ys) == 0:
                assert picked is None
            else:
                i = np.random.randint(len(ys))
                assert picked == (int(ys[i]), int(xs[i]))
