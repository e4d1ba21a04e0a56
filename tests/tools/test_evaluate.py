"""tools/evaluate.py: scoring a folder of mattes, reporting every input problem at once."""
import csv
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mattebox.evaluation import functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'evaluate.py'


def _load_tool():
    spec = importlib.util.spec_from_file_location('mattebox_tools_evaluate', TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # worker functions must be picklable by name
    spec.loader.exec_module(module)
    return module


evaluate = _load_tool()


def _make_folder(root: Path, n: int = 6, seed: int = 0):
    """pred/, gt/, trimap/ with ``n`` soft mattes of a few sizes; returns the arrays."""
    rng = np.random.default_rng(seed)
    data = {}
    for sub in ('pred', 'gt', 'trimap'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        H, W = (36, 48) if i % 2 else (40, 30)
        yy, xx = np.mgrid[0:H, 0:W]
        dist = np.hypot(yy - H / 2, xx - W / 2) / (min(H, W) / 3)
        gt = (np.clip((1.2 - dist) * 3, 0, 1) * 255).round().astype(np.uint8)
        pred = np.clip(gt.astype(int) + rng.integers(-40, 41, gt.shape), 0, 255)
        pred = pred.astype(np.uint8)
        trimap = np.full(gt.shape, 128, np.uint8)
        trimap[gt == 0] = 0
        trimap[gt == 255] = 255
        name = f'img_{i:02d}'
        ext = '.jpg' if i == 3 else '.png'  # pairing is by name, not by extension
        cv2.imwrite(str(root / 'pred' / f'{name}{ext}'), pred)
        if ext == '.jpg':  # what the tool will read back
            pred = cv2.imread(str(root / 'pred' / f'{name}{ext}'), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(root / 'gt' / f'{name}.png'), gt)
        cv2.imwrite(str(root / 'trimap' / f'{name}.png'), trimap)
        data[name] = (pred, gt, trimap)
    return data


def _read_csv(path: Path):
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    return {row['name']: row for row in rows}


def test_scores_equal_per_image_functions_and_means(tmp_path, capsys):
    data = _make_folder(tmp_path)
    out = tmp_path / 'results.csv'
    rc = evaluate.main([str(tmp_path / 'pred'), str(tmp_path / 'gt'), str(tmp_path / 'trimap'),
                        '--workers', '1', '--out', str(out), '--no-progress'])
    assert rc == 0
    rows = _read_csv(out)
    assert set(rows) == set(data) | {'mean'}
    funcs = {'SAD': F.sad, 'MSE': F.mse, 'GRAD': F.gradient_error,
             'CONN': F.connectivity_error}
    for key, func in funcs.items():
        values = [func(*data[name]) for name in sorted(data)]
        for name, value in zip(sorted(data), values):
            assert float(rows[name][key]) == value, (name, key)
        assert float(rows['mean'][key]) == pytest.approx(np.mean(values), rel=1e-12)
    assert rows['img_03']['pred'].endswith('img_03.jpg')
    table = capsys.readouterr().out
    assert 'SAD' in table and 'CONN' in table and f'{float(rows["mean"]["SAD"]):.6g}' in table


def test_two_workers_from_the_command_line(tmp_path):
    data = _make_folder(tmp_path, n=8, seed=1)
    out = tmp_path / 'r.csv'
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / 'pred'), str(tmp_path / 'gt'),
         str(tmp_path / 'trimap'), '--workers', '2', '--out', str(out), '--metrics', 'SAD',
         'MAD', 'CONN', '--mse-scale', '1000'],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert 'with 2 worker(s)' in proc.stderr
    rows = _read_csv(out)
    mads = [F.mad(*data[name], scale=1000) for name in sorted(data)]
    assert [float(rows[name]['MAD']) for name in sorted(data)] == mads
    assert float(rows['mean']['MAD']) == pytest.approx(np.mean(mads), rel=1e-12)
    assert 'GRAD' not in rows['mean']


@pytest.mark.parametrize('convention', ['all-region', 'mmagic'])
def test_conventions(tmp_path, convention):
    data = _make_folder(tmp_path, n=3, seed=2)
    out = tmp_path / 'r.csv'
    args = [str(tmp_path / 'pred'), str(tmp_path / 'gt')]
    if convention == 'mmagic':
        args.append(str(tmp_path / 'trimap'))
    rc = evaluate.main(args + ['--convention', convention, '--workers', '1', '--out',
                               str(out), '--no-progress'])
    assert rc == 0
    rows = _read_csv(out)
    for name, (pred, gt, trimap) in data.items():
        if convention == 'all-region':
            expected = F.connectivity_error(pred, gt, None, region='all')
        else:
            expected = F.connectivity_error(pred, gt, trimap, convention='mmagic')
        assert float(rows[name]['CONN']) == expected


def test_dim_convention_needs_trimaps(tmp_path, capsys):
    _make_folder(tmp_path, n=1)
    rc = evaluate.main([str(tmp_path / 'pred'), str(tmp_path / 'gt'), '--no-progress'])
    assert rc == 2
    assert '--convention dim needs TRIMAP_DIR' in capsys.readouterr().err


