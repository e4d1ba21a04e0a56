"""Checks of the files a matting dataset references, listing every problem at once.

:func:`validate_samples` is the one implementation behind
``tools/dataset_converters/check_dataset.py`` and the ``validate=`` option of
:class:`~mattebox.datasets.AdobeComp1kDataset` and
:class:`~mattebox.datasets.MattingFolderDataset`. It checks, for every sample:

- every referenced file (``alpha_path``, ``fg_path``, ``bg_path``, ``merged_path``,
  ``trimap_path``) exists and is complete (PNG ends with ``IEND``, JPEG with ``EOI``)
  and, at ``level='decode'``, decodes with OpenCV;
- the sizes agree where they must: alpha, fg, merged and trimap always; bg only when the
  sample also has a ``merged_path`` (a pre-composed sample; for online merging the
  background may have any size, ``FitBgToFg`` fits it);
- an alpha or trimap is single-channel: a 3/4-channel file whose colour channels are
  equal is *convertible* (loading it as grayscale gives the same values) and gives a
  warning, otherwise an error;
- a trimap holds only 0, 128 and 255 (``level='decode'``).

Each file is inspected once, however many samples reference it (Composition-1k
lists each foreground 100 times), in a thread pool (OpenCV and file reads release the
GIL). ``level='header'`` reads only the header and the last bytes of each file
(sizes, channels, truncation): fast enough for a start-up check of a large dataset;
``level='decode'`` decodes everything (the pipeline's colour flags, so EXIF rotation
of JPEGs is taken into account) and also checks trimap values and RGB alpha channels.
"""
import os
import os.path as osp
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

PATH_KEYS = ('alpha_path', 'fg_path', 'bg_path', 'merged_path', 'trimap_path')
#: Keys whose sizes must agree within a sample (bg joins them when merged is present).
SAME_SIZE_KEYS = ('alpha', 'fg', 'merged', 'trimap')
LEVELS = ('header', 'decode')
TRIMAP_VALUES = (0, 128, 255)

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels (palette: 3)
# JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4/C8/CC are not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_TAIL = 4096  # EOI may be followed by a few padding bytes


class DatasetValidationError(ValueError):
    """A dataset references missing, broken or inconsistent files (all listed)."""


@dataclass
class Problem:
    """One problem found by :func:`validate_samples`."""
    severity: str  # 'error' or 'warning'
    path: str
    message: str
    samples: List[int] = field(default_factory=list)

    def __str__(self) -> str:
        where = ''
        if self.samples:
            shown = ', '.join(map(str, self.samples[:5]))
            more = f' and {len(self.samples) - 5} more' if len(self.samples) > 5 else ''
            where = f' (sample {shown}{more})'
        return f'{self.severity.upper()}: {self.path}: {self.message}{where}'


@dataclass
class FileInfo:
    """What :func:`inspect_file` learnt about one file."""
    path: str
    role: str  # 'image', 'alpha' or 'trimap'
    shape: Optional[Tuple[int, int]] = None  # (H, W) as the pipeline loads it
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


# ------------------------------------------------------------------- header reading
def read_image_header(path: str) -> Optional[Tuple[int, int, int]]:
    """(H, W, channels) from a PNG or JPEG header, without decoding.

    Returns ``None`` for other formats (or an unreadable header). JPEG EXIF orientation
    is not applied.
    """
    with open(path, 'rb') as f:
        head = f.read(32)
        if head.startswith(_PNG_SIGNATURE) and len(head) >= 26 and head[12:16] == b'IHDR':
            w, h = struct.unpack('>II', head[16:24])
            return h, w, _PNG_CHANNELS.get(head[25], 0)
        if not head.startswith(b'\xff\xd8'):
            return None
        f.seek(2)
        while True:
            marker = f.read(2)
            while len(marker) == 2 and marker[0] == 0xFF and marker[1] == 0xFF:  # fill bytes
                marker = marker[1:] + f.read(1)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
                continue
            size_bytes = f.read(2)
            if len(size_bytes) < 2:
                return None
            size = struct.unpack('>H', size_bytes)[0]
            if kind in _JPEG_SOF:
                seg = f.read(6)
                if len(seg) < 6:
                    return None
                h, w = struct.unpack('>HH', seg[1:5])
                return h, w, seg[5]
            f.seek(size - 2, os.SEEK_CUR)


