"""Safe loading and atomic saving of checkpoints on torch >= 2.6 and mmengine 0.10.7.

Loading:
    torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine's resume then
    fails on the ``HistoryBuffer`` objects in its own ``message_hub``. mattebox keeps
    ``weights_only=True`` and allows exactly :data:`RESUME_SAFE_GLOBALS` for the one
    load, through the ``torch.serialization.safe_globals`` context manager (never the
    process-wide ``add_safe_globals``), so a plain ``torch.load`` elsewhere stays strict.
    :func:`install_checkpoint_safety` re-registers mmengine's local checkpoint loader
    (scheme prefix ``''``, the fallback for every path that no other scheme such as
    ``http://`` claims) to :func:`load_from_local`, and every other scheme (``http://``,
    ``https://``, ``s3://``, ``torchvision://``, ``open-mmlab://``, ...) to
    :func:`refuse_remote`: weights are never fetched at run time, and mmengine's http
    loader would unpickle a cached download with ``weights_only=False``. A URL is
    refused by :func:`load_checkpoint_file` too, so every load (resume, ``load_from``,
    tests, ``pretrained``, ``init_cfg``, converters, the inference API) has one door.

Fit:
    :func:`check_fit` compares a checkpoint's weights with a model (missing,
    unexpected, mis-shaped keys); :func:`load_model_weights` loads strictly with it,
    and :class:`mattebox.engine.runner.MattingRunner` applies it to resume,
    ``load_from`` and testing.

Saving:
    mmengine's ``save_checkpoint`` serialises into memory and hands the bytes to the
    file backend, whose ``LocalBackend.put`` opens the final path with ``'wb'``: a crash
    mid-write leaves a truncated file where the last good checkpoint was. mattebox
    registers :class:`AtomicLocalBackend` for local paths instead (see its docstring),
    and makes the ``last_checkpoint`` pointer write atomic (see
    :func:`_open_for_checkpoint_hook`).
"""
import builtins
import contextlib
import io
import locale
import os
import os.path as osp
import pickle
import re
import uuid
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import mmengine.fileio.io as mmengine_fileio_io
import mmengine.hooks.checkpoint_hook as mmengine_checkpoint_hook
import numpy as np
import torch
from mmengine.fileio import FileClient, LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from .errors import UserError

PathLike = Union[str, os.PathLike]
MapLocation = Union[None, str, torch.device, dict, Callable]

#: The attributes a ``HistoryBuffer`` checkpoint fetches with ``builtins.getattr``:
#: its default statistics methods, pickled as ``getattr(HistoryBuffer, 'min')``.
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'mean', 'current'})


class UnsafeCheckpointError(UserError, pickle.UnpicklingError):
    """A checkpoint needs a global outside the allow-list; it was not loaded."""


class CorruptCheckpointError(UserError, ValueError):
    """A file is not a torch checkpoint, or is truncated or otherwise damaged."""


class CheckpointURLError(UserError, ValueError):
    """A checkpoint was given as a URL; weights are never fetched at run time."""


