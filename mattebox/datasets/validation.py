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
- a 16-bit alpha is read on the 16-bit scale (``v / 65535``); one holding only values
  0..255 (8-bit values saved in a 16-bit file, which would read as nearly black) gives
  a warning;
- a trimap holds only 0, 128 and 255 (``level='decode'``).

Each file is inspected once, however many samples reference it (Composition-1k
lists each foreground 100 times), in a thread pool (OpenCV and file reads release the
GIL). ``level='header'`` reads only the header and the last bytes of each file
(sizes, channels, truncation): fast enough for a start-up check of a large dataset;
``level='decode'`` decodes everything (the pipeline's colour flags, so EXIF rotation
of JPEGs is taken into account) and also checks trimap values. At ``'header'`` level an
alpha or trimap whose header says several channels or 16 bits is decoded too (to tell
a convertible file from a broken one): such files are rare, so the check stays fast.

Datasets validate at ``'header'`` level by default when they are built (see
:class:`ValidatedDatasetMixin`), and keep every annotated path inside ``data_root``
(:func:`check_inside_root`).
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

from mattebox.engine.errors import DataFileError, UserError

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


class DatasetValidationError(UserError, ValueError):
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


def _png_header(head: bytes) -> Optional[Tuple[int, int, int, int]]:
    """(H, W, channels, bits per channel) from the first 26 bytes of a PNG, else None."""
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 26 and head[12:16] == b'IHDR':
        w, h = struct.unpack('>II', head[16:24])
        return h, w, _PNG_CHANNELS.get(head[25], 0), head[24]
    return None


