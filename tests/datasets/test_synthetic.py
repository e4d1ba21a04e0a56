"""Tests of the procedural matting data (mattebox.datasets.synthetic + its CLI)."""
import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mattebox.datasets.synthetic import (MIN_SIZE, composite, is_synthetic_dataset_dir,
                                         make_sample, make_synthetic_dataset, make_trimap)

REPO = Path(__file__).resolve().parents[2]
SIZE = (48, 64)
TRAIN_KEYS = {'alpha_path', 'fg_path', 'bg_path', 'merged_path'}
TEST_KEYS = TRAIN_KEYS | {'trimap_path'}


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, f'could not read {path}'
    return image


def _hashes(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('synthetic') / 'data'
    returned = make_synthetic_dataset(out, num_train=3, num_test=4, size=SIZE, seed=1)
    assert returned == out
    return out


def _entries(root: Path, split: str) -> list:
    name = {'train': 'training_list.json', 'test': 'test_list.json'}[split]
    return json.loads((root / name).read_text())['data_list']


# ----------------------------------------------------------------------- layout
def test_layout_and_annotation_files(dataset):
    for split, kinds in (('train', {'fg', 'alpha', 'bg', 'merged'}),
                         ('test', {'fg', 'alpha', 'bg', 'merged', 'trimap'})):
        assert {p.name for p in (dataset / split).iterdir()} == kinds
    train = json.loads((dataset / 'training_list.json').read_text())
    test = json.loads((dataset / 'test_list.json').read_text())
    for ann in (train, test):
        assert ann['metainfo'] == {'dataset_type': 'synthetic', 'seed': 1, 'size': [48, 64]}
    assert len(train['data_list']) == 3 and len(test['data_list']) == 4
    assert all(set(e) == TRAIN_KEYS for e in train['data_list'])
    assert all(set(e) == TEST_KEYS for e in test['data_list'])
    assert train['data_list'][2]['fg_path'] == 'train/fg/0002.png'
    assert test['data_list'][3]['trimap_path'] == 'test/trimap/0003.png'
    listed = {e[k] for ann in (train, test) for e in ann['data_list'] for k in e}
    on_disk = {p.relative_to(dataset).as_posix() for p in dataset.rglob('*.png')}
    assert listed == on_disk
    assert len(on_disk) == 3 * 4 + 4 * 5


def test_image_dtypes_and_channels(dataset):
    for split in ('train', 'test'):
        for entry in _entries(dataset, split):
            for key in ('fg_path', 'bg_path', 'merged_path'):
                image = _read(dataset / entry[key])
                assert image.dtype == np.uint8 and image.shape == (*SIZE, 3)
            alpha = _read(dataset / entry['alpha_path'])
            assert alpha.dtype == np.uint8 and alpha.shape == SIZE
            if split == 'test':
                trimap = _read(dataset / entry['trimap_path'])
                assert trimap.dtype == np.uint8 and trimap.shape == SIZE


def test_trimaps_follow_alpha(dataset):
    for entry in _entries(dataset, 'test'):
        alpha = _read(dataset / entry['alpha_path'])
        trimap = _read(dataset / entry['trimap_path'])
        assert set(np.unique(trimap)) <= {0, 128, 255}
        unknown = trimap == 128
        assert unknown.sum() > 0
        assert np.all(alpha[trimap == 255] == 255)
        assert np.all(alpha[trimap == 0] == 0)
        assert np.all(unknown[(alpha > 0) & (alpha < 255)])
        # Thin or see-through structure inside the unknown region.
        a = alpha.astype(np.float32) / 255
        assert np.count_nonzero(unknown & (a > 0.05) & (a < 0.95)) > 0


def test_merged_is_the_composite_of_the_files(dataset):
    for split in ('train', 'test'):
        for entry in _entries(dataset, split):
            fg = _read(dataset / entry['fg_path']).astype(np.float64)
            bg = _read(dataset / entry['bg_path']).astype(np.float64)
            a = _read(dataset / entry['alpha_path']).astype(np.float64)[..., None] / 255
            merged = _read(dataset / entry['merged_path']).astype(np.float64)
            assert np.abs(merged - (fg * a + bg * (1 - a))).max() <= 0.5 + 1e-9


# ---------------------------------------------------------------------- samples
def test_make_sample_alpha_is_realistic_for_matting():
    for seed in range(6):
        sample = make_sample(seed, (128, 128))
        alpha = sample['alpha']
        assert alpha.dtype == np.uint8 and alpha.shape == (128, 128)
        n = alpha.size
        assert np.count_nonzero(alpha == 0) >= 0.05 * n  # background
        assert np.count_nonzero(alpha == 255) >= 0.01 * n  # opaque core
        mixed = (alpha > 12) & (alpha < 243)
        assert np.count_nonzero(mixed) >= 0.005 * n  # soft/transparent pixels
        assert len(np.unique(alpha)) > 100  # a continuum, not a few levels
        # Thin structures (strands, threads): visible pixels that a 3x3 opening removes.
        visible = (alpha > 25).astype(np.uint8)
        opened = cv2.morphologyEx(visible, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        assert np.count_nonzero(visible & (1 - opened)) >= 20
        assert np.array_equal(sample['merged'], composite(sample['fg'], sample['bg'], alpha))


def test_make_sample_has_semi_transparent_regions_across_seeds():
    plateau = 0
    for seed in range(10):
        alpha = make_sample(seed, (96, 96))['alpha'].astype(np.float32) / 255
        plateau += np.count_nonzero((alpha >= 0.3) & (alpha <= 0.7))
    assert plateau >= 0.02 * 10 * 96 * 96


def test_make_sample_foreground_differs_from_background():
    sample = make_sample(3, (64, 64))
    fg, bg = sample['fg'], sample['bg']
    assert fg.shape == bg.shape == sample['merged'].shape == (64, 64, 3)
    # fg covers the whole frame (no black outside the object) and is not the bg.
    assert fg.reshape(-1, 3).max(axis=1).min() > 0
    assert np.abs(fg.astype(int) - bg.astype(int)).mean() > 20


def test_make_sample_seed_and_generator_agree():
    a = make_sample(7, (40, 40))
    b = make_sample(np.random.default_rng(7), (40, 40))
    c = make_sample(8, (40, 40))
    assert all(np.array_equal(a[k], b[k]) for k in ('fg', 'bg', 'alpha', 'merged'))
    assert not np.array_equal(a['alpha'], c['alpha'])


def test_make_trimap_band_width_and_values():
    alpha = np.zeros((320, 320), np.uint8)
    cv2.circle(alpha, (160, 160), 80, 255, -1)  # hard edge: only the boundary is seed
    for seed in range(5):
        trimap = make_trimap(alpha, seed)
        assert set(np.unique(trimap)) == {0, 128, 255}
        unknown = (trimap == 128).astype(np.uint8)
        # The band is the boundary dilated by radii in [3, 15] px at 320x320.
        dist_out = cv2.distanceTransform((alpha == 0).astype(np.uint8), cv2.DIST_L2, 5)
        dist_in = cv2.distanceTransform((alpha == 255).astype(np.uint8), cv2.DIST_L2, 5)
        band = np.maximum(dist_out, dist_in)[unknown > 0]
        assert 3 <= band.max() <= 17
    assert make_trimap(alpha[..., None], 0).shape == (320, 320)


def test_make_trimap_rejects_bad_alpha():
    with pytest.raises(ValueError, match=r'\(H, W\) uint8.*float32'):
        make_trimap(np.zeros((32, 32), np.float32), 0)
    with pytest.raises(ValueError, match=r'shape \(32, 32, 3\)'):
        make_trimap(np.zeros((32, 32, 3), np.uint8), 0)


# ----------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = make_synthetic_dataset(tmp_path / 'a', 2, 2, size=(32, 40), seed=5)
    b = make_synthetic_dataset(tmp_path / 'b', 2, 2, size=(32, 40), seed=5)
    c = make_synthetic_dataset(tmp_path / 'c', 2, 2, size=(32, 40), seed=6)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert len(ha) == 2 * 4 + 2 * 5 + 2
    assert ha == hb
    assert ha.keys() == hc.keys()
    pngs = [k for k in ha if k.endswith('.png')]
    assert all(ha[k] != hc[k] for k in pngs)


def test_sample_index_does_not_depend_on_count(tmp_path):
    small = make_synthetic_dataset(tmp_path / 's', 1, 2, size=(32, 32), seed=3)
    large = make_synthetic_dataset(tmp_path / 'l', 3, 5, size=(32, 32), seed=3)
    hs, hl = _hashes(small), _hashes(large)
    pngs = [k for k in hs if k.endswith('.png')]
    assert len(pngs) == 1 * 4 + 2 * 5
    assert all(hs[k] == hl[k] for k in pngs)
    # train and test samples of the same index are different samples
    assert hl['train/alpha/0000.png'] != hl['test/alpha/0000.png']


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize('kwargs, message', [
    (dict(size=(31, 64)), r'at least 32x32 pixels, got H=31'),
    (dict(size=(64, 8)), r'at least 32x32 pixels, got W=8'),
    (dict(size=(64, 64, 3)), r'pair \(H, W\)'),
    (dict(size=(64.0, 64)), r'integers'),
    (dict(num_train=-1), r'num_train must be a non-negative integer, got -1'),
    (dict(num_test=-2), r'num_test must be a non-negative integer, got -2'),
    (dict(num_train=0, num_test=0), r'nothing to write'),
    (dict(seed=-1), r'seed must be a non-negative integer, got -1'),
])
def test_bad_arguments_raise(tmp_path, kwargs, message):
    args = dict(num_train=1, num_test=1, size=(32, 32), seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_synthetic_dataset(tmp_path / 'out', **args)
    assert not (tmp_path / 'out').exists()


def test_make_sample_bad_arguments():
    assert MIN_SIZE == 32
    with pytest.raises(ValueError, match='at least 32x32'):
        make_sample(0, (16, 16))
    with pytest.raises(TypeError, match='int seed or a numpy.random.Generator'):
        make_sample('0', (32, 32))


def test_refuses_foreign_folder_unless_overwrite(tmp_path):
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not empty.*--overwrite'):
        make_synthetic_dataset(out, 1, 1, size=(32, 32))
    assert sorted(p.name for p in out.iterdir()) == ['notes.txt']
    make_synthetic_dataset(out, 1, 1, size=(32, 32), overwrite=True)
    assert (out / 'notes.txt').read_text() == 'keep me'
    assert (out / 'test' / 'trimap' / '0000.png').is_file()
    a_file = tmp_path / 'file'
    a_file.write_text('x')
    with pytest.raises(FileExistsError, match='not a folder'):
        make_synthetic_dataset(a_file, 1, 1, size=(32, 32))


def test_regenerating_removes_only_stale_generated_images(tmp_path):
    out = make_synthetic_dataset(tmp_path / 'd', 3, 3, size=(32, 32), seed=0)
    (out / 'README.txt').write_text('user file')
    (out / 'train' / 'fg' / 'extra.png').write_bytes(b'not ours')
    assert is_synthetic_dataset_dir(out)
    make_synthetic_dataset(out, 1, 2, size=(32, 32), seed=0)  # no overwrite needed
    names = {p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file()}
    assert 'README.txt' in names and 'train/fg/extra.png' in names
    assert 'train/fg/0001.png' not in names and 'test/trimap/0002.png' not in names
    assert len([n for n in names if n.endswith('.png')]) == 1 * 4 + 2 * 5 + 1


def test_interrupted_run_is_recognised(tmp_path):
    out = make_synthetic_dataset(tmp_path / 'd', 1, 1, size=(32, 32))
    (out / 'training_list.json').unlink()
    (out / 'test_list.json').unlink()
    assert is_synthetic_dataset_dir(out)
    (out / 'other.txt').write_text('x')
    assert not is_synthetic_dataset_dir(out)


# ------------------------------------------------------------------------ CLI
def _cli():
    path = REPO / 'tools' / 'dataset_converters' / 'make_synthetic.py'
    spec = importlib.util.spec_from_file_location('make_synthetic_cli', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_defaults_and_run(tmp_path, capsys):
    cli = _cli()
    args = cli.parse_args(['somewhere'])
    assert (args.num_train, args.num_test, tuple(args.size), args.seed) == (100, 20,
                                                                            (320, 320), 0)
    out = tmp_path / 'cli'
    assert cli.main([str(out), '--num-train', '10', '--num-test', '2', '--size', '32',
                     '48', '--seed', '4']) == 0
    printed = capsys.readouterr().out
    assert '[synthetic] 12/12 samples (100%)' in printed
    assert f'to {out.resolve()}' in printed
    meta = json.loads((out / 'test_list.json').read_text())['metainfo']
    assert meta == {'dataset_type': 'synthetic', 'seed': 4, 'size': [32, 48]}
    assert _read(out / 'train' / 'merged' / '0009.png').shape == (32, 48, 3)


def test_cli_reports_bad_arguments(tmp_path, capsys):
    cli = _cli()
    assert cli.main([str(tmp_path / 'x'), '--size', '16', '16']) == 2
    assert 'at least 32x32' in capsys.readouterr().err
