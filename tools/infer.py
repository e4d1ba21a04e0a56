"""Matte your own images with any mattebox model.

    python tools/infer.py CONFIG CKPT INPUT [INPUT ...] --out DIR
        [--trimap PATH | --mask PATH | --box X0 Y0 X1 Y1 | --point X Y [LABEL] ... |
         --text "..."] [--transparent] [--band-width N] [--background PATH|#RRGGBB]
        [--device D] [--cfg-options k=v ...]

INPUT is an image or a folder of images. ``--trimap`` / ``--mask`` take a file (one input
image) or a folder, where the guidance of ``photo.jpg`` is the file named ``photo.*``.
Boxes and points are in pixels of the image (x to the right, y down, from 0). For every
image it writes ``DIR/<name>_alpha.png`` (8-bit alpha), ``DIR/<name>_cutout.png`` (RGBA:
estimated foreground colours + alpha) and, with ``--background``, ``DIR/<name>_composite.png``
(the subject over that background). It never writes over an input, nor over a file in
DIR that it did not write itself (the files it wrote are listed in
``DIR/.mattebox-outputs.json``; see :mod:`mattebox.engine.outputs`).
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# idle OpenMP threads sleep instead of spinning: set before torch loads (engine/threads.py)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

from mmengine.config import DictAction  # noqa: E402

from mattebox.engine.errors import UserError, user_errors  # noqa: E402
from mattebox.engine.threads import add_threads_argument, configure_threads  # noqa: E402

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
OUTPUT_KINDS = ('alpha', 'cutout', 'composite')
TOOL = 'tools/infer.py'


class UsageError(UserError, ValueError):
    """A problem with the command line or the files it names."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Matte images with a trained model: alpha, cut-out and composite.',
        epilog='Example: python tools/infer.py configs/dim/dim_tiny_synthetic.py '
        'work_dirs/demo/iter_3000.pth photo.jpg --trimap photo_trimap.png --out results')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('inputs', nargs='+', metavar='INPUT', help='images or folders')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--trimap', help='trimap file, or folder matched by file name')
    parser.add_argument('--mask', help='coarse mask file, or folder matched by file name '
                        '(a trimap model makes a trimap band from it)')
    parser.add_argument('--box', nargs=4, type=float, metavar=('X0', 'Y0', 'X1', 'Y1'),
                        help='box around the subject, in pixels (X1, Y1 exclusive)')
    parser.add_argument('--point', nargs='+', type=float, action='append', default=None,
                        metavar='X Y [LABEL]', help='a click on the subject (label 1, the '
                        'default) or on the background (label 0); repeat for more')
    parser.add_argument('--text', help='referring expression naming the subject')
    parser.add_argument('--transparent', action='store_true',
                        help='the subject is (semi-)transparent (SDMatte)')
    parser.add_argument('--band-width', type=int, metavar='N',
                        help='unknown band, in pixels on each side, of a trimap made from '
                        'a mask (default: 1.5%% of the longer side)')
    parser.add_argument('--background', metavar='PATH|#RRGGBB',
                        help='also write the subject over this image or colour')
    parser.add_argument('--device', help="'cpu', 'cuda', 'cuda:1', ... (default: CUDA if "
                        'available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        metavar='KEY=VALUE', help='override config keys')
    add_threads_argument(parser)
    parser.add_argument('--debug', action='store_true',
                        help='show the traceback of a config, input or checkpoint error')
    args = parser.parse_args(argv)
    for point in args.point or []:
        if len(point) not in (2, 3):
            parser.error(f'--point takes X Y [LABEL], got {len(point)} numbers')
    return args


# -------------------------------------------------------------------------- inputs
def _is_image(path: str) -> bool:
    return path.lower().endswith(IMAGE_SUFFIXES)


def list_inputs(inputs: List[str]) -> List[str]:
    """Image files of the command line, folders expanded (sorted, not recursive)."""
    files = []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(osp.join(item, f) for f in os.listdir(item)
                           if _is_image(f) and osp.isfile(osp.join(item, f)))
            if not found:
                raise UsageError(f'input folder {item} holds no images '
                                 f'({", ".join(IMAGE_SUFFIXES)})')
            files.extend(found)
        elif osp.isfile(item):
            files.append(item)
        else:
            raise UsageError(f'input not found: {item}')
    stems: Dict[str, str] = {}
    for f in files:
        stem = osp.splitext(osp.basename(f))[0]
        if stem in stems:
            raise UsageError(f'two inputs have the name {stem!r} ({stems[stem]} and {f}); '
                             'their outputs would collide: run them separately')
        stems[stem] = f
    return files


def match_guidance(option: str, value: Optional[str], images: List[str]) -> Dict[str, str]:
    """``{image: guidance file}`` for ``--trimap`` / ``--mask`` (a file or a folder)."""
    if value is None:
        return {}
    if osp.isfile(value):
        if len(images) > 1:
            raise UsageError(f'--{option} {value} is one file for {len(images)} images; give '
                             'a folder with one file per image (matched by name)')
        return {images[0]: value}
    if not osp.isdir(value):
        raise UsageError(f'--{option} not found: {value}')
    by_stem: Dict[str, str] = {}
    for f in sorted(os.listdir(value)):
        if _is_image(f):
            by_stem.setdefault(osp.splitext(f)[0], osp.join(value, f))
    matched, missing = {}, []
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        if stem in by_stem:
            matched[image] = by_stem[stem]
        else:
            missing.append(osp.basename(image))
    if missing:
        raise UsageError(f'--{option} folder {value} has no file named like '
                         f'{", ".join(missing[:5])}{" ..." if len(missing) > 5 else ""} '
                         f'({len(missing)} of {len(images)} images)')
    return matched


def parse_background(value: Optional[str]):
    """A path, or a colour ``#RRGGBB`` / ``R,G,B``."""
    if value is None:
        return None
    m = re.fullmatch(r'#?([0-9a-fA-F]{6})', value)
    if m and not osp.exists(value):
        return tuple(int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
    m = re.fullmatch(r'(\d{1,3}),(\d{1,3}),(\d{1,3})', value)
    if m:
        colour = tuple(int(v) for v in m.groups())
        if max(colour) > 255:
            raise UsageError(f'--background {value}: colour values are 0-255')
        return colour
    if not osp.isfile(value):
        raise UsageError(f'--background {value}: no such file, nor a colour (#RRGGBB or '
                         'R,G,B)')
    return value


# ------------------------------------------------------------------------- outputs
def output_names(image: str, with_composite: bool) -> Dict[str, str]:
    stem = osp.splitext(osp.basename(image))[0]
    kinds = OUTPUT_KINDS if with_composite else OUTPUT_KINDS[:2]
    return {kind: f'{stem}_{kind}.png' for kind in kinds}


# ---------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> List[Dict[str, str]]:
    images = list_inputs(args.inputs)
    trimaps = match_guidance('trimap', args.trimap, images)
    masks = match_guidance('mask', args.mask, images)
    background = parse_background(args.background)
    guidance_files = list(trimaps.values()) + list(masks.values())
    if isinstance(background, str):
        guidance_files.append(background)
    from mattebox.engine.outputs import OutputFolder
    out = OutputFolder(args.out, TOOL, inputs=images + guidance_files)
    for image in images:
        out.check(list(output_names(image, background is not None).values()))
    from mattebox.engine.checkpoint import refuse_url
    refuse_url(args.checkpoint, 'CHECKPOINT')
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise UsageError(f'not found: {path}')

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    from mattebox.apis import MattingInferencer
    configure_threads(args.threads)
    matter = MattingInferencer(args.config, args.checkpoint, device=args.device,
                               cfg_options=args.cfg_options)
    points = [tuple(p) for p in args.point] if args.point else None
    done, notes = [], set()
    columns = (TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    from rich.console import Console
    console = Console(stderr=True)  # a bar only on a terminal: nothing stray in logs / pipes
    with Progress(*columns, transient=True, console=console,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(f'{matter.model_name} inference', total=len(images))
        for image in images:
            result = matter(image, trimap=trimaps.get(image), mask=masks.get(image),
                            box=args.box, points=points, text=args.text,
                            transparent=True if args.transparent else None,
                            band_width=args.band_width)
            notes.update(result.guidance.get('notes', []))
            names = output_names(image, background is not None)
            files = {'alpha': out.write_png(names['alpha'], result.alpha_uint8),
                     'cutout': out.write_png(names['cutout'], result.cutout())}
            if background is not None:
                files['composite'] = out.write_png(names['composite'],
                                                   result.composite(background))
            done.append(files)
            progress.advance(task)
    for note in sorted(notes):
        print(f'note: {note}')
    print(f'{len(done)} image(s) matted with {matter.model_name}; results in {args.out}/ '
          f'(<name>_{"|".join(OUTPUT_KINDS if background is not None else OUTPUT_KINDS[:2])}'
          '.png)')
    return done


def main(argv=None) -> List[Dict[str, str]]:
    args = parse_args(argv)
    with user_errors(args.debug):
        return run(args)


if __name__ == '__main__':
    main()
