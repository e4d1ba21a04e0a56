"""Errors in what the user gave, and the one handler that reports them.

Every error a user can fix (a config, a data file, a checkpoint, a command-line value,
an output path) derives from :class:`UserError`. The tools run their body inside
:func:`user_errors`: such an error becomes one message, ``error: ...`` on stderr, and
exit status 2, without a traceback unless ``--debug`` is given. Anything else is a bug
and keeps its traceback.
"""
import contextlib
import re
import sys
from typing import Iterator

#: exit status of a tool that stopped on a user error
EXIT_USER_ERROR = 2


class UserError(Exception):
    """Something the user gave is wrong; the message names it and says what to do."""


class OutputRefusedError(UserError, FileExistsError):
    """A tool refused to write a file (it exists, is an input, or is in a dataset)."""


class ConversionError(UserError, ValueError):
    """A converter's input is not in the format it converts (or does not fit the model)."""


class DataFileError(UserError, ValueError):
    """A data file is missing, cannot be decoded, or does not fit its sample."""


class MissingDataFileError(DataFileError, FileNotFoundError):
    """A data file does not exist."""


# torch re-raises an error of a dataloader worker as the same class with the worker's
# whole traceback as its message; the user's message is what follows the last line
# naming the class.
_WORKER_TRACEBACK = 'Original Traceback (most recent call last):'


def user_message(error: BaseException) -> str:
    """The message of a user error, without a dataloader worker's traceback."""
    message = str(error)
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        message = error.args[0]  # str(KeyError) adds quotes
    if _WORKER_TRACEBACK in message:
        name = type(error).__name__
        found = list(re.finditer(rf'^(?:[\w.]+\.)?{re.escape(name)}: ', message, re.M))
        if found:
            message = message[found[-1].end():]
    notes = getattr(error, '__notes__', None) or []
    return '\n'.join([message.strip(), *notes])


def known_user_error(error: BaseException) -> bool:
    """Whether ``error`` is one the tools report as a message (not a bug): a
    :class:`UserError`, a ``FileNotFoundError``, or an exception class that says so
    with ``user_error = True`` (for modules that do not import this one, e.g.
    ``mattebox.guidance.MissingGuidanceError``)."""
    return isinstance(error, (UserError, FileNotFoundError)) or bool(
        getattr(type(error), 'user_error', False))


@contextlib.contextmanager
def user_errors(debug: bool = False) -> Iterator[None]:
    """Report a user error as ``error: MESSAGE`` and exit with status 2.

    Args:
        debug: re-raise instead (the full traceback), for ``--debug``.
    """
    try:
        yield
    except Exception as error:  # noqa: B902 - filtered right below
        if debug or not known_user_error(error):
            raise
        print(f'error: {user_message(error)}', file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR) from None
