"""Convert a released SDMatte / LiteSDMatte / SDMatte* checkpoint into a mattebox one.

    python tools/convert/sdmatte.py SDMatte.pth OUT.pth [--variant sdmatte|lite]
        [--config CONFIG] [--overwrite]

The release (``LongfeiHuang/SDMatte``, ``LongfeiHuang/LiteSDMatte``) is detectron2's
``{'model': state_dict, 'trainer': {...}, 'iteration': N}``; ``'trainer'`` also pickles
omegaconf objects, which is why the original's own loader fails on torch >= 2.6. Only the
tensors are read, with ``weights_only=True``: the few known configuration classes
(``omegaconf.*``, ``typing.Any``) are replaced by inert stand-ins that hold their state and
run nothing, and any other object is refused as unsafe.

Key mapping (the original's ``CustomUNet`` keeps the new modules inside the UNet):

=============================  ======================================================
original                       mattebox
=============================  ======================================================
``unet.point_embedding.*``     ``point_embedding.*``
``unet.bbox_embedding.*``      ``bbox_embedding.*``
``unet.aux_conv_in.*``         ``aux_conv_in.*``
``unet.*``                     ``unet.*`` (a stock diffusers ``UNet2DConditionModel``)
``vae.*``                      ``vae.vae.*``
``text_encoder.*``             run once on SD2's empty caption: ``empty_text_embedding``
=============================  ======================================================

The variant (SDMatte: a KL VAE; LiteSDMatte: the tiny VAE) is detected from the keys; the
result is checked key by key and shape by shape against the model of ``--config`` (built
on the meta device: no memory) and written atomically as ``{'meta', 'state_dict'}``.
"""
import argparse
import io
import os.path as osp
import sys
from typing import Dict, List, Tuple

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

TOOL = 'tools/convert/sdmatte.py'
CONFIGS = {
    'sdmatte': osp.join(ROOT, 'configs/sdmatte/sdmatte_sd2_8xb1-30k_matting-mix.py'),
    'lite': osp.join(ROOT, 'configs/sdmatte/litesdmatte_bk-sdm-v2_8xb1-30k_matting-mix.py'),
}
MOVED = {'unet.point_embedding.': 'point_embedding.', 'unet.bbox_embedding.': 'bbox_embedding.',
         'unet.aux_conv_in.': 'aux_conv_in.'}
#: globals of a detectron2 trainer state that are configuration, never code
INERT_PREFIXES = ('omegaconf.', )
INERT_NAMES = ('typing.Any', )


class InertObject:
    """Stands in for a configuration object of the checkpoint: keeps its arguments and
    state, runs nothing."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        self.state = state


def load_release(path: str) -> dict:
    """The released checkpoint, weights-only, with inert stand-ins for its omegaconf
    objects; anything else outside the allow-list is refused (UnsafeCheckpointError)."""
    from mattebox.engine.checkpoint import (RESUME_SAFE_GLOBALS, UnsafeCheckpointError,
                                            load_checkpoint_file)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    allowed = {f'{g.__module__}.{g.__qualname__}' if not isinstance(g, tuple) else g[1]
               for g in RESUME_SAFE_GLOBALS}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        found = []  # not a zip checkpoint: load_checkpoint_file says what is wrong
    inert = [g for g in found if g.startswith(INERT_PREFIXES) or g in INERT_NAMES]
    refused = sorted(g for g in found if g not in inert and g not in allowed)
    if refused:
        raise UnsafeCheckpointError(
            f'Refused to load {path}: it needs {", ".join(refused)}, which are neither '
            'weights nor the known configuration objects of a detectron2 checkpoint')
    stand_ins = [(type(name.rsplit('.', 1)[-1], (InertObject, ), {}), name) for name in inert]
    with torch.serialization.safe_globals(stand_ins):
        return load_checkpoint_file(path)


def split_release(checkpoint: object, path: str) -> Dict[str, torch.Tensor]:
    """The ``'model'`` state dict of a detectron2 checkpoint (or a bare state dict)."""
    state = checkpoint.get('model', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(k.startswith(('unet.', 'module.unet.'))
                                              for k in state):
        keys = list(checkpoint)[:6] if isinstance(checkpoint, dict) else type(checkpoint)
        raise ValueError(f'{path}: not an SDMatte release (expected "unet.*" weights under '
                         f"'model'); found {keys}")
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def detect_variant(state: Dict[str, torch.Tensor]) -> str:
    """``'lite'`` for a tiny VAE (``vae.encoder.layers.*``), else ``'sdmatte'``."""
    return 'lite' if any(k.startswith('vae.encoder.layers.') for k in state) else 'sdmatte'


def convert_state_dict(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor],
                                                                Dict[str, torch.Tensor], List[str]]:
    """Map the release's keys. Returns (mattebox weights, text encoder weights, dropped)."""
    out, text, dropped = {}, {}, []
    for key, value in state.items():
        moved = next((new for old, new in MOVED.items() if key.startswith(old)), None)
        if moved is not None:
            out[moved + key.split('.', 2)[2]] = value
        elif key.startswith('unet.'):
            out[key] = value
        elif key.startswith('vae.'):
            out['vae.' + key] = value
        elif key.startswith('text_encoder.'):
            text[key[len('text_encoder.'):]] = value
        else:
            dropped.append(key)
    return out, text, dropped


