"""MattingFolderDataset on the layouts of the public datasets, and the background source
(BackgroundFolder, assign_backgrounds, fit_background, FitBgToFg)."""
import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mattebox.datasets import (BackgroundFolder, DatasetValidationError, MattingFolderDataset,
                               assign_backgrounds, fit_background, list_images)
from mattebox.registry import DATASETS, TRANSFORMS


def _img(path, shape=(6, 8, 3), value=0):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), np.full(shape, value, np.uint8))


def _tree(root, folders, names, exts):
    """``folders[i]`` gets ``name + exts[i]`` for every name."""
    for folder, ext in zip(folders, exts):
        for i, name in enumerate(names):
            gray = any(k in folder.lower() for k in ('mask', 'alpha', 'gt', 'trimap'))
            _img(osp.join(root, folder, name + ext), (6, 8) if gray else (6, 8, 3), 10 * i)


# The layouts of docs/datasets.md, with each dataset's own file names and extensions.
LAYOUTS = {
    'AIM-500': (dict(image_dir='original', alpha_dir='mask', trimap_dir='trimap'),
                ['original', 'mask', 'trimap'], ['.jpg', '.png', '.png'],
                ['o_0a1b2c3d', 'o_ffee0011']),
    'AM-2K train': (dict(image_dir='train/fg', alpha_dir='train/mask'),
                    ['train/fg', 'train/mask'], ['.jpg', '.png'], ['m_0001', 'm_0002']),
    'AM-2K validation': (dict(image_dir='validation/original', alpha_dir='validation/mask',
                              trimap_dir='validation/trimap'),
                         ['validation/original', 'validation/mask', 'validation/trimap'],
                         ['.jpg', '.png', '.png'], ['m_01', 'm_02']),
    'P3M-10k train': (dict(image_dir='train/blurred_image', alpha_dir='train/mask'),
                      ['train/blurred_image', 'train/mask'], ['.jpg', '.png'],
                      ['p_0a1', 'p_0b2']),
    'P3M-500-NP': (dict(image_dir='validation/P3M-500-NP/original_image',
                        alpha_dir='validation/P3M-500-NP/mask',
                        trimap_dir='validation/P3M-500-NP/trimap'),
                   ['validation/P3M-500-NP/original_image', 'validation/P3M-500-NP/mask',
                    'validation/P3M-500-NP/trimap'], ['.jpg', '.png', '.png'], ['p_1', 'p_2']),
    'Distinctions-646 train': (dict(image_dir=None, fg_dir='Train/FG', alpha_dir='Train/GT'),
                               ['Train/FG', 'Train/GT'], ['.png', '.png'], ['a b', 'c']),
}


@pytest.mark.parametrize('name', sorted(LAYOUTS))
def test_public_layouts(tmp_path, name):
    kwargs, folders, exts, names = LAYOUTS[name]
    _tree(str(tmp_path), folders, names, exts)
    ds = MattingFolderDataset(data_root=str(tmp_path), **kwargs)
    assert len(ds) == 2
    info = ds.get_data_info(1)
    keys = {'image_dir': 'merged', 'fg_dir': 'fg', 'alpha_dir': 'alpha',
            'trimap_dir': 'trimap'}
    expected = {f'{keys[arg]}_path': osp.join(str(tmp_path), folder, names[1] + ext)
                for (arg, folder), ext in zip(
                    [(a, f) for a, f in kwargs.items() if f], exts)}
    assert {k: v for k, v in info.items() if k.endswith('_path')} == expected
    assert info['name'] == names[1] and info['sample_idx'] == 1


def test_loads_through_the_test_pipeline(tmp_path):
    _tree(str(tmp_path), ['original', 'mask', 'trimap'], ['x', 'y'], ['.jpg', '.png', '.png'])
    ds = DATASETS.build(dict(
        type='MattingFolderDataset', data_root=str(tmp_path), image_dir='original',
        alpha_dir='mask', trimap_dir='trimap', test_mode=True, pipeline=[
            dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
                 save_original_img=True),
            dict(type='LoadImageFromFile', key='trimap', color_type='grayscale'),
            dict(type='LoadImageFromFile', key='merged'),
            dict(type='PackMattingInputs')]))
    out = ds[1]
    assert out['inputs'].shape == (3, 6, 8)
    assert out['data_samples'].metainfo['merged_path'].endswith('original/y.jpg')
    assert int(out['data_samples'].gt_alpha.max()) == 10


