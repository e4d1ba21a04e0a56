"""tools/dataset_converters/comp1k/prepare.py on a small fake Adobe / COCO / VOC tree."""
import hashlib
import json
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT

SCRIPT = osp.join(ROOT, 'tools/dataset_converters/comp1k/prepare.py')
FG_SIZES = {'a.jpg': (40, 56), 'b.png': (48, 36)}  # (H, W)
# COCO backgrounds: smaller than the fg (upscaled), larger (cropped), mixed
BG_SIZES = [(20, 30), (60, 80), (30, 100), (50, 60), (24, 18), (64, 64)]
VOC_SIZES = [(30, 30), (80, 90)]


def _imwrite(path, img):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, img)


def _fake_tree(tmp_path, coco_year='2017'):
    rng = np.random.default_rng(0)
    adobe, coco, voc = tmp_path / 'adobe', tmp_path / 'coco', tmp_path / 'VOCdevkit'
    tr = adobe / 'Training_set'
    for i, (name, (h, w)) in enumerate(FG_SIZES.items()):
        sub = 'Adobe-licensed images' if i == 0 else 'Other'
        _imwrite(str(tr / sub / 'fg' / name), rng.integers(0, 256, (h, w, 3), np.uint8))
        alpha = np.zeros((h, w), np.uint8)
        alpha[h // 4:3 * h // 4, w // 4:3 * w // 4] = 255
        alpha[h // 4:3 * h // 4, w // 4 - 3:w // 4] = [60, 128, 200]
        _imwrite(str(tr / sub / 'alpha' / name), alpha)
    (tr / 'training_fg_names.txt').write_text('\n'.join(FG_SIZES) + '\n')
    names = [f'COCO_train2014_{i:012d}.jpg' for i in range(len(BG_SIZES))]
    (tr / 'training_bg_names.txt').write_text('\n'.join(names) + '\n')
    for name, (h, w) in zip(names, BG_SIZES):
        stored = name[15:] if coco_year == '2017' else name
        _imwrite(str(coco / f'train{coco_year}' / stored),
                 rng.integers(0, 256, (h, w, 3), np.uint8))
    te = adobe / 'Test_set'
    h, w = 36, 40
    _imwrite(str(te / 'Adobe-licensed images' / 'fg' / 't.png'),
             rng.integers(0, 256, (h, w, 3), np.uint8))
    alpha = np.zeros((h, w), np.uint8)
    alpha[10:30, 10:30] = 255
    alpha[10:30, 8:10] = 128
    _imwrite(str(te / 'Adobe-licensed images' / 'alpha' / 't.png'), alpha)
    for k in range(2):
        _imwrite(str(te / 'Adobe-licensed images' / 'trimaps' / f't_{k}.png'),
                 np.where(alpha == 255, 255, np.where(alpha > 0, 128, 0)).astype(np.uint8))
    (te / 'test_fg_names.txt').write_text('t.png\n')
    (te / 'test_bg_names.txt').write_text('2008_000001.jpg\n2008_000002.jpg\n')
    for i, (bh, bw) in enumerate(VOC_SIZES):
        _imwrite(str(voc / 'VOC2012' / 'JPEGImages' / f'2008_00000{i + 1}.jpg'),
                 rng.integers(0, 256, (bh, bw, 3), np.uint8))
    return str(adobe), str(coco), str(voc)


def _run(adobe, coco, voc, *extra):
    return subprocess.run(
        [sys.executable, SCRIPT, adobe, '--coco', coco, '--voc', voc,
         '--train-bgs-per-fg', '3', '--test-bgs-per-fg', '2', *extra],
        capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': ROOT})


def _hashes(*roots):
    out = {}
    for root in roots:
        for d, _, files in os.walk(root):
            for f in files:
                p = osp.join(d, f)
                out[p] = hashlib.md5(open(p, 'rb').read()).hexdigest()
    return out


def _dim_composite(fg, alpha, bg):
    """DIM's rule written out independently: full upscale, top-left crop, truncate."""
    h, w = alpha.shape
    bh, bw = bg.shape[:2]
    r = max(w / bw, h / bh)
    if r > 1:
        bg = cv2.resize(bg, (math.ceil(bw * r), math.ceil(bh * r)),
                        interpolation=cv2.INTER_CUBIC)
    bg = bg[:h, :w]
    a = alpha.astype(np.float64)[..., None] / 255.
    return bg, (a * fg + (1 - a) * bg).astype(np.uint8)


@pytest.fixture
def tree(tmp_path):
    return _fake_tree(tmp_path)


def test_composes_like_dim_and_writes_annotations(tree):
    adobe, coco, voc = tree
    before = _hashes(adobe, coco, voc)
    proc = _run(adobe, coco, voc, '--nproc', '2')
    assert proc.returncode == 0, proc.stderr
    assert '[train] 6 composed, 0 already there' in proc.stdout
    assert '[test] 2 composed, 0 already there' in proc.stdout
    assert '6/6 (100%)' in proc.stdout  # progress lines
    # inputs untouched
    after = _hashes(adobe, coco, voc)
    assert {p: h for p, h in after.items() if p in before} == before

    train = json.load(open(osp.join(adobe, 'training_list.json')))
    assert [e['merged_path'] for e in train] == [
        f'Training_set/merged/{s}_{k}.png' for s in ('a', 'b') for k in range(3)]
    assert train[3]['fg_path'] == 'Training_set/Other/fg/b.png'
    assert train[0]['alpha_path'] == 'Training_set/Adobe-licensed images/alpha/a.jpg'
    online = json.load(open(osp.join(adobe, 'training_list_online.json')))
    # foreground i, background k -> line i * 3 + k of training_bg_names.txt (2017 names)
    assert [e['bg_path'] for e in online] == [
        f'../coco/train2017/{i:012d}.jpg' for i in range(6)]
    for i, entry in enumerate(train):
        fg = cv2.imread(osp.join(adobe, entry['fg_path']))
        alpha = cv2.imread(osp.join(adobe, entry['alpha_path']), cv2.IMREAD_GRAYSCALE)
        src = cv2.imread(osp.join(adobe, online[i]['bg_path']))
        bg_ref, merged_ref = _dim_composite(fg, alpha, src)
        bg = cv2.imread(osp.join(adobe, entry['bg_path']))
        merged = cv2.imread(osp.join(adobe, entry['merged_path']))
        assert bg.shape == fg.shape and merged.shape == fg.shape
        # not upscaled: exact; upscaled: the same up to OpenCV's rounding of a rare pixel
        tol = 0 if BG_SIZES[i][0] >= fg.shape[0] and BG_SIZES[i][1] >= fg.shape[1] else 1
        assert np.abs(bg.astype(int) - bg_ref).max() <= tol, i
        assert np.abs(merged.astype(int) - merged_ref).max() <= tol, i
        if tol == 0:
            assert np.array_equal(merged, merged_ref)

    test = json.load(open(osp.join(adobe, 'test_list.json')))
    assert [e['trimap_path'] for e in test] == [
        f'Test_set/Adobe-licensed images/trimaps/t_{k}.png' for k in range(2)]
    assert [e['merged_path'] for e in test] == [f'Test_set/merged/t_{k}.png' for k in (0, 1)]

    # the dataset reads what was written
    from mattebox.datasets import AdobeComp1kDataset
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=adobe, test_mode=True,
                            validate=True, pipeline=[
                                dict(type='LoadImageFromFile', key='merged'),
                                dict(type='LoadImageFromFile', key='trimap',
                                     color_type='grayscale'),
                                dict(type='PackMattingInputs')])
    assert ds[1]['inputs'].shape == (3, 36, 40)


def test_resumes_and_redoes_only_missing_or_partial_outputs(tree):
    adobe, coco, voc = tree
    assert _run(adobe, coco, voc, '--nproc', '1').returncode == 0
    merged_dir = osp.join(adobe, 'Training_set', 'merged')
    first = _hashes(merged_dir, osp.join(adobe, 'Training_set', 'bg'))
    os.remove(osp.join(merged_dir, 'a_1.png'))
    partial = osp.join(merged_dir, 'b_2.png')
    data = open(partial, 'rb').read()
    open(partial, 'wb').write(data[:len(data) // 2])  # as if killed while writing
    stamp = {p: os.stat(p).st_mtime_ns for p in first if osp.exists(p)}
    proc = _run(adobe, coco, voc, '--nproc', '2')
    assert proc.returncode == 0, proc.stderr
    assert '[train] 2 composed, 4 already there (resumed)' in proc.stdout
    assert '[test] 0 composed, 2 already there' in proc.stdout
    assert _hashes(merged_dir, osp.join(adobe, 'Training_set', 'bg')) == first
    untouched = [p for p in first if not p.endswith(('a_1.png', 'b_2.png'))]
    assert all(os.stat(p).st_mtime_ns == stamp[p] for p in untouched)
    assert not [f for f in os.listdir(merged_dir) if '.tmp' in f]


def test_missing_inputs_are_listed_and_nothing_is_annotated(tree, tmp_path):
    adobe, coco, voc = tree
    os.remove(osp.join(coco, 'train2017', '000000000004.jpg'))
    os.remove(osp.join(adobe, 'Training_set', 'Other', 'alpha', 'b.png'))
    proc = _run(adobe, coco, voc, '--skip-test')
    assert proc.returncode == 1
    assert '2 input problem(s)' in proc.stderr
    assert "alpha of 'b.png' not found" in proc.stderr
    assert "background 'COCO_train2014_000000000004.jpg' (for 'b.png', k=1)" in proc.stderr
    assert not osp.exists(osp.join(adobe, 'training_list.json'))
    assert 'Traceback' not in proc.stderr


def test_broken_background_fails_the_split_naming_it(tree):
    adobe, coco, voc = tree
    bad = osp.join(coco, 'train2017', '000000000002.jpg')
    open(bad, 'wb').write(b'\xff\xd8not really')
    proc = _run(adobe, coco, voc, '--skip-test')
    assert proc.returncode == 1
    assert bad in proc.stderr and 'a.jpg k=2' in proc.stderr
    assert '[train] 5 composed' in proc.stdout
    assert not osp.exists(osp.join(adobe, 'training_list.json'))
    assert osp.exists(osp.join(adobe, 'training_list_online.json'))


def test_online_only_and_out_dir(tree, tmp_path):
    adobe, coco, voc = tree
    out = str(tmp_path / 'out')
    proc = _run(adobe, coco, voc, '--no-train-composite', '--out-dir', out)
    assert proc.returncode == 0, proc.stderr
    assert not osp.exists(osp.join(out, 'Training_set', 'merged'))
    assert not osp.exists(osp.join(adobe, 'Test_set', 'merged'))
    online = json.load(open(osp.join(out, 'training_list_online.json')))
    assert online[0] == {'alpha_path': '../adobe/Training_set/Adobe-licensed images/alpha/a.jpg',
                         'fg_path': '../adobe/Training_set/Adobe-licensed images/fg/a.jpg',
                         'bg_path': '../coco/train2017/000000000000.jpg'}
    test = json.load(open(osp.join(out, 'test_list.json')))
    assert test[0]['merged_path'] == 'Test_set/merged/t_0.png'
    assert osp.isfile(osp.join(out, test[0]['merged_path']))
