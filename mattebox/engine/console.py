"""What ``tools/train.py`` and ``tools/test.py`` print.

By default the console shows what runs (one header from the tool), a progress bar with
ETA for training, validation and testing (:class:`ProgressHook`), warnings once each,
the metric table and where the files went. Everything mmengine logs (environment,
config dump, hook order, every ``LoggerHook`` line) goes to the log file
``{work_dir}/{timestamp}/{timestamp}.log`` only; ``--verbose`` shows it on the console too.

Progress bars (rich, on stderr) appear only when stderr is a terminal; in a pipe or a
log file :class:`ProgressHook` prints a plain line at most every ``min_interval``
seconds (and at the end of each phase).
"""
import logging
import sys
import time
import warnings
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mattebox.registry import HOOKS

# mmengine messages that say nothing a user can act on: log file only
NOISE = (
    'The prefix is not set in metric class',  # mattebox's metrics are named on purpose
    '"FileClient" will be deprecated',  # mmengine's own hooks still build one
    'is skipped since its requires_grad=False',  # one per frozen parameter (a frozen VAE)
)


class QuietConsoleFilter(logging.Filter):
    """Lets through warnings and errors, each message once, without mmengine's noise."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage()
        if any(noise in message for noise in NOISE) or message in self.seen:
            return False
        self.seen.add(message)
        return True


def quiet_console(logger: logging.Logger) -> None:
    """Make ``logger``'s console handlers quiet (its file handlers keep everything)."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and \
                not isinstance(handler, logging.FileHandler):
            handler.addFilter(QuietConsoleFilter())


def route_warnings(logger: logging.Logger) -> None:
    """Send Python warnings through ``logger`` (so they are in the log file, and on a
    quiet console once each). For the tools' processes only: it replaces
    ``warnings.showwarning``."""

    def showwarning(message, category, filename, lineno, file=None, line=None):
        logger.warning(f'{category.__name__}: {message} ({filename}:{lineno})')

    warnings.showwarning = showwarning


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, seconds = divmod(rest, 60)
    return f'{hours}:{minutes:02d}:{seconds:02d}' if hours else f'{minutes}:{seconds:02d}'


def _loss_of(outputs) -> Optional[float]:
    loss = outputs.get('loss') if isinstance(outputs, dict) else None
    if hasattr(loss, 'detach'):
        loss = loss.detach()
        return float(loss) if loss.numel() == 1 else None
    return float(loss) if isinstance(loss, (int, float)) else None


class _Phase:
    """One phase's progress: a task of a shared rich bar, or sparse plain lines."""

    def __init__(self, name: str, total: int, start: int, bar, min_interval: float,
                 out) -> None:
        self.name, self.total, self.start, self.done = name, max(total, 1), start, start
        self.out, self.min_interval = out, min_interval
        self.t0 = self.last_print = time.monotonic()
        self.loss = None
        self.bar = bar
        if bar is not None:
            self.task = bar.add_task(name, total=self.total, completed=start, note='')

    def eta(self) -> Optional[float]:
        elapsed = time.monotonic() - self.t0
        if self.done <= self.start or elapsed <= 0:
            return None
        return elapsed / (self.done - self.start) * (self.total - self.done)

    def update(self, done: int, loss: Optional[float] = None) -> None:
        self.done = done
        if loss is not None:
            self.loss = loss
        note = f'loss {self.loss:.4f}' if self.loss is not None else ''
        if self.bar is not None:
            self.bar.update(self.task, completed=done, note=note)
            return
        now = time.monotonic()
        if now - self.last_print >= self.min_interval and done < self.total:
            self.last_print = now
            eta = self.eta()
            print(f'{self.name} {done}/{self.total} ({100 * done // self.total}%)'
                  + (f'  eta {_duration(eta)}' if eta is not None else '')
                  + (f'  {note}' if note else ''), file=self.out, flush=True)

    def close(self, summary: str = '') -> str:
        if self.bar is not None:
            self.bar.remove_task(self.task)
        took = _duration(time.monotonic() - self.t0)
        unit = 'iterations' if self.name == 'train' else 'batches'
        line = f'{self.name}: {self.done - self.start} {unit} in {took}'
        if self.loss is not None:
            line += f', last loss {self.loss:.4f}'
        return line + (f'; {summary}' if summary else '')


@HOOKS.register_module()
class ProgressHook(Hook):
    """Progress of training, validation and testing on the main process's console.

    Args:
        terminal: draw rich bars (on stderr); default: when stderr is a terminal.
        min_interval: seconds between plain progress lines when not on a terminal.
    """

    priority = 'VERY_LOW'

    def __init__(self, terminal: Optional[bool] = None, min_interval: float = 60.0) -> None:
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.min_interval = min_interval
        self.phases = {}
        self.bar = None  # one rich Progress for all phases (one live display at a time)

    def _open(self, name: str, total: int, start: int = 0) -> None:
        if not is_main_process():
            return
        if self.terminal and self.bar is None:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self.bar = Progress(TextColumn('{task.description}'), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn('eta'),
                                TimeRemainingColumn(), TextColumn('{task.fields[note]}'),
                                console=Console(stderr=True), transient=True)
            self.bar.start()
        self.phases[name] = _Phase(name, total, start, self.bar, self.min_interval,
                                   sys.stdout)

    def _update(self, name: str, done: int, loss: Optional[float] = None) -> None:
        if name in self.phases:
            self.phases[name].update(done, loss)

    def _close(self, name: str, summary: str = '') -> None:
        phase = self.phases.pop(name, None)
        if phase is None:
            return
        line = phase.close(summary)
        if self.bar is not None and self.phases:  # above the bars still running
            self.bar.console.print(line, highlight=False, markup=False)
            return
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        print(line, flush=True)

    # training
    def before_train(self, runner) -> None:
        self._open('train', runner.max_iters, runner.iter)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._update('train', runner.iter + 1, _loss_of(outputs))

    def after_train(self, runner) -> None:
        self._close('train')

    # validation and testing
    def before_val_epoch(self, runner) -> None:
        if 'train' in self.phases and self.phases['train'].bar is None:
            self.phases['train'].last_print = time.monotonic()
        self._open('val', len(runner.val_dataloader))

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._update('val', batch_idx + 1)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close('val', '  '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}'
                                     for k, v in (metrics or {}).items()))

    def before_test_epoch(self, runner) -> None:
        self._open('test', len(runner.test_dataloader))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._update('test', batch_idx + 1)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close('test')
