"""Train a mattebox model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

from mattebox.engine.config_check import check_config, load_config  # noqa: E402
from mattebox.engine.errors import user_errors  # noqa: E402


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
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of a config, data or checkpoint error')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
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
        cfg = build_cfg(args)
        check_config(cfg, 'train')
        from mattebox.engine.launch import setup_distributed, teardown_distributed
        from mattebox.engine.runner import build_runner
        setup_distributed(cfg, args.launcher)
        done = False
        try:
            build_runner(cfg, 'train').train()
            done = True
        finally:
            teardown_distributed(barrier=done)


if __name__ == '__main__':
    main()