def empty_caption_embedding(text_state: Dict[str, torch.Tensor], model_cfg) -> torch.Tensor:
    """The text encoder of the release run on SD2's empty caption (1 x 77 x C)."""
    from mattebox.models.diffusion.latent import SD2_EMPTY_CAPTION_IDS, TextEncoder
    cfg = dict(model_cfg.get('text_encoder') or {})
    if not cfg.get('config'):
        raise ValueError('the config has no model.text_encoder.config to rebuild the '
                         "release's text encoder")
    encoder = TextEncoder(config=cfg['config'])
    text_state = {k: v for k, v in text_state.items() if not k.endswith('position_ids')}
    own = encoder.model.state_dict()
    missing, unexpected = sorted(set(own) - set(text_state)), sorted(set(text_state) - set(own))
    if missing or unexpected:
        raise ValueError(f'the release\'s text encoder does not fit model.text_encoder.config: '
                         f'missing {missing[:5]} ({len(missing)}), unexpected '
                         f'{unexpected[:5]} ({len(unexpected)})')
    encoder.model.load_state_dict(text_state, strict=True)
    ids = cfg.get('empty_caption_ids', SD2_EMPTY_CAPTION_IDS)
    return encoder.encode_ids(torch.tensor([ids]))


def check_against_config(state: Dict[str, torch.Tensor], config: str) -> None:
    """Every key and shape of the model of ``config`` (built on the meta device)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mattebox import register_all_modules
    from mattebox.registry import MODELS
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.model.pop('distill', None)
    with DefaultScope.overwrite_default_scope('mattebox'), torch.device('meta'):
        own = MODELS.build(cfg.model).state_dict()
    own.pop('empty_text_embedding')  # computed from the text encoder once this passes
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [f'{k}: {tuple(state[k].shape)} in the release, {tuple(own[k].shape)} in the config'
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f'the converted weights do not fit {config}:\n  missing ({len(missing)}): '
            f'{missing[:8]}\n  unexpected ({len(unexpected)}): {unexpected[:8]}\n  shapes '
            f'({len(shapes)}): {shapes[:8]}\nGive --config the architecture of this release '
            '(e.g. model.unet.layers_per_block for a BK-SDM UNet)')


def convert(path: str, config: str = None, variant: str = None) -> Tuple[dict, str, List[str]]:
    """The mattebox checkpoint of a release: (checkpoint, variant, dropped keys)."""
    from mmengine.config import Config
    state = split_release(load_release(path), path)
    detected = detect_variant(state)
    if variant is not None and variant != detected:
        raise ValueError(f'{path} looks like {detected!r} (its VAE keys), not {variant!r}')
    config = config or CONFIGS[detected]
    out, text, dropped = convert_state_dict(state)
    if not text:
        raise ValueError(f'{path} has no text_encoder.* weights: the empty-caption embedding '
                         'cannot be computed')
    check_against_config(out, config)
    out['empty_text_embedding'] = empty_caption_embedding(text, Config.fromfile(config).model)
    meta = dict(source=osp.basename(path), variant=detected, config=osp.relpath(config, ROOT),
                converter='tools/convert/sdmatte.py', dropped=dropped)
    return {'meta': meta, 'state_dict': out}, detected, dropped


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='the released checkpoint (SDMatte.pth, LiteSDMatte.pth)')
    parser.add_argument('dst', help='the mattebox checkpoint to write')
    parser.add_argument('--variant', choices=('sdmatte', 'lite'),
                        help='expected variant (default: detected from the keys)')
    parser.add_argument('--config', help='the mattebox config whose model the weights must '
                        'fit (default: the paper config of the variant)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing dst that this converter did not write')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    args = parser.parse_args(argv)
    from mattebox.engine.errors import ConversionError, UserError, user_errors
    from mattebox.engine.outputs import OutputFile
    with user_errors(args.debug):
        out = OutputFile(args.dst, TOOL, inputs=[args.src], overwrite=args.overwrite,
                         label='dst')
        try:
            checkpoint, variant, dropped = convert(args.src, args.config, args.variant)
        except ValueError as e:
            if isinstance(e, UserError):
                raise
            raise ConversionError(str(e)) from e
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        out.write_bytes(buffer.getvalue())
    print(f'{variant}: {len(checkpoint["state_dict"])} tensors written to {args.dst}'
          + (f'; dropped {dropped}' if dropped else ''))

if __name__ == '__main__':
    main()
