"""Start-up checks of a config: unknown component types, missing files and misspelt
``--cfg-options`` keys fail before any data is read or any model is built, with the
config key in the message.

:func:`load_config` reads a config file as the tools do (a syntax error or a missing
``_base_`` becomes a :class:`ConfigError` naming the file), checks every
``--cfg-options`` key against it (:func:`check_cfg_options`) and merges them.
"""
import difflib
import inspect
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mattebox import registry as R

from .errors import UserError

# Top-level config sections and the registry of the ``type`` they hold. Nested dicts
# inside ``model`` are all models (backbones, losses, preprocessors, ...).
_SECTION_REGISTRIES = {
    'model': R.MODELS,
    'optim_wrapper': R.OPTIM_WRAPPERS,
    'optim_wrapper.optimizer': R.OPTIMIZERS,
    'param_scheduler': R.PARAM_SCHEDULERS,
    'train_cfg': R.LOOPS,
    'val_cfg': R.LOOPS,
    'test_cfg': R.LOOPS,
    'val_evaluator': R.METRICS,
    'test_evaluator': R.METRICS,
    'default_hooks': R.HOOKS,
    'custom_hooks': R.HOOKS,
    'visualizer': R.VISUALIZERS,
    'vis_backends': R.VISBACKENDS,
    'visualizer.vis_backends': R.VISBACKENDS,
}
_DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_LOOP_FOR_LOADER = {'train_dataloader': 'train_cfg', 'val_dataloader': 'val_cfg',
                    'test_dataloader': 'test_cfg'}


class ConfigError(UserError, ValueError):
    """A config names an unknown component or a file that does not exist, cannot be
    read, or a ``--cfg-options`` key does not exist."""


def _walk(obj: Any, key: str) -> Iterator[Tuple[str, dict]]:
    """Yield (dotted key, dict) for every dict inside ``obj`` (lists included)."""
    if isinstance(obj, dict):
        yield key, obj
        for k, v in obj.items():
            yield from _walk(v, f'{key}.{k}' if key else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, f'{key}[{i}]')


def _unknown_type(registry, key: str, name: str) -> Optional[str]:
    if registry.get(name) is not None:
        return None
    names = set()
    reg = registry
    while reg is not None:
        names.update(reg.module_dict)
        reg = reg.parent
    close = difflib.get_close_matches(name, sorted(names), n=3)
    hint = f' Did you mean {", ".join(map(repr, close))}?' if close else ''
    return (f'{key}.type: unknown {registry.name} type {name!r} (not registered in mattebox '
            f'or mmengine).{hint}')


def _datasets(ds: Any, key: str) -> Iterator[Tuple[str, dict]]:
    """``(config key, dataset dict)`` of a dataloader's dataset and of the datasets it
    wraps: ``ConcatDataset(datasets=[...])``, ``MultiSourceDataset(sources={...})``,
    ``RepeatDataset(dataset=...)``."""
    if not isinstance(ds, dict):
        return
    yield key, ds
    inner = ds.get('datasets')
    if isinstance(inner, (list, tuple)):
        for i, d in enumerate(inner):
            yield from _datasets(d, f'{key}.datasets[{i}]')
    sources = ds.get('sources')
    if isinstance(sources, dict):
        for name, d in sources.items():
            yield from _datasets(d, f'{key}.sources.{name}')
    if isinstance(ds.get('dataset'), dict):
        yield from _datasets(ds['dataset'], f'{key}.dataset')


