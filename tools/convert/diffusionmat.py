"""Convert DiffusionMat's released checkpoints into one mattebox checkpoint.

    python tools/convert/diffusionmat.py --prior ckpt_diffusion.pt [--model ckpt_adobe.pth] \
        OUT.pth [--overwrite]

Inputs (``cnnlstm/DiffusionMat``, ``pretrained_models/``):

* ``ckpt_diffusion.pt``: the alpha prior, a ``pytorch-ddpm`` checkpoint
  ``{'net_model', 'ema_model', 'sched', 'optim', 'step', 'x_T'}``; the original loads
  ``net_model`` (the non-EMA weights), so does this converter (``--prior-key`` picks
  another entry). Keys are ``model.py::UNet`` names -> ``prior.<name>``.
* ``ckpt_adobe.pth``: the Composition-1k model, a list ``[encoder_state,
  corrector_state, optimizer_state, step]`` saved from ``nn.DataParallel`` models:
  ``module.swin_unet.<name>`` -> ``encoder.<name>``, ``module.<name>`` ->
  ``corrector.<name>``. The optimizer state and the step are not converted (listed in
  the output's ``meta``).

mattebox keeps the original module names, so every mapping is a prefix change. A key
that does not have the expected prefix fails the conversion (nothing is dropped
silently), and the result is checked against the model of ``--config`` (default: the
Composition-1k config): with ``--model`` every key of the model, without it every key
of the prior, with equal shapes. Output: ``{'meta': ..., 'state_dict': ...}``, which
``tools/test.py`` loads as a checkpoint and ``DiffusionMat(prior_checkpoint=...)``
accepts as a prior.
"""
import argparse
import io
import os.path as osp
import sys
from typing import Dict, List, Mapping, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from mattebox.engine.errors import ConversionError, user_errors  # noqa: E402

DEFAULT_CONFIG = osp.join(ROOT, 'configs/diffusionmat/diffusionmat_swin-t_1xb8-100k_comp1k.py')
PRIOR_ENTRIES = ('net_model', 'ema_model')
ENCODER_PREFIXES = ('module.swin_unet.', 'swin_unet.')
CORRECTOR_PREFIXES = ('module.', '')
TOOL = 'tools/convert/diffusionmat.py'


def _tensor_items(state: Mapping, where: str) -> Dict[str, torch.Tensor]:
    if not isinstance(state, Mapping) or not state:
        raise ConversionError(f'{where}: expected a non-empty state dict, got '
                         f'{type(state).__name__}')
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError(f'{where}: entries that are not tensors: {bad[:5]}')
    return dict(state)


def _map_prefix(state: Dict[str, torch.Tensor], prefixes: Tuple[str, ...], new: str,
                where: str) -> Dict[str, torch.Tensor]:
    """Replace the first matching prefix of every key by ``new``; fail on any other key."""
    out, unmapped = {}, []
    for key, value in state.items():
        prefix = next((p for p in prefixes if key.startswith(p)), None)
        if prefix is None:
            unmapped.append(key)
            continue
        out[new + key[len(prefix):]] = value
    if unmapped:
        raise ConversionError(f'{where}: {len(unmapped)} keys without the expected prefix '
                         f'{[p for p in prefixes if p]}: {unmapped[:5]}')
    return out


def convert_prior(checkpoint: object, key: str = 'net_model',
                  where: str = 'prior') -> Tuple[Dict[str, torch.Tensor], dict]:
    """``ckpt_diffusion.pt`` -> ``prior.*`` keys, and a report of what was left out."""
    if not isinstance(checkpoint, Mapping) or key not in checkpoint:
        found = list(checkpoint)[:6] if isinstance(checkpoint, Mapping) else \
            type(checkpoint).__name__
        raise ConversionError(f'{where}: expected the pytorch-ddpm layout {{"net_model": ..., '
                         f'"ema_model": ...}} with entry {key!r}; found {found}')
    state = _tensor_items(checkpoint[key], f'{where}[{key!r}]')
    converted = _map_prefix(state, ('module.', ''), 'prior.', f'{where}[{key!r}]')
    left_out = {name: _describe(value) for name, value in checkpoint.items() if name != key}
    return converted, {'prior_entry': key, 'prior_entries_not_converted': left_out}