def _truncation(path: str, size: int) -> Optional[str]:
    """Why a PNG / JPEG file looks truncated, or ``None``."""
    with open(path, 'rb') as f:
        head = f.read(8)
        if head.startswith(_PNG_SIGNATURE):
            f.seek(max(0, size - len(_PNG_END)))
            if f.read() != _PNG_END:
                return 'truncated PNG (no IEND chunk at the end of the file)'
        elif head.startswith(b'\xff\xd8'):
            f.seek(max(0, size - _JPEG_TAIL))
            if b'\xff\xd9' not in f.read():
                return 'truncated JPEG (no end-of-image marker)'
    return None


# ------------------------------------------------------------------ file inspection
def _check_channels(info: FileInfo, img: np.ndarray) -> None:
    """Alpha / trimap: single channel, or convertible (equal colour channels)."""
    if img.ndim == 2 or img.shape[2] == 1:
        return
    colour = img[..., :3] if img.shape[2] >= 3 else img[..., :1]
    equal = bool((colour == colour[..., :1]).all())
    what = f'{img.shape[2]}-channel {info.role}'
    if equal:
        info.warnings.append(f'{what}; its colour channels are equal, so it loads as '
                             'grayscale unchanged (convertible; save it single-channel '
                             'to silence this)')
    else:
        info.errors.append(f'{what} whose colour channels differ; a {info.role} must be '
                           'single-channel (grayscale loading would mix the channels)')


def _check_trimap_values(info: FileInfo, img: np.ndarray) -> None:
    if img.ndim == 2:
        gray = img
    elif img.shape[2] >= 3:
        gray = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_BGR2GRAY)
    else:
        gray = img[..., 0]
    counts = np.bincount(gray.ravel(), minlength=256)
    counts[list(TRIMAP_VALUES)] = 0
    bad = np.flatnonzero(counts)
    if len(bad):
        shown = ', '.join(map(str, bad[:8])) + (', ...' if len(bad) > 8 else '')
        info.errors.append(f'trimap holds values other than 0/128/255: {shown} '
                           f'({int(counts.sum())} pixels)')