def _check_types(cfg: dict) -> List[str]:
    errors = []
    for section, registry in _SECTION_REGISTRIES.items():
        node = cfg
        for part in section.split('.'):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        if section == 'model' or section == 'param_scheduler':
            items = list(_walk(node, section))
        elif isinstance(node, (list, tuple)):
            items = [(f'{section}[{i}]', d) for i, d in enumerate(node) if isinstance(d, dict)]
        elif section == 'default_hooks':
            items = [(f'{section}.{k}', d) for k, d in node.items() if isinstance(d, dict)]
        else:
            items = [(section, node)]
        for key, d in items:
            t = d.get('type') if isinstance(d, dict) else None
            if isinstance(t, str):
                if section == 'model' and key.endswith(('train_cfg', 'test_cfg')):
                    continue
                if section == 'model' and '.init_cfg' in key:
                    registry = R.WEIGHT_INITIALIZERS  # dict(type='Pretrained', ...)
                else:
                    registry = _SECTION_REGISTRIES[section]
                err = _unknown_type(registry, key, t)
                if err:
                    errors.append(err)
    for loader in _DATALOADERS:
        dl = cfg.get(loader)
        if not isinstance(dl, dict):
            continue
        for key, ds in _datasets(dl.get('dataset', {}), f'{loader}.dataset'):
            if isinstance(ds.get('type'), str):
                err = _unknown_type(R.DATASETS, key, ds['type'])
                if err:
                    errors.append(err)
            for i, t in enumerate(ds.get('pipeline', []) or []):
                if isinstance(t, dict) and isinstance(t.get('type'), str):
                    err = _unknown_type(R.TRANSFORMS, f'{key}.pipeline[{i}]', t['type'])
                    if err:
                        errors.append(err)
        for name in ('sampler', 'batch_sampler'):
            sampler = dl.get(name)
            if isinstance(sampler, dict) and isinstance(sampler.get('type'), str):
                err = _unknown_type(R.DATA_SAMPLERS, f'{loader}.{name}', sampler['type'])
                if err:
                    errors.append(err)
    return errors


def file_arguments(model_cfg: dict) -> Iterator[Tuple[str, str, Any]]:
    """``(config key, argument, value)`` of every local-file argument in a model config.

    A component declares its file arguments in a ``FILE_ARGUMENTS`` class attribute
    (e.g. ``VGG16.FILE_ARGUMENTS = ('pretrained',)``; a dotted name such as
    ``'pretrained.unet'`` looks inside a dict argument); mmengine's ``Pretrained``
    initialiser (``init_cfg=dict(type='Pretrained', checkpoint=...)``) names its file
    ``checkpoint``. Nothing here lists a family's keys: a new family declares its own.
    """
    for key, d in _walk(model_cfg, 'model'):
        t = d.get('type')
        if not isinstance(t, str):
            continue
        if t == 'Pretrained':
            names: Tuple[str, ...] = ('checkpoint', )
        else:
            cls = R.MODELS.get(t)
            names = tuple(getattr(cls, 'FILE_ARGUMENTS', ())) if cls is not None else ()
        for name in names:
            node = d
            for part in name.split('.'):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                yield key, name, node


def _check_files(cfg: dict, loaders: List[str], check_load_from: bool) -> List[str]:
    errors = []
    for loader in loaders:
        for key, ds in _datasets((cfg.get(loader) or {}).get('dataset'), f'{loader}.dataset'):
            root = ds.get('data_root') or ''
            if root and not osp.isdir(root):
                errors.append(f'{key}.data_root: folder not found: {root} (prepare the '
                              'dataset as docs/datasets.md says, or override it with '
                              f'--cfg-options {key}.data_root=PATH)')
                continue
            ann = ds.get('ann_file')
            if ann:
                path = ann if osp.isabs(ann) else osp.join(root, ann)
                if not osp.isfile(path):
                    errors.append(f'{key}.ann_file: file not found: {path}')
    from .checkpoint import is_url
    url_hint = ('is a URL; weights are never downloaded: fetch the file yourself from a '
                'source you trust and give its local path')
    for key, name, value in file_arguments(cfg.get('model', {})):
        if is_url(value):
            errors.append(f'{key}.{name}: {value} {url_hint}')
        elif isinstance(value, str) and value and not osp.exists(value):
            errors.append(f'{key}.{name}: file not found: {value} (weights are never '
                          'downloaded; give a local file)')
    load_from = cfg.get('load_from')
    if load_from and is_url(load_from):
        errors.append(f'load_from: {load_from} {url_hint}')
    elif check_load_from and load_from and not osp.isfile(load_from):
        errors.append(f'load_from: checkpoint not found: {load_from}')
    return errors


def check_config(cfg: Config, mode: str = 'train') -> None:
    """Check types and files of a config for ``'train'`` or ``'test'``.

    Raises:
        ConfigError: listing every problem, one per line, each with its config key.
    """
    if mode not in ('train', 'test'):
        raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
    if mode == 'train':
        loaders = ['train_dataloader']
        if cfg.get('val_cfg') and cfg.get('val_evaluator') and cfg.get('val_dataloader'):
            loaders.append('val_dataloader')
        check_load_from = not (cfg.get('resume') and not cfg.get('load_from'))
    else:
        loaders, check_load_from = ['test_dataloader'], True
    plain = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    errors = _check_types(plain) + _check_files(plain, loaders, check_load_from)
    if errors:
        name = getattr(cfg, 'filename', None) or '<config>'
        raise ConfigError(f'{len(errors)} problem(s) in config {name}:\n  - ' +
                          '\n  - '.join(errors))


