"""tools/dataset_converters/check_dataset.py on broken trees: as a user runs it (one
subprocess), the other cases in-process (same ``main``)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, tiny_dim_cfg

SCRIPT = osp.join(ROOT, 'tools/dataset_converters/check_dataset.py')


def _subprocess(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, 'PYTHONPATH': ROOT})


_spec = importlib.util.spec_from_file_location('check_dataset', SCRIPT)
check_dataset = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_dataset)


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def _run(capsys):
    def run(*args):
        capsys.readouterr()
        code = check_dataset.main(list(args))
        out = capsys.readouterr()
        return _Result(code, out.out, out.err)
    return run


@pytest.fixture
def tree(tmp_path):
    from mattebox.datasets.synthetic import make_synthetic_dataset
    root = tmp_path / 'data'
    make_synthetic_dataset(str(root), num_train=5, num_test=2, size=(48, 48), seed=1)
    cfg = tiny_dim_cfg(str(root), str(tmp_path / 'work'))
    path = tmp_path / 'cfg.py'
    cfg.dump(str(path))
    return str(root), str(path)


def test_clean_dataset_passes(tree, _run):
    root, cfg = tree
    for split in ('train', 'test'):
        proc = _run(cfg, '--split', split)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip().endswith('0 error(s), 0 warning(s)')
    assert '(100%' in proc.stderr  # progress


@pytest.mark.parametrize('level', ['decode', 'header'])
def test_lists_all_four_problems_with_names(tree, level, _run):
    root, cfg = tree
    missing = osp.join(root, 'train/fg/0001.png')
    os.remove(missing)
    truncated = osp.join(root, 'train/alpha/0002.png')
    data = open(truncated, 'rb').read()
    open(truncated, 'wb').write(data[:len(data) // 2])
    rgb_alpha = osp.join(root, 'train/alpha/0003.png')
    a = cv2.imread(rgb_alpha, cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(rgb_alpha, cv2.merge([a, a, a]))
    small = osp.join(root, 'train/merged/0000.png')
    cv2.imwrite(small, cv2.imread(small)[:40])

    # the command line, as a user runs it, once; in-process for the other level
    run = _subprocess if level == 'decode' else _run
    proc = run(cfg, '--split', 'train', '--level', level)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    lines = out.strip().splitlines()
    assert f'ERROR: {missing}: file not found (sample 1)' in lines
    assert any(line.startswith(f'ERROR: {truncated}: truncated PNG') for line in lines)
    assert any(line.startswith(f'WARNING: {rgb_alpha}: 3-channel alpha') for line in lines)
    mismatch = [line for line in lines if 'size mismatch' in line]
    assert len(mismatch) == 1 and small in mismatch[0] and '(sample 0)' in mismatch[0]
    assert 'merged 40x48' in mismatch[0] and 'alpha is 48x48' in mismatch[0]
    assert lines[-1] == '3 error(s), 1 warning(s)'
    assert 'Traceback' not in proc.stderr


def test_strict_fails_on_warnings_and_rgb_alpha_with_differing_channels(tree, _run):
    root, cfg = tree
    rgb_alpha = osp.join(root, 'train/alpha/0003.png')
    a = cv2.imread(rgb_alpha, cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(rgb_alpha, cv2.merge([a, a, a]))
    assert _run(cfg).returncode == 0
    proc = _run(cfg, '--strict')
    assert proc.returncode == 1 and '0 error(s), 1 warning(s)' in proc.stdout
    cv2.imwrite(rgb_alpha, cv2.merge([a, a // 2, a]))
    proc = _run(cfg)
    assert proc.returncode == 1
    assert f'ERROR: {rgb_alpha}: 3-channel alpha whose colour channels differ' in proc.stdout


def test_bad_trimap_values_in_the_test_split(tree, _run):
    root, cfg = tree
    trimap = osp.join(root, 'test/trimap/0001.png')
    t = cv2.imread(trimap, cv2.IMREAD_GRAYSCALE)
    t[:2, :3] = 100
    cv2.imwrite(trimap, t)
    proc = _run(cfg, '--split', 'test')
    assert proc.returncode == 1
    assert (f'ERROR: {trimap}: trimap holds values other than 0/128/255: 100 (6 pixels)'
            in proc.stdout)


def test_missing_data_root_and_pipeline_folder(tree, tmp_path, _run):
    root, cfg = tree
    proc = _run(cfg, '--cfg-options', f'train_dataloader.dataset.data_root={tmp_path}/none')
    assert proc.returncode == 1
    assert 'ERROR: train_dataloader.dataset: cannot build AdobeComp1kDataset' in proc.stdout
    assert f'{tmp_path}/none' in proc.stdout and 'Traceback' not in proc.stderr


def test_folder_dataset_config(tmp_path, _run):
    """A MattingFolderDataset config is checked the same way."""
    from mmengine.config import Config
    for kind in ('image', 'alpha'):
        os.makedirs(tmp_path / kind)
    for i in range(3):
        cv2.imwrite(str(tmp_path / 'image' / f'{i}.jpg'), np.full((8, 10, 3), 50, np.uint8))
        cv2.imwrite(str(tmp_path / 'alpha' / f'{i}.png'),
                    np.full((8, 10 + (i == 2), 1), 9, np.uint8))
    cfg = Config(dict(val_dataloader=dict(dataset=dict(
        type='MattingFolderDataset', data_root=str(tmp_path), image_dir='image',
        alpha_dir='alpha',
        pipeline=[dict(type='RandomLoadResizeBg', bg_dir=str(tmp_path / 'no_bg'))]))))
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    proc = _run(path, '--split', 'val')
    assert proc.returncode == 1
    assert 'MattingFolderDataset with 3 samples' in proc.stderr
    assert str(tmp_path / 'alpha' / '2.png') in proc.stdout
    assert 'merged 8x10' in proc.stdout
    assert (f'ERROR: {tmp_path}/no_bg: folder not found (val_dataloader.dataset.pipeline[0] '
            'RandomLoadResizeBg.bg_dir)') in proc.stdout
    assert proc.stdout.strip().endswith('2 error(s), 0 warning(s)')
