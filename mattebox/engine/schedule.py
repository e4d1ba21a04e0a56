"""Learning-rate (and momentum) schedules follow the run length.

A config writes its schedule for its own ``train_cfg.max_iters`` (or ``max_epochs``).
When ``--cfg-options`` changes that length, :func:`follow_run_length` stretches (or
shrinks) every ``param_scheduler`` entry that reaches the end of the original run, so
the schedule still ends where the run ends:

- an entry *reaches the end* when its ``end`` equals the original length, or when it has
  no ``end`` and its ``begin + T_max`` (cosine) equals it. Entries that end earlier
  (warm-ups) keep their length; entries counted in the other unit (``by_epoch``
  differing from the loop) are left alone.
- for those, with ``r = (new - begin) / (old - begin)``: ``end`` becomes the new length,
  ``T_max`` becomes ``new - begin``, ``milestones`` and ``step_size`` are multiplied by
  ``r`` (rounded, at least 1), and an exponential ``gamma`` becomes ``gamma ** (1 / r)``
  (the same total decay). So the value at the last iteration is the schedule's final
  value whatever the length.

Schedules given on the command line (a ``param_scheduler`` key in ``--cfg-options``)
are taken as given.
"""
from typing import Any, Dict, List, Optional, Tuple

from mmengine.config import Config

INF = float('inf')


def run_length(cfg: Config) -> Optional[Tuple[str, int]]:
    """``('max_iters', n)`` or ``('max_epochs', n)`` of the training loop, or None."""
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_iters', 'max_epochs'):
        value = train_cfg.get(key)
        if isinstance(value, int) and value > 0:
            return key, value
    return None


def _reaches_end(entry: dict, old: int) -> bool:
    end = entry.get('end', INF)
    if end == old:
        return True
    if end in (INF, None) or end > old:
        t_max = entry.get('T_max')
        return isinstance(t_max, int) and entry.get('begin', 0) + t_max == old
    return False


def _rescale(entry: dict, old: int, new: int) -> List[str]:
    begin = entry.get('begin', 0) or 0
    if new <= begin or old <= begin:
        return []
    ratio = (new - begin) / (old - begin)
    changed = []

    def scaled(value: int) -> int:
        return max(1, int(round(value * ratio)))

    if entry.get('end', INF) == old:
        entry['end'] = new
        changed.append(f'end {old}->{new}')
    if isinstance(entry.get('T_max'), int):
        was, entry['T_max'] = entry['T_max'], new - begin
        changed.append(f'T_max {was}->{entry["T_max"]}')
    if entry.get('milestones'):
        was = list(entry['milestones'])
        entry['milestones'] = [scaled(m) for m in was]
        changed.append(f'milestones {was}->{entry["milestones"]}')
    if isinstance(entry.get('step_size'), int):
        was, entry['step_size'] = entry['step_size'], scaled(entry['step_size'])
        changed.append(f'step_size {was}->{entry["step_size"]}')
    if 'Exponential' in str(entry.get('type', '')) and isinstance(entry.get('gamma'), float):
        was, entry['gamma'] = entry['gamma'], entry['gamma'] ** (1 / ratio)
        changed.append(f'gamma {was:.6g}->{entry["gamma"]:.6g}')
    return changed


def follow_run_length(cfg: Config, original: Optional[Tuple[str, int]],
                      cfg_options: Optional[Dict[str, Any]] = None) -> List[str]:
    """Rescale ``cfg.param_scheduler`` (in place) from the ``original`` run length
    (:func:`run_length` before the options were merged) to the current one.

    Returns:
        One line per changed scheduler (empty when nothing changed).
    """
    now = run_length(cfg)
    if not original or not now or original[0] != now[0] or original[1] == now[1]:
        return []
    if any(key == 'param_scheduler' or key.startswith('param_scheduler.')
           for key in (cfg_options or {})):
        return []
    schedulers = cfg.get('param_scheduler')
    if not schedulers:
        return []
    single = isinstance(schedulers, dict)
    entries = [schedulers] if single else list(schedulers)
    by_epoch = now[0] == 'max_epochs'
    (key, old), new = original, now[1]
    notes = []
    for entry in entries:
        if not isinstance(entry, dict) or bool(entry.get('by_epoch', True)) != by_epoch:
            continue
        if _reaches_end(entry, old):
            changed = _rescale(entry, old, new)
            if changed:
                notes.append(f'{entry.get("type")}: {", ".join(changed)} '
                             f'(follows train_cfg.{key} {old}->{new})')
    cfg.param_scheduler = entries[0] if single else entries
    return notes