def convert_model(checkpoint: object,
                  where: str = 'model') -> Tuple[Dict[str, torch.Tensor], dict]:
    """``ckpt_adobe.pth`` -> ``encoder.*`` and ``corrector.*`` keys, and a report."""
    if not isinstance(checkpoint, (list, tuple)) or len(checkpoint) < 2:
        raise ConversionError(f'{where}: expected the list [encoder_state, corrector_state, '
                         f'optimizer_state, step] of ckpt_adobe.pth, got '
                         f'{type(checkpoint).__name__}')
    encoder_state = _tensor_items(checkpoint[0], f'{where}[0] (encoder)')
    corrector_state = _tensor_items(checkpoint[1], f'{where}[1] (corrector)')
    if any(k.startswith(ENCODER_PREFIXES) for k in corrector_state):
        raise ConversionError(f'{where}[1] holds Swin-UNet keys: is the list in the order '
                         '[encoder, corrector, optimizer, step]?')
    encoder = _map_prefix(encoder_state, ENCODER_PREFIXES, 'encoder.', f'{where}[0] (encoder)')
    prefixes = CORRECTOR_PREFIXES if all(k.startswith('module.') for k in corrector_state) \
        else ('',)
    corrector = _map_prefix(corrector_state, prefixes, 'corrector.', f'{where}[1] (corrector)')
    left_out = {f'item {i}': _describe(v) for i, v in enumerate(checkpoint) if i >= 2}
    report = {'model_items_not_converted': left_out}
    if len(checkpoint) > 3 and isinstance(checkpoint[3], int):
        report['trained_steps'] = checkpoint[3]
    return {**encoder, **corrector}, report


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f'tensor {tuple(value.shape)}'
    if isinstance(value, Mapping):
        if 'state' in value and 'param_groups' in value:
            return f'optimizer state ({len(value["state"])} parameter states)'
        tensors = sum(isinstance(v, torch.Tensor) for v in value.values())
        return f'dict ({len(value)} entries, {tensors} tensors)'
    return f'{type(value).__name__} {value!r}'[:80]


def reference_state(config: str = DEFAULT_CONFIG) -> Dict[str, torch.Tensor]:
    """State dict of the config's model (random init; no prior or Swin file read)."""
    from mmengine.config import Config
    from mattebox import register_all_modules
    from mattebox.registry import MODELS
    register_all_modules()
    cfg = Config.fromfile(config)
    cfg.model.prior_checkpoint = None
    if 'pretrained' in cfg.model.encoder:
        cfg.model.encoder.pretrained = None
    return MODELS.build(cfg.model).state_dict()


def check_against_model(state: Dict[str, torch.Tensor], config: str = DEFAULT_CONFIG,
                        prior_only: bool = False,
                        expected: Optional[Mapping[str, torch.Tensor]] = None) -> None:
    """Raise ``ValueError`` unless ``state`` matches the config's model key for key.

    With ``prior_only`` only the ``prior.*`` keys of the model are expected.
    ``expected`` (a state dict of that model) saves building it again.
    """
    if expected is None:
        expected = reference_state(config)
    if prior_only:
        expected = {k: v for k, v in expected.items() if k.startswith('prior.')}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f'{k}: {tuple(state[k].shape)} != {tuple(expected[k].shape)}'
              for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ConversionError(f'converted weights do not match the model of {config}:\n'
                         f'  missing keys ({len(missing)}): {missing[:8]}\n'
                         f'  unexpected keys ({len(unexpected)}): {unexpected[:8]}\n'
                         f'  shape mismatches ({len(shapes)}): {shapes[:8]}')


def convert(prior: str, dst: str, model: Optional[str] = None, config: str = DEFAULT_CONFIG,
            prior_key: str = 'net_model', overwrite: bool = False) -> Dict[str, torch.Tensor]:
    """Convert the files, check them against ``config``, write ``dst``; return the state.

    ``dst`` is never an input; an existing ``dst`` that this converter did not write is
    replaced only with ``overwrite``.
    """
    from mattebox.engine.checkpoint import load_checkpoint_file
    from mattebox.engine.outputs import OutputFile
    inputs: List[str] = [prior] + ([model] if model else [])
    out = OutputFile(dst, TOOL, inputs=inputs + [config], overwrite=overwrite, label='OUT')
    state, meta = convert_prior(load_checkpoint_file(prior), prior_key, where=prior)
    if model:
        model_state, report = convert_model(load_checkpoint_file(model), where=model)
        state.update(model_state)
        meta.update(report)
    check_against_model(state, config, prior_only=model is None)
    meta.update({'converted_from': [osp.basename(p) for p in inputs],
                 'converter': 'tools/convert/diffusionmat.py',
                 'checked_against': osp.relpath(config, ROOT) if config.startswith(ROOT)
                 else config})
    buffer = io.BytesIO()
    torch.save({'meta': meta, 'state_dict': state}, buffer)
    out.write_bytes(buffer.getvalue())
    return state


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--prior', required=True, help="the prior, ckpt_diffusion.pt")
    parser.add_argument('--model', help='the Composition-1k model, ckpt_adobe.pth '
                        '(without it only the prior is converted)')
    parser.add_argument('--prior-key', default='net_model', choices=PRIOR_ENTRIES,
                        help='entry of ckpt_diffusion.pt to convert (the original uses '
                        'net_model)')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='config whose model the result is checked against')
    parser.add_argument('dst', help='output mattebox checkpoint (.pth)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing OUT that this converter did not write')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    with user_errors(args.debug):
        state = convert(args.prior, args.dst, args.model, args.config, args.prior_key,
                        args.overwrite)
    parts = sorted({k.split('.', 1)[0] for k in state})
    print(f'converted {len(state)} tensors ({", ".join(parts)}): {args.dst}')


if __name__ == '__main__':
    main()
