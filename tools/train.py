"""Train a mattebox model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys
from typing import Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# idle OpenMP threads sleep instead of spinning: set before torch loads (engine/threads.py)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from mmengine.config import Config, DictAction  # noqa: E402

from mattebox.engine.config_check import check_config, load_config  # noqa: E402
from mattebox.engine.errors import user_errors  # noqa: E402
from mattebox.engine.threads import add_threads_argument  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a matting model.')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint in the work '
                        'folder when no CKPT is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a CUDA GPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. train_cfg.max_iters=1000')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    add_threads_argument(parser)
    parser.add_argument('--verbose', action='store_true',
                        help='also print the environment, the config, the hook order and '
                        'every log line on the console (they are always in the log file)')
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of a config, data or checkpoint error')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args: argparse.Namespace, notes: Optional[list] = None) -> Config:
    cfg = load_config(args.config, args.cfg_options, notes)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA GPU; none is available')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    from mattebox import register_all_modules
    register_all_modules()
    with user_errors(args.debug):
        notes = []
        cfg = build_cfg(args, notes)
        check_config(cfg, 'train')
        from mattebox.engine.threads import configure_threads
        plan = configure_threads(args.threads, cfg, args.cfg_options)
        from mmengine.dist import is_main_process

        from mattebox.engine.console import route_warnings
        from mattebox.engine.launch import setup_distributed, teardown_distributed
        from mattebox.engine.runner import build_runner
        setup_distributed(cfg, args.launcher)
        done = False
        try:
            runner = build_runner(cfg, 'train', verbose=args.verbose)
            route_warnings(runner.logger)
            main_process = is_main_process()
            if main_process:
                print(describe_run(args, cfg, runner, plan, notes), flush=True)
            runner.train()
            done = True
        finally:
            teardown_distributed(barrier=done)
        if main_process:
            print(where_files_went(runner), flush=True)


def describe_run(args, cfg: Config, runner, plan, notes) -> str:
    """What runs: the tool's header on the console."""
    loop = cfg.train_cfg
    length = (f'{loop.max_iters} iterations' if loop.get('max_iters')
              else f'{loop.get("max_epochs")} epochs')
    if runner._resume and cfg.get('load_from'):
        length += f', resuming from {cfg.load_from}'
    world = runner.world_size
    model = type(getattr(runner.model, 'module', runner.model)).__name__
    processes = f', {world} processes' if world > 1 else ''
    lines = [f'train {args.config}: {model}, {length}{processes}, {plan.describe()}',
             f'  log: {runner.log_file} (config, environment, every log line; '
             '--verbose shows them here)']
    lines += [f'  schedule: {note}' for note in notes]
    return '\n'.join(lines)


def where_files_went(runner) -> str:
    pointer = osp.join(runner.work_dir, 'last_checkpoint')
    last = ''
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8', errors='replace') as f:
            last = f.read().strip()
    return (f'checkpoints: {runner.work_dir}' + (f' (last: {osp.basename(last)})' if last else '')
            + f'; log: {runner.log_file}')


if __name__ == '__main__':
    main()
    from mattebox.engine.launch import exit_launched_process
    exit_launched_process()  # after a distributed run: no gloo abort at shutdown