#: ``scheme://`` (http, https, s3, torchvision, open-mmlab, ...) or ``scheme:s3://``
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:(//|[A-Za-z0-9+.-]*://)')


def is_url(path: Any) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and _URL.match(path) is not None


def refuse_url(path: Any, where: str) -> None:
    """Raise :class:`CheckpointURLError` if ``path`` (given by ``where``) is a URL.

    Args:
        path: the value to check.
        where: where the value came from, e.g. ``'load_from'``, ``'last_checkpoint'``.
    """
    if is_url(path):
        raise CheckpointURLError(
            f'{where}: {path} is a URL; mattebox never downloads weights (nor loads a '
            'cached download, which torch would unpickle unsafely). Download the file '
            'yourself from a source you trust and give its local path.')


def refuse_remote(filename: str, map_location: MapLocation = None) -> Any:
    """mmengine loader for every non-local scheme: always refuses (see module doc)."""
    refuse_url(filename, 'checkpoint')
    raise CheckpointURLError(f'checkpoint {filename}: only local files are loaded')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand in for ``builtins.getattr`` while loading: only HistoryBuffer statistics.

    The real ``getattr`` would turn the allow-list into a gadget kit (for example
    ``getattr(array, 'tofile')`` writes files), so it is never allowed.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    owner = getattr(obj, '__qualname__', type(obj).__qualname__)
    raise pickle.UnpicklingError(
        f'refused builtins.getattr({owner},{name!r}): only '
        f'HistoryBuffer.{sorted(HISTORY_BUFFER_STATISTICS)} may be fetched')


#: Globals a mmengine checkpoint (model, optimizer, message_hub) needs beyond torch's
#: defaults. Found by saving a real mmengine 0.10.7 checkpoint with numpy 2.x and
#: dropping each entry in turn: every one is required. The dtype classes are never
#: named by a GLOBAL opcode; the unpickler needs them to BUILD ``np.dtype('f8')``.
RESUME_SAFE_GLOBALS = (
    HistoryBuffer,
    np._core.multiarray._reconstruct,
    np.ndarray,
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Int64DType,
    np._core.multiarray.scalar,
    (_history_buffer_getattr, 'builtins.getattr'),
    # Checkpoints written under numpy 1.x name the same two functions by their old
    # module path; these aliases admit nothing new.
    (np._core.multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (np._core.multiarray.scalar, 'numpy.core.multiarray.scalar'),
)


@contextlib.contextmanager
def resume_safe_globals() -> Iterator[None]:
    """Allow :data:`RESUME_SAFE_GLOBALS` for ``weights_only`` loads inside the block.

    Entries that someone already added process-wide are left out, so that leaving the
    block does not remove them (torch's context manager removes what it added).
    """
    already = torch.serialization.get_safe_globals()
    missing = [item for item in RESUME_SAFE_GLOBALS if item not in already]
    with torch.serialization.safe_globals(missing):
        yield


# What torch's weights-only unpickler and _history_buffer_getattr say when they refuse.
_REFUSAL_PATTERNS = (
    re.compile(r'GLOBAL (\S+) was not an allowed global'),
    re.compile(r'unsupported GLOBAL (\S+) whose module \S+ is blocked'),
    re.compile(r"types allowlisted via `add_safe_globals`, but got <class '([^']+)'>"),
    re.compile(r'refused (builtins\.getattr\([^)]*\))'),
)
_TORCH_ADVICE = ('Re-running `torch.load`', 'Please file an issue', 'Check the documentation')


def _describe(error: BaseException) -> str:
    """What a torch.load error says went wrong, without torch's advice.

    torch's weights-only messages suggest ``weights_only=False``; mattebox never does.
    """
    message = str(error).replace('Weights only load failed.', '')
    lines = [line.strip() for line in message.splitlines()
             if line.strip() and not any(advice in line for advice in _TORCH_ADVICE)]
    return f'{type(error).__name__}: {lines[0] if lines else "no detail"}'


def _diagnose(path: str, error: Exception) -> Exception:
    """Turn a failed weights-only load of ``path`` into the error to raise.

    Returns an :class:`UnsafeCheckpointError` if globals outside the allow-list were
    refused (named by torch's message or by a static scan of the pickle), a
    :class:`CorruptCheckpointError` if the file is not an intact torch zip checkpoint
    with a complete pickle, and ``error`` itself otherwise (an intact checkpoint that
    failed for another reason, such as a CUDA ``map_location`` on a CPU machine).
    """
    refused = {m.group(1) for p in _REFUSAL_PATTERNS for m in p.finditer(str(error))}
    try:
        refused.update(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # no zip, or a damaged one, or an incomplete pickle
        if not refused:
            return CorruptCheckpointError(
                f'Checkpoint {path} is corrupt or not a torch checkpoint (truncated '
                f'or partially written?): {_describe(error)}')
    if refused:
        return UnsafeCheckpointError(
            f'Refused to load checkpoint {path} for safety: it needs '
            f'{", ".join(sorted(refused))}, outside the weights-only allow-list '
            '(mattebox.engine.checkpoint.RESUME_SAFE_GLOBALS). Convert it to a plain '
            'state_dict in a trusted environment.')
    return error


def load_checkpoint_file(path: PathLike,
                         map_location: MapLocation = 'cpu') -> Any:
    """Load a checkpoint with ``weights_only=True`` and :data:`RESUME_SAFE_GLOBALS`.

    Args:
        path: local checkpoint file (``~`` is expanded).
        map_location: as for :func:`torch.load`.

    Returns:
        The loaded object, usually a dict (``state_dict``, ``meta``, ...).

    Raises:
        CheckpointURLError: ``path`` is a URL.
        FileNotFoundError: ``path`` is not a file.
        UnsafeCheckpointError: the checkpoint needs a global outside the allow-list.
        CorruptCheckpointError: the file is truncated, damaged or not a checkpoint.
    """
    refuse_url(os.fspath(path), 'checkpoint')
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    with resume_safe_globals():
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except PermissionError:
            raise
        except Exception as error:
            diagnosis = _diagnose(path, error)
            if diagnosis is error:
                raise
            # The refusal message says everything; torch's own would advise
            # weights_only=False, so it is not chained.
            cause = error if isinstance(diagnosis, CorruptCheckpointError) else None
            raise diagnosis from cause


def load_from_local(filename: str, map_location: MapLocation = None) -> Any:
    """mmengine's local checkpoint loader, made safe: see :func:`load_checkpoint_file`.

    mmengine logs ``Loads checkpoint by <name[10:]> backend``, hence the name.
    """
    return load_checkpoint_file(filename, map_location=map_location)


def atomic_write(filepath: PathLike, data: bytes) -> None:
    """Write ``data`` to ``filepath`` so that it holds either the old or the new bytes.

    The bytes go to a hidden temporary file in the same directory (created with mode
    0o666 minus the umask, as ``open`` would), which is flushed, fsynced and renamed
    onto ``filepath`` with ``os.replace``; the directory is then fsynced so the rename
    itself survives a power loss. On any failure the temporary file is removed and
    ``filepath`` is untouched.

    Args:
        filepath: final path; missing parent directories are created.
        data: the complete new content.
    """
    filepath = os.fspath(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    tmp_path = osp.join(directory,
                        f'.{osp.basename(filepath)}.{uuid.uuid4().hex[:12]}.tmp')
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise
    if os.name == 'posix':
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def atomic_open(filepath: PathLike,
                mode: str = 'wb',
                encoding: Optional[str] = None) -> Iterator[Union[io.BytesIO, io.StringIO]]:
    """Collect what the block writes and :func:`atomic_write` it when the block ends.

    If the block raises, ``filepath`` is left as it was.

    Args:
        filepath: the file to replace.
        mode: ``'wb'`` (bytes) or ``'w'`` (text).
        encoding: text encoding for ``'w'``; defaults to the locale's, as ``open``.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f'atomic_open supports modes "w" and "wb", got {mode!r}')
    buffer = io.BytesIO() if mode == 'wb' else io.StringIO()
    yield buffer
    data = buffer.getvalue()
    if isinstance(data, str):
        data = data.encode(encoding or locale.getpreferredencoding(False))
    atomic_write(filepath, data)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put`` and ``put_text`` are atomic.

    Why a backend and not a patch of ``save_checkpoint``: every local checkpoint write
    in mmengine 0.10.7 (``save_checkpoint``, hence ``Runner.save_checkpoint`` and
    ``CheckpointHook``, including its best and published checkpoints) ends in
    ``backend.put(bytes, path)``. ``get_file_backend`` maps a path without ``://`` to
    the class registered for prefix ``''`` and builds a new instance per call unless
    ``enable_singleton=True`` (then it caches it in ``mmengine.fileio.io
    .backend_instances``); the deprecated ``FileClient`` keeps its own ``'disk'``
    class and instance cache. Registering this subclass for both, and dropping cached
    plain instances, covers all those writes without copying mmengine code. Reads and
    every other method are inherited unchanged.
    """

    def put(self, obj: bytes, filepath: PathLike) -> None:
        """Atomically write bytes to ``filepath`` (see :func:`atomic_write`)."""
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        """Atomically write text to ``filepath`` (see :func:`atomic_write`)."""
        atomic_write(filepath, obj.encode(encoding))


def _open_for_checkpoint_hook(file: PathLike, mode: str = 'r', *args, **kwargs) -> Any:
    """The ``open`` that ``mmengine.hooks.checkpoint_hook`` sees: writes are atomic.

    ``CheckpointHook`` writes the ``last_checkpoint`` pointer with a bare
    ``open(path, 'w')``, not through a file backend; it is the only ``open`` call in
    that module (mmengine 0.10.7). Giving that module its own ``open`` is the narrowest
    fix: the hook class, its registry entry and every other module stay untouched,
    and no mmengine code is copied. Modes other than ``'w'``/``'wb'`` go to the
    builtin ``open``.
    """
    if mode in ('w', 'wb') and not args:
        return atomic_open(file, mode, encoding=kwargs.get('encoding'))
    return builtins.open(file, mode, *args, **kwargs)


def install_checkpoint_safety() -> None:
    """Make mmengine load checkpoints safely and write local files atomically.

    Idempotent; ``mattebox.engine`` calls it on import. It

    - registers :func:`load_from_local` as mmengine's loader for local paths
      (prefix ``''``), so ``resume`` and ``load_from`` use the allow-list, and
      :func:`refuse_remote` for every other scheme mmengine knows;
    - registers :class:`AtomicLocalBackend` for local paths in ``mmengine.fileio``
      and as ``FileClient``'s ``'disk'`` backend, dropping cached plain instances;
    - makes ``CheckpointHook``'s ``last_checkpoint`` pointer write atomic.
    """
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    remote = [prefix for prefix in CheckpointLoader._schemes if prefix != '']
    CheckpointLoader.register_scheme(prefixes=remote + [r'[A-Za-z][A-Za-z0-9+.-]*://'],
                                     loader=refuse_remote, force=True)
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # FileClient(force=True) itself drops cached instances of the class it replaces.
    FileClient.register_backend('disk', AtomicLocalBackend, force=True)
    cache = mmengine_fileio_io.backend_instances
    for key, backend in list(cache.items()):
        if isinstance(backend, LocalBackend) and not isinstance(backend,
                                                                AtomicLocalBackend):
            del cache[key]
    mmengine_checkpoint_hook.open = _open_for_checkpoint_hook


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint's weights do not fit the model (missing, unexpected or
    shape-mismatched keys)."""


def state_dict_of(checkpoint: Any, path: str = '<checkpoint>') -> dict:
    """The model weights of a loaded checkpoint: its ``state_dict`` entry (mmengine) or
    the checkpoint itself when it is a bare state dict; a ``module.`` prefix
    (DataParallel / DDP) is removed."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        state = checkpoint['state_dict']
    elif isinstance(checkpoint, dict) and checkpoint and all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        state = checkpoint
    else:
        keys = list(checkpoint)[:6] if isinstance(checkpoint, dict) else type(checkpoint)
        raise CheckpointMismatchError(f'{path}: no model weights found (expected a '
                                      f"'state_dict' entry or a bare state dict; got {keys})")
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _listing(names: list, limit: int = 5) -> str:
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return f'{len(names)}: {", ".join(names[:limit])}{more}'


def check_fit(model: torch.nn.Module, state: dict, path: str,
              allow_missing: Sequence[str] = (),
              allow_unexpected: Sequence[str] = ()) -> Tuple[List[str], List[str]]:
    """Check that the weights ``state`` (from ``path``) fit ``model`` exactly.

    Every key of the model must be in ``state`` (except keys starting with one of
    ``allow_missing``), every key of ``state`` must be in the model (except keys
    starting with one of ``allow_unexpected``), and shapes must agree.

    Returns:
        The allowed missing keys and the allowed unexpected keys.

    Raises:
        CheckpointMismatchError: listing the offenders (first few and counts), so that
            the weights of another model are never silently half-used.
    """
    own = model.state_dict()
    missing_all = sorted(set(own) - set(state))
    unexpected_all = sorted(set(state) - set(own))
    missing = [k for k in missing_all if not k.startswith(tuple(allow_missing))]
    unexpected = [k for k in unexpected_all if not k.startswith(tuple(allow_unexpected))]
    shapes = [f'{k} ({tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model)'
              for k in sorted(set(own) & set(state))
              if getattr(state[k], 'shape', None) != own[k].shape]
    if missing or unexpected or shapes:
        lines = [f'{path} does not fit the {type(model).__name__} of the config:']
        if missing:
            lines.append(f'  missing keys {_listing(missing)}')
        if unexpected:
            lines.append(f'  unexpected keys {_listing(unexpected)}')
        if shapes:
            lines.append(f'  shape mismatches {_listing(shapes)}')
        lines.append('  Is it a checkpoint of this config (same model, same widths)? A '
                     'deliberate partial load (e.g. stage 2 from stage 1) names the '
                     "prefixes that may be missing in the config: partial_load = "
                     "dict(allow_missing=['refiner.']) (docs/get_started.md).")
        raise CheckpointMismatchError('\n'.join(lines))
    return ([k for k in missing_all if k not in missing],
            [k for k in unexpected_all if k not in unexpected])


def load_model_weights(model: torch.nn.Module, path: PathLike,
                       allow_missing: Sequence[str] = (),
                       allow_unexpected: Sequence[str] = ()) -> dict:
    """Load a checkpoint file's weights into ``model``, strictly (see :func:`check_fit`).

    Returns:
        The loaded checkpoint (its ``meta`` may be of interest).
    """
    path = os.fspath(path)
    checkpoint = load_checkpoint_file(path)
    state = state_dict_of(checkpoint, path)
    _, unexpected = check_fit(model, state, path, allow_missing, allow_unexpected)
    for key in unexpected:
        del state[key]
    model.load_state_dict(state, strict=not allow_missing)
    return checkpoint
