"""Convert an MMagic / MMEditing DIM checkpoint into a mattebox checkpoint.

    python tools/convert/mmagic_dim.py IN.pth OUT.pth

The input is ``{'meta': ..., 'state_dict': ...}`` with keys ``backbone.encoder.*``,
``backbone.decoder.*`` and, for stages 2/3, ``refiner.*`` (a ``module.`` prefix from
DataParallel is removed). mattebox's DIM keeps MMagic's layer names, so the mapping
is the identity on those keys; everything else (e.g. preprocessor buffers) is dropped
and listed. The result is checked against mattebox's DIM (stage 1 without a refiner,
stage 3 with one): every key present, every shape equal, or the conversion fails.
"""
import argparse
import io
import os.path as osp
import sys
from typing import Dict, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402

KEPT_PREFIXES = ('backbone.encoder.', 'backbone.decoder.', 'refiner.')


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
    """Raise ``ValueError`` unless ``state`` loads into mattebox's DIM exactly."""
    with_refiner = any(k.startswith('refiner.') for k in state)
    enc = state.get('backbone.encoder.layer1.0.weight')
    base = int(enc.shape[0]) if enc is not None else 64
    expected = reference_model(with_refiner, base).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f'{k}: {tuple(state[k].shape)} != {tuple(expected[k].shape)}'
              for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ValueError('converted checkpoint does not match mattebox DIM:\n'
                         f'  missing keys: {missing}\n  unexpected keys: {unexpected}\n'
                         f'  shape mismatches: {shapes}')


def convert(src: str, dst: str) -> Dict[str, torch.Tensor]:
    """Convert ``src`` into ``dst`` (written atomically) and return the state dict."""
    from mattebox.engine.checkpoint import atomic_write, load_checkpoint_file
    if osp.realpath(src) == osp.realpath(dst):
        raise ValueError(f'output {dst} would overwrite the input')
    ckpt = load_checkpoint_file(src)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{src}: expected a dict checkpoint, got {type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    converted, dropped = convert_state_dict(state)
    if not converted:
        raise ValueError(f'{src}: no DIM weights found (no key starts with {KEPT_PREFIXES}); '
                         f'first keys: {list(state)[:5]}')
    check_against_model(converted)
    meta = {'converted_from': osp.basename(src), 'converter': 'tools/convert/mmagic_dim.py',
            'dropped_keys': dropped}
    buffer = io.BytesIO()
    torch.save({'meta': meta, 'state_dict': converted}, buffer)
    atomic_write(dst, buffer.getvalue())
    return converted


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='MMagic DIM checkpoint (.pth)')
    parser.add_argument('dst', help='output mattebox checkpoint (.pth)')
    args = parser.parse_args(argv)
    try:
        state = convert(args.src, args.dst)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise SystemExit(f'error: {e}')
    stage = 'with refiner (stage 2/3)' if any(k.startswith('refiner.') for k in state) \
        else 'encoder-decoder only (stage 1)'
    print(f'converted {len(state)} tensors, {stage}: {args.dst}')


if __name__ == '__main__':
    main()
