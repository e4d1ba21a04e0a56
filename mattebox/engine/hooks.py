"""Hooks that the Runner lacks."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.hooks import Hook

from mattebox.registry import HOOKS

from .checkpoint import atomic_write
from .errors import OutputRefusedError
from .outputs import OutputFolder


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """Write each predicted alpha as an 8-bit PNG during testing.

    The file is named after the sample's ``merged_path`` (else ``img_path``, else its
    index): ``out_dir/<stem>.png``. The folder is a
    :class:`~mattebox.engine.outputs.OutputFolder` of ``tools/test.py`` (exclusive:
    it may hold only files the tools wrote, since predictions are named like the
    ground truth): never a sample's input, never a file the tools did not write, never
    inside ``protected`` folders (the dataset's). Two samples of one test run that map
    to the same file name are an error (never a silent overwrite).

    Args:
        out_dir: folder for the PNGs (created if missing).
        protected: folders never written into (``tools/test.py`` passes the dataset
            folders of the config).
    """

    priority = 'LOW'
    TOOL = 'tools/test.py'

    def __init__(self, out_dir: str, protected: Sequence[str] = ()) -> None:
        self.out_dir = out_dir
        self.protected = tuple(protected)

    def before_test(self, runner) -> None:
        self._folder = OutputFolder(self.out_dir, self.TOOL, protected=self.protected,
                                    exclusive=True, label='--save-pred')
        os.makedirs(self.out_dir, exist_ok=True)
        self._written = {}

    def after_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        jobs = []
        for i, sample in enumerate(outputs or []):
            meta = sample.metainfo
            src = meta.get('merged_path') or meta.get('img_path')
            stem = osp.splitext(osp.basename(src))[0] if src else \
                f'{meta.get("sample_idx", f"{batch_idx}_{i}")}'
            name = f'{stem}.png'
            path = osp.join(self.out_dir, name)
            inputs = {osp.realpath(v) for k, v in meta.items()
                      if k.endswith('_path') and isinstance(v, str)}
            if osp.realpath(path) in inputs:
                raise OutputRefusedError(f'--save-pred would overwrite an input file: {path}; '
                                         'choose another output folder')
            if path in self._written:
                raise OutputRefusedError(
                    f'two test samples map to one prediction file {path}: '
                    f'{self._written[path]} and {src}; file names must be unique within '
                    'the test set')
            self._written[path] = src
            jobs.append((name, sample.pred_alpha.detach().cpu().numpy().astype(np.uint8)))
        self._folder.record([name for name, _ in jobs])
        for name, alpha in jobs:
            ok, buf = cv2.imencode('.png', alpha)
            if not ok:
                raise OSError(f'cannot encode prediction {name}')
            atomic_write(osp.join(self.out_dir, name), buf.tobytes())


@HOOKS.register_module()
class BrokenSamplesHook(Hook):
    """Count and list the training samples a dataset skipped (``skip_broken_samples``).

    A dataset with ``skip_broken_samples=True`` replaces a sample whose files fail to
    load by another one and records the failure in the replacement's metainfo
    (``skipped_samples``); this hook collects those records (from every dataloader
    worker, since they travel with the batch), logs each one when it happens and lists
    them all at the end of training. ``tools/train.py`` adds it when a training
    dataset skips broken samples.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self.skipped: List[str] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        for sample in (data_batch or {}).get('data_samples', []) or []:
            for record in getattr(sample, 'metainfo', {}).get('skipped_samples', ()):
                self.skipped.append(record)
                runner.logger.warning(f'skipped a broken training sample: {record}')

    def after_train(self, runner) -> None:
        if not self.skipped:
            return
        lines = '\n'.join(f'  {r}' for r in self.skipped)
        runner.logger.warning(f'{len(self.skipped)} broken training sample(s) were skipped '
                              f'(skip_broken_samples=True) and replaced by others:\n{lines}')


def add_broken_samples_hook(cfg) -> None:
    """Add :class:`BrokenSamplesHook` to ``cfg`` if its training dataset (or one inside
    a wrapper) has ``skip_broken_samples=True``."""
    def skips(ds) -> bool:
        if not isinstance(ds, dict):
            return False
        return bool(ds.get('skip_broken_samples')) or any(
            skips(d) for d in (ds.get('datasets') or [])) or skips(ds.get('dataset'))

    loader = cfg.get('train_dataloader') or {}
    hooks = list(cfg.get('custom_hooks') or [])
    if skips(loader.get('dataset')) and not any(
            isinstance(h, dict) and h.get('type') == 'BrokenSamplesHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='BrokenSamplesHook')]


def _gray_panel(x) -> np.ndarray:
    """A uint8 H x W panel from a tensor / array (0-1 floats are scaled to 0-255)."""
    arr = x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)
    arr = arr.reshape(arr.shape[-2:]) if arr.ndim == 3 and arr.shape[0] == 1 else arr
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr * 255 if arr.max() <= 1.0 else arr), 0, 255).astype(np.uint8)
    return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)


