"""The interactive matting page: upload a photo, guide the model, get the cut-out.

    python tools/app.py CONFIG CKPT [CONFIG2 CKPT2 ...] [--host 127.0.0.1] [--port N]
        [--device D] [--max-upload-mb 25] [--max-side 4096]

Opens a Gradio page (``pip install -e ".[app]"``) at ``http://HOST:PORT``. Each CONFIG /
CKPT pair is one model to pick from. The page offers the guidance tools the picked
model takes, read from its ``guidance_spec`` (never from a list of family names):

- trimap models (DIM, DiffusionMat): upload a trimap, paint one (foreground / unknown /
  background brushes over the photo), or paint a mask made into a trimap with a band of
  the width the slider gives;
- mask models: paint a mask;
- point / box models: click on the subject (and on the background where the model takes
  background clicks), drag a box, undo, clear;
- text models: a text box; models with the transparent flag: a checkbox.

Results: the alpha matte, the cut-out over a checkerboard and over a colour or a
background image, and downloads of the alpha PNG and the RGBA cut-out.

The page works offline (no external fonts, scripts or analytics), listens on 127.0.0.1
unless told otherwise, refuses uploads over ``--max-upload-mb`` and images over
``--max-side`` pixels (the size is read from the file's header, before decoding), and
keeps every upload and result in one temporary folder that it deletes when it stops.
"""
import argparse
import base64
import importlib.util
import json
import os
import os.path as osp
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# idle OpenMP threads sleep instead of spinning: set before torch loads (engine/threads.py)
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mattebox import guidance as G  # noqa: E402
from mattebox.apis.inferencer import (KIND_NAMES, InputError,  # noqa: E402
                                      MattingInferencer, MattingResult, read_gray, read_rgb)

INSTALL_HINT = ('tools/app.py needs Gradio (the optional [app] extra): pip install -e ".[app]" '
                "(or pip install 'gradio>=6,<7')")
DEFAULT_MAX_UPLOAD_MB = 25
DEFAULT_MAX_SIDE = 4096

#: brush colours of the trimap painter (RGB) -> trimap value; unpainted pixels are
#: background. Pure primaries, painted at 60 % opacity so that the photo shows through.
TRIMAP_BRUSHES = {'foreground': ((0, 255, 0), G.TRIMAP_FG),
                  'unknown': ((0, 0, 255), G.TRIMAP_UNKNOWN),
                  'background': ((255, 0, 0), G.TRIMAP_BG)}
MASK_BRUSH = (0, 255, 0)
BRUSH_OPACITY = 0.6

#: the guidance tabs, their labels and what a model must accept for each to show
TAB_LABELS = {'trimap_upload': 'Upload trimap', 'trimap_paint': 'Paint trimap',
              'mask_paint': 'Paint mask', 'clicks': 'Click / box'}
CLICK_MODES = {'fg': 'foreground click', 'bg': 'background click', 'box': 'drag a box'}
#: how each kind of guidance is given on this page (for "needs ..." messages)
PAGE_HINTS = {
    'trimap': 'a trimap: upload one ("Upload trimap"), paint one ("Paint trimap") or paint '
              'a mask ("Paint mask"), which becomes a trimap with an unknown band',
    'mask': 'a mask: paint it ("Paint mask")',
    'points': 'points: click on the subject ("Click / box")',
    'boxes': 'a box: drag it around the subject ("Click / box")',
    'text': 'text: describe the subject in the text box',
    'transparent': 'the transparent flag: tick the checkbox',
}


