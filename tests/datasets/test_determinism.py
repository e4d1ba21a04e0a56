"""Same seed, same samples: the training dataloader of the tiny synthetic online-merge
config gives identical batches in two runs with a fixed seed (workers included), and
other batches with another seed."""
import copy

import pytest
import torch
from mmengine.runner import Runner, set_random_seed

from tests.tools.test_online_merge_train import tiny_online_cfg


def _batches(loader_cfg, seed, num_workers, n=3):
    cfg = copy.deepcopy(loader_cfg)
    cfg.num_workers = num_workers
    cfg.persistent_workers = False
    # what the Runner does with randomness=dict(seed=...): seed this process (it runs
    # the pipeline when num_workers == 0) and give the loader the seed for its sampler
    # and for mmengine's worker_init_fn (worker seed = seed + worker id)
    set_random_seed(seed)
    loader = Runner.build_dataloader(cfg, seed=seed)
    out = []
    for i, batch in enumerate(loader):
        if i == n:
            break
        samples = batch['data_samples']
        out.append(dict(
            inputs=torch.stack(batch['inputs']),
            alpha=torch.stack([s.gt_alpha for s in samples]),
            trimap=torch.stack([s.trimap for s in samples]),
            idx=[s.metainfo['sample_idx'] for s in samples],
            crop=[s.metainfo['crop_bbox'] for s in samples],
            flip=[s.metainfo['flip'] for s in samples]))
    return out


def _same(a, b) -> bool:
    return all(torch.equal(x[k], y[k]) if torch.is_tensor(x[k]) else x[k] == y[k]
               for x, y in zip(a, b) for k in x)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_same_seed_same_batches(synthetic_root, num_workers):
    loader_cfg = tiny_online_cfg(synthetic_root, '/tmp/unused').train_dataloader
    first = _batches(loader_cfg, seed=7, num_workers=num_workers)
    second = _batches(loader_cfg, seed=7, num_workers=num_workers)
    assert len(first) == 3 and first[0]['inputs'].shape == (2, 3, 64, 64)
    assert _same(first, second)
    other = _batches(loader_cfg, seed=8, num_workers=num_workers)
    assert not _same(first, other)