def guidance_panel(sample, image: np.ndarray) -> Tuple[str, np.ndarray]:
    """The guidance of a sample drawn as one BGR panel, and its title: the trimap or the
    mask, else the image (dimmed) with the points (green: foreground, red: background)
    and boxes (yellow) on it; text is written in the title."""
    from mattebox.guidance import decode_trimap
    h, w = image.shape[:2]
    if 'ori_trimap' in sample or 'trimap' in sample:
        trimap = sample.ori_trimap if 'ori_trimap' in sample else decode_trimap(
            sample.trimap.detach().cpu().numpy(), sample.metainfo.get('format_trimap'),
            channels_first=True)
        title, panel = 'trimap', _gray_panel(np.asarray(trimap, np.uint8))
    elif 'mask' in sample:
        title, panel = 'mask', _gray_panel(sample.mask.float() / 255)
    else:
        title, panel = 'guidance', (image * 0.5).astype(np.uint8)
    if panel.shape[:2] != (h, w):
        panel = cv2.resize(panel, (w, h), interpolation=cv2.INTER_NEAREST)
    scale_y, scale_x = h / sample.metainfo.get('img_shape', (h, w))[0], \
        w / sample.metainfo.get('img_shape', (h, w))[1]
    radius = max(2, round(min(h, w) / 60))
    if 'boxes' in sample:
        for x0, y0, x1, y1 in np.asarray(sample.boxes, np.float64).reshape(-1, 4):
            cv2.rectangle(panel, (int(x0 * scale_x), int(y0 * scale_y)),
                          (int(x1 * scale_x) - 1, int(y1 * scale_y) - 1), (0, 255, 255),
                          max(1, radius // 2))
        title += ' + box'
    if 'points' in sample:
        for x, y, label in np.asarray(sample.points, np.float64).reshape(-1, 3):
            cv2.circle(panel, (int(round((x + 0.5) * scale_x - 0.5)),
                               int(round((y + 0.5) * scale_y - 0.5))), radius,
                       (0, 255, 0) if label > 0 else (0, 0, 255), -1)
        title += ' + points'
    if 'text' in sample:
        title += f': "{sample.text}"'
    return title, panel


def matting_grid(sample, image_bgr: np.ndarray) -> np.ndarray:
    """image | guidance | prediction | ground truth (when known) of one sample, with a
    title above each panel, at the sample's original size."""
    h, w = tuple(sample.metainfo.get('ori_shape', image_bgr.shape[:2]))
    image = image_bgr if image_bgr.shape[:2] == (h, w) else cv2.resize(
        image_bgr, (w, h), interpolation=cv2.INTER_AREA)
    panels = [('image', image), guidance_panel(sample, image)]
    if 'pred_alpha' in sample:
        panels.append(('prediction', _gray_panel(sample.pred_alpha)))
    if 'ori_alpha' in sample:
        panels.append(('ground truth', _gray_panel(sample.ori_alpha)))
    elif 'gt_alpha' in sample:
        gt = _gray_panel(sample.gt_alpha.float())
        panels.append(('ground truth', cv2.resize(gt, (w, h))))
    header = 18 if w >= 96 else 12
    font = 0.45 if w >= 96 else 0.3
    cells = []
    for title, panel in panels:
        top = np.full((header, w, 3), 40, np.uint8)
        cv2.putText(top, title[:max(4, w // 7)], (3, header - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    font, (255, 255, 255), 1, cv2.LINE_AA)
        cells.append(np.vstack([top, panel]))
        cells.append(np.full((h + header, 4, 3), 255, np.uint8))
    return np.hstack(cells[:-1])


@HOOKS.register_module()
class MattingVisualizationHook(Hook):
    """Save image | guidance | prediction | ground truth grids of a few samples at
    validation and test time (on the main process).

    Files: ``{work_dir}/vis/test/<name>.png`` for a test run and
    ``{work_dir}/vis/val_iter_<N>/<name>.png`` for the validation after iteration N,
    ``<name>`` the sample's image file name (else its index).

    Args:
        num_samples: how many samples per validation / test run.
        out_dir: folder instead of ``{work_dir}/vis``.
    """

    priority = 'LOW'

    def __init__(self, num_samples: int = 4, out_dir: Optional[str] = None) -> None:
        if not isinstance(num_samples, int) or num_samples < 0:
            raise ValueError(f'MattingVisualizationHook: num_samples must be an int >= 0, '
                             f'got {num_samples!r}')
        self.num_samples = num_samples
        self.out_dir = out_dir
        self._saved = 0
        self._folder = ''

    def _start(self, runner, name: str) -> None:
        self._saved = 0
        self._folder = osp.join(self.out_dir or osp.join(runner.work_dir, 'vis'), name)

    def before_val(self, runner) -> None:
        self._start(runner, f'val_iter_{runner.iter}')

    def before_test(self, runner) -> None:
        self._start(runner, 'test')

    def _save(self, batch_idx: int, data_batch: Optional[dict], outputs) -> None:
        from mmengine.dist import is_main_process
        if not is_main_process() or self._saved >= self.num_samples or not data_batch:
            return
        os.makedirs(self._folder, exist_ok=True)
        for i, (image, sample) in enumerate(zip(data_batch['inputs'], outputs or [])):
            if self._saved >= self.num_samples:
                break
            image = image.detach().cpu().numpy().transpose(1, 2, 0)
            image = np.clip(image, 0, 255).astype(np.uint8)
            src = sample.metainfo.get('merged_path') or sample.metainfo.get('img_path')
            stem = osp.splitext(osp.basename(src))[0] if src else f'{batch_idx}_{i}'
            cv2.imwrite(osp.join(self._folder, f'{stem}.png'),
                        matting_grid(sample, np.ascontiguousarray(image)))
            self._saved += 1

    def after_val_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        self._save(batch_idx, data_batch, outputs)

    def after_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        self._save(batch_idx, data_batch, outputs)
