"""Every config in configs/ parses, passes the type checks, builds its model (random init,
no weights) and builds every transform of its pipelines."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mattebox.engine.config_check import _check_types
from mattebox.registry import MODELS, TRANSFORMS
from tests.conftest import ROOT

ALL = sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True))
CONFIGS = [p for p in ALL if '_base_' not in p]
DATASET_BASES = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', 'datasets', '*.py')))
# transform arguments that name folders read at construction time
FOLDER_ARGS = ('bg_dir', 'fg_dirs', 'alpha_dirs')


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('one_image')
    cv2.imwrite(str(folder / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    return str(folder)


def build_pipelines(cfg: Config, image_dir: str) -> int:
    """Build every transform of every dataloader; return how many were built."""
    built = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        # ConcatDataset(datasets=[...]), MultiSourceDataset(sources={name: ...}) or one
        datasets = (loader.dataset.get('datasets')
                    or list((loader.dataset.get('sources') or {}).values())
                    or [loader.dataset])
        for t in (t for ds in datasets for t in ds.pipeline):
            t = dict(t)
            for arg in FOLDER_ARGS:
                if arg in t:
                    t[arg] = [image_dir] * len(t[arg]) if isinstance(t[arg], list) else image_dir
            assert TRANSFORMS.build(t) is not None, t['type']
            built += 1
        for ds in datasets:
            assert ds.pipeline[-1].type.startswith('Pack'), key
    return built


def test_configs_found():
    assert any(p.endswith('dim_tiny_synthetic.py') for p in CONFIGS)
    assert sum('dim_stage' in p for p in CONFIGS) >= 3


def build_model(cfg: Config):
    """The config's model; the latent-diffusion ones (a ``unet``) on the meta device, so
    that a Stable-Diffusion-size model costs no memory (and no weights are read)."""
    if 'unet' in cfg.model:
        pytest.importorskip('diffusers')
        with torch.device('meta'):
            return MODELS.build(cfg.model)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path, image_dir):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mattebox'
    assert _check_types(cfg.to_dict()) == []
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert build_pipelines(cfg, image_dir) > 0


@pytest.mark.parametrize('path', DATASET_BASES, ids=lambda p: osp.relpath(p, ROOT))
def test_dataset_base_builds(path, image_dir):
    cfg = Config.fromfile(path)
    assert _check_types(cfg.to_dict()) == []
    assert build_pipelines(cfg, image_dir) >= 4