def _head_and_truncation(path: str, size: int) -> Tuple[bytes, Optional[str]]:
    """The first 32 bytes of a file, and why it looks truncated (PNG / JPEG) or None;
    one open, two small reads."""
    with open(path, 'rb') as f:
        head = f.read(32)
        if head.startswith(_PNG_SIGNATURE):
            f.seek(max(0, size - len(_PNG_END)))
            if f.read() != _PNG_END:
                return head, 'truncated PNG (no IEND chunk at the end of the file)'
        elif head.startswith(b'\xff\xd8'):
            f.seek(max(0, size - _JPEG_TAIL))
            if b'\xff\xd9' not in f.read():
                return head, 'truncated JPEG (no end-of-image marker)'
    return head, None


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
        info.errors.append(f'{what} whose colour channels differ; the {info.role} must be '
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
        head, why = _head_and_truncation(path, size)
        if why:
            info.errors.append(why)
            return info
        if level == 'header':
            header = _png_header(head)
            if header is None and head.startswith(b'\xff\xd8'):
                jpeg = read_image_header(path)  # (H, W, channels): 8-bit baseline
                header = jpeg + (8,) if jpeg else None
            if header is not None:
                h, w, channels, depth = header
                info.shape = (h, w)
                if role == 'image' or (channels in (1, 0) and depth == 8):
                    return info
                # a colour or 16-bit matte: decode it to know whether it is usable
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
        if img.dtype == np.uint16:
            if int(img.max()) <= 255:
                info.warnings.append(
                    f'16-bit {role} holding only values 0..{int(img.max())}: it is read on '
                    'the 16-bit scale (v / 65535), i.e. nearly black; if these are 8-bit '
                    'values, save the file as 8-bit')
            img = np.rint(img / 257.0).astype(np.uint8)  # same 0..255 scale for the checks
        elif img.dtype != np.uint8:
            info.errors.append(f'{img.dtype} {role}; expected an 8- or 16-bit image')
            return info
        _check_channels(info, img)
        if role == 'trimap':
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

    def run(chunk: Sequence[Tuple[str, str]]) -> None:
        for job in chunk:
            info = inspect_file(job[0], job[1], level)
            with lock:
                infos[job] = info
                done[0] += 1
                if progress:
                    progress(done[0])

    if nproc > 1 and len(jobs) > 1:
        # chunks, not one task per file: a header check costs about as much as a task
        size = max(1, min(256, len(jobs) // (4 * nproc)))
        with ThreadPoolExecutor(max_workers=nproc) as pool:
            list(pool.map(run, [jobs[i:i + size] for i in range(0, len(jobs), size)]))
    else:
        run(jobs)

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


def validate_dataset(dataset, level: str = 'decode', nproc: Optional[int] = None,
                     data_list: Optional[Sequence[dict]] = None) -> None:
    """Validate every sample of a (fully initialised) dataset at start-up.

    Warnings are logged; errors raise :class:`DatasetValidationError` listing them all.

    Args:
        data_list: the dataset's samples, if already at hand.
    """
    from mmengine.logging import print_log
    name = type(dataset).__name__
    start = time.time()
    if data_list is None:
        data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
    nproc = nproc or min(8, os.cpu_count() or 1)
    # progress lines only where the check takes a while
    progress = (lambda line: print_log(line, logger='current')) if len(data_list) > 5000 \
        else False
    problems = validate_samples(data_list, level=level, nproc=nproc,
                                progress_desc=f'{name}: validating', progress=progress)
    errors = [p for p in problems if p.severity == 'error']
    for p in problems:
        if p.severity == 'warning':
            print_log(f'{name}: {p}', logger='current', level=30)
    if errors:
        raise DatasetValidationError(
            f'{name} ({getattr(dataset, "ann_file", "") or dataset.data_root}): '
            f'{len(errors)} problem(s) with the data files:\n'
            + '\n'.join(str(p) for p in errors))
    print_log(f'{name}: validated {len(data_list)} samples ({level}) in '
              f'{time.time() - start:.1f} s: no errors, {len(problems)} warning(s)',
              logger='current')


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


def check_inside_root(data_list: Sequence[dict], data_root: str, where: str,
                      keys: Sequence[str] = PATH_KEYS) -> None:
    """Every path of every sample lies inside ``data_root`` (after resolving ``..`` and
    symbolic links of the root itself).

    Raises:
        DatasetValidationError: listing the samples whose paths leave the root.
    """
    if not data_root:
        return
    root = osp.realpath(data_root)
    inside: Dict[str, bool] = {}  # per folder: samples share a few folders
    bad = []
    for i, sample in enumerate(data_list):
        for key in keys:
            path = sample.get(key)
            if isinstance(path, str):
                # the file itself may be a link (datasets made of links): judge its folder
                folder = osp.dirname(path)
                if folder not in inside:
                    real = osp.realpath(osp.abspath(folder))
                    inside[folder] = real == root or real.startswith(root + os.sep)
                if not inside[folder]:
                    bad.append(f'sample {i}: {key} {path}')
    if bad:
        shown = '\n  '.join(bad[:10]) + (f'\n  ... and {len(bad) - 10} more'
                                          if len(bad) > 10 else '')
        raise DatasetValidationError(
            f'{where}: {len(bad)} path(s) lead outside data_root {data_root} (an absolute '
            f"path or '..'):\n  {shown}\nMove the files under data_root, or set "
            'allow_outside_root=True in the dataset config if that is intended.')


#: errors of a sample's files that ``skip_broken_samples`` skips (anything else, e.g. a
#: KeyError of a misconfigured pipeline, is a bug and always raised)
BROKEN_SAMPLE_ERRORS = (DataFileError, OSError, ValueError, cv2.error)


class ValidatedDatasetMixin:
    """For mmengine datasets with ``validate``, ``skip_broken_samples`` and
    ``allow_outside_root`` options (set with :meth:`_init_checks`):

    - once the data list is loaded, its paths stay inside ``data_root`` (unless
      ``allow_outside_root``) and every file is validated (``validate``: ``'header'``
      by default, ``'decode'``, or False);
    - any pipeline error names the sample's files;
    - with ``skip_broken_samples=True`` (training only), a sample whose files fail to
      load is replaced by another one (drawn as mmengine's ``max_refetch`` does) and
      the failure travels with the replacement (``metainfo['skipped_samples']``), where
      :class:`~mattebox.engine.hooks.BrokenSamplesHook` counts and lists it. In test
      mode a broken sample is always an error (a metric over fewer samples would be
      wrong).
    """

    def _init_checks(self, validate: Union[bool, str], skip_broken_samples: bool,
                     allow_outside_root: bool) -> None:
        self._validate = check_validate_option(validate)
        if not isinstance(skip_broken_samples, bool):
            raise ValueError(f'skip_broken_samples must be True or False, got '
                             f'{skip_broken_samples!r}')
        self.skip_broken_samples = skip_broken_samples
        self.allow_outside_root = bool(allow_outside_root)

    def _rooted_keys(self) -> Sequence[str]:
        """Path keys that must lie inside ``data_root``."""
        return PATH_KEYS

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        if self.allow_outside_root and not self._validate:
            return
        data_list = [self.get_data_info(i) for i in range(len(self))]
        if not self.allow_outside_root:
            where = f'{type(self).__name__} ({getattr(self, "ann_file", "") or self.data_root})'
            check_inside_root(data_list, self.data_root, where, self._rooted_keys())
        if self._validate:
            validate_dataset(self, self._validate, data_list=data_list)

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as e:  # name the sample's files, whatever failed
            add_sample_note(e, self, idx)
            if not (self.skip_broken_samples and not self.test_mode
                    and isinstance(e, BROKEN_SAMPLE_ERRORS)):
                raise
            return self._replacement(idx, e)

    def _describe_failure(self, idx: int, error: BaseException) -> str:
        message = str(error).splitlines()[0] if str(error) else ''
        info = self.get_data_info(idx)
        files = ', '.join(info[k] for k in PATH_KEYS if isinstance(info.get(k), str))
        return f'sample {idx} ({files}): {type(error).__name__}: {message}'

    def _replacement(self, idx: int, error: BaseException):
        """Another sample in place of broken sample ``idx``, carrying the record."""
        records = [self._describe_failure(idx, error)]
        for _ in range(getattr(self, 'max_refetch', 1000)):
            other = self._rand_another()
            try:
                data = super().prepare_data(other)
            except BROKEN_SAMPLE_ERRORS as e:
                add_sample_note(e, self, other)
                records.append(self._describe_failure(other, e))
                continue
            if data is None:
                continue
            sample = data.get('data_samples') if isinstance(data, dict) else None
            if sample is not None and hasattr(sample, 'set_metainfo'):
                sample.set_metainfo({'skipped_samples': records})
            return data
        raise DataFileError(f'{type(self).__name__}: {len(records)} broken samples in a row '
                            f'(skip_broken_samples=True); the last: {records[-1]}')
