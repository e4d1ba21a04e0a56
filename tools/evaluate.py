"""Score a folder of predicted alpha mattes the way the official ``evaluate.m`` does.

Usage::

    python tools/evaluate.py PRED_DIR GT_DIR [TRIMAP_DIR] [--workers N]
        [--out results.csv] [--convention {dim,all-region,mmagic}]
        [--metrics SAD MSE GRAD CONN] [--mse-scale S] [--no-progress] [--overwrite]

Files are paired by name without extension (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``,
``.tif``, ``.tiff``) and read as single-channel 8-bit or 16-bit images (16-bit values
``v`` are ``v / 65535``; a 16-bit file holding only values 0..255 gets a warning).
Before anything is scored every file is read and checked; all problems (missing pairs,
unreadable files, size mismatches, non-grey images, trimap values other than
0/128/255) are printed together with the file names and the tool exits with status 2.

Conventions:

* ``dim`` (default): the official Deep Image Matting code; SAD and MSE over the
  unknown region (trimap == 128), Grad / 1000, Conn / 1000. Needs TRIMAP_DIR.
* ``all-region``: every pixel counts (trimap-free / interactive / referring matting);
  TRIMAP_DIR is not needed (and not read).
* ``mmagic``: MMagic's numbers (whole-image SAD, MattingMSE, float64 Conn thresholds),
  to reproduce old tables. Needs TRIMAP_DIR.

The per-image values come from :mod:`mattebox.evaluation.functional`; the printed means
are their plain means (NaN if an image has an empty unknown region, as in
``evaluate.m``). ``--out`` writes one CSV row per image plus a ``mean`` row; it never
replaces an input, writes into an input folder, or replaces a file it did not write
itself unless ``--overwrite`` is given.
"""
import argparse
import csv
import io
import math
import multiprocessing
import os
import os.path as osp
import sys
import time
from collections import defaultdict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

# this checkout's mattebox, as the other tools (not another installed copy)
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mattebox.evaluation import functional as F  # noqa: E402

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
ALL_METRICS = ('SAD', 'MSE', 'MAD', 'GRAD', 'CONN')
DEFAULT_METRICS = ('SAD', 'MSE', 'GRAD', 'CONN')
CONVENTIONS = {
    # name: (region, functional convention, needs a trimap)
    'dim': ('unknown', 'dim', True),
    'all-region': ('all', 'dim', False),
    'mmagic': ('unknown', 'mmagic', True),
}
EXIT_INPUT_PROBLEMS = 2
TOOL = 'tools/evaluate.py'
#: PIL modes of single-channel 8/16-bit images, checked without decoding the pixels
_HEADER_CHECKED_MODES = ('L', '1', 'I;16', 'I;16B', 'I;16L')


class Job(NamedTuple):
    """One image to score: its name and the paths of its files."""

    name: str
    pred: str
    gt: str
    trimap: Optional[str]


# ----------------------------------------------------------------------------- files
def list_images(folder: str) -> Tuple[Dict[str, str], List[str]]:
    """``{stem: path}`` of the images directly in ``folder`` and the problems found."""
    images: Dict[str, List[str]] = defaultdict(list)
    for entry in sorted(os.listdir(folder)):
        path = osp.join(folder, entry)
        stem, ext = osp.splitext(entry)
        if ext.lower() in IMAGE_EXTENSIONS and osp.isfile(path):
            images[stem].append(path)
    problems = [f'{folder}: several files named {stem!r}: '
                f'{", ".join(osp.basename(p) for p in paths)} (which one to use?)'
                for stem, paths in images.items() if len(paths) > 1]
    return {stem: paths[0] for stem, paths in images.items()}, problems


def pair_files(pred_dir: str, gt_dir: str, trimap_dir: Optional[str]
               ) -> Tuple[List[Job], List[str]]:
    """Pair the files of the three folders by stem; every unpaired file is a problem."""
    problems: List[str] = []
    folders = {'PRED_DIR': pred_dir, 'GT_DIR': gt_dir}
    if trimap_dir is not None:
        folders['TRIMAP_DIR'] = trimap_dir
    listed: Dict[str, Dict[str, str]] = {}
    for label, folder in folders.items():
        if not osp.isdir(folder):
            problems.append(f'{label} {folder!r} is not a directory')
            listed[label] = {}
            continue
        listed[label], dup = list_images(folder)
        problems += dup
        if not listed[label]:
            problems.append(f'{label} {folder!r} has no images '
                            f'({", ".join(IMAGE_EXTENSIONS)})')
    preds, gts = listed['PRED_DIR'], listed['GT_DIR']
    trimaps = listed.get('TRIMAP_DIR')
    for stem in sorted(set(gts) - set(preds)):
        problems.append(f'{gts[stem]}: no prediction named {stem}.* in {pred_dir}')
    for stem in sorted(set(preds) - set(gts)):
        problems.append(f'{preds[stem]}: no ground truth named {stem}.* in {gt_dir}')
    if trimaps is not None:
        for stem in sorted(set(gts) - set(trimaps)):
            problems.append(f'{gts[stem]}: no trimap named {stem}.* in {trimap_dir}')
        for stem in sorted(set(trimaps) - set(gts)):
            problems.append(f'{trimaps[stem]}: no ground truth named {stem}.* in {gt_dir}')
    jobs = [Job(stem, preds[stem], gts[stem], trimaps[stem] if trimaps is not None else None)
            for stem in sorted(set(preds) & set(gts))
            if trimaps is None or stem in trimaps]
    return jobs, problems


