"""Every config in configs/ parses, passes the type checks and builds its model
(random init, no weights)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mattebox.engine.config_check import _check_types
from mattebox.registry import MODELS
from tests.conftest import ROOT

CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def test_configs_found():
    assert any(p.endswith('dim_tiny_synthetic.py') for p in CONFIGS)
    assert sum('dim_stage' in p for p in CONFIGS) >= 3


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mattebox'
    assert _check_types(cfg.to_dict()) == []
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    for key in ('train_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert cfg[key].dataset.pipeline[-1].type.startswith('Pack'), key
