"""A test-only hook: records which sample indices each rank trains on."""
import json
import os.path as osp

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mattebox.registry import HOOKS


@HOOKS.register_module()
class RecordSampleIdxHook(Hook):

    def __init__(self) -> None:
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.seen += [int(s.metainfo['sample_idx']) for s in data_batch['data_samples']]

    def after_train(self, runner) -> None:
        with open(osp.join(runner.work_dir, f'seen_rank{get_rank()}.json'), 'w') as f:
            json.dump(self.seen, f)


@HOOKS.register_module()
class RecordWeightsHook(Hook):
    """After training: each rank's parameter sums and optimiser step counts."""

    def after_train(self, runner) -> None:
        import torch
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        sums = {k: float(v.double().sum()) for k, v in model.state_dict().items()
                if v.is_floating_point()}
        optimizer = runner.optim_wrapper.optimizer
        steps = sorted({int(torch.as_tensor(s['step']).item())
                        for s in optimizer.state.values() if 'step' in s})
        with open(osp.join(runner.work_dir, f'weights_rank{get_rank()}.json'), 'w') as f:
            json.dump(dict(sums=sums, steps=steps, wrapper=type(runner.model).__name__), f)
