"""MattingVisualizationHook: image | guidance | prediction | ground truth grids."""
import cv2
import numpy as np
import torch

from mattebox.engine.hooks import MattingVisualizationHook, guidance_panel, matting_grid
from mattebox.structures import MattingDataSample


def sample_with(**fields):
    s = MattingDataSample(**fields)
    s.set_metainfo(dict(ori_shape=(40, 60), img_shape=(40, 60), merged_path='a/pic.png'))
    return s


def test_grid_has_a_panel_per_part():
    image = np.full((40, 60, 3), 200, np.uint8)
    trimap = np.zeros((40, 60), np.uint8)
    trimap[10:30, 20:40] = 128
    s = sample_with(ori_trimap=torch.from_numpy(trimap), ori_alpha=torch.zeros(40, 60,
                                                                               dtype=torch.uint8),
                    pred_alpha=torch.full((40, 60), 255, dtype=torch.uint8))
    grid = matting_grid(s, image)
    assert grid.shape == (40 + 12, 4 * 60 + 3 * 4, 3)
    panel = lambda k: grid[12:, k * 64:k * 64 + 60]  # noqa: E731
    assert (panel(0) == 200).all()
    assert (panel(1)[10:30, 20:40] == 128).all() and (panel(1)[0, 0] == 0).all()
    assert (panel(2) == 255).all() and (panel(3) == 0).all()
    without_gt = matting_grid(sample_with(pred_alpha=torch.zeros(40, 60, dtype=torch.uint8)),
                              image)
    assert without_gt.shape[1] == 3 * 60 + 2 * 4


def test_points_boxes_and_text_are_drawn():
    image = np.full((40, 60, 3), 100, np.uint8)
    s = sample_with(points=torch.tensor([[10.0, 10.0, 1.0], [50.0, 30.0, 0.0]]),
                    boxes=torch.tensor([[5.0, 5.0, 30.0, 25.0]]), text='the red one')
    title, panel = guidance_panel(s, image)
    assert title == 'guidance + box + points: "the red one"'
    assert tuple(panel[10, 10]) == (0, 255, 0)  # a foreground click: green
    assert tuple(panel[30, 50]) == (0, 0, 255)  # a background click: red (BGR)
    assert tuple(panel[15, 5]) == (0, 255, 255)  # the box's left edge: yellow
    assert tuple(panel[35, 55]) == (50, 50, 50)  # the dimmed image elsewhere


def test_hook_saves_the_first_samples_of_a_test_run(tmp_path):
    hook = MattingVisualizationHook(num_samples=3, out_dir=str(tmp_path))

    class Runner:
        work_dir, iter = str(tmp_path), 7

    hook.before_test(Runner())
    for batch in range(3):
        samples = [sample_with(pred_alpha=torch.zeros(40, 60, dtype=torch.uint8))
                   for _ in range(2)]
        for i, s in enumerate(samples):
            s.set_metainfo(dict(merged_path=f'x/img{batch}{i}.jpg'))
        data = dict(inputs=[torch.zeros(3, 40, 60, dtype=torch.uint8)] * 2)
        hook.after_test_iter(Runner(), batch, data, samples)
    saved = sorted(p.name for p in (tmp_path / 'test').iterdir())
    assert saved == ['img00.png', 'img01.png', 'img10.png']
    # image | guidance (none: the dimmed image) | prediction
    assert cv2.imread(str(tmp_path / 'test' / 'img00.png')).shape == (52, 3 * 60 + 2 * 4, 3)
    hook.before_val(Runner())
    hook.after_val_iter(Runner(), 0, data, samples)
    assert (tmp_path / 'val_iter_7').is_dir()
