"""Hooks that the Runner lacks."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook

from mattebox.registry import HOOKS


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """Write each predicted alpha as an 8-bit PNG during testing.

    The file is named after the sample's ``merged_path`` (else ``img_path``, else its
    index): ``out_dir/<stem>.png``. Inputs are never overwritten: a prediction whose
    path is one of the sample's own input files is refused with an error.

    Two samples of one test run that map to the same file name are an error (never a
    silent overwrite).

    Args:
        out_dir: folder for the PNGs (created if missing).
    """

    priority = 'LOW'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def before_test(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        self._written = {}

    def after_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        for i, sample in enumerate(outputs or []):
            meta = sample.metainfo
            src = meta.get('merged_path') or meta.get('img_path')
            stem = osp.splitext(osp.basename(src))[0] if src else \
                f'{meta.get("sample_idx", f"{batch_idx}_{i}")}'
            path = osp.join(self.out_dir, f'{stem}.png')
            inputs = {osp.realpath(v) for k, v in meta.items()
                      if k.endswith('_path') and isinstance(v, str)}
            if osp.realpath(path) in inputs:
                raise FileExistsError(f'--save-pred would overwrite an input file: {path}; '
                                      'choose another output folder')
            if path in self._written:
                raise FileExistsError(f'two test samples map to one prediction file {path}: '
                                      f'{self._written[path]} and {src}; file names must be '
                                      'unique within the test set')
            self._written[path] = src
            alpha = sample.pred_alpha.detach().cpu().numpy().astype(np.uint8)
            tmp = osp.join(self.out_dir, f'.{stem}.tmp.png')
            if not cv2.imwrite(tmp, alpha):
                raise OSError(f'cannot write prediction {tmp}')
            os.replace(tmp, path)