def read_matte(path: str, kind: str) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """Read a single-channel image: ``(array, None)`` or ``(None, problem)``.

    8-bit images come back as uint8; 16-bit alpha mattes as float64 in [0, 1]. A colour
    image whose channels are all equal is read as grey.
    """
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except Exception as err:  # cv2 raises on some malformed files
        return None, f'{path}: unreadable {kind} ({err})'
    if img is None:
        return None, f'{path}: unreadable {kind} (not a valid image file)'
    if img.ndim == 3:
        colour = img[:, :, :3]
        if colour.shape[2] == 1 or (np.array_equal(colour[:, :, 0], colour[:, :, 1])
                                    and np.array_equal(colour[:, :, 0], colour[:, :, 2])):
            img = colour[:, :, 0]
        else:
            return None, (f'{path}: {kind} should be a single-channel (grey) image, found '
                          f'{img.shape[2]} channels with different values')
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    if img.dtype == np.uint16 and kind != 'trimap':
        return img / 65535.0, None
    if img.dtype != np.uint8:
        return None, f'{path}: {kind} should be an 8-bit image, found dtype {img.dtype}'
    return img, None


def sixteen_bit_warning(path: str, kind: str) -> Optional[str]:
    """A warning for a 16-bit matte holding only values 0..255 (8-bit values in a 16-bit
    file, which read as nearly black on the 16-bit scale), else None."""
    try:
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except Exception:  # unreadable: the checks report it
        return None
    if img is None or img.dtype != np.uint16 or int(img.max()) > 255:
        return None
    return (f'{path}: 16-bit {kind} holding only values 0..{int(img.max())}: it is read on '
            'the 16-bit scale (v / 65535), i.e. nearly black; if these are 8-bit values, '
            'save the file as 8-bit')


def probe_matte(path: str, kind: str) -> Tuple[Optional[Tuple[int, int]], Optional[str],
                                                Optional[str]]:
    """``(shape, problem, warning)`` of a single-channel image (``shape`` None when
    there is a problem).

    Grey 8-bit images are checked from their header, and for PNG every chunk's CRC is
    verified (which catches truncated and corrupted files) without decompressing the
    pixels; 16-bit images are decoded too (for :func:`sixteen_bit_warning`), and
    anything else is decoded in full with :func:`read_matte`, whose verdict counts.
    """
    try:
        with Image.open(path) as im:
            if im.mode in _HEADER_CHECKED_MODES:
                width, height = im.size
                sixteen = im.mode.startswith('I;16')
                im.verify()
                warning = sixteen_bit_warning(path, kind) if sixteen else None
                return (height, width), None, warning
    except Exception:  # unknown to PIL or broken: let the full decode decide and explain
        pass
    img, problem = read_matte(path, kind)
    if problem:
        return None, problem, None
    return img.shape[:2], None, sixteen_bit_warning(path, kind)


def check_job(job: Job) -> Tuple[List[str], List[str]]:
    """Check every file of one job: ``(problems, warnings)``; it can be scored when
    there is no problem.

    Trimaps are decoded in full (their values are checked); predictions and ground
    truths are probed with :func:`probe_matte`.
    """
    problems, warnings = [], []
    shapes = {}
    for kind, path in (('prediction', job.pred), ('ground truth', job.gt)):
        shape, problem, warning = probe_matte(path, kind)
        if problem:
            problems.append(problem)
        else:
            shapes[path] = shape
        if warning:
            warnings.append(warning)
    if job.trimap is not None:
        trimap, problem = read_matte(job.trimap, 'trimap')
        if problem:
            problems.append(problem)
        else:
            shapes[job.trimap] = trimap.shape
            ok = (trimap == 0) | (trimap == 128) | (trimap == 255)
            if not ok.all():
                bad = np.unique(trimap[~ok])
                problems.append(
                    f'{job.trimap}: trimap values must be 0, 128 or 255; '
                    f'{int((~ok).sum())} pixels have other values (e.g. '
                    f'{", ".join(map(str, bad[:5]))})')
    if len(set(shapes.values())) > 1:
        sizes = ', '.join(f'{p} {s[1]}x{s[0]}' for p, s in shapes.items())
        problems.append(f'{job.name}: sizes differ (W x H): {sizes}')
    return problems, warnings


