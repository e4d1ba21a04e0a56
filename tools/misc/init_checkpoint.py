"""Write the freshly initialised model of a config as a checkpoint (iteration 0).

    python tools/misc/init_checkpoint.py CONFIG OUT.pth [--seed 0] [--overwrite]

Useful as the "untrained" baseline: ``tools/test.py CONFIG OUT.pth`` then scores the
model before any training, with the same pipeline and metrics as a trained one. OUT is
never an input, and an existing OUT that this tool did not write is replaced only with
``--overwrite``.
"""
import argparse
import io
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('out')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing OUT that this tool did not write')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    from mattebox import register_all_modules
    from mattebox.engine.errors import user_errors
    register_all_modules(init_default_scope=False)
    with user_errors(args.debug):
        write_initial_checkpoint(args)


def write_initial_checkpoint(args: argparse.Namespace) -> None:
    from mattebox.engine.config_check import load_config
    from mattebox.engine.outputs import OutputFile
    from mattebox.registry import MODELS
    cfg = load_config(args.config, args.cfg_options)
    out = OutputFile(args.out, 'tools/misc/init_checkpoint.py', inputs=[args.config],
                     overwrite=args.overwrite, label='OUT')
    set_random_seed(args.seed)
    # init_weights() as the Runner does (pretrained parts load there), but quietly
    MMLogger.get_instance('mmengine', log_level='WARNING')
    with DefaultScope.overwrite_default_scope('mattebox'):
        model = MODELS.build(cfg.model)
        if hasattr(model, 'init_weights'):
            model.init_weights()
    buffer = io.BytesIO()
    torch.save({'meta': {'iter': 0, 'epoch': 0, 'seed': args.seed},
                'state_dict': model.state_dict()}, buffer)
    out.write_bytes(buffer.getvalue())
    print(f'initial weights of {args.config} written to {args.out}')


if __name__ == '__main__':
    main()