class UsageError(Exception):
    """A problem with the command line."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='The interactive matting page (Gradio): upload a photo, give guidance '
        'with the tools the model takes, get the alpha and the cut-out.',
        epilog='Example: python tools/app.py configs/dim/dim_tiny_synthetic.py '
        'work_dirs/demo/iter_3000.pth')
    parser.add_argument('models', nargs='+', metavar='CONFIG CKPT',
                        help='a config and its checkpoint; repeat the pair for more models')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to listen on (default 127.0.0.1: this machine only)')
    parser.add_argument('--port', type=int, default=None,
                        help='port (default: the first free one from 7860)')
    parser.add_argument('--device', help="'cpu', 'cuda', 'cuda:1', ... (default: CUDA if "
                        'available)')
    parser.add_argument('--max-upload-mb', type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help='largest upload, in MB (default %(default)s)')
    parser.add_argument('--max-side', type=int, default=DEFAULT_MAX_SIDE,
                        help='longest image side accepted, in pixels (default %(default)s)')
    from mattebox.engine.threads import add_threads_argument
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    if len(args.models) % 2:
        parser.error(f'models come in CONFIG CKPT pairs, got {len(args.models)} paths: '
                     f'{" ".join(args.models)}')
    if args.max_upload_mb <= 0 or args.max_side <= 0:
        parser.error('--max-upload-mb and --max-side must be positive')
    return args


# ---------------------------------------------------------------- pure helpers (tested)
@dataclass
class LoadedModel:
    """One model on the page: its label in the model list and its inferencer."""
    label: str
    matter: MattingInferencer

    @property
    def accepted(self) -> Tuple[str, ...]:
        return self.matter.guidance_spec.accepted


def load_models(pairs: Sequence[str], device: Optional[str] = None) -> List[LoadedModel]:
    """One :class:`LoadedModel` per ``CONFIG CKPT`` pair; a missing file is a
    :class:`UsageError` naming it."""
    models: List[LoadedModel] = []
    for config, checkpoint in zip(pairs[0::2], pairs[1::2]):
        for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise UsageError(f'{what} file not found: {path}')
        matter = MattingInferencer(config, checkpoint, device=device)
        label = f'{matter.model_name} ({osp.basename(config)}, {osp.basename(checkpoint)})'
        if any(m.label == label for m in models):
            label = f'{label} #{len(models) + 1}'
        models.append(LoadedModel(label, matter))
    return models


def visible_tools(spec: G.GuidanceSpec, point_labels: Sequence[int] = (1, 0)) -> Dict[str, Any]:
    """Which tools the page shows for a model, from what its spec accepts and the click
    labels it uses (``MattingInferencer.point_labels``: the model's ``point_labels``).

    Returns:
        ``{tab id: bool}`` for the guidance tabs, plus ``click_modes`` (the click tool's
        modes), ``band`` (the band-width slider: a painted mask becomes a trimap),
        ``text`` and ``transparent``.
    """
    accepted = set(spec.accepted)
    modes = []
    if 'points' in accepted:
        modes += [m for m, label in (('fg', 1), ('bg', 0)) if label in point_labels]
    if 'boxes' in accepted:
        modes.append('box')
    return {
        'trimap_upload': 'trimap' in accepted,
        'trimap_paint': 'trimap' in accepted,
        'mask_paint': bool(accepted & {'trimap', 'mask'}),
        'clicks': bool(modes),
        'click_modes': modes,
        'band': 'trimap' in accepted and 'mask' not in accepted,
        'text': 'text' in accepted,
        'transparent': 'transparent' in accepted,
    }


def tools_of(model: LoadedModel) -> Dict[str, Any]:
    """:func:`visible_tools` of a loaded model."""
    return visible_tools(model.matter.guidance_spec, model.matter.point_labels)


def describe_model(model: LoadedModel) -> str:
    """One line on what the model takes, for the page."""
    spec = model.matter.guidance_spec
    parts = []
    if spec.required:
        parts.append(' and '.join(KIND_NAMES[k] for k in spec.required))
    if spec.one_of:
        parts.append('one of ' + ', '.join(KIND_NAMES[k] for k in spec.one_of))
    line = f'**{model.matter.model_name}** takes ' + ('; '.join(parts) or 'no guidance')
    if 'trimap' in spec.accepted and 'mask' not in spec.accepted:
        line += ' (or a mask, made into a trimap band)'
    if spec.optional:
        line += '; optionally ' + ', '.join(KIND_NAMES[k] for k in spec.optional)
    return line + '.'


def first_tab(tools: Dict[str, Any]) -> Optional[str]:
    return next((t for t in TAB_LABELS if tools[t]), None)


def check_image_file(path: str, max_side: int, what: str = 'image') -> Tuple[int, int]:
    """``(width, height)`` of an image file, read from its header (nothing is decoded);
    an :class:`InputError` when it is not an image or a side exceeds ``max_side``."""
    import PIL.Image
    try:
        with PIL.Image.open(path) as im:
            w, h = im.size
    except PIL.Image.DecompressionBombError:
        raise InputError(f'{what}: more than {2 * PIL.Image.MAX_IMAGE_PIXELS} pixels, too '
                         f'large; this page takes images up to {max_side} pixels on the longer '
                         'side (tools/app.py --max-side)') from None
    except (OSError, ValueError) as e:
        raise InputError(f'{what}: not an image this page can read ({e})') from None
    if max(w, h) > max_side:
        raise InputError(f'{what}: {w} x {h} pixels is too large; this page takes images up '
                         f'to {max_side} pixels on the longer side (tools/app.py --max-side)')
    return w, h


def upload_path(value: Any) -> Optional[str]:
    """The server-side path of an upload, from an image component's raw payload (events
    with ``preprocess=False``: nothing is decoded before :func:`check_image_file`)."""
    if isinstance(value, dict):
        return value.get('path')
    if isinstance(value, str):
        return value
    return getattr(value, 'path', None)


def _paint_layer(editor_value: Optional[dict], shape: Sequence[int]) -> Optional[np.ndarray]:
    """The painted pixels of an ImageEditor value as an H x W x 4 uint8 array at the
    image's size (layers merged, later layers on top), or None when nothing is painted."""
    if not editor_value:
        return None
    layers = [np.asarray(layer) for layer in editor_value.get('layers') or []
              if layer is not None]
    merged = None
    h, w = int(shape[0]), int(shape[1])
    for layer in layers:
        if layer.ndim != 3 or layer.shape[2] != 4:
            continue
        if layer.shape[:2] != (h, w):
            layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_NEAREST)
        if merged is None:
            merged = layer.copy()
        else:
            on = layer[..., 3] > 0
            merged[on] = layer[on]
    if merged is None or not (merged[..., 3] > 0).any():
        return None
    return merged