# ----------------------------------------------------------------------------- scoring
class InputProblem(Exception):
    """A file that passed the checks but could not be decoded when scoring."""


def score_job(job: Job, metrics: Sequence[str], convention: str,
              mse_scale: float) -> Dict[str, float]:
    """The per-image values of one job.

    Raises:
        InputProblem: a file could not be decoded (the message names it).
    """
    region, conv, _ = CONVENTIONS[convention]
    arrays = []
    for kind, path in (('prediction', job.pred), ('ground truth', job.gt),
                       ('trimap', job.trimap)):
        if path is None:
            arrays.append(None)
            continue
        img, problem = read_matte(path, kind)
        if problem:
            raise InputProblem(problem)
        arrays.append(img)
    pred, gt, trimap = arrays
    opts = dict(region=region, convention=conv)
    funcs = {
        'SAD': lambda: F.sad(pred, gt, trimap, **opts),
        'MSE': lambda: F.mse(pred, gt, trimap, scale=mse_scale, **opts),
        'MAD': lambda: F.mad(pred, gt, trimap, scale=mse_scale, **opts),
        'GRAD': lambda: F.gradient_error(pred, gt, trimap, **opts),
        'CONN': lambda: F.connectivity_error(pred, gt, trimap, **opts),
    }
    try:
        return {name: funcs[name]() for name in metrics}
    except ValueError as err:  # e.g. a size mismatch the header did not show
        raise InputProblem(f'{job.name}: {err}') from err


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; no nested threading


def _check_task(job: Job) -> Tuple[List[str], List[str]]:
    return check_job(job)


def _score_task(args) -> Tuple[Optional[Dict[str, float]], Optional[str]]:
    job, metrics, convention, mse_scale = args
    try:
        return score_job(job, metrics, convention, mse_scale), None
    except InputProblem as err:
        return None, str(err)


