"""Train a mattebox model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

from mattebox.engine.config_check import ConfigError, check_config  # noqa: E402


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
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args: argparse.Namespace) -> Config:
    if not osp.isfile(args.config):
        raise SystemExit(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
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
    cfg = build_cfg(args)
    try:
        check_config(cfg, 'train')
    except ConfigError as e:
        raise SystemExit(f'error: {e}')
    from mattebox.engine.launch import setup_distributed
    setup_distributed(cfg, args.launcher)
    from mmengine.runner import Runner
    from mattebox.engine.checkpoint import CorruptCheckpointError, UnsafeCheckpointError
    from mattebox.engine.launch import teardown_distributed
    done = False
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        done = True
    except (CorruptCheckpointError, UnsafeCheckpointError) as e:
        raise SystemExit(f'error: {e}')
    finally:
        teardown_distributed(barrier=done)


if __name__ == '__main__':
    main()
