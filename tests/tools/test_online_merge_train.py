"""Online merging: the configs agree, the pipelines produce consistent samples, and the
tiny synthetic online-merge config trains through tools/train.py."""
import copy
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config

from mattebox.registry import DATASETS
from tests.conftest import ROOT, tiny_dim_cfg
from tests.tools.test_train_test import run

ONLINE_CFG = osp.join(ROOT, 'configs/dim/dim_tiny_synthetic_online-merge.py')


def tiny_online_cfg(data_root: str, work_dir: str, max_iters: int = 3) -> Config:
    """The tiny synthetic online-merge config, shrunk as tests/conftest.tiny_dim_cfg."""
    cfg = tiny_dim_cfg(data_root, work_dir, max_iters, config=osp.relpath(ONLINE_CFG, ROOT),
                       checkpoint_interval=max_iters)
    cfg.log_level = 'INFO'
    return cfg


def test_dim_online_config_uses_the_dataset_base_pipeline():
    dim = Config.fromfile(osp.join(
        ROOT, 'configs/dim/dim_stage1-v16_1xb1-1000k_comp1k_online-merge.py'))
    base = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/comp1k_online_merge.py'))
    assert dim.train_dataloader.dataset.pipeline == base.train_pipeline
    assert dim.train_dataloader.dataset.ann_file == 'training_list_online.json'
    types = [t.type for t in base.train_pipeline]
    # crop first, merge only what is kept
    assert types.index('CropAroundUnknown') < types.index('Resize') < types.index(
        'MergeFgAndBg')
    assert 'merged' not in base.train_pipeline[types.index('CropAroundUnknown')]['keys']
    stage1 = Config.fromfile(osp.join(ROOT, 'configs/dim/dim_stage1-v16_1xb1-1000k_comp1k.py'))
    assert dim.model == stage1.model and dim.optim_wrapper == stage1.optim_wrapper


def test_online_samples_are_consistent(synthetic_root):
    cfg = tiny_online_cfg(synthetic_root, '/tmp/unused')
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(3)
    for i in range(4):
        out = ds[i]
        s = out['data_samples']
        assert out['inputs'].shape == (3, 64, 64)
        a = s.gt_alpha / 255
        expected = s.gt_fg * a + s.gt_bg * (1 - a)
        assert torch.allclose(out['inputs'], expected, atol=1e-3)
        assert torch.equal(s.gt_merged, out['inputs'])
        assert set(torch.unique(s.trimap).tolist()) <= {0., 128., 255.}


def test_composition_512_pipeline_on_synthetic_data(synthetic_root):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/composition_512.py'))
    pipeline = copy.deepcopy(cfg.train_pipeline)
    for t in pipeline:
        if t.type == 'RandomLoadResizeBg':
            t.bg_dir = osp.join(synthetic_root, 'train/bg')
        if t.type == 'CompositeFg':
            t.fg_dirs = [osp.join(synthetic_root, 'train/fg')]
            t.alpha_dirs = [osp.join(synthetic_root, 'train/alpha')]
            t.p = 1.0
    ds = DATASETS.build(dict(type='AdobeComp1kDataset', data_root=synthetic_root,
                             ann_file='training_list.json', pipeline=pipeline))
    np.random.seed(0)
    out = ds[0]
    s = out['data_samples']
    assert out['inputs'].shape == (3, 512, 512)
    assert s.trimap.shape == (1, 512, 512) and (s.trimap == 128).any()
    a = s.gt_alpha / 255
    assert torch.allclose(out['inputs'], s.gt_fg * a + s.gt_bg * (1 - a), atol=1e-3)


def test_tiny_online_merge_trains_through_tools_train(synthetic_root, tmp_path):
    work = tmp_path / 'work'
    path = tmp_path / 'online.py'
    tiny_online_cfg(synthetic_root, str(work)).dump(str(path))
    proc = run([sys.executable, 'tools/train.py', str(path), '--verbose'])
    log = proc.stdout + proc.stderr
    assert 'Iter(train) [3/3]' in log
    assert 'loss_alpha' in log and 'loss_comp' in log
    assert osp.isfile(work / 'iter_3.pth')
