"""SDMatte through the command-line tools, as a user runs it: the tiny codec, then the
tiny SDMatte (train, test with box prompts, infer with each prompt), then LiteSDMatte
distilling from it."""
import json
import os
import os.path as osp
import sys

import cv2
import pytest

from tests.conftest import run_tool, shrink_config

pytest.importorskip('diffusers')

CONFIGS = 'configs/sdmatte'
pytestmark = pytest.mark.usefixtures('one_torch_thread')


run = run_tool


def tiny(name: str, data_root: str, work_dir: str, max_iters: int, **model) -> str:
    cfg = shrink_config(osp.join(CONFIGS, name), data_root, work_dir, max_iters,
                        test_indices=2, log_level='INFO')
    cfg.model.update(model)
    path = osp.join(osp.dirname(work_dir), f'{osp.basename(work_dir)}.py')
    cfg.dump(path)
    return path


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """A codec (2 iterations) and an SDMatte on it (2 iterations), through train.py."""
    tmp = tmp_path_factory.mktemp('sdmatte_tools')
    codec_cfg = tiny('latent_codec_kl_tiny_synthetic.py', synthetic_root, str(tmp / 'codec'), 2)
    run([sys.executable, 'tools/train.py', codec_cfg])
    codec = str(tmp / 'codec' / 'iter_2.pth')
    cfg = tiny('sdmatte_tiny_synthetic.py', synthetic_root, str(tmp / 'sdmatte'), 2,
               pretrained=dict(vae=codec))
    proc = run([sys.executable, 'tools/train.py', cfg, '--verbose'])
    return cfg, str(tmp / 'sdmatte' / 'iter_2.pth'), proc.stdout + proc.stderr, tmp


def test_train_logs_the_paper_losses(trained):
    _, checkpoint, log, _ = trained
    assert osp.isfile(checkpoint)
    for term in ('loss_unknown_l1', 'loss_known_l1', 'loss_unknown_lap', 'loss_known_lap'):
        assert term in log, term


def test_test_scores_the_whole_image_with_box_prompts(trained, tmp_path):
    cfg, checkpoint, _, _ = trained
    out = tmp_path / 'metrics.json'
    proc = run([sys.executable, 'tools/test.py', cfg, checkpoint, '--out', str(out),
                '--work-dir', str(tmp_path / 'w')])
    metrics = json.loads(out.read_text())
    assert set(metrics) == {'SAD', 'MSE', 'MAD', 'GRAD', 'CONN'}
    assert all(v >= 0 for v in metrics.values())
    assert 'MAD' in proc.stdout
    vis = sorted(os.listdir(tmp_path / 'w' / 'vis' / 'test'))
    assert len(vis) == 2  # image | box | prediction | ground truth


def test_training_without_a_vae_is_refused(synthetic_root, tmp_path):
    cfg = tiny('sdmatte_tiny_synthetic.py', synthetic_root, str(tmp_path / 'w'), 1)
    proc = run([sys.executable, 'tools/train.py', cfg], check=False)
    assert proc.returncode != 0 and 'model.pretrained.vae is not set' in proc.stderr


def test_infer_with_each_prompt(trained, synthetic_root, tmp_path):
    cfg, checkpoint, _, _ = trained
    image = osp.join(synthetic_root, 'test', 'merged', '0000.png')
    out = tmp_path / 'out'
    proc = run([sys.executable, 'tools/infer.py', cfg, checkpoint, image, '--box', '5', '8',
                '50', '60', '--out', str(out)])
    assert 'matted with SDMatte' in proc.stdout
    alpha = cv2.imread(str(out / '0000_alpha.png'), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (64, 64)
    assert cv2.imread(str(out / '0000_cutout.png'), cv2.IMREAD_UNCHANGED).shape == (64, 64, 4)
    run([sys.executable, 'tools/infer.py', cfg, checkpoint, image, '--point', '30', '30',
         '--point', '20', '40', '1', '--transparent', '--out', str(out)])
    trimap = osp.join(synthetic_root, 'test', 'trimap', '0000.png')
    proc = run([sys.executable, 'tools/infer.py', cfg, checkpoint, image, '--trimap', trimap,
                '--out', str(out)])
    assert 'note: mask made from the trimap' in proc.stdout
    proc = run([sys.executable, 'tools/infer.py', cfg, checkpoint, image, '--point', '3', '3',
                '0', '--out', str(out)], check=False)
    assert proc.returncode == 2
    assert 'SDMatte takes foreground (label 1) clicks only' in proc.stderr


def test_litesdmatte_distils_from_the_tiny_sdmatte(trained, synthetic_root):
    sdmatte_cfg, checkpoint, _, tmp = trained
    codec_cfg = tiny('latent_codec_taesd_tiny_synthetic.py', synthetic_root,
                     str(tmp / 'taesd'), 2)
    run([sys.executable, 'tools/train.py', codec_cfg])
    cfg = tiny('litesdmatte_tiny_synthetic.py', synthetic_root, str(tmp / 'lite'), 2,
               pretrained=dict(vae=str(tmp / 'taesd' / 'iter_2.pth')),
               distill=dict(teacher_config=sdmatte_cfg, teacher_checkpoint=checkpoint,
                            weight=0.01))
    proc = run([sys.executable, 'tools/train.py', cfg, '--verbose'])
    log = proc.stdout + proc.stderr
    assert 'loss_distill' in log
    from mattebox.engine.checkpoint import load_checkpoint_file
    state = load_checkpoint_file(str(tmp / 'lite' / 'iter_2.pth'))['state_dict']
    assert 'vae.vae.encoder.layers.0.weight' in state  # the tiny VAE
    assert not any(k.startswith('_teacher') for k in state)  # the teacher is not saved
