"""Start-up checks of a config: unknown component types and missing files fail before
any data is read or any model is built, with the config key in the message."""
import difflib
import os.path as osp
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.config import Config

from mattebox import registry as R

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


class ConfigError(ValueError):
    """A config names an unknown component or a file that does not exist."""


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
    for key, name, value in file_arguments(cfg.get('model', {})):
        if isinstance(value, str) and value and not osp.exists(value):
            errors.append(f'{key}.{name}: file not found: {value} (weights are never '
                          'downloaded; give a local file)')
    load_from = cfg.get('load_from')
    if check_load_from and load_from and not osp.isfile(load_from):
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