def test_all_input_problems_are_reported_together_before_scoring(tmp_path, capsys,
                                                                   monkeypatch):
    _make_folder(tmp_path, n=7)
    pred, gt, tri = tmp_path / 'pred', tmp_path / 'gt', tmp_path / 'trimap'
    data = (gt / 'img_06.png').read_bytes()
    (gt / 'img_06.png').write_bytes(data[:len(data) // 2])          # truncated PNG
    (pred / 'img_00.png').unlink()                                   # missing prediction
    cv2.imwrite(str(pred / 'orphan.png'), np.zeros((5, 5), np.uint8))  # no ground truth
    (pred / 'img_01.png').write_bytes(b'not a png')                  # unreadable
    cv2.imwrite(str(pred / 'img_02.png'), np.zeros((7, 9), np.uint8))  # size mismatch
    bad = cv2.imread(str(tri / 'img_04.png'), cv2.IMREAD_UNCHANGED)
    bad[0, :3] = (1, 127, 200)
    cv2.imwrite(str(tri / 'img_04.png'), bad)                        # bad trimap values
    (tri / 'img_05.png').unlink()                                    # missing trimap
    colour = np.dstack([np.zeros((36, 48), np.uint8), np.full((36, 48), 9, np.uint8),
                        np.zeros((36, 48), np.uint8)])
    cv2.imwrite(str(gt / 'img_03.png'), colour)                      # not grey
    out = tmp_path / 'r.csv'

    def no_scoring(*args, **kwargs):
        raise AssertionError('scored although the inputs have problems')

    monkeypatch.setattr(evaluate, 'score_job', no_scoring)
    rc = evaluate.main([str(pred), str(gt), str(tri), '--workers', '1', '--out', str(out),
                        '--no-progress'])
    assert rc == 2
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith('  - ')]
    expected = [
        f'{gt / "img_00.png"}: no prediction named img_00.* in {pred}',
        f'{pred / "orphan.png"}: no ground truth named orphan.* in {gt}',
        f'{gt / "img_05.png"}: no trimap named img_05.* in {tri}',
        f'{pred / "img_01.png"}: unreadable prediction',
        f'img_02: sizes differ (W x H): {pred / "img_02.png"} 9x7, {gt / "img_02.png"} 30x40',
        f'{gt / "img_03.png"}: ground truth should be a single-channel (grey) image',
        f'{tri / "img_04.png"}: trimap values must be 0, 128 or 255; 3 pixels have other '
        f'values (e.g. 1, 127, 200)',
        f'{gt / "img_06.png"}: unreadable ground truth',
    ]
    for text in expected:
        assert any(text in line for line in problems), (text, problems)
    assert len(problems) == len(expected), problems
    assert f'{len(expected)} input problem(s); nothing was scored' in err
    assert not out.exists()


def test_out_must_not_overwrite_an_input(tmp_path, capsys):
    _make_folder(tmp_path, n=2)
    target = tmp_path / 'gt' / 'img_00.png'
    before = target.read_bytes()
    rc = evaluate.main([str(tmp_path / 'pred'), str(tmp_path / 'gt'), str(tmp_path / 'trimap'),
                        '--out', str(target), '--workers', '1', '--no-progress'])
    assert rc == 2
    assert (f'--out {target}: refusing to write over an input file of this run'
            in capsys.readouterr().err)
    assert target.read_bytes() == before


def test_empty_unknown_region_gives_nan_mse_and_nan_mean(tmp_path, capsys):
    data = _make_folder(tmp_path, n=2)
    cv2.imwrite(str(tmp_path / 'trimap' / 'img_00.png'), np.zeros((40, 30), np.uint8))
    out = tmp_path / 'r.csv'
    rc = evaluate.main([str(tmp_path / 'pred'), str(tmp_path / 'gt'), str(tmp_path / 'trimap'),
                        '--workers', '1', '--out', str(out), '--no-progress'])
    assert rc == 0
    rows = _read_csv(out)
    assert math.isnan(float(rows['img_00']['MSE']))
    assert float(rows['img_00']['SAD']) == 0.0
    assert math.isnan(float(rows['mean']['MSE']))
    assert float(rows['img_01']['MSE']) == F.mse(*data['img_01'])
    assert 'NaN' in capsys.readouterr().err


def test_decode_failure_while_scoring_is_reported_without_results(tmp_path, capsys,
                                                                   monkeypatch):
    _make_folder(tmp_path, n=3)
    out = tmp_path / 'r.csv'
    real_read = evaluate.read_matte
    broken = str(tmp_path / 'pred' / 'img_01.png')

    def read_matte(path, kind):  # the header check passes, the decode fails
        if path == broken:
            return None, f'{path}: unreadable prediction (not a valid image file)'
        return real_read(path, kind)

    monkeypatch.setattr(evaluate, 'read_matte', read_matte)
    rc = evaluate.main([str(tmp_path / 'pred'), str(tmp_path / 'gt'), str(tmp_path / 'trimap'),
                        '--workers', '1', '--out', str(out), '--no-progress'])
    assert rc == 2
    err = capsys.readouterr().err
    assert '1 file(s) passed the checks but failed to decode while scoring' in err
    assert f'{broken}: unreadable prediction' in err
    assert not out.exists()
