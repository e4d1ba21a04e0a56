"""tools/infer.py as a user runs it: a folder of images with a folder of trimaps, a mask,
refused guidance, and never writing over inputs or foreign files."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT


def infer(*args, check=True):
    proc = subprocess.run([sys.executable, 'tools/infer.py', *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT})
    if check and proc.returncode != 0:
        raise AssertionError(f'infer failed ({proc.returncode}): {proc.stderr[-3000:]}')
    return proc


@pytest.fixture
def photos(synthetic_root, tmp_path):
    """A folder of 3 images (merged) and a folder of their trimaps, named alike."""
    images, trimaps = tmp_path / 'images', tmp_path / 'trimaps'
    images.mkdir()
    trimaps.mkdir()
    with open(osp.join(synthetic_root, 'test_list.json')) as f:
        entries = json.load(f)['data_list'][:3]
    for i, e in enumerate(entries):
        shutil.copy(osp.join(synthetic_root, e['merged_path']), images / f'photo{i}.png')
        shutil.copy(osp.join(synthetic_root, e['trimap_path']), trimaps / f'photo{i}.png')
    return images, trimaps


def test_a_folder_with_matched_trimaps(dim_files, photos, tmp_path):
    config, checkpoint = dim_files
    images, trimaps = photos
    out = tmp_path / 'out'
    proc = infer(config, checkpoint, images, '--trimap', trimaps, '--out', out,
                 '--background', '#00b140')
    assert '3 image(s) matted with DIM' in proc.stdout
    names = sorted(os.listdir(out))
    assert names == sorted(['.mattebox-outputs.json'] + [
        f'photo{i}_{k}.png' for i in range(3) for k in ('alpha', 'cutout', 'composite')])
    for i in range(3):
        alpha = cv2.imread(str(out / f'photo{i}_alpha.png'), cv2.IMREAD_UNCHANGED)
        cutout = cv2.imread(str(out / f'photo{i}_cutout.png'), cv2.IMREAD_UNCHANGED)
        trimap = cv2.imread(str(trimaps / f'photo{i}.png'), cv2.IMREAD_GRAYSCALE)
        assert alpha.shape == (64, 64) and cutout.shape == (64, 64, 4)
        assert np.array_equal(cutout[..., 3], alpha)
        assert (alpha[trimap == 0] == 0).all() and (alpha[trimap == 255] == 255).all()
        composite = cv2.imread(str(out / f'photo{i}_composite.png'))
        assert (composite[trimap == 0] == [64, 177, 0]).all()  # BGR of #00b140
    # a second run into the same folder may replace its own files
    infer(config, checkpoint, images, '--trimap', trimaps, '--out', out)


def test_a_mask_file_and_a_refused_box(dim_files, photos, tmp_path):
    config, checkpoint = dim_files
    images, trimaps = photos
    mask = tmp_path / 'mask.png'
    trimap = cv2.imread(str(trimaps / 'photo0.png'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(mask), np.where(trimap > 0, 255, 0).astype(np.uint8))
    proc = infer(config, checkpoint, images / 'photo0.png', '--mask', mask, '--band-width', 2,
                 '--out', tmp_path / 'o1')
    assert 'note: trimap made from the mask (unknown band 2 px on each side)' in proc.stdout
    assert osp.isfile(tmp_path / 'o1' / 'photo0_alpha.png')
    proc = infer(config, checkpoint, images / 'photo0.png', '--box', 1, 2, 30, 40, '--out',
                 tmp_path / 'o2', check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith('error: DIM takes trimap; it cannot use a box')
    assert 'Traceback' not in proc.stderr and not osp.exists(tmp_path / 'o2' / 'photo0_alpha.png')


def test_never_overwrites_inputs_or_foreign_files(dim_files, photos, tmp_path):
    config, checkpoint = dim_files
    images, trimaps = photos
    # the output folder is the input folder
    proc = infer(config, checkpoint, images, '--trimap', trimaps, '--out', images, check=False)
    assert proc.returncode == 2 and 'holds input files' in proc.stderr
    # a file that infer did not write
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'photo1_alpha.png').write_bytes(b'mine')
    proc = infer(config, checkpoint, images, '--trimap', trimaps, '--out', out, check=False)
    assert proc.returncode == 2
    assert f'refusing to overwrite {out}/photo1_alpha.png' in proc.stderr
    assert (out / 'photo1_alpha.png').read_bytes() == b'mine'
    assert not osp.exists(out / 'photo0_alpha.png')  # checked before anything is written
    # nor into a folder of guidance files (or of the background)
    proc = infer(config, checkpoint, images, '--trimap', trimaps, '--out', trimaps, check=False)
    assert proc.returncode == 2 and 'holds input files' in proc.stderr
    assert sorted(os.listdir(trimaps)) == ['photo0.png', 'photo1.png', 'photo2.png']


def test_missing_guidance_files_are_listed_before_running(dim_files, photos, tmp_path):
    config, checkpoint = dim_files
    images, trimaps = photos
    os.remove(trimaps / 'photo2.png')
    proc = infer(config, checkpoint, images, '--trimap', trimaps, '--out', tmp_path / 'o',
                 check=False)
    assert proc.returncode == 2
    assert 'has no file named like photo2.png (1 of 3 images)' in proc.stderr
    proc = infer(config, checkpoint, images, '--trimap', trimaps / 'photo0.png', '--out',
                 tmp_path / 'o', check=False)
    assert 'is one file for 3 images' in proc.stderr
