"""A test-only interactive model for the page's click, box, text and transparent tools.

``_ClickRecorder`` takes points (foreground and background), a box or a mask, plus
optional text and the transparent flag (the shape of SDMatte's and the text model's
declarations). Its alpha is 1 inside the box and on a 5 x 5 square at each foreground
click, halved when the subject is marked transparent; it writes the guidance it got to
the JSON file ``$MATTEBOX_TEST_RECORD`` (when set), so a test can check what reached it.
Given the text ``slow``, it takes 3 seconds (a long inference, to see the progress).
"""
import json
import os
import time

import torch

from mattebox.guidance import GuidanceSpec
from mattebox.models.base_mattor import BaseMattor
from mattebox.registry import MODELS

CONFIG = """model = dict(
    type='_ClickRecorder',
    data_preprocessor=dict(type='MattorPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True))
"""


@MODELS.register_module(force=True)
class _ClickRecorder(BaseMattor):
    guidance_spec = GuidanceSpec(one_of=('points', 'boxes', 'mask'),
                                 optional=('text', 'transparent'))
    point_labels = (1, 0)  # foreground and background clicks

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gain = torch.nn.Parameter(torch.ones(1))

    def _forward(self, inputs):
        return self._forward_test(inputs)

    def _forward_test(self, inputs):
        n, _, h, w = inputs['image'].shape
        alpha = torch.zeros(n, 1, h, w)
        record = {}
        if 'boxes' in inputs:
            boxes = inputs['boxes'][0][inputs['boxes_valid'][0]]
            record['boxes'] = boxes.tolist()
            for x0, y0, x1, y1 in boxes.round().long().tolist():
                alpha[0, 0, y0:y1, x0:x1] = 1
        if 'points' in inputs:
            points = inputs['points'][0][inputs['points_valid'][0]]
            record['points'] = points.tolist()
            for x, y, label in points.round().long().tolist():
                if label == 1:
                    alpha[0, 0, max(0, y - 2):y + 3, max(0, x - 2):x + 3] = 1
        if 'mask' in inputs:
            record['mask_pixels'] = int((inputs['mask'][0] > 0.5).sum())
        if 'text' in inputs:
            record['text'] = inputs['text'][0]
            if record['text'] == 'slow':
                time.sleep(3)
        if 'transparent' in inputs:
            record['transparent'] = bool(inputs['transparent'][0])
            if record['transparent']:
                alpha = alpha * 0.5
        if os.environ.get('MATTEBOX_TEST_RECORD'):
            with open(os.environ['MATTEBOX_TEST_RECORD'], 'w') as f:
                json.dump(record, f)
        return alpha * self.gain


def write_files(folder) -> tuple:
    """``(config, checkpoint)`` of the recorder in ``folder``."""
    config = os.path.join(folder, 'click_recorder.py')
    with open(config, 'w') as f:
        f.write(CONFIG)
    checkpoint = os.path.join(folder, 'click_recorder.pth')
    torch.save({'meta': {}, 'state_dict': {'gain': torch.ones(1)}}, checkpoint)
    return config, checkpoint