class _Progress:
    """A rich progress bar, or nothing with ``enabled=False``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                                       TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)
            self._progress = Progress(TextColumn('{task.description}'), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(),
                                      TimeRemainingColumn(),
                                      console=Console(stderr=True))
            self._progress.__enter__()
        return self

    def task(self, description: str, total: int):
        if self._progress is None:
            return lambda: None
        task_id = self._progress.add_task(description, total=total)
        return lambda: self._progress.advance(task_id)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def _run(func, items: list, workers: int, advance) -> list:
    """``[func(item) for item in items]`` on ``workers`` processes, in order."""
    results = []
    if workers <= 1 or len(items) <= 1:
        _init_worker()
        for item in items:
            results.append(func(item))
            advance()
        return results
    chunksize = max(1, min(8, len(items) // (workers * 8)))
    with multiprocessing.Pool(workers, initializer=_init_worker) as pool:
        for result in pool.imap(func, items, chunksize=chunksize):
            results.append(result)
            advance()
    return results


# ----------------------------------------------------------------------------- output
def _fmt(value: float) -> str:
    return 'nan' if math.isnan(value) else f'{value:.6g}'


def csv_text(jobs: Sequence[Job], rows: Sequence[Dict[str, float]],
             means: Dict[str, float], metrics: Sequence[str]) -> str:
    """One row per image (name, files, values) and a final ``mean`` row."""
    f = io.StringIO(newline='')
    writer = csv.writer(f)
    writer.writerow(['name', 'pred', 'gt', 'trimap', *metrics])
    for job, row in zip(jobs, rows):
        writer.writerow([job.name, job.pred, job.gt, job.trimap or '',
                         *(repr(float(row[m])) for m in metrics)])
    writer.writerow(['mean', '', '', '', *(repr(float(means[m])) for m in metrics)])
    return f.getvalue()


def print_table(means: Dict[str, float], n_images: int, convention: str,
                mse_scale: float) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f'{n_images} images, convention {convention!r}')
    for name in means:
        label = name + (f' (x{mse_scale:g})' if name in ('MSE', 'MAD') and mse_scale != 1
                        else '')
        table.add_column(label, justify='right')
    table.add_row(*(_fmt(v) for v in means.values()))
    Console().print(table)


def _output_file(out: str, inputs: Sequence[str], folders: Sequence[str],
                 overwrite: bool):
    """The ``--out`` file, or the reason it must not be written (a str)."""
    from mattebox.engine.errors import OutputRefusedError
    from mattebox.engine.outputs import OutputFile
    try:
        return OutputFile(out, TOOL, inputs=inputs, protected=folders, overwrite=overwrite)
    except OutputRefusedError as e:
        return str(e)


def _print_problems(problems: Sequence[str]) -> None:
    for problem in problems:
        print(f'  - {problem}', file=sys.stderr)


# ----------------------------------------------------------------------------- main
def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Score predicted alpha mattes against ground truth like evaluate.m '
                    '(files paired by name).')
    parser.add_argument('pred_dir', metavar='PRED_DIR', help='predicted alpha mattes')
    parser.add_argument('gt_dir', metavar='GT_DIR', help='ground-truth alpha mattes')
    parser.add_argument('trimap_dir', metavar='TRIMAP_DIR', nargs='?',
                        help='trimaps, 0/128/255 (needed unless --convention all-region)')
    parser.add_argument('--workers', type=int, default=_available_cores(),
                        help='worker processes (default: all cores, %(default)s)')
    parser.add_argument('--out', help='write per-image rows and a mean row to this CSV '
                        '(a new file, or one tools/evaluate.py wrote)')
    parser.add_argument('--overwrite', action='store_true',
                        help='let --out replace an existing file that tools/evaluate.py '
                        'did not write (never an input)')
    parser.add_argument('--convention', choices=sorted(CONVENTIONS), default='dim',
                        help='dim: official evaluate.m (default); all-region: every pixel '
                             'counts; mmagic: MMagic-compatible numbers')
    parser.add_argument('--metrics', nargs='+', choices=ALL_METRICS,
                        default=list(DEFAULT_METRICS), help='metrics to compute '
                        '(default: %(default)s)')
    parser.add_argument('--mse-scale', type=float, default=1.0,
                        help='multiply MSE and MAD, e.g. 1000 (default: 1, as evaluate.m)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.workers < 1:
        print(f'--workers must be >= 1, got {args.workers}', file=sys.stderr)
        return EXIT_INPUT_PROBLEMS
    _, _, needs_trimap = CONVENTIONS[args.convention]
    trimap_dir = args.trimap_dir
    if needs_trimap and trimap_dir is None:
        print(f'--convention {args.convention} needs TRIMAP_DIR (SAD/MSE/Grad/Conn are '
              f'computed over trimap == 128); use --convention all-region without trimaps',
              file=sys.stderr)
        return EXIT_INPUT_PROBLEMS
    if not needs_trimap and trimap_dir is not None:
        print(f'note: --convention {args.convention} scores every pixel; TRIMAP_DIR is '
              f'not read', file=sys.stderr)
        trimap_dir = None

    jobs, problems = pair_files(args.pred_dir, args.gt_dir, trimap_dir)
    out = None
    if args.out:
        inputs = [p for job in jobs for p in (job.pred, job.gt, job.trimap) if p]
        folders = [f for f in (args.pred_dir, args.gt_dir, trimap_dir) if f]
        out = _output_file(args.out, inputs, folders, args.overwrite)
        if isinstance(out, str):
            problems.append(out)

    workers = min(args.workers, max(len(jobs), 1))
    start = time.perf_counter()
    with _Progress(not args.no_progress) as progress:
        checked = _run(_check_task, jobs, workers, progress.task('checking', len(jobs)))
        problems += [p for job_problems, _ in checked for p in job_problems]
        for warning in (w for _, job_warnings in checked for w in job_warnings):
            print(f'warning: {warning}', file=sys.stderr)
        if problems:
            print(f'{len(problems)} input problem(s); nothing was scored:', file=sys.stderr)
            _print_problems(problems)
            return EXIT_INPUT_PROBLEMS
        tasks = [(job, tuple(args.metrics), args.convention, args.mse_scale)
                 for job in jobs]
        scored = _run(_score_task, tasks, workers, progress.task('scoring', len(jobs)))
    late = [problem for _, problem in scored if problem]
    if late:
        print(f'{len(late)} file(s) passed the checks but failed to decode while scoring; '
              f'no results written:', file=sys.stderr)
        _print_problems(late)
        return EXIT_INPUT_PROBLEMS
    rows = [values for values, _ in scored]

    means = {m: float(np.mean([row[m] for row in rows])) for m in args.metrics}
    print_table(means, len(jobs), args.convention, args.mse_scale)
    n_nan = sum(math.isnan(row[m]) for row in rows for m in args.metrics)
    if n_nan:
        print(f'note: {n_nan} per-image value(s) are NaN (no pixel in the unknown region); '
              f'the means are NaN as in evaluate.m', file=sys.stderr)
    if out is not None:
        out.write_text(csv_text(jobs, rows, means, args.metrics))
        print(f'per-image results: {args.out}')
    print(f'{len(jobs)} images in {time.perf_counter() - start:.1f} s with {workers} '
          f'worker(s)', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