def test_unmatched_files_error_lists_them_all_or_skip(tmp_path):
    _tree(str(tmp_path), ['image', 'alpha'], ['a', 'b', 'c', 'd'], ['.jpg', '.png'])
    os.remove(tmp_path / 'alpha' / 'b.png')
    os.remove(tmp_path / 'alpha' / 'd.png')
    with pytest.raises(FileNotFoundError) as e:
        MattingFolderDataset(data_root=str(tmp_path))
    msg = str(e.value)
    assert '2 sample(s) of image_dir' in msg
    assert f'{tmp_path}/image/b.jpg: no match in {tmp_path}/alpha/b.*' in msg
    assert f'{tmp_path}/image/d.jpg' in msg
    ds = MattingFolderDataset(data_root=str(tmp_path), on_missing='skip')
    assert [ds.get_data_info(i)['name'] for i in range(len(ds))] == ['a', 'c']


def test_missing_folder_and_ambiguous_names(tmp_path):
    _tree(str(tmp_path), ['image'], ['a'], ['.jpg'])
    with pytest.raises(FileNotFoundError, match=r'folder\(s\) not found: alpha_dir='):
        MattingFolderDataset(data_root=str(tmp_path))
    _tree(str(tmp_path), ['alpha', 'alpha'], ['a'], ['.png', '.jpg'])
    with pytest.raises(ValueError, match="two images named 'a'"):
        MattingFolderDataset(data_root=str(tmp_path))
    with pytest.raises(ValueError, match='at least one of'):
        MattingFolderDataset(data_root=str(tmp_path), image_dir=None, alpha_dir=None,
                             bg_dir='alpha')


def test_key_regex_matches_composited_images_with_their_alpha(tmp_path):
    """A Comp-1k-style composed test set: 2 images per alpha (hair_0, hair_1 -> hair)."""
    for k in range(2):
        for n in ('hair', 'net'):
            _img(tmp_path / 'merged' / f'{n}_{k}.png')
    for n in ('hair', 'net'):
        _img(tmp_path / 'alpha' / f'{n}.png', (6, 8))
    ds = MattingFolderDataset(data_root=str(tmp_path), image_dir='merged',
                              key_regex=r'(.+)_\d+')
    assert len(ds) == 4
    assert ds.get_data_info(1)['merged_path'].endswith('hair_1.png')
    assert ds.get_data_info(1)['alpha_path'].endswith('alpha/hair.png')
    with pytest.raises(ValueError, match='does not match the file name'):
        MattingFolderDataset(data_root=str(tmp_path), image_dir='merged',
                             key_regex=r'(.+)_x')


def test_recursive_and_suffixes(tmp_path):
    _img(tmp_path / 'image' / 'a' / '1.jpg')
    _img(tmp_path / 'image' / 'b' / '1.jpg')
    (tmp_path / 'image' / 'notes.txt').write_text('not an image')
    _img(tmp_path / 'alpha' / 'a' / '1.png', (6, 8))
    _img(tmp_path / 'alpha' / 'b' / '1.png', (6, 8))
    ds = MattingFolderDataset(data_root=str(tmp_path), recursive=True)
    assert [ds.get_data_info(i)['name'] for i in range(2)] == ['a/1', 'b/1']
    assert list_images(str(tmp_path / 'image'), recursive=True) == ['a/1.jpg', 'b/1.jpg']


def test_validate_option(tmp_path):
    _tree(str(tmp_path), ['image', 'alpha'], ['a', 'b'], ['.jpg', '.png'])
    MattingFolderDataset(data_root=str(tmp_path), validate=True)
    _img(tmp_path / 'alpha' / 'b.png', (5, 8))
    with pytest.raises(DatasetValidationError, match='size mismatch'):
        MattingFolderDataset(data_root=str(tmp_path), validate='header')


