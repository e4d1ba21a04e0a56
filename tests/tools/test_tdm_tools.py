"""TDM through the command-line tools, as a user runs it: the tiny text-grounded model's
stage 1 (localisation) and stage 2 (transparency, from stage 1), tested with every
expression and with other objects' expressions (distractors), and tools/infer.py with
--text."""
import json
import os.path as osp
import sys

import cv2
import pytest

from tests.conftest import run_tool, shrink_config

pytest.importorskip('diffusers')

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def tiny(path: str, data_root: str, work_dir: str, max_iters: int, **options) -> str:
    cfg = shrink_config(path, data_root, work_dir, max_iters, log_level='INFO')
    train = cfg.train_dataloader.dataset
    del train['data_root']  # a MultiSourceDataset: each source has its own
    for source in train.sources.values():
        source.data_root = data_root
    cfg.merge_from_dict(options)
    out = osp.join(osp.dirname(work_dir), f'{osp.basename(work_dir)}.py')
    cfg.dump(out)
    return out


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    from mattebox.datasets.synthetic_referring import make_referring_dataset
    tmp = tmp_path_factory.mktemp('tdm_tools')
    referring = str(tmp / 'referring')
    make_referring_dataset(referring, num_train=4, num_test=2, size=(64, 64), seed=0)
    # a random frozen VAE (the real run gives the codec of latent_codec_kl_tiny_synthetic)
    stage1 = tiny('configs/tdm/tdm_tiny_stage1_synthetic-referring.py', referring,
                  str(tmp / 's1'), 2, **{'model.train_cfg.allow_random_vae': True})
    log1 = run_tool([sys.executable, 'tools/train.py', stage1, '--verbose'])
    stage2 = tiny('configs/tdm/tdm_tiny_stage2_synthetic-referring.py', referring,
                  str(tmp / 's2'), 2, load_from=str(tmp / 's1' / 'iter_2.pth'))
    log2 = run_tool([sys.executable, 'tools/train.py', stage2, '--verbose'])
    return dict(cfg=stage2, checkpoint=str(tmp / 's2' / 'iter_2.pth'), referring=referring,
                log1=log1.stdout + log1.stderr, log2=log2.stdout + log2.stderr)


def test_stage_1_trains_localisation_and_stage_2_every_term(trained):
    assert 'loss_stm' in trained['log1'] and 'loss_sg' in trained['log1']
    for term in ('loss_ctm', 'loss_alpha_lr', 'loss_r'):
        assert term not in trained['log1'] and term in trained['log2'], term
    assert 'Load checkpoint from' in trained['log2']


def test_test_scores_every_expression_and_the_distractors(trained, tmp_path):
    out = tmp_path / 'metrics.json'
    run_tool([sys.executable, 'tools/test.py', trained['cfg'], trained['checkpoint'], '--out',
              str(out), '--work-dir', str(tmp_path / 'w')])
    metrics = json.loads(out.read_text())
    for key in ('SAD', 'MSE', 'MAD', 'SAD-T', 'SAD_e0', 'SAD_e3', 'SAD_distractor'):
        assert key in metrics and metrics[key] >= 0, key


def test_infer_with_text_writes_an_alpha_and_a_cutout(trained, tmp_path):
    image = osp.join(trained['referring'], 'test', 'img', '0000.png')
    out = tmp_path / 'out'
    proc = run_tool([sys.executable, 'tools/infer.py', trained['cfg'], trained['checkpoint'],
                     image, '--text', 'the red object', '--out', str(out)])
    assert 'TDM' in proc.stdout
    assert 'is_fx_tracing' not in proc.stderr  # torch's notice when spconv is installed
    assert cv2.imread(str(out / '0000_alpha.png'), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert cv2.imread(str(out / '0000_cutout.png'), cv2.IMREAD_UNCHANGED).shape == (64, 64, 4)
    proc = run_tool([sys.executable, 'tools/infer.py', trained['cfg'], trained['checkpoint'],
                     image, '--out', str(tmp_path / 'none')], check=False)
    assert proc.returncode == 2 and '--text' in proc.stderr
