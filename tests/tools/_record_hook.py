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