def inspect_file(path: str, role: str = 'image', level: str = 'decode') -> FileInfo:
    """Check one file; ``role`` is ``'image'``, ``'alpha'`` or ``'trimap'``."""
    info = FileInfo(path, role)
    if not osp.isfile(path):
        info.errors.append('file not found' if not osp.exists(path) else 'not a file')
        return info
    try:
        size = osp.getsize(path)
        if size == 0:
            info.errors.append('empty file')
            return info
        why = _truncation(path, size)
        if why:
            info.errors.append(why)
            return info
        if level == 'header':
            header = read_image_header(path)
            if header is not None:
                h, w, channels = header
                info.shape = (h, w)
                if role in ('alpha', 'trimap') and channels not in (1, 0):
                    info.warnings.append(
                        f'{channels}-channel {role} (header only: decode it, e.g. with '
                        'check_dataset.py --level decode, to know whether it converts '
                        'to grayscale unchanged)')
                return info
            # unknown format: fall through to a decode
        buf = np.fromfile(path, dtype=np.uint8)
        flag = cv2.IMREAD_COLOR if role == 'image' else cv2.IMREAD_UNCHANGED
        img = cv2.imdecode(buf, flag)
    except (OSError, cv2.error) as e:
        info.errors.append(f'cannot read: {e}')
        return info
    if img is None:
        info.errors.append('cannot decode (truncated or not an image)')
        return info
    info.shape = tuple(img.shape[:2])
    if role != 'image':
        if img.dtype != np.uint8:
            info.warnings.append(f'{img.dtype} {role}; it is loaded as uint8 (scaled)')
            img = (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img
        _check_channels(info, img)
        if role == 'trimap' and img.dtype == np.uint8:
            _check_trimap_values(info, img)
        if img.ndim == 3:
            # the pipeline loads it as grayscale, which applies EXIF orientation
            gray = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
            if gray is not None:
                info.shape = tuple(gray.shape[:2])
    return info


# --------------------------------------------------------------------- the checks
def _role(key: str) -> str:
    return key if key in ('alpha', 'trimap') else 'image'


def _progress_printer(total: int, desc: str, printer: Callable[[str], None]) -> Callable:
    """A progress callback printing a line about every 10% (and at the end)."""
    step = max(1, total // 10)
    start = time.time()

    def update(done: int) -> None:
        if done % step == 0 or done == total:
            rate = done / max(time.time() - start, 1e-6)
            printer(f'{desc}: {done}/{total} files ({100 * done // max(total, 1)}%, '
                    f'{rate:.0f} files/s)')
    return update


def validate_samples(data_list: Sequence[dict],
                     level: str = 'decode',
                     nproc: int = 4,
                     same_size: Sequence[str] = SAME_SIZE_KEYS,
                     bg_same_size: Union[str, bool] = 'auto',
                     progress: Union[bool, Callable[[str], None]] = False,
                     progress_desc: str = 'checking') -> List[Problem]:
    """Check every file of every sample; return every problem found (errors first).

    Args:
        data_list: samples, each a dict with some of :data:`PATH_KEYS` (absolute paths
            or relative to the current folder).
        level: ``'decode'`` (decode every file: also trimap values and RGB alpha
            channels) or ``'header'`` (headers and file ends only).
        nproc: threads.
        same_size: keys (without ``_path``) whose sizes must agree within a sample.
        bg_same_size: ``'auto'`` (bg must match when the sample has a ``merged_path``),
            True or False.
        progress: False for silence, True to print a progress line about every 10% of
            the files, or a callable that receives those lines.
        progress_desc: label of the progress lines.

    Returns:
        :class:`Problem` list; empty when all is well.
    """
    if level not in LEVELS:
        raise ValueError(f'level must be one of {LEVELS}, got {level!r}')
    if bg_same_size not in ('auto', True, False):
        raise ValueError(f"bg_same_size must be 'auto', True or False, got {bg_same_size!r}")
    # unique (path, role) pairs, with the samples that reference them
    users: Dict[Tuple[str, str], List[int]] = {}
    for i, sample in enumerate(data_list):
        for pk in PATH_KEYS:
            path = sample.get(pk)
            if isinstance(path, str):
                idx = sample.get('sample_idx', i)
                users.setdefault((path, _role(pk[:-5])), []).append(idx)
    jobs = sorted(users)
    if progress:
        progress = _progress_printer(len(jobs), progress_desc,
                                     print if progress is True else progress)
    infos: Dict[Tuple[str, str], FileInfo] = {}
    lock = threading.Lock()
    done = [0]

    def run(job: Tuple[str, str]) -> None:
        info = inspect_file(job[0], job[1], level)
        with lock:
            infos[job] = info
            done[0] += 1
            if progress:
                progress(done[0])

    if nproc > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=nproc) as pool:
            list(pool.map(run, jobs))
    else:
        for job in jobs:
            run(job)

    problems: List[Problem] = []
    for job in jobs:
        info = infos[job]
        for msg in info.errors:
            problems.append(Problem('error', info.path, msg, users[job]))
        for msg in info.warnings:
            problems.append(Problem('warning', info.path, msg, users[job]))

    # sizes within each sample
    mismatches: Dict[tuple, Problem] = {}
    for i, sample in enumerate(data_list):
        keys = list(same_size)
        if 'bg' not in keys and (bg_same_size is True or (
                bg_same_size == 'auto' and 'merged_path' in sample)):
            keys.append('bg')
        shapes = {}
        for key in keys:
            path = sample.get(f'{key}_path')
            if isinstance(path, str):
                info = infos.get((path, _role(key)))
                if info is not None and info.shape is not None:
                    shapes[key] = (path, info.shape)
        if len({s for _, s in shapes.values()}) > 1:
            sig = tuple(sorted((k, p, s) for k, (p, s) in shapes.items()))
            idx = sample.get('sample_idx', i)
            if sig in mismatches:
                mismatches[sig].samples.append(idx)
                continue
            ref_key = 'alpha' if 'alpha' in shapes else next(iter(shapes))
            ref_path, ref_shape = shapes[ref_key]
            parts = [f'{k} {s[0]}x{s[1]} ({p})' for k, (p, s) in shapes.items()
                     if s != ref_shape]
            mismatches[sig] = Problem(
                'error', ref_path,
                f'size mismatch: {ref_key} is {ref_shape[0]}x{ref_shape[1]} (H x W) but '
                + ', '.join(parts), [idx])
    problems.extend(mismatches.values())
    problems.sort(key=lambda p: p.severity != 'error')
    return problems


# ---------------------------------------------------------- shared by the datasets
def check_validate_option(value: Union[bool, str]) -> Union[bool, str]:
    """Normalise a dataset's ``validate`` option: False, True (= 'decode') or a level."""
    if value is True:
        return 'decode'
    if value is False or value is None:
        return False
    if value in LEVELS:
        return value
    raise ValueError(f"validate must be False, True, 'header' or 'decode', got {value!r}")


def validate_dataset(dataset, level: str = 'decode', nproc: Optional[int] = None) -> None:
    """Validate every sample of a (fully initialised) dataset at start-up.

    Warnings are logged; errors raise :class:`DatasetValidationError` listing them all.
    """
    from mmengine.logging import print_log
    name = type(dataset).__name__
    data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
    nproc = nproc or min(8, os.cpu_count() or 1)
    problems = validate_samples(
        data_list, level=level, nproc=nproc, progress_desc=f'{name}: validating',
        progress=lambda line: print_log(line, logger='current'))
    errors = [p for p in problems if p.severity == 'error']
    for p in problems:
        if p.severity == 'warning':
            print_log(f'{name}: {p}', logger='current', level=30)
    if errors:
        raise DatasetValidationError(
            f'{name} ({getattr(dataset, "ann_file", "") or dataset.data_root}): '
            f'{len(errors)} problem(s) with the data files:\n'
            + '\n'.join(str(p) for p in errors))
    print_log(f'{name}: validated {len(data_list)} samples ({level}): no errors, '
              f'{len(problems)} warning(s)', logger='current')


def add_sample_note(exc: BaseException, dataset, idx: int) -> None:
    """Attach the sample's files to an exception raised by the pipeline (PEP 678 note),
    so that any failure names the files, whatever the exception's own message."""
    try:
        info = dataset.get_data_info(idx)
    except Exception:  # pragma: no cover - never hide the original error
        return
    paths = ', '.join(f'{k}={info[k]}' for k in PATH_KEYS if k in info)
    if not hasattr(exc, 'add_note'):  # Python < 3.11
        return
    exc.add_note(f'while loading sample {idx} of {type(dataset).__name__}: {paths}')


class ValidatedDatasetMixin:
    """For mmengine datasets with a ``validate`` option (``self._validate``, set by
    :func:`check_validate_option`): validate every sample once the data list is loaded,
    and make any pipeline error name the sample's files."""

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        if self._validate:
            validate_dataset(self, self._validate)

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as e:  # name the sample's files, whatever failed
            add_sample_note(e, self, idx)
            raise
