"""Check every file a config's dataset references; list every problem at once.

Example::

    python tools/dataset_converters/check_dataset.py \\
        configs/dim/dim_stage1-v16_1xb1-1000k_comp1k.py --split train --nproc 8

For each sample: every referenced file exists and decodes (``--level header``: only
headers and file ends, much faster), fg / alpha / merged / trimap sizes agree (and bg,
for pre-composed samples), alpha and trimap are single-channel (a 3-channel file with
equal channels is convertible: a warning), trimaps hold only 0 / 128 / 255. Folders
named by the pipeline (``bg_dir``, ``fg_dirs``, ...) must exist. Problems are printed
one per line with the file name; the exit status is 1 when there is an error (or, with
``--strict``, a warning), 0 otherwise.
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import Iterator, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmengine.config import Config, DictAction  # noqa: E402

LOADERS = {'train': ['train_dataloader'], 'val': ['val_dataloader'],
           'test': ['test_dataloader'],
           'all': ['train_dataloader', 'val_dataloader', 'test_dataloader']}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Check the files of a dataset named in a config; list all problems.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', choices=sorted(LOADERS), default='train',
                        help='which dataloader to check (default: train)')
    parser.add_argument('--level', choices=['decode', 'header'], default='decode',
                        help='decode every file (default) or read headers only (fast)')
    parser.add_argument('--nproc', type=int, default=min(8, os.cpu_count() or 1),
                        help='threads (default: CPU count, at most 8)')
    parser.add_argument('--strict', action='store_true',
                        help='warnings (e.g. a convertible RGB alpha) fail too')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. '
                        'train_dataloader.dataset.data_root=PATH')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of a config error')
    return parser.parse_args(argv)


def leaf_datasets(cfg: dict, key: str) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset config) of every real dataset inside wrappers."""
    if isinstance(cfg.get('datasets'), (list, tuple)):
        for i, sub in enumerate(cfg['datasets']):
            yield from leaf_datasets(sub, f'{key}.datasets[{i}]')
    elif isinstance(cfg.get('dataset'), dict):
        yield from leaf_datasets(cfg['dataset'], f'{key}.dataset')
    else:
        yield key, cfg


def pipeline_folders(ds_cfg: dict, key: str) -> List[str]:
    """Problems with folders that the pipeline names (``*_dir`` / ``*_dirs`` args)."""
    problems = []
    for i, t in enumerate(ds_cfg.get('pipeline') or []):
        if not isinstance(t, dict):
            continue
        for arg, value in t.items():
            if not arg.endswith(('_dir', '_dirs')) or value is None:
                continue
            for folder in ([value] if isinstance(value, str) else list(value)):
                if isinstance(folder, str) and not osp.isdir(folder):
                    problems.append(f'ERROR: {folder}: folder not found ({key}.pipeline[{i}] '
                                    f'{t.get("type")}.{arg})')
    return problems


def check(cfg: Config, split: str, level: str, nproc: int) -> Tuple[List[str], int, int]:
    """Returns (problem lines, errors, warnings)."""
    from mattebox.datasets.validation import validate_samples
    from mattebox.registry import DATASETS

    lines, errors, warnings = [], 0, 0
    for loader in LOADERS[split]:
        dl = cfg.get(loader)
        if not isinstance(dl, dict) or not isinstance(dl.get('dataset'), dict):
            if split != 'all':
                lines.append(f'ERROR: config: no {loader}.dataset in the config')
                errors += 1
            continue
        for key, ds_cfg in leaf_datasets(dl['dataset'], f'{loader}.dataset'):
            folder_problems = pipeline_folders(ds_cfg, key)
            lines += folder_problems
            errors += len(folder_problems)
            ds_cfg = copy.deepcopy(dict(ds_cfg))
            ds_cfg['pipeline'] = []
            ds_cfg['validate'] = False  # checked below, at the level asked for
            try:
                dataset = DATASETS.build(ds_cfg)
                data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
            except Exception as e:  # the dataset cannot even list its samples
                lines.append(f'ERROR: {key}: cannot build {ds_cfg.get("type")}: '
                             f'{type(e).__name__}: {e}')
                errors += 1
                continue
            print(f'{key}: {ds_cfg.get("type")} with {len(data_list)} samples',
                  file=sys.stderr)
            problems = validate_samples(
                data_list, level=level, nproc=nproc, progress_desc=f'{key}',
                progress=lambda line: print(line, file=sys.stderr, flush=True))
            for p in problems:
                lines.append(str(p))
                errors += p.severity == 'error'
                warnings += p.severity == 'warning'
    return lines, errors, warnings


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mattebox import register_all_modules
    from mattebox.engine.config_check import load_config
    from mattebox.engine.errors import user_errors
    register_all_modules()
    with user_errors(args.debug):
        cfg = load_config(args.config, args.cfg_options)
    lines, errors, warnings = check(cfg, args.split, args.level, max(1, args.nproc))
    for line in lines:
        print(line)
    print(f'{errors} error(s), {warnings} warning(s)')
    return 1 if errors or (args.strict and warnings) else 0


if __name__ == '__main__':
    sys.exit(main())
