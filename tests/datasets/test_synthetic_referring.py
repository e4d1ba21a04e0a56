"""The synthetic referring generator: unique expressions that match the objects,
determinism, and the RefMatte layout read by the real loader."""
import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mattebox.datasets import RefMatteDataset
from mattebox.datasets.synthetic_referring import (COLOURS, make_referring_dataset,
                                                   make_referring_sample)

REPO = Path(__file__).resolve().parents[2]


def _hashes(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def _hue_name(bgr_pixels: np.ndarray) -> str:
    hsv = cv2.cvtColor(bgr_pixels.reshape(-1, 1, 3), cv2.COLOR_BGR2HSV_FULL)
    hue = float(np.median(hsv[:, 0, 0])) * 360 / 256
    return min(COLOURS, key=lambda n: min(abs(hue - COLOURS[n]), 360 - abs(hue - COLOURS[n])))


def test_expressions_are_unique_and_true():
    for seed in range(12):
        s = make_referring_sample(seed, (64, 80))
        objs, alphas = s['objects'], s['alphas']
        n = len(objs)
        assert n in (2, 3) and len(alphas) == n
        exprs = [e for o in objs for e in o['expressions']]
        assert len(exprs) == 4 * n and len(set(exprs)) == 4 * n  # unique within the image
        areas = [int((a > 127).sum()) for a in alphas]
        centres = [np.argwhere(a > 127)[:, 1].mean() for a in alphas]
        assert centres == sorted(centres)  # objects listed left to right
        for k, (o, a) in enumerate(zip(objs, alphas)):
            assert o['column'] == k
            # colour word = the object's actual colour
            assert _hue_name(s['image'][a == 255]) == o['colour']
            assert o['expressions'][0].startswith(f'the {o["colour"]} ')
            pos = o['expressions'][1]
            if k == 0:
                assert pos.endswith('on the left')
            elif k == n - 1:
                assert pos.endswith('on the right')
            else:
                assert pos.endswith('in the middle')
            # size rank 0 = the largest alpha area, clearly larger than the next
            assert o['size_rank'] == sorted(areas, reverse=True).index(areas[k])
            if o['size_rank'] == 0:
                assert o['expressions'][2].split()[1] in ('largest', 'bigger')
        ordered = sorted(areas, reverse=True)
        assert all(b < 0.8 * a for a, b in zip(ordered, ordered[1:]))
        # separable: alphas barely overlap, the image has mixed pixels to matte
        stack = np.stack(alphas).astype(np.float32) / 255
        assert float(np.minimum(stack[0], stack[1:].max(0)).sum()) < 2.0
        assert any(((a > 10) & (a < 245)).sum() > 10 for a in alphas)


def test_dataset_is_deterministic_and_read_by_the_loader(tmp_path):
    a = make_referring_dataset(tmp_path / 'a', 5, 2, size=48, seed=2)
    b = make_referring_dataset(tmp_path / 'b', 5, 2, size=48, seed=2)
    c = make_referring_dataset(tmp_path / 'c', 5, 2, size=48, seed=3)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert ha == hb and ha['train/img/0000.png'] != hc.get('train/img/0000.png')
    small = _hashes(make_referring_dataset(tmp_path / 's', 2, 1, size=48, seed=2))
    assert small['train/img/0001.png'] == ha['train/img/0001.png']  # index-stable
    labels = json.loads((a / 'json' / 'refmatte_train_label.json').read_text())
    meta = json.loads((a / 'json' / 'synthetic_referring.json').read_text())
    assert meta['images'] == {'train': 5, 'test': 2}
    assert meta['instances']['train'] == len(labels)
    ds = RefMatteDataset(data_root=str(a), ann_file='json/refmatte_train_label.json',
                         layout='train', expression_mode='all')
    assert len(ds) == 4 * len(labels)
    info = ds.get_data_info(0)
    assert info['instance_id'] == '0000_0' and Path(info['alpha_path']).is_file()
    assert Path(info['merged_path']).name == '0000.png'
    assert cv2.imread(info['merged_path']).shape == (48, 48, 3)


def test_refresh_and_refusal(tmp_path):
    out = make_referring_dataset(tmp_path / 'd', 4, 1, size=32)
    make_referring_dataset(out, 1, 1, size=32)  # ours: refreshed, stale images removed
    assert not (out / 'train' / 'img' / '0003.png').exists()
    assert (out / 'train' / 'img' / '0000.png').exists()
    foreign = tmp_path / 'f'
    foreign.mkdir()
    (foreign / 'x.txt').write_text('keep')
    with pytest.raises(FileExistsError, match='not a synthetic referring dataset'):
        make_referring_dataset(foreign, 1, 1, size=32)
    with pytest.raises(ValueError, match='at least 32x32'):
        make_referring_dataset(tmp_path / 'g', 1, 1, size=16)


def test_cli_referring(tmp_path, capsys):
    path = REPO / 'tools' / 'dataset_converters' / 'make_synthetic.py'
    spec = importlib.util.spec_from_file_location('make_synthetic_cli_ref', path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / 'cli'
    assert cli.main([str(out), '--referring', '--num-train', '3', '--num-test', '1',
                     '--size', '40', '40', '--seed', '1']) == 0
    assert '[synthetic-referring] wrote 3 train + 1 test images' in capsys.readouterr().out
    assert (out / 'json' / 'refmatte_test_label.json').is_file()