# ------------------------------------------------------------------ background source
def test_background_folder_and_dim_pairing(tmp_path):
    for i in range(5):
        _img(tmp_path / 'bg' / f'{i}.jpg')
    (tmp_path / 'names.txt').write_text('3.jpg\n1.jpg\n')
    folder = BackgroundFolder(str(tmp_path / 'bg'))
    assert len(folder) == 5 and folder[2] == osp.join(str(tmp_path / 'bg'), '2.jpg')
    listed = BackgroundFolder(str(tmp_path / 'bg'), str(tmp_path / 'names.txt'))
    assert listed.names == ['3.jpg', '1.jpg']
    (tmp_path / 'bad.txt').write_text('3.jpg\n9.jpg\n')
    with pytest.raises(FileNotFoundError, match=r'1 background\(s\) listed .* 9.jpg'):
        BackgroundFolder(str(tmp_path / 'bg'), str(tmp_path / 'bad.txt'))

    pairs = assign_backgrounds([{'n': 0}, {'n': 1}], [f'b{i}' for i in range(5)], 2)
    assert [(p['n'], p['bg_path']) for p in pairs] == [(0, 'b0'), (0, 'b1'), (1, 'b2'),
                                                        (1, 'b3')]
    wrapped = assign_backgrounds([{}] * 3, ['x', 'y'], 1)
    assert [p['bg_path'] for p in wrapped] == ['x', 'y', 'x']
    a = assign_backgrounds([{}] * 5, list('abcde'), 1, shuffle_seed=3)
    b = assign_backgrounds([{}] * 5, list('abcde'), 1, shuffle_seed=3)
    assert a == b and sorted(p['bg_path'] for p in a) == list('abcde')


def test_folder_dataset_with_a_background_folder(tmp_path):
    _tree(str(tmp_path), ['fg', 'alpha'], ['a', 'b'], ['.png', '.png'])
    for i in range(4):
        _img(tmp_path / 'BG-20k' / 'train' / f'h_{i}.jpg', (3, 4, 3))
    ds = MattingFolderDataset(data_root=str(tmp_path), image_dir=None, fg_dir='fg',
                              backgrounds=dict(folder='BG-20k/train', per_sample=2))
    assert len(ds) == 4
    assert [osp.basename(ds.get_data_info(i)['bg_path']) for i in range(4)] == [
        'h_0.jpg', 'h_1.jpg', 'h_2.jpg', 'h_3.jpg']
    assert ds.get_data_info(3)['fg_path'].endswith('fg/b.png')
    with pytest.raises(ValueError, match='not both'):
        MattingFolderDataset(data_root=str(tmp_path), bg_dir='x',
                             backgrounds=dict(folder='y'))


def test_fit_background_follows_dim():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (50, 70, 3), np.uint8)
    out = fit_background(big, (40, 60))
    assert out.base is big and np.array_equal(out, big[:40, :60])  # a view, no copy
    small = rng.integers(0, 256, (20, 30, 3), np.uint8)
    ref = cv2.resize(small, (math.ceil(30 * 2.5), math.ceil(20 * 2.5)),
                     interpolation=cv2.INTER_CUBIC)[:50, :40]
    out = fit_background(small, (50, 40))  # ratio max(40/30, 50/20) = 2.5
    assert out.shape == (50, 40, 3) and np.abs(out.astype(int) - ref).max() <= 1
    with pytest.raises(ValueError, match='does not fit'):
        fit_background(big, (40, 60), top_left=(20, 0))


def test_fit_bg_to_fg_transform_then_merge():
    fit = TRANSFORMS.build(dict(type='FitBgToFg'))
    fg = np.full((10, 12, 3), 200, np.uint8)
    bg = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3).astype(np.uint8)
    alpha = np.zeros((10, 12), np.uint8)
    alpha[:, 6:] = 255
    out = fit(dict(fg=fg, bg=bg, alpha=alpha))
    assert out['bg'].shape == (10, 12, 3) and np.array_equal(out['bg'], bg[:10, :12])
    assert out['bg_window'] == [0, 0, 12, 10]
    merged = TRANSFORMS.build(dict(type='MergeFgAndBg'))(out)['merged']
    assert np.array_equal(merged[:, 6:], fg[:, 6:].astype(np.float32))
    assert np.array_equal(merged[:, :6], bg[:10, :6].astype(np.float32))

    rand = TRANSFORMS.build(dict(type='FitBgToFg', position='random'))
    np.random.seed(0)
    seen = {tuple(rand(dict(fg=fg, bg=bg))['bg_window'][:2]) for _ in range(30)}
    assert len(seen) > 10 and all(x <= 18 and y <= 10 for x, y in seen)
    with pytest.raises(KeyError, match=r"needs keys \['bg'\]"):
        fit(dict(fg=fg))
    with pytest.raises(ValueError, match='position must be'):
        TRANSFORMS.build(dict(type='FitBgToFg', position='centre'))
