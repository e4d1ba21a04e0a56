"""Test helpers imported into a training process (``custom_imports``); the code under
test is unchanged.

- With ``MATTEBOX_TEST_FSYNC_DELAY=S`` in the environment every ``os.fsync`` of the
  process first sleeps S seconds, like a slow disk: checkpoint saves (which fsync
  before and after their rename) then last long enough for a test to kill the process
  in the middle of one.
- ``ClockMetric`` scores a validation by the wall-clock time, so that with
  ``save_best='clock', rule='greater'`` every validation is a new best (also after a
  resume), and the best checkpoint is replaced every time.
"""
import os
import time

from mmengine.evaluator import BaseMetric

from mattebox.registry import METRICS

_DELAY = float(os.environ.get('MATTEBOX_TEST_FSYNC_DELAY', '0') or 0)

if _DELAY > 0:
    _fsync = os.fsync

    def _slow_fsync(fd: int) -> None:
        time.sleep(_DELAY)
        _fsync(fd)

    os.fsync = _slow_fsync


@METRICS.register_module()
class ClockMetric(BaseMetric):
    """``{'clock': time.time()}``: always better than any earlier validation."""

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        return {'clock': time.time()}