def trimap_from_paint(editor_value: Optional[dict], shape: Sequence[int]) -> Optional[np.ndarray]:
    """The trimap painted with :data:`TRIMAP_BRUSHES`: each painted pixel takes the value
    of the nearest brush colour, unpainted pixels are background. None if unpainted."""
    layer = _paint_layer(editor_value, shape)
    if layer is None:
        return None
    colours = np.array([c for c, _ in TRIMAP_BRUSHES.values()], np.int32)
    values = np.array([v for _, v in TRIMAP_BRUSHES.values()], np.uint8)
    rgb = layer[..., :3].astype(np.int32)
    nearest = ((rgb[:, :, None, :] - colours[None, None]) ** 2).sum(-1).argmin(-1)
    return np.where(layer[..., 3] > 0, values[nearest], np.uint8(G.TRIMAP_BG)).astype(np.uint8)


def mask_from_paint(editor_value: Optional[dict], shape: Sequence[int]) -> Optional[np.ndarray]:
    """The painted mask: 255 where anything is painted, else 0. None if unpainted."""
    layer = _paint_layer(editor_value, shape)
    if layer is None:
        return None
    return np.where(layer[..., 3] > 0, np.uint8(255), np.uint8(0))


def empty_clicks() -> dict:
    return {'points': [], 'box': None, 'log': []}


def undo_click(value: Optional[dict]) -> dict:
    """The click tool's value without its last action (a click, or the last box drawn,
    which brings back the box before it)."""
    value = json.loads(json.dumps(value)) if value else empty_clicks()
    log = value.get('log') or []
    if not log:
        return value
    last = log.pop()
    if last[0] == 'p' and value['points']:
        value['points'].pop()
    elif last[0] == 'b':
        value['box'] = last[1] if len(last) > 1 else None
    return value


def describe_clicks(value: Optional[dict]) -> str:
    value = value or empty_clicks()
    points = value.get('points') or []
    fg = sum(1 for p in points if int(p[2]) == 1)
    parts = [f'{fg} foreground click{"s" if fg != 1 else ""}']
    if len(points) - fg:
        parts.append(f'{len(points) - fg} background click{"s" if len(points) - fg != 1 else ""}')
    box = value.get('box')
    parts.append('box ({}, {}) to ({}, {})'.format(*[int(v) for v in box]) if box else 'no box')
    return ', '.join(parts)


def missing_on_page(spec: G.GuidanceSpec, given: Sequence[str],
                    model_name: str) -> Optional[str]:
    """A message naming what the model still needs and how to give it on this page, or
    None. A mask counts as a trimap for a trimap model (it becomes one)."""
    present = set(given)
    if 'mask' in present and 'trimap' in spec.accepted:
        present.add('trimap')
    if 'trimap' in present and 'mask' in spec.accepted:
        present.add('mask')
    lacking = spec.missing(present)
    if not lacking:
        return None
    which = 'one of: ' if spec.one_of and set(lacking) == set(spec.one_of) else ''
    how = '; or '.join(PAGE_HINTS[k] for k in lacking)
    return f'No guidance given: {model_name} needs {which}{how}. Then press Run.'


