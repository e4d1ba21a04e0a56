"""Test a mattebox model: ``python tools/test.py CONFIG CKPT [options]``.

Prints the metric table, optionally writes it as json (``--out``) and the predicted
alpha mattes as PNGs (``--save-pred``).
"""
import argparse
import json
import math
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

from mattebox.engine.config_check import ConfigError, check_config  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a matting model.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this json file')
    parser.add_argument('--save-pred', metavar='DIR',
                        help='write the predicted alpha mattes as PNGs into DIR')
    parser.add_argument('--work-dir', help='folder for logs (default: ./work_dirs/<config>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def format_table(metrics: dict) -> str:
    """A plain-text table of ``{name: value}``."""
    names = list(metrics)
    cells = [f'{v:.4f}' if isinstance(v, float) and not math.isnan(v) else str(v)
             for v in metrics.values()]
    widths = [max(len(n), len(c)) for n, c in zip(names, cells)]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    head = '|' + '|'.join(f' {n:>{w}} ' for n, w in zip(names, widths)) + '|'
    row = '|' + '|'.join(f' {c:>{w}} ' for c, w in zip(cells, widths)) + '|'
    return '\n'.join([line, head, line, row, line])


def write_json_atomic(obj: dict, path: str) -> None:
    """Write ``obj`` as json to ``path`` atomically (never a half-written file)."""
    from mattebox.engine.checkpoint import atomic_write
    atomic_write(path, (json.dumps(obj, indent=2) + '\n').encode('utf-8'))


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mattebox import register_all_modules
    register_all_modules()
    if not osp.isfile(args.config):
        raise SystemExit(f'config file not found: {args.config}')
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint not found: {args.checkpoint}')
    if args.out and osp.realpath(args.out) in {osp.realpath(args.config),
                                               osp.realpath(args.checkpoint)}:
        raise SystemExit(f'--out {args.out} would overwrite an input file')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from, cfg.resume = args.checkpoint, False
    try:
        check_config(cfg, 'test')
    except ConfigError as e:
        raise SystemExit(f'error: {e}')
    if args.save_pred:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='SavePredictionsHook', out_dir=args.save_pred)]

    from mattebox.engine.launch import setup_distributed
    setup_distributed(cfg, args.launcher)
    from mmengine.dist import is_main_process
    from mmengine.runner import Runner
    from mattebox.engine.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
    from mattebox.engine.launch import teardown_distributed
    done = False
    try:
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        main_process = is_main_process()  # before the process group is gone
        done = True
    except (CorruptCheckpointError, UnsafeCheckpointError) as e:
        raise SystemExit(f'error: {e}')
    finally:
        teardown_distributed(barrier=done)
    if main_process:
        print(format_table(metrics), flush=True)
        if args.out:
            write_json_atomic(metrics, args.out)
            print(f'metrics written to {args.out}')
    return metrics


if __name__ == '__main__':
    main()
