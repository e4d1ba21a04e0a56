"""tools/app.py without a browser: which tools a model gets (from its guidance_spec),
painted layers -> trimap / mask, the click tool's undo, page messages, size checks,
and Gradio staying optional."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from mattebox.apis import InputError
from mattebox.guidance import GuidanceSpec
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location('mattebox_tools_app',
                                               os.path.join(ROOT, 'tools', 'app.py'))
app = importlib.util.module_from_spec(_spec)  # tools/app.py imports gradio only to serve
_spec.loader.exec_module(app)

DIM_SPEC = GuidanceSpec(required=('trimap', ))
CLICK_SPEC = GuidanceSpec(one_of=('points', 'boxes', 'mask'), optional=('transparent', ))


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, 'PYTHONPATH': ROOT})


def test_import_mattebox_never_imports_gradio():
    proc = run_python('import sys, mattebox, mattebox.apis, mattebox.models; '
                      'print(sorted(m for m in sys.modules if m.split(".")[0] == "gradio"))')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'


def test_without_gradio_the_page_says_how_to_install_it():
    proc = run_python("import runpy, sys; sys.modules['gradio'] = None; "
                      "sys.argv = ['tools/app.py', 'a.py', 'a.pth']; "
                      "runpy.run_path('tools/app.py', run_name='__main__')")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ('error: tools/app.py needs Gradio (the optional [app] '
                                   'extra): pip install -e ".[app]" (or pip install '
                                   "'gradio>=6,<7')")


def test_command_line_problems_are_named(tmp_path):
    with pytest.raises(SystemExit):
        app.parse_args(['a.py', 'a.pth', 'b.py'])
    args = app.parse_args(['a.py', 'a.pth', 'b.py', 'b.pth', '--max-side', '2000'])
    assert args.models == ['a.py', 'a.pth', 'b.py', 'b.pth'] and args.host == '127.0.0.1'
    assert args.max_side == 2000 and args.max_upload_mb == app.DEFAULT_MAX_UPLOAD_MB
    proc = subprocess.run([sys.executable, 'tools/app.py', str(tmp_path / 'nope.py'),
                           str(tmp_path / 'nope.pth')], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f'error: config file not found: {tmp_path / "nope.py"}'


def test_tools_follow_the_declaration():
    dim = app.visible_tools(DIM_SPEC)
    assert dim == {'trimap_upload': True, 'trimap_paint': True, 'mask_paint': True,
                   'clicks': False, 'click_modes': [], 'band': True, 'text': False,
                   'transparent': False}
    clicks = app.visible_tools(CLICK_SPEC, point_labels=(1, ))
    assert clicks == {'trimap_upload': False, 'trimap_paint': False, 'mask_paint': True,
                      'clicks': True, 'click_modes': ['fg', 'box'], 'band': False,
                      'text': False, 'transparent': True}
    both = app.visible_tools(GuidanceSpec(one_of=('points', )), point_labels=(1, 0))
    assert both['click_modes'] == ['fg', 'bg'] and not both['mask_paint']
    assert app.visible_tools(CLICK_SPEC, point_labels=(1, ))['click_modes'] == ['fg', 'box']
    text = app.visible_tools(GuidanceSpec(required=('text', )))
    assert app.first_tab(text) is None and text['text']


def test_sdmatte_gets_its_tools_from_its_declaration():
    """The real SDMatte family: mask painting, foreground clicks and a box (no background
    clicks: its point_labels is (1,)), the transparent flag; no trimap tools."""
    from mattebox.models.sdmatte.sdmatte import SDMatte
    tools = app.visible_tools(SDMatte.guidance_spec, SDMatte.point_labels)
    assert tools['click_modes'] == ['fg', 'box'] and tools['mask_paint']
    assert tools['transparent'] and not tools['trimap_upload'] and not tools['band']


def test_describe_model():
    class Fake:
        def __init__(self, spec, name):
            self.guidance_spec, self.model_name = spec, name

    assert app.describe_model(app.LoadedModel('x', Fake(DIM_SPEC, 'DIM'))) == \
        '**DIM** takes a trimap (or a mask, made into a trimap band).'
    assert app.describe_model(app.LoadedModel('x', Fake(CLICK_SPEC, 'SDMatte'))) == \
        '**SDMatte** takes one of points, a box, a mask; optionally the transparent flag.'


def layer(shape, paint):
    """An RGBA layer (as the ImageEditor gives it) with ``paint = [(rows, cols, rgb)]``
    at 60 % opacity."""
    out = np.zeros((*shape, 4), np.uint8)
    for rows, cols, rgb in paint:
        out[rows, cols, :3] = rgb
        out[rows, cols, 3] = 153
    return out


def test_painted_trimap_and_mask():
    shape = (6, 8)
    value = {'background': None, 'composite': None, 'layers': [layer(shape, [
        (slice(0, 2), slice(0, 8), (0, 255, 0)),     # foreground
        (slice(2, 4), slice(0, 4), (0, 0, 255)),     # unknown
        (slice(2, 4), slice(4, 8), (255, 0, 0)),     # background (over nothing)
    ])]}
    trimap = app.trimap_from_paint(value, shape)
    expected = np.zeros(shape, np.uint8)
    expected[0:2] = 255
    expected[2:4, 0:4] = 128
    assert np.array_equal(trimap, expected)
    # a later layer paints over an earlier one; a layer of another size is scaled
    value['layers'].append(layer((12, 16), [(slice(0, 2), slice(0, 2), (255, 0, 0))]))
    assert app.trimap_from_paint(value, shape)[0, 0] == 0
    mask = app.mask_from_paint({'layers': [layer(shape, [(1, 2, (0, 255, 0))])]}, shape)
    assert mask.sum() == 255 and mask[1, 2] == 255
    assert app.trimap_from_paint({'layers': [np.zeros((*shape, 4), np.uint8)]}, shape) is None
    assert app.mask_from_paint(None, shape) is None


def test_click_tool_undo_and_description():
    value = app.empty_clicks()
    value['points'] = [[3, 4, 1], [5, 6, 0]]
    value['box'] = [1, 2, 7, 8]
    value['log'] = [['p'], ['b', None], ['p'], ['b', [1, 2, 7, 8]]]
    value['box'] = [0, 0, 5, 5]
    assert app.describe_clicks(value) == ('1 foreground click, 1 background click, '
                                          'box (0, 0) to (5, 5)')
    value = app.undo_click(value)          # the second box goes, the first comes back
    assert value['box'] == [1, 2, 7, 8] and len(value['points']) == 2
    value = app.undo_click(value)          # then the background click
    assert value['points'] == [[3, 4, 1]]
    value = app.undo_click(app.undo_click(value))
    assert value == app.empty_clicks()
    assert app.undo_click(value) == app.empty_clicks()
    assert app.describe_clicks(None) == '0 foreground clicks, no box'


def test_messages_when_guidance_is_missing():
    assert app.missing_on_page(DIM_SPEC, [], 'DIM') == (
        'No guidance given: DIM needs a trimap: upload one ("Upload trimap"), paint one '
        '("Paint trimap") or paint a mask ("Paint mask"), which becomes a trimap with an '
        'unknown band. Then press Run.')
    assert app.missing_on_page(DIM_SPEC, ['mask'], 'DIM') is None
    assert app.missing_on_page(CLICK_SPEC, ['transparent'], 'SDMatte') == (
        'No guidance given: SDMatte needs one of: points: click on the subject ("Click / '
        'box"); or a box: drag it around the subject ("Click / box"); or a mask: paint it '
        '("Paint mask"). Then press Run.')
    assert app.missing_on_page(CLICK_SPEC, ['boxes'], 'SDMatte') is None


def test_image_files_are_checked_from_their_header(tmp_path):
    import cv2
    small = str(tmp_path / 'small.png')
    cv2.imwrite(small, np.zeros((30, 50, 3), np.uint8))
    assert app.check_image_file(small, 50) == (50, 30)
    with pytest.raises(InputError, match=r'^photo: 50 x 30 pixels is too large; this page '
                       r'takes images up to 40 pixels on the longer side \(tools/app.py '
                       r'--max-side\)$'):
        app.check_image_file(small, 40, 'photo')
    text = tmp_path / 'notes.png'
    text.write_text('not an image')
    with pytest.raises(InputError, match='^trimap: not an image this page can read'):
        app.check_image_file(str(text), 100, 'trimap')
    from tests.tools.test_app_browser import png_header_only
    bomb = tmp_path / 'bomb.png'
    bomb.write_bytes(png_header_only(50000, 50000))
    with pytest.raises(InputError, match=r'^photo: more than \d+ pixels, too large'):
        app.check_image_file(str(bomb), 4096, 'photo')
    assert app.upload_path({'path': small, 'orig_name': 'x.png'}) == small
    assert app.upload_path(None) is None


def test_colours_and_checkerboard():
    assert app.parse_colour('#00b140') == (0, 177, 64)
    assert app.parse_colour('#fff') == (255, 255, 255)
    assert app.parse_colour('rgba(10, 20.4, 30, 1)') == (10, 20, 30)
    with pytest.raises(InputError, match="background colour: expected #rrggbb or "
                       r"rgb\(r, g, b\), got 'green'"):
        app.parse_colour('green')
    board = app.checkerboard((20, 30), cell=8)
    assert board.shape == (20, 30, 3)
    assert board[0, 0, 0] == np.float32(0.94) and board[0, 8, 0] == np.float32(0.75)
    assert board[8, 8, 0] == np.float32(0.94)
    url = app.data_url(np.zeros((2000, 1000, 3), np.uint8), longest=100)
    assert url.startswith('data:image/jpeg;base64,')
    import base64

    import cv2
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(',')[1]), np.uint8),
                           cv2.IMREAD_COLOR)
    assert decoded.shape == (100, 50, 3)
