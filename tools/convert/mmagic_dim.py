"""Convert an MMagic / MMEditing DIM checkpoint into a mattebox checkpoint.

    python tools/convert/mmagic_dim.py IN.pth OUT.pth [--overwrite]

The input is ``{'meta': ..., 'state_dict': ...}`` with keys ``backbone.encoder.*``,
``backbone.decoder.*`` and, for stages 2/3, ``refiner.*`` (a ``module.`` prefix from
DataParallel is removed). mattebox's DIM keeps MMagic's layer names, so the mapping
is the identity on those keys; everything else (e.g. preprocessor buffers) is dropped
and listed. The result is checked against mattebox's DIM (stage 1 without a refiner,
stage 3 with one): every key present, every shape equal, or the conversion fails.
OUT is never an input, and an existing OUT that this converter did not write is replaced
only with ``--overwrite``.
"""
import argparse
import io
import os.path as osp
import sys
from typing import Dict, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

from mattebox.engine.errors import ConversionError, user_errors  # noqa: E402

KEPT_PREFIXES = ('backbone.encoder.', 'backbone.decoder.', 'refiner.')
TOOL = 'tools/convert/mmagic_dim.py'


def convert_state_dict(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor],
                                                                 List[str]]:
    """Map MMagic DIM keys to mattebox keys. Returns (state_dict, dropped keys)."""
    out, dropped = {}, []
    for key, value in state.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name.startswith(KEPT_PREFIXES):
            out[name] = value
        else:
            dropped.append(key)
    return out, dropped


def reference_model(with_refiner: bool, base_channels: int = 64):
    """mattebox's DIM in the layout of the published configs (random init)."""
    from mmengine.registry import DefaultScope

    from mattebox import register_all_modules
    from mattebox.models.dim import DIM
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mattebox'):
        return DIM(
            backbone=dict(type='SimpleEncoderDecoder',
                          encoder=dict(type='VGG16', in_channels=4,
                                       base_channels=base_channels),
                          decoder=dict(type='PlainDecoder', base_channels=base_channels)),
            refiner=dict(type='PlainRefiner') if with_refiner else None,
            loss_alpha=dict(type='CharbonnierLoss'),
            loss_refine=dict(type='CharbonnierLoss') if with_refiner else None,
            data_preprocessor=dict(type='MattorPreprocessor'))


def check_against_model(state: Dict[str, torch.Tensor]) -> None:
    """Raise a ``ValueError`` unless ``state`` loads into mattebox's DIM exactly."""
    with_refiner = any(k.startswith('refiner.') for k in state)
    enc = state.get('backbone.encoder.layer1.0.weight')
    base = int(enc.shape[0]) if enc is not None else 64
    expected = reference_model(with_refiner, base).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f'{k}: {tuple(state[k].shape)} != {tuple(expected[k].shape)}'
              for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ConversionError('converted checkpoint does not match mattebox DIM:\n'
                         f'  missing keys: {missing}\n  unexpected keys: {unexpected}\n'
                         f'  shape mismatches: {shapes}')


def convert(src: str, dst: str, overwrite: bool = False) -> Dict[str, torch.Tensor]:
    """Convert ``src`` into ``dst`` (written atomically) and return the state dict.

    Raises:
        OutputRefusedError: ``dst`` is the input, or exists and was not written by this
            converter (without ``overwrite``).
    """
    from mattebox.engine.checkpoint import load_checkpoint_file
    from mattebox.engine.outputs import OutputFile
    out = OutputFile(dst, TOOL, inputs=[src], overwrite=overwrite, label='OUT')
    ckpt = load_checkpoint_file(src)
    if not isinstance(ckpt, dict):
        raise ConversionError(f'{src}: expected a dict checkpoint, got {type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    converted, dropped = convert_state_dict(state)
    if not converted:
        raise ConversionError(f'{src}: no DIM weights found (no key starts with {KEPT_PREFIXES}); '
                         f'first keys: {list(state)[:5]}')
    check_against_model(converted)
    meta = {'converted_from': osp.basename(src), 'converter': 'tools/convert/mmagic_dim.py',
            'dropped_keys': dropped}
    buffer = io.BytesIO()
    torch.save({'meta': meta, 'state_dict': converted}, buffer)
    out.write_bytes(buffer.getvalue())
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='MMagic DIM checkpoint (.pth)')
    parser.add_argument('dst', help='output mattebox checkpoint (.pth)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing OUT that this converter did not write')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    with user_errors(args.debug):
        state = convert(args.src, args.dst, args.overwrite)
    stage = 'with refiner (stage 2/3)' if any(k.startswith('refiner.') for k in state) \
        else 'encoder-decoder only (stage 1)'
    print(f'converted {len(state)} tensors, {stage}: {args.dst}')


if __name__ == '__main__':
    main()
