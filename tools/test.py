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
# idle OpenMP threads sleep instead of spinning: set before torch loads (engine/threads.py)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from mmengine.config import DictAction  # noqa: E402

from mattebox.engine.config_check import check_config, load_config  # noqa: E402
from mattebox.engine.errors import user_errors  # noqa: E402
from mattebox.engine.threads import add_threads_argument  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a matting model.')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this json file (never over a '
                        'file that tools/test.py did not write)')
    parser.add_argument('--save-pred', metavar='DIR',
                        help='write the predicted alpha mattes as PNGs into DIR (a new '
                        'folder, or one holding only files mattebox wrote)')
    parser.add_argument('--work-dir', help='folder for logs (default: ./work_dirs/<config>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys')
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mattebox import register_all_modules
    register_all_modules()
    with user_errors(args.debug):
        return run(args)


def run(args: argparse.Namespace) -> dict:
    from mattebox.engine.checkpoint import refuse_url
    from mattebox.engine.outputs import OutputFile, OutputFolder, dataset_folders
    refuse_url(args.checkpoint, 'CHECKPOINT')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from, cfg.resume = args.checkpoint, False
    check_config(cfg, 'test')
    from mattebox.engine.errors import UserError
    from mattebox.engine.threads import configure_threads
    plan = configure_threads(args.threads, cfg, args.cfg_options)
    evaluates = bool(cfg.get('test_evaluator'))
    if not evaluates:
        if args.out:
            raise UserError(f'--out {args.out}: {args.config} has no test_evaluator, so the '
                            'test computes no metrics to write (use --save-pred DIR to keep '
                            'the predictions)')
        cfg.test_evaluator = []  # mmengine's TestLoop needs one, even empty
    protected = dataset_folders(cfg)
    out = args.out and OutputFile(args.out, 'tools/test.py', protected=protected,
                                  inputs=[args.config, args.checkpoint], overwrite_flag=None)
    if args.save_pred:
        OutputFolder(args.save_pred, 'tools/test.py', protected=protected, exclusive=True,
                     label='--save-pred')  # refuse now rather than after testing
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='SavePredictionsHook', out_dir=args.save_pred, protected=protected)]

    from mmengine.dist import is_main_process

    from mattebox.engine.console import route_warnings
    from mattebox.engine.launch import setup_distributed, teardown_distributed
    from mattebox.engine.runner import build_runner
    setup_distributed(cfg, args.launcher)
    done = False
    try:
        runner = build_runner(cfg, 'test', verbose=args.verbose)
        route_warnings(runner.logger)
        main_process = is_main_process()  # before the process group is gone
        if main_process:
            print(f'test {args.config} {args.checkpoint}: '
                  f'{len(runner.test_dataloader.dataset)} samples'
                  + (f', {runner.world_size} processes' if runner.world_size > 1 else '')
                  + f', {plan.describe()}\n  log: {runner.log_file}', flush=True)
            if not evaluates:
                print(f'  {args.config} has no test_evaluator: this test only computes the '
                      'predictions' + (f' and saves them to {args.save_pred}' if args.save_pred
                                       else ' (keep them with --save-pred DIR)')
                      + '; no metrics', flush=True)
        metrics = runner.test()
        done = True
    finally:
        teardown_distributed(barrier=done)
    if main_process:
        if evaluates:
            print(format_table(metrics), flush=True)
        if out:
            out.write_text(json.dumps(metrics, indent=2) + '\n')
            print(f'metrics written to {args.out}')
        if args.save_pred:
            print(f'predicted mattes written to {args.save_pred}/')
    return metrics


if __name__ == '__main__':
    main()
    from mattebox.engine.launch import exit_launched_process
    exit_launched_process()  # after a distributed run: no gloo abort at shutdown