def checkerboard(shape: Sequence[int], cell: Optional[int] = None) -> np.ndarray:
    """A light-grey checkerboard, float32 H x W x 3 in [0, 1] (cells scale with the
    image: about 48 across the longer side, at least 8 pixels)."""
    h, w = int(shape[0]), int(shape[1])
    cell = cell or max(8, int(round(max(h, w) / 48)))
    yy, xx = np.mgrid[0:h, 0:w]
    dark = ((yy // cell + xx // cell) % 2).astype(bool)
    out = np.full((h, w, 3), 0.94, np.float32)
    out[dark] = 0.75
    return out


def over_checkerboard(result: MattingResult) -> np.ndarray:
    """The cut-out (estimated foreground + alpha) over :func:`checkerboard`, uint8 RGB."""
    return result.composite(checkerboard(result.alpha.shape))


def parse_colour(value: Optional[str]) -> Tuple[int, int, int]:
    """``#rrggbb``, ``#rgb`` or ``rgb(a)(r, g, b[, a])`` -> an RGB tuple (0-255)."""
    text = (value or '').strip()
    m = re.fullmatch(r'#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?', text)
    if m:
        return tuple(int(m.group(1)[i:i + 2], 16) for i in (0, 2, 4))
    m = re.fullmatch(r'#?([0-9a-fA-F]{3})', text)
    if m:
        return tuple(int(c * 2, 16) for c in m.group(1))
    m = re.fullmatch(r'rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)',
                     text)
    if m:
        return tuple(int(round(min(255.0, float(v)))) for v in m.groups())
    raise InputError(f'background colour: expected #rrggbb or rgb(r, g, b), got {value!r}')


def data_url(rgb: np.ndarray, longest: int = 1024) -> str:
    """A JPEG data URL of an RGB image scaled to at most ``longest`` pixels (what the
    click tool shows; the clicks are mapped back to the image's own pixels)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, longest / max(h, w))
    small = rgb if scale == 1 else cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if small.dtype != np.uint8:
        small = np.rint(np.clip(small, 0, 1) * 255).astype(np.uint8)
    ok, buf = cv2.imencode('.jpg', np.ascontiguousarray(small[..., ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, 90])
    return 'data:image/jpeg;base64,' + base64.b64encode(buf.tobytes()).decode('ascii')


# ------------------------------------------------------------------- the click tool
CLICKS_TEMPLATE = """
<div class="mb-clicks" data-points="${(value && value.points) ? value.points.length : 0}"
     data-box="${(value && value.box) ? value.box.join(',') : ''}" data-mode="${mode}">
${src ? `
  <div class="mb-stage">
    <img src="${src}" draggable="false" alt="the photo: click or drag on it"/>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none">
      ${(value && value.box) ? `<rect class="mb-box" x="${value.box[0]}" y="${value.box[1]}"
          width="${value.box[2] - value.box[0]}" height="${value.box[3] - value.box[1]}"/>` : ''}
      <rect class="mb-live" x="0" y="0" width="0" height="0" visibility="hidden"/>
      ${((value && value.points) || []).map(p => `<circle class="${p[2] ? 'mb-fg' : 'mb-bg'}"
          cx="${p[0] + 0.5}" cy="${p[1] + 0.5}" r="${Math.max(w, h) / 90 + 1}"/>`).join('')}
    </svg>
  </div>` : `<div class="mb-empty">Upload a photo first; then click on the subject here
  or drag a box around it.</div>`}
</div>
"""

CLICKS_CSS = """
.mb-stage { position: relative; display: inline-block; max-width: 100%; line-height: 0;
            touch-action: none; cursor: crosshair; user-select: none; }
.mb-stage img { max-width: 100%; max-height: 560px; display: block; }
.mb-stage svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%;
                pointer-events: none; }
.mb-box, .mb-live { fill: rgba(255, 214, 0, 0.12); stroke: #ffd600; stroke-width: 2;
                    vector-effect: non-scaling-stroke; }
.mb-live { stroke-dasharray: 6 4; }
.mb-fg { fill: #00d26a; stroke: white; stroke-width: 2; vector-effect: non-scaling-stroke; }
.mb-bg { fill: #ff3b30; stroke: white; stroke-width: 2; vector-effect: non-scaling-stroke; }
.mb-empty { padding: 2em; text-align: center; color: var(--body-text-color-subdued);
            border: 1px dashed var(--border-color-primary); border-radius: 8px; }
"""

CLICKS_JS = """
let start = null;
const where = (e, clamp) => {
  const img = element.querySelector('.mb-stage img');
  if (!img) return null;
  const r = img.getBoundingClientRect();
  let fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height;
  if (!clamp && (fx < 0 || fy < 0 || fx >= 1 || fy >= 1)) return null;
  fx = Math.min(1, Math.max(0, fx)); fy = Math.min(1, Math.max(0, fy));
  return [fx * props.w, fy * props.h];
};
// the click mode is read from the radio on the page (no server round trip that could
// overwrite a click made meanwhile); props.mode when the radio is not shown
const clickMode = () => {
  const checked = document.querySelector('#mb-click-mode input:checked');
  return checked ? checked.value : props.mode;
};
const current = () => {
  const v = props.value || {};
  return {points: (v.points || []).slice(), box: v.box || null, log: (v.log || []).slice()};
};
element.addEventListener('pointerdown', (e) => {
  const p = where(e, false);
  if (!p) return;
  e.preventDefault();
  start = p;
  try { element.setPointerCapture(e.pointerId); } catch (err) {}
});
element.addEventListener('pointermove', (e) => {
  if (!start || clickMode() !== 'box') return;
  const p = where(e, true), live = element.querySelector('.mb-live');
  if (!p || !live) return;
  live.setAttribute('x', Math.min(start[0], p[0]));
  live.setAttribute('y', Math.min(start[1], p[1]));
  live.setAttribute('width', Math.abs(p[0] - start[0]));
  live.setAttribute('height', Math.abs(p[1] - start[1]));
  live.setAttribute('visibility', 'visible');
});
element.addEventListener('pointerup', (e) => {
  if (!start) return;
  const s = start, p = where(e, true) || s, v = current();
  start = null;
  const mode = clickMode();
  if (mode === 'box') {
    const x0 = Math.round(Math.min(s[0], p[0])), x1 = Math.round(Math.max(s[0], p[0]));
    const y0 = Math.round(Math.min(s[1], p[1])), y1 = Math.round(Math.max(s[1], p[1]));
    const live = element.querySelector('.mb-live');
    if (live) live.setAttribute('visibility', 'hidden');
    if (x1 - x0 < 2 || y1 - y0 < 2) return;
    v.log.push(['b', v.box]);
    v.box = [x0, y0, x1, y1];
  } else {
    const x = Math.min(props.w - 1, Math.floor(s[0])), y = Math.min(props.h - 1, Math.floor(s[1]));
    v.points.push([x, y, mode === 'bg' ? 0 : 1]);
    v.log.push(['p']);
  }
  props.value = v;
});
"""

PAGE_CSS = """
#mb-status { min-height: 2.5em; }
#mb-status .mb-error { color: var(--error-text-color, #b91c1c); font-weight: 600; }
"""


# --------------------------------------------------------------------------- the page
def build_app(models: Sequence[LoadedModel], work_dir: str, max_side: int = DEFAULT_MAX_SIDE):
    """The Gradio Blocks of the page. ``work_dir`` receives the files the page offers
    for download (inside the temporary folder that :func:`serve` deletes)."""
    import gradio as gr

    by_label = {m.label: m for m in models}
    first = models[0]
    tools0 = tools_of(first)

    def tool_updates(model: LoadedModel):
        tools = tools_of(model)
        tab = first_tab(tools)
        modes = tools['click_modes']
        return [
            *(gr.Column(visible=t == tab) for t in TAB_LABELS),
            gr.Radio(choices=[(TAB_LABELS[t], t) for t in TAB_LABELS if tools[t]], value=tab,
                     visible=tab is not None),
            gr.Radio(choices=[(CLICK_MODES[m], m) for m in modes],
                     value=modes[0] if modes else None, visible=len(modes) > 1),
            gr.Slider(visible=tools['band']),
            gr.Textbox(visible=tools['text']),
            gr.Checkbox(visible=tools['transparent']),
            describe_model(model),
        ]

    def status_error(message: str) -> str:
        return f'<span class="mb-error">⚠ {message}</span>'

    with gr.Blocks(title='mattebox: interactive matting', analytics_enabled=False,
                   delete_cache=(900, 3600)) as demo:
        image_state = gr.State(None)   # {'rgb': array, 'name': str}
        result_state = gr.State(None)  # MattingResult of the last run
        # the folder of the last run's downloads: the next run replaces it, and it goes
        # when Gradio drops the session's state (some time after its tab closes) or when
        # the page stops
        files_state = gr.State(None, delete_callback=lambda folder: folder and shutil.rmtree(
            folder, ignore_errors=True))

        gr.Markdown('## mattebox: interactive matting\n'
                    '1. Upload a photo. 2. Guide the model with a tool below (the one chosen '
                    'under "Guidance" is what the model gets). 3. Press **Run**: the alpha '
                    'matte and the '
                    'cut-out appear on the right, with downloads.')
        with gr.Row():
            with gr.Column(scale=1):
                model = gr.Dropdown([m.label for m in models], value=first.label,
                                    label='Model', interactive=len(models) > 1,
                                    elem_id='mb-model')
                model_info = gr.Markdown(describe_model(first), elem_id='mb-model-info')
                image = gr.Image(type='filepath', image_mode=None, format='png',
                                 sources=['upload', 'clipboard'], label='Photo',
                                 elem_id='mb-image', height=320)
                tab0 = first_tab(tools0)
                # the guidance tools: a radio of those the model takes (from its
                # guidance_spec) and one group per tool; only the chosen group shows
                source = gr.Radio([(TAB_LABELS[t], t) for t in TAB_LABELS if tools0[t]],
                                  value=tab0, visible=tab0 is not None, label='Guidance',
                                  elem_id='mb-source')
                with gr.Column(visible=tab0 == 'trimap_upload',
                               elem_id='mb-group-trimap-upload') as tab_upload:
                    trimap_file = gr.Image(
                        type='filepath', image_mode=None, format='png',
                        sources=['upload', 'clipboard'], elem_id='mb-trimap-file', height=260,
                        label='Trimap (PNG: 0 background, 128 unknown, 255 foreground)')
                with gr.Column(visible=tab0 == 'trimap_paint',
                               elem_id='mb-group-trimap-paint') as tab_tpaint:
                    gr.Markdown('Paint with the brush: **green** foreground (the '
                                'subject), **blue** unknown (hair, fur, soft edges), '
                                '**red** background. Unpainted pixels are background.')
                    trimap_painter = gr.ImageEditor(
                        type='numpy', image_mode='RGBA', sources=[], transforms=(),
                        layers=False, format='png', label='Trimap painter',
                        brush=gr.Brush(colors=[(_hex(c), BRUSH_OPACITY)
                                               for c, _ in TRIMAP_BRUSHES.values()],
                                       color_mode='fixed'),
                        elem_id='mb-trimap-painter')
                    trimap_painted = gr.Image(label='The trimap the model gets',
                                              format='png', interactive=False,
                                              elem_id='mb-trimap-painted', height=200)
                with gr.Column(visible=tab0 == 'mask_paint',
                               elem_id='mb-group-mask-paint') as tab_mpaint:
                    gr.Markdown('Paint over the subject with the brush (a rough mask).')
                    mask_painter = gr.ImageEditor(
                        type='numpy', image_mode='RGBA', sources=[], transforms=(),
                        layers=False, format='png', label='Mask painter',
                        brush=gr.Brush(colors=[(_hex(MASK_BRUSH), BRUSH_OPACITY)],
                                       color_mode='fixed'),
                        elem_id='mb-mask-painter')
                    band = gr.Slider(1, 100, value=10, step=1, visible=tools0['band'],
                                     label='Unknown band (pixels on each side of the '
                                     "mask's edge)", elem_id='mb-band')
                    mask_made = gr.Image(label='What the model gets', format='png',
                                         interactive=False, elem_id='mb-mask-made',
                                         height=200)
                with gr.Column(visible=tab0 == 'clicks',
                               elem_id='mb-group-clicks') as tab_clicks:
                    modes0 = tools0['click_modes']
                    click_mode = gr.Radio([(CLICK_MODES[m], m) for m in modes0],
                                          value=modes0[0] if modes0 else None,
                                          label='A click on the photo adds',
                                          visible=len(modes0) > 1,
                                          elem_id='mb-click-mode')
                    clicks = gr.HTML(value=empty_clicks(), html_template=CLICKS_TEMPLATE,
                                     css_template=CLICKS_CSS, js_on_load=CLICKS_JS,
                                     src='', w=1, h=1,
                                     mode=modes0[0] if modes0 else 'fg',
                                     elem_id='mb-clicks')
                    clicks_info = gr.Markdown(describe_clicks(None),
                                              elem_id='mb-clicks-info')
                    with gr.Row():
                        undo = gr.Button('Undo', size='sm', elem_id='mb-undo')
                        clear = gr.Button('Clear', size='sm', elem_id='mb-clear')
                text = gr.Textbox(label='Describe the subject', visible=tools0['text'],
                                  placeholder='e.g. the dog on the left', elem_id='mb-text')
                transparent = gr.Checkbox(label='The subject is transparent (glass, veil, '
                                          'smoke)', visible=tools0['transparent'],
                                          elem_id='mb-transparent')
                run = gr.Button('Run', variant='primary', elem_id='mb-run')
                status = gr.Markdown('Upload a photo to start.', elem_id='mb-status')
            with gr.Column(scale=1):
                shown = ['download', 'fullscreen']
                alpha_out = gr.Image(label='Alpha matte', format='png', interactive=False,
                                     buttons=shown, height=300, elem_id='mb-alpha')
                cutout_out = gr.Image(label='Cut-out (over a checkerboard)', format='png',
                                      interactive=False, buttons=shown, height=300,
                                      elem_id='mb-cutout')
                composite_out = gr.Image(label='Over a new background', format='png',
                                         interactive=False, buttons=shown, height=300,
                                         elem_id='mb-composite')
                with gr.Row():
                    bg_colour = gr.ColorPicker('#00b140', label='Background colour',
                                               elem_id='mb-bg-colour')
                    bg_image = gr.Image(type='filepath', image_mode=None, format='png',
                                        sources=['upload', 'clipboard'], height=120,
                                        label='or a background image',
                                        elem_id='mb-bg-image')
                with gr.Row():
                    dl_alpha = gr.DownloadButton('Download alpha (PNG)', visible=False,
                                                 elem_id='mb-download-alpha')
                    dl_cutout = gr.DownloadButton('Download cut-out (PNG with alpha)',
                                                  visible=False, elem_id='mb-download-cutout')

        tab_items = [tab_upload, tab_tpaint, tab_mpaint, tab_clicks]
        cleared_results = [None, None, None, gr.DownloadButton(visible=False),
                           gr.DownloadButton(visible=False), None]
        result_outputs = [alpha_out, cutout_out, composite_out, dl_alpha, dl_cutout,
                          result_state]

        # ---- model choice: the tools follow the model's guidance_spec
        def on_model(label, state):
            modes = tools_of(by_label[label])['click_modes']
            return [*tool_updates(by_label[label]),
                    clicks_update(state, modes[0] if modes else None), *cleared_results,
                    'Model changed: give its guidance and press Run.']

        model.change(on_model, [model, image_state],
                     [*tab_items, source, click_mode, band, text, transparent, model_info,
                      clicks, *result_outputs, status])
        source.change(lambda tab: [gr.Column(visible=t == tab) for t in TAB_LABELS], source,
                      tab_items)

        # ---- the photo
        def clicks_update(state, mode, value=None):
            """The click tool with every prop (an update replaces them all)."""
            if state is None:
                return gr.HTML(value=empty_clicks(), src='', w=1, h=1, mode=mode or 'fg')
            h, w = state['rgb'].shape[:2]
            return gr.HTML(value=value or empty_clicks(), src=state['src'], w=w, h=h,
                           mode=mode or 'fg')

        def on_image(payload, mode):
            path = upload_path(payload)
            blank_editor = {'background': None, 'layers': [], 'composite': None}
            cleared = [None, blank_editor, blank_editor, clicks_update(None, mode),
                       describe_clicks(None), None, None, *cleared_results]
            if not path:
                return [gr.skip(), *cleared, 'Upload a photo to start.']
            try:
                w, h = check_image_file(path, max_side, 'photo')
                rgb = read_rgb(path, 'photo')
            except InputError as e:  # the photo goes, with the message why
                return [None, *cleared, status_error(f'Photo refused: {e}')]
            editor = {'background': path, 'layers': [], 'composite': None}
            state = {'rgb': rgb, 'name': osp.splitext(osp.basename(path))[0] or 'image',
                     'src': data_url(rgb)}
            return [gr.skip(), state, editor, editor, clicks_update(state, mode),
                    describe_clicks(None), None, None, *cleared_results,
                    f'Photo: {w} x {h} pixels. Now give the guidance and press **Run**.']

        image_outputs = [image, image_state, trimap_painter, mask_painter, clicks,
                         clicks_info, trimap_painted, mask_made, *result_outputs, status]
        # preprocess=False: the handler gets the upload's path, not a decoded image, so
        # that an oversized one is refused from its header
        image.upload(on_image, [image, click_mode], image_outputs, preprocess=False)
        image.clear(lambda mode: on_image(None, mode), click_mode, image_outputs)

        def refuse_oversized(payload, what):
            path = upload_path(payload)
            if not path:
                return gr.skip(), gr.skip()
            try:
                check_image_file(path, max_side, what)
            except InputError as e:
                return None, status_error(f'{what[0].upper()}{what[1:]} refused: {e}')
            return gr.skip(), gr.skip()

        trimap_file.upload(lambda p: refuse_oversized(p, 'trimap'), trimap_file,
                           [trimap_file, status], preprocess=False)
        bg_image.upload(lambda p: refuse_oversized(p, 'background image'), bg_image,
                        [bg_image, status], preprocess=False)

        # ---- previews of painted guidance
        def on_trimap_paint(editor, state):
            if state is None:
                return None
            return trimap_from_paint(editor, state['rgb'].shape)

        for event in (trimap_painter.change, trimap_painter.input, trimap_painter.apply):
            event(on_trimap_paint, [trimap_painter, image_state], trimap_painted,
                  show_progress='hidden')

        def on_mask_paint(editor, band_width, label, state):
            if state is None:
                return None
            mask = mask_from_paint(editor, state['rgb'].shape)
            if mask is None:
                return None
            if tools_of(by_label[label])['band']:
                return G.trimap_from_mask(mask, int(band_width))
            return mask

        # a brush stroke fires `input` / `apply`; a new photo `change`
        for event in (mask_painter.change, mask_painter.input, mask_painter.apply,
                      band.change):
            event(on_mask_paint, [mask_painter, band, model, image_state], mask_made,
                  show_progress='hidden')

        # ---- the click tool
        clicks.change(describe_clicks, clicks, clicks_info, show_progress='hidden')
        undo.click(undo_click, clicks, clicks)
        clear.click(empty_clicks, None, clicks)

        # ---- running the model
        def collect(tab, model_, state, trimap_path, trimap_editor, mask_editor, band_width,
                    click_value, text_value, transparent_value):
            """The keyword arguments for the inferencer from the chosen tool, plus text and
            the transparent flag; and the kinds given."""
            shape = state['rgb'].shape
            tools = tools_of(model_)
            kwargs: Dict[str, Any] = {}
            if tab == 'trimap_upload' and tools['trimap_upload'] and trimap_path:
                check_image_file(trimap_path, max_side, 'trimap')
                kwargs['trimap'] = read_gray(trimap_path, 'trimap')
            elif tab == 'trimap_paint' and tools['trimap_paint']:
                painted = trimap_from_paint(trimap_editor, shape)
                if painted is not None:
                    kwargs['trimap'] = painted
            elif tab == 'mask_paint' and tools['mask_paint']:
                mask = mask_from_paint(mask_editor, shape)
                if mask is not None:
                    kwargs['mask'] = mask
                    if tools['band']:
                        kwargs['band_width'] = int(band_width)
            elif tab == 'clicks' and tools['clicks'] and click_value:
                if click_value.get('points'):
                    kwargs['points'] = [[float(v) for v in p] for p in click_value['points']]
                if click_value.get('box'):
                    kwargs['box'] = [float(v) for v in click_value['box']]
            if tools['text'] and (text_value or '').strip():
                kwargs['text'] = text_value.strip()
            if tools['transparent']:
                kwargs['transparent'] = bool(transparent_value)
            given = [{'box': 'boxes'}.get(k, k) for k in kwargs if k != 'band_width']
            return kwargs, given

        def background_of(colour, bg_path):
            if bg_path:
                check_image_file(bg_path, max_side, 'background image')
                return bg_path
            return parse_colour(colour)

        def on_run(label, state, tab, trimap_path, trimap_editor, mask_editor, band_width,
                   click_value, text_value, transparent_value, colour, bg_path, old_files,
                   progress=gr.Progress()):
            if state is None:
                return [*cleared_results, old_files, status_error('Upload a photo first.')]
            model_ = by_label[label]
            try:
                kwargs, given = collect(tab, model_, state, trimap_path, trimap_editor,
                                        mask_editor, band_width, click_value, text_value,
                                        transparent_value)
                missing = missing_on_page(model_.matter.guidance_spec, given,
                                          model_.matter.model_name)
                if missing:
                    return [*cleared_results, old_files, status_error(missing)]
                started = time.perf_counter()
                progress(0.05, desc=f'running {model_.matter.model_name}')
                result = model_.matter(state['rgb'], **kwargs)
                progress(0.6, desc='estimating the foreground colours')
                cutout = result.cutout()
                progress(0.85, desc='compositing')
                checker = over_checkerboard(result)
                composite = result.composite(background_of(colour, bg_path))
                seconds = time.perf_counter() - started
            except InputError as e:
                return [*cleared_results, old_files, status_error(str(e))]
            except Exception as e:  # a bug, not the user's input: log it, say it plainly
                traceback.print_exc()
                return [*cleared_results, old_files, status_error(
                    f'Internal error ({type(e).__name__}: {e}); the server log has the '
                    'details.')]
            if old_files:
                shutil.rmtree(old_files, ignore_errors=True)
            folder = tempfile.mkdtemp(prefix='result-', dir=work_dir)
            alpha_path = osp.join(folder, f'{state["name"]}_alpha.png')
            cutout_path = osp.join(folder, f'{state["name"]}_cutout.png')
            cv2.imwrite(alpha_path, result.alpha_uint8)
            cv2.imwrite(cutout_path, cv2.cvtColor(cutout, cv2.COLOR_RGBA2BGRA))
            notes = result.guidance.get('notes') or []
            h, w = result.alpha.shape
            message = (f'Done: {model_.matter.model_name} on {w} x {h} pixels in '
                       f'{seconds:.1f} s.' + ''.join(f' {n[0].upper()}{n[1:]}.' for n in notes))
            return [result.alpha_uint8, checker, composite,
                    gr.DownloadButton(value=alpha_path, visible=True),
                    gr.DownloadButton(value=cutout_path, visible=True), result, folder,
                    message]

        run.click(on_run, [model, image_state, source, trimap_file, trimap_painter,
                           mask_painter, band, clicks, text, transparent, bg_colour, bg_image,
                           files_state],
                  [*result_outputs, files_state, status], concurrency_limit=1)

        # ---- a new background for the last result
        def on_background(result, colour, bg_path):
            if result is None:
                return gr.skip(), gr.skip()
            try:
                return result.composite(background_of(colour, bg_path)), gr.skip()
            except InputError as e:
                return gr.skip(), status_error(str(e))

        for event in (bg_colour.change, bg_image.change):
            event(on_background, [result_state, bg_colour, bg_image], [composite_out, status])
    return demo


def _hex(rgb: Sequence[int]) -> str:
    return '#{:02x}{:02x}{:02x}'.format(*rgb)


def serve(models: Sequence[LoadedModel], host: str, port: Optional[int],
          max_upload_mb: float, max_side: int) -> None:
    """Run the page until Ctrl-C (or SIGTERM); uploads and results live in one temporary
    folder, deleted on the way out."""
    root = tempfile.mkdtemp(prefix='mattebox-app-')
    try:
        # Gradio reads these when it is imported: uploads go to our folder, nothing
        # is reported home, no hub is contacted
        os.environ['GRADIO_TEMP_DIR'] = root
        os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
        os.environ.setdefault('HF_HUB_OFFLINE', '1')
        import gradio as gr
        work_dir = osp.join(root, 'results')
        os.makedirs(work_dir)
        demo = build_app(models, work_dir, max_side)
        print(f'uploads and results: {root} (deleted when the page stops)', flush=True)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        demo.queue(default_concurrency_limit=1)
        demo.launch(server_name=host, server_port=port, share=False, inbrowser=False,
                    max_file_size=int(max_upload_mb * 1024 * 1024), show_error=False,
                    ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
                    run_history=False, footer_links=[], theme=gr.themes.Default(),
                    css=PAGE_CSS, quiet=True, prevent_thread_lock=True)
        print(f'* Running on local URL:  {demo.local_url}\n  open it in a browser; Ctrl-C '
              'stops the page and deletes its temporary folder', flush=True)
        demo.block_thread()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec('gradio') is None:
        print(f'error: {INSTALL_HINT}', file=sys.stderr)
        return 2
    from mattebox.engine.threads import configure_threads
    plan = configure_threads(args.threads)
    try:
        models = load_models(args.models, args.device)
    except (UsageError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print('models: ' + '; '.join(m.label for m in models) + f'; {plan.describe()}', flush=True)
    serve(models, args.host, args.port, args.max_upload_mb, args.max_side)
    return 0


if __name__ == '__main__':
    sys.exit(main())
