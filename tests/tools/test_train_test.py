"""End to end through the command-line tools, as a user runs them (subprocesses)."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import pytest

from tests.conftest import ROOT, tiny_dim_cfg


def run(args, cwd=ROOT, check=True, env=None):
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': ROOT, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


@pytest.fixture
def cfg_file(synthetic_root, tmp_path):
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'), max_iters=4)
    path = tmp_path / 'tiny.py'
    cfg.dump(str(path))
    return str(path), str(tmp_path / 'work')


def last_checkpoint_iter(path):
    from mattebox.engine.checkpoint import load_checkpoint_file
    return load_checkpoint_file(path)['meta']['iter']


def test_train_resume_test(cfg_file, tmp_path, synthetic_root):
    cfg, work = cfg_file
    # an "interrupted" run: stops after 2 of 4 iterations, leaving iter_2.pth
    run([sys.executable, 'tools/train.py', cfg, '--cfg-options', 'train_cfg.max_iters=2'])
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert last_checkpoint_iter(osp.join(work, 'iter_2.pth')) == 2
    proc = run([sys.executable, 'tools/train.py', cfg, '--resume', '--verbose',
                '--cfg-options', 'log_level=INFO'])
    log = proc.stdout + proc.stderr
    assert 'resumed' in log.lower()
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    assert last_checkpoint_iter(osp.join(work, 'iter_4.pth')) == 4

    out, pred_dir = tmp_path / 'm.json', tmp_path / 'pred'
    proc = run([sys.executable, 'tools/test.py', cfg, osp.join(work, 'iter_4.pth'),
                '--out', str(out), '--save-pred', str(pred_dir)])
    metrics = json.loads(out.read_text())
    assert set(metrics) == {'SAD', 'MSE', 'GRAD', 'CONN'}
    assert all(v >= 0 for v in metrics.values())
    assert 'SAD' in proc.stdout and '|' in proc.stdout  # the printed table
    preds = sorted(n for n in os.listdir(pred_dir) if n.endswith('.png'))
    assert len(preds) == 4
    assert json.loads((pred_dir / '.mattebox-outputs.json').read_text()) == {
        'files': {name: 'tools/test.py' for name in preds}}
    with open(osp.join(synthetic_root, 'test_list.json')) as f:
        first = json.load(f)['data_list'][0]
    gt = cv2.imread(osp.join(synthetic_root, first['alpha_path']), cv2.IMREAD_GRAYSCALE)
    pred = cv2.imread(str(pred_dir / preds[0]), cv2.IMREAD_UNCHANGED)
    assert pred.shape == gt.shape and pred.dtype == gt.dtype


def test_unknown_type_fails_at_startup_with_key(cfg_file):
    cfg, _ = cfg_file
    proc = run([sys.executable, 'tools/train.py', cfg, '--cfg-options',
                'model.backbone.encoder.type=VGG61'], check=False)
    assert proc.returncode != 0
    assert "model.backbone.encoder.type: unknown model type 'VGG61'" in proc.stderr
    assert "Did you mean 'VGG16'" in proc.stderr


def test_missing_data_fails_at_startup_with_key(cfg_file, tmp_path):
    cfg, _ = cfg_file
    proc = run([sys.executable, 'tools/train.py', cfg, '--cfg-options',
                f'train_dataloader.dataset.data_root={tmp_path}/nowhere'], check=False)
    assert proc.returncode != 0
    assert 'train_dataloader.dataset.data_root: folder not found' in proc.stderr


@pytest.mark.parametrize('content', [b'', b'not a checkpoint at all', b'PK\x03\x04trunc'])
def test_bad_checkpoint_is_reported(cfg_file, tmp_path, content):
    cfg, _ = cfg_file
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(content)
    proc = run([sys.executable, 'tools/test.py', cfg, str(bad)], check=False)
    assert proc.returncode != 0
    assert str(bad) in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_missing_checkpoint_is_reported(cfg_file, tmp_path):
    cfg, _ = cfg_file
    proc = run([sys.executable, 'tools/test.py', cfg, str(tmp_path / 'none.pth')], check=False)
    assert proc.returncode != 0 and 'checkpoint not found' in proc.stderr


def test_dist_train_two_cpu_processes_split_the_data(synthetic_root, tmp_path):
    cfg = tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'), max_iters=2)
    cfg.custom_imports = dict(imports=['tests.tools._record_hook'], allow_failed_imports=False)
    cfg.custom_hooks = [dict(type='RecordSampleIdxHook')]
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.train_dataloader.batch_size = 2
    path = tmp_path / 'dist.py'
    cfg.dump(str(path))
    run(['bash', 'tools/dist_train.sh', str(path), '2'], env={'PYTHON': sys.executable})
    seen = [json.loads((tmp_path / 'work' / f'seen_rank{r}.json').read_text()) for r in (0, 1)]
    # 8 training samples, 2 ranks x 2 iterations x batch 2: each rank its own half
    assert len(seen[0]) == len(seen[1]) == 4
    assert set(seen[0]).isdisjoint(seen[1])
    assert set(seen[0]) | set(seen[1]) == set(range(8))


def test_dist_test_two_cpu_processes_match_one(cfg_file, tmp_path):
    cfg, _ = cfg_file
    ckpt = tmp_path / 'init.pth'
    run([sys.executable, 'tools/misc/init_checkpoint.py', cfg, str(ckpt)])
    one, two = tmp_path / 'one.json', tmp_path / 'two.json'
    run([sys.executable, 'tools/test.py', cfg, str(ckpt), '--out', str(one)])
    run(['bash', 'tools/dist_test.sh', cfg, str(ckpt), '2', '--out', str(two)],
        env={'PYTHON': sys.executable})
    single, dist = json.loads(one.read_text()), json.loads(two.read_text())
    assert set(single) == set(dist) == {'SAD', 'MSE', 'GRAD', 'CONN'}
    for key in single:  # 4 test images over 2 ranks: every image counted exactly once
        assert dist[key] == pytest.approx(single[key], rel=1e-9), key
