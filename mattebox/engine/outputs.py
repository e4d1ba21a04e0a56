"""Where the tools write: never over an input, never over a file another tool or the
user wrote, never into a dataset's folders.

Every file a tool writes is recorded in the manifest of its folder,
``.mattebox-outputs.json`` (``{"files": {name: tool}}``), before it is written (so an
interrupted run leaves nothing unaccounted for). A tool may replace a file only if the
manifest says the same tool wrote it; any other existing file is refused, unless the
tool offers ``--overwrite`` and it was given. Inputs and files inside protected
folders (the dataset's) are refused always. Writes are atomic
(:func:`~mattebox.engine.checkpoint.atomic_write`), and the manifest is updated under
a lock on the folder, so that several processes (distributed testing) can write into
one folder.

- :class:`OutputFile`: one file (``test.py --out``, ``evaluate.py --out``, a
  converter's OUT).
- :class:`OutputFolder`: files in a folder (``infer.py --out``, ``test.py
  --save-pred``); with ``exclusive=True`` the folder may hold no file the tools did
  not write.
"""
import contextlib
import fcntl
import json
import os
import os.path as osp
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

from .checkpoint import atomic_write
from .errors import OutputRefusedError

MANIFEST = '.mattebox-outputs.json'
#: manifest of tools/infer.py before it moved here: its files count as infer.py's
LEGACY_MANIFESTS = {'.mattebox-infer.json': 'tools/infer.py'}


def _real(path: str) -> str:
    return osp.realpath(osp.abspath(os.fspath(path)))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    """An exclusive lock on ``folder`` (flock on the directory itself)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_manifest(folder: str) -> Dict[str, str]:
    """``{file name: tool}`` of the files the tools wrote into ``folder``.

    Raises:
        OutputRefusedError: the manifest is damaged (it is then not trusted).
    """
    files: Dict[str, str] = {}
    for name, tool in [*LEGACY_MANIFESTS.items(), (MANIFEST, None)]:
        path = osp.join(folder, name)
        if not osp.isfile(path):
            continue
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            listed = data['files']
            files.update({n: tool or t for n, t in listed.items()} if isinstance(
                listed, dict) else {n: tool or data.get('tool', '?') for n in listed})
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise OutputRefusedError(f'{path} is damaged ({e}); the tools cannot tell '
                                     'which files they wrote: remove it (and the files '
                                     'you do not want) to start afresh') from e
    return files


def record_outputs(folder: str, names: Iterable[str], tool: str) -> None:
    """Add ``names`` (written by ``tool``) to ``folder``'s manifest, under a lock."""
    names = list(names)
    if not names:
        return
    os.makedirs(folder, exist_ok=True)
    with _locked(folder):
        path = osp.join(folder, MANIFEST)
        files = {}
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                files = json.load(f).get('files', {})
        files.update({name: tool for name in names})
        atomic_write(path, (json.dumps({'files': dict(sorted(files.items()))}, indent=1)
                            + '\n').encode('utf-8'))


class _Rules:
    """What a tool may not write: inputs, protected folders."""

    def __init__(self, tool: str, inputs: Iterable[str], protected: Iterable[str],
                 label: str) -> None:
        self.tool = tool
        self.label = label
        self.inputs = {_real(p) for p in inputs if p}
        self.protected = sorted({_real(p) for p in protected if p})

    def refuse_protected(self, path: str, what: str) -> None:
        real = _real(path)
        if real in self.inputs:
            raise OutputRefusedError(f'{self.label} {path}: refusing to write over an input '
                                     f'file of this run; choose another {what}')
        for folder in self.protected:
            if _inside(real, folder):
                raise OutputRefusedError(
                    f'{self.label} {path}: refusing to write into the dataset folder '
                    f'{folder} (outputs never go into a dataset); choose another {what}')


class OutputFile:
    """One output file of a tool.

    Args:
        path: the file to write.
        tool: the tool's name as recorded in the manifest, e.g. ``'tools/test.py'``.
        inputs: files the run reads (never written).
        protected: folders nothing is written into (a dataset's).
        overwrite: the user gave ``--overwrite``: an existing file of someone else may
            be replaced (never an input, never inside a protected folder).
        label: how the option is named in messages.
        overwrite_flag: the tool's option for ``overwrite``, or None if it has none.

    Raises:
        OutputRefusedError: when built, if the file must not be written.
    """

    def __init__(self, path: str, tool: str, inputs: Iterable[str] = (),
                 protected: Iterable[str] = (), overwrite: bool = False,
                 label: str = '--out', overwrite_flag: Optional[str] = '--overwrite') -> None:
        self.path = os.fspath(path)
        self.tool = tool
        rules = _Rules(tool, inputs, protected, label)
        if osp.isdir(self.path):
            raise OutputRefusedError(f'{label} {self.path} is a folder; give a file name')
        rules.refuse_protected(self.path, 'path')
        folder = osp.dirname(osp.abspath(self.path))
        if osp.exists(self.path) and not overwrite:
            writer = read_manifest(folder).get(osp.basename(self.path))
            if writer != tool:
                whose = (f'it was written by {writer}, not by {tool}' if writer else
                         f'it exists and was not written by {tool}')
                hint = (f'give {overwrite_flag} to replace it' if overwrite_flag else
                        'remove it first if it may go')
                raise OutputRefusedError(f'{label} {self.path}: refusing to overwrite it: '
                                         f'{whose}. Choose another path, or {hint}.')
        if osp.exists(folder) and not os.access(folder, os.W_OK):
            raise OutputRefusedError(f'{label} {self.path}: folder {folder} is not writable')

    def write_bytes(self, data: bytes) -> str:
        """Record the file in the manifest, then write it atomically."""
        folder = osp.dirname(osp.abspath(self.path))
        record_outputs(folder, [osp.basename(self.path)], self.tool)
        atomic_write(self.path, data)
        return self.path

    def write_text(self, text: str) -> str:
        return self.write_bytes(text.encode('utf-8'))


