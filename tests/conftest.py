"""Shared fixtures: tiny synthetic data and tiny configs (no network, no weights)."""
import os
import os.path as osp
import subprocess
import sys
from typing import Optional

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


@pytest.fixture(scope='session', autouse=True)
def _registered():
    from mattebox import register_all_modules
    register_all_modules()


@pytest.fixture(autouse=True)
def _mattebox_scope():
    """Each test builds under the mattebox scope, whatever an earlier test's Runner left
    as mmengine's current default scope."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mattebox'):
        yield


@pytest.fixture(scope='module', autouse=True)
def _mattebox_scope_for_module_fixtures():
    """The same for module-scoped fixtures (they are set up before the one above)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mattebox'):
        yield


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A small synthetic dataset in the Composition-1k layout (64 x 64)."""
    from mattebox.datasets.synthetic import make_synthetic_dataset
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_dataset(str(root), num_train=8, num_test=4, size=(64, 64), seed=0)
    return str(root)


def shrink_config(config: str, data_root: str, work_dir: str, max_iters: int,
                  checkpoint_interval: Optional[int] = None, test_indices: Optional[int] = None,
                  log_level: str = 'WARNING'):
    """``config`` (relative to the repo) on ``data_root`` for a few iterations: batch 2,
    no LR schedule, a checkpoint every ``checkpoint_interval`` (default: at the end) and
    at the end, a log line per iteration, ``test_indices`` test images (default: all)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = work_dir
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 2
    if test_indices is not None:
        cfg.test_dataloader.dataset.indices = test_indices
    cfg.train_cfg.max_iters = max_iters
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=checkpoint_interval or max_iters,
                                        by_epoch=False, save_last=True)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = log_level
    return cfg


def tiny_dim_cfg(data_root: str, work_dir: str, max_iters: int = 4,
                 config: str = 'configs/dim/dim_tiny_synthetic.py',
                 checkpoint_interval: int = 2):
    """A tiny synthetic DIM config (``config``, relative to the repo) shrunk further for
    tests: 4-channel-wide network, batch 2, ``max_iters`` iterations."""
    cfg = shrink_config(config, data_root, work_dir, max_iters, checkpoint_interval)
    cfg.model.backbone.encoder.base_channels = 4
    cfg.model.backbone.decoder.base_channels = 4
    return cfg


def run_tool(args, check: bool = True) -> subprocess.CompletedProcess:
    """A command-line tool as a user runs it from the repo, on one torch thread (these
    networks are too small to gain from two, and the machine is shared); raises with its
    output when it fails and ``check``."""
    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1', 'PYTHON': sys.executable}
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


@pytest.fixture(scope='session')
def dim_files(synthetic_root, tmp_path_factory):
    """``(config path, checkpoint path)`` of a 4-channel-wide DIM with seeded weights."""
    import torch
    from mmengine.registry import DefaultScope

    from mattebox.registry import MODELS
    tmp = tmp_path_factory.mktemp('dim_api')
    cfg = tiny_dim_cfg(synthetic_root, str(tmp / 'work'))
    config = str(tmp / 'dim_tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mattebox'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp / 'dim_tiny.pth')
    torch.save({'meta': {'iter': 0}, 'state_dict': model.state_dict()}, checkpoint)
    return config, checkpoint


@pytest.fixture
def one_torch_thread():
    """One torch thread: tiny networks on a shared 2-core machine run several times
    slower with two (thread contention), not faster."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_cfg(synthetic_root, tmp_path):
    return tiny_dim_cfg(synthetic_root, str(tmp_path / 'work'))


def shared_dir() -> str:
    """The project's ../shared folder (override with MATTEBOX_SHARED)."""
    return os.environ.get('MATTEBOX_SHARED', osp.join(osp.dirname(ROOT), 'shared'))