# ------------------------------------------------------------------- --cfg-options
#: keys a config may add at the top level (what mmengine's Runner.from_cfg reads, and
#: mattebox's own)
RUNNER_KEYS = frozenset(inspect.signature(
    __import__('mmengine.runner', fromlist=['Runner']).Runner.__init__).parameters) | {
    'runner_type', 'partial_load', 'inference_pipeline'}
#: keys of config dicts without a ``type`` whose consumer is known
_PLAIN_DICT_KEYS = {
    'randomness': {'seed', 'diff_rank_seed', 'deterministic'},
    'env_cfg': {'cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'},
    'partial_load': {'allow_missing', 'allow_unexpected'},
}
_DATALOADER_KEYS = frozenset(inspect.signature(
    __import__('torch.utils.data', fromlist=['DataLoader']).DataLoader.__init__).parameters
) - {'self'}


def _accepted_arguments(obj: Any) -> Optional[set]:
    """Keyword arguments a class (or function) takes, following ``**kwargs`` up its
    bases; None when they cannot be told (``**kwargs`` that reach no named argument)."""
    if not inspect.isclass(obj):
        try:
            params = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind == p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    names: set = set()
    for klass in obj.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass is object:
            return None
        try:
            params = list(inspect.signature(init).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                        p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
    return None


def _registry_for(parts: Sequence[str]):
    """The registry of the component at config key ``parts`` (a dict with ``type``)."""
    head = parts[0]
    rest = [p for p in parts[1:] if not p.isdigit()]
    if head == 'model':
        return R.WEIGHT_INITIALIZERS if 'init_cfg' in rest else R.MODELS
    if head.endswith('_dataloader'):
        if 'pipeline' in rest:
            return R.TRANSFORMS
        if rest[:1] in (['sampler'], ['batch_sampler']):
            return R.DATA_SAMPLERS
        if rest[:1] == ['collate_fn']:
            return R.FUNCTIONS
        return R.DATASETS
    if head == 'optim_wrapper':
        return R.OPTIMIZERS if rest[:1] == ['optimizer'] else R.OPTIM_WRAPPERS
    return {'train_cfg': R.LOOPS, 'val_cfg': R.LOOPS, 'test_cfg': R.LOOPS,
            'default_hooks': R.HOOKS, 'custom_hooks': R.HOOKS,
            'param_scheduler': R.PARAM_SCHEDULERS, 'val_evaluator': R.METRICS,
            'test_evaluator': R.METRICS, 'visualizer': R.VISUALIZERS,
            'vis_backends': R.VISBACKENDS, 'log_processor': R.LOG_PROCESSORS}.get(head)


def _known_keys(node: dict, parts: List[str]) -> Tuple[Optional[set], str]:
    """Keys the dict at ``parts`` may hold (None: any) and what it is, for messages."""
    if not parts:
        return RUNNER_KEYS, 'the config'
    where = '.'.join(parts)
    if isinstance(node.get('type'), str) or callable(node.get('type')):
        registry = _registry_for(parts)
        kind = node['type']
        obj = kind if callable(kind) else (
            registry.get(kind) if registry is not None else None)
        if obj is None:
            return None, where  # unknown type: check_config reports it
        accepted = _accepted_arguments(obj)
        if accepted is None:
            return None, where
        accepted = accepted - {'self'}
        if parts[0] == 'optim_wrapper' and len(parts) == 1:
            accepted |= {'constructor', 'paramwise_cfg', 'optimizer'}
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
        return accepted, f'{name} ({where})'
    if len(parts) == 1 and parts[0].endswith('_dataloader'):
        return set(_DATALOADER_KEYS), f'the dataloader ({where})'
    if len(parts) == 1 and parts[0] in _PLAIN_DICT_KEYS:
        return set(_PLAIN_DICT_KEYS[parts[0]]), where
    return None, where


def _did_you_mean(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(map(str, candidates)), n=3, cutoff=0.6)
    return f' Did you mean {", ".join(map(repr, close))}?' if close else ''


def _check_option(before: dict, after: dict, key: str) -> Optional[str]:
    """Why ``--cfg-options key=...`` is wrong, or None."""
    parts = key.split('.')
    node_before, node_after = before, after
    for i, part in enumerate(parts):
        here = '.'.join(parts[:i]) or 'the config'
        if isinstance(node_after, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node_after):
                return (f'--cfg-options {key}: {here} is a list of {len(node_after)}; '
                        f'{part!r} is not an index of it')
            node_before = node_before[int(part)] if isinstance(
                node_before, (list, tuple)) and int(part) < len(node_before) else None
            node_after = node_after[int(part)]
            continue
        if not isinstance(node_after, dict):
            return (f'--cfg-options {key}: {here} is a value ({node_after!r}), not a dict; '
                    f'it has no key {part!r}')
        existed = isinstance(node_before, dict) and part in node_before
        if not existed:
            if i < len(parts) - 1 and not (isinstance(node_before, dict) or i == 0):
                return None  # below a value the options replaced with a dict
            accepted, what = _known_keys(node_after, parts[:i])
            if i < len(parts) - 1 and isinstance(node_before, dict):
                if accepted is None or part in accepted:
                    return None  # a new sub-dict of an argument: accepted as a whole
                # a missing parent key: the rest of the path cannot exist
                options = set(node_before) | accepted
                return (f'--cfg-options {key}: {what} has no key {part!r}.'
                        f'{_did_you_mean(part, options)}')
            if accepted is not None and part not in accepted:
                options = set(accepted) | set(node_before or {})
                noun = 'key' if not parts[:i] else 'argument'
                return (f'--cfg-options {key}: {what} has no {noun} {part!r}.'
                        f'{_did_you_mean(part, options)}')
            return None
        node_before, node_after = node_before[part], node_after.get(part)
    return None


def check_cfg_options(cfg: Config, options: Optional[Dict[str, Any]]) -> None:
    """Check every ``--cfg-options`` key against ``cfg`` (before they are merged).

    A key that exists is fine; a new key must be an argument of the component it is
    added to (found from the registered class's signature, following ``**kwargs`` to
    its bases), of the dataloader, ``randomness`` or ``env_cfg``, or a key the Runner
    reads at the top level. Keys under dicts whose consumer cannot be told are
    accepted.

    Raises:
        ConfigError: naming each unknown key, with a "did you mean".
    """
    if not options:
        return
    before = cfg.to_dict()
    merged = Config(before)
    try:
        merged.merge_from_dict(dict(options))
    except (KeyError, TypeError, ValueError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ConfigError(f'--cfg-options cannot be applied to '
                          f'{getattr(cfg, "filename", None) or "<config>"}: {message}') from e
    after = merged.to_dict()
    errors = [e for e in (_check_option(before, after, k) for k in options) if e]
    if errors:
        name = getattr(cfg, 'filename', None) or '<config>'
        raise ConfigError(f'{len(errors)} unknown --cfg-options key(s) for {name} '
                          '(nothing was run):\n  - ' + '\n  - '.join(errors))


def load_config(path: str, cfg_options: Optional[Dict[str, Any]] = None,
                notes: Optional[list] = None) -> Config:
    """Read a config file, check the ``--cfg-options`` keys and merge them. When the
    options change the run length, the LR schedule follows it
    (:func:`mattebox.engine.schedule.follow_run_length`; what changed is appended to
    ``notes``).

    Raises:
        ConfigError: the file is missing or cannot be executed (syntax error, missing
            ``_base_``, an undefined name), naming the file (and line), or an option
            key is unknown.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as e:
        where = f'{e.filename}, line {e.lineno}' if e.filename and e.filename != '<unknown>' \
            else f'{path}, line {e.lineno}'
        raise ConfigError(f'config {where}: syntax error: {e.msg}') from e
    except FileNotFoundError as e:
        missing = e.filename or str(e)
        raise ConfigError(f'config {path}: a file it inherits (_base_) or reads is not '
                          f'found: {missing}') from e
    except Exception as e:  # the config's own code failed (NameError, ...)
        raise ConfigError(f'config {path} cannot be read: {type(e).__name__}: {e}') from e
    check_cfg_options(cfg, cfg_options)
    if cfg_options:
        from .schedule import follow_run_length, run_length
        original = run_length(cfg)
        cfg.merge_from_dict(cfg_options)
        changed = follow_run_length(cfg, original, cfg_options)
        if notes is not None:
            notes.extend(changed)
    return cfg