class OutputFolder:
    """The output folder of a tool.

    Args:
        path: the folder (created on the first write).
        tool: the tool's name as recorded in the manifest.
        inputs: files the run reads: never written, and their folders are refused.
        protected: folders nothing is written into, at any depth (a dataset's).
        exclusive: refuse a folder that holds any file the tools did not write (for
            outputs named like inputs, e.g. predicted mattes named like ground truth).
        label: how the option is named in messages.

    Raises:
        OutputRefusedError: when built, if the folder must not be used.
    """

    def __init__(self, path: str, tool: str, inputs: Iterable[str] = (),
                 protected: Iterable[str] = (), exclusive: bool = False,
                 label: str = '--out') -> None:
        self.path = os.fspath(path)
        self.tool = tool
        self.label = label
        self.rules = _Rules(tool, inputs, protected, label)
        if osp.exists(self.path) and not osp.isdir(self.path):
            raise OutputRefusedError(f'{label} {self.path} is a file, not a folder')
        real = _real(self.path)
        if real in {osp.dirname(p) for p in self.rules.inputs}:
            raise OutputRefusedError(f'{label} {self.path} holds input files: outputs would '
                                     'be mixed with (and later read as) inputs; choose '
                                     'another folder')
        self.rules.refuse_protected(self.path, 'folder')
        self.written = read_manifest(self.path) if osp.isdir(self.path) else {}
        if exclusive and osp.isdir(self.path):
            foreign = sorted(n for n in os.listdir(self.path)
                             if n not in self.written and n != MANIFEST
                             and n not in LEGACY_MANIFESTS)
            if foreign:
                shown = ', '.join(foreign[:5]) + (' ...' if len(foreign) > 5 else '')
                raise OutputRefusedError(
                    f'{label} {self.path} holds {len(foreign)} file(s) that mattebox did '
                    f'not write ({shown}); refusing to write into it. Choose an empty or '
                    'new folder.')

    def target(self, name: str) -> str:
        """The path of ``name`` in the folder, if it may be written."""
        path = osp.join(self.path, name)
        self.rules.refuse_protected(path, 'folder')
        if osp.exists(path):
            writer = self.written.get(name)
            if writer != self.tool:
                raise OutputRefusedError(
                    f'refusing to overwrite {path}: it exists and was not written by '
                    f'{self.tool}{f" (but by {writer})" if writer else ""}; choose another '
                    f'{self.label} or remove it')
        return path

    def check(self, names: Sequence[str]) -> None:
        """Refuse now if any of ``names`` could not be written."""
        for name in names:
            self.target(name)

    def record(self, names: Sequence[str]) -> List[str]:
        """Check ``names`` and add them to the manifest (before writing them)."""
        paths = [self.target(n) for n in names]
        record_outputs(self.path, names, self.tool)
        self.written.update({n: self.tool for n in names})
        return paths

    def write_bytes(self, name: str, data: bytes) -> str:
        """Record and atomically write one file; returns its path."""
        path, = self.record([name])
        atomic_write(path, data)
        return path

    def write_png(self, name: str, image, rgb: bool = True) -> str:
        """Encode ``image`` (H x W grey, H x W x 3 RGB or H x W x 4 RGBA when ``rgb``,
        else OpenCV's BGR order) as PNG and write it."""
        import cv2
        if image.ndim == 3 and rgb:
            image = image[..., [2, 1, 0, 3][:image.shape[2]]]
        ok, buf = cv2.imencode('.png', image)
        if not ok:
            raise OSError(f'cannot encode {osp.join(self.path, name)} as PNG')
        return self.write_bytes(name, buf.tobytes())


def dataset_folders(cfg) -> List[str]:
    """Folders of the datasets a config reads (``data_root`` and the annotation file's
    folder of every dataloader's dataset, inside wrappers too): tools never write
    there."""
    folders: List[str] = []

    def visit(ds) -> None:
        if not isinstance(ds, dict):
            return
        for sub in ds.get('datasets') or []:
            visit(sub)
        if isinstance(ds.get('dataset'), dict):
            visit(ds['dataset'])
        root = ds.get('data_root') or ''
        if root:
            folders.append(root)
        ann = ds.get('ann_file')
        if isinstance(ann, str) and ann:
            folders.append(osp.dirname(ann if osp.isabs(ann) else osp.join(root, ann)))
        for key, value in ds.items():
            if key.endswith('_dir') and isinstance(value, str) and value:
                folders.append(value if osp.isabs(value) else osp.join(root, value))

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg.get(loader)
        if isinstance(dl, dict):
            visit(dl.get('dataset'))
    return [f for f in folders if f]
