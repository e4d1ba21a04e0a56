"""tools/app.py in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
upload + trimap gives the inferencer's alpha, a painted mask with the band slider, no
guidance gives a readable message, oversized uploads are refused, the click / box /
text / transparent tools appear from the model's declaration and reach the model, and
nothing is fetched from outside this machine.

One server (tiny DIM + the test-only ``_ClickRecorder``) serves the module; every test
opens a fresh page. Skipped only when Chromium itself is absent (``.ci/run`` installs it).
"""
import json
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT

CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu',
                  '--disable-background-networking', '--disable-component-update',
                  '--disable-sync', '--no-first-run']
MAX_UPLOAD_MB = 1
MAX_SIDE = 600
TIMEOUT_MS = 60_000


def chromium_path():
    for candidate in (os.environ.get('MATTEBOX_CHROMIUM'), shutil.which('chromium'),
                      '/usr/bin/chromium'):
        if candidate and osp.isfile(candidate):
            return candidate
    return None


pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, proc, url, root, tmpdir, record, connections, log):
        self.proc, self.url, self.root, self.tmpdir = proc, url, root, tmpdir
        self.record, self.connections, self.log = record, connections, log


@pytest.fixture(scope='module')
def app(dim_files, tmp_path_factory):
    """tools/app.py with the tiny DIM and the click recorder, on a free local port."""
    from tests.tools._click_mattor import write_files
    folder = tmp_path_factory.mktemp('app')
    click_config, click_ckpt = write_files(str(folder))
    tmpdir = folder / 'tmp'  # the server's TMPDIR: must be empty again after it stops
    tmpdir.mkdir()
    record, connections, log = folder / 'record.json', folder / 'connections.txt', \
        folder / 'server.log'
    port = free_port()
    env = {**os.environ, 'PYTHONPATH': ROOT, 'TMPDIR': str(tmpdir),
           'MATTEBOX_TEST_RECORD': str(record), 'MATTEBOX_TEST_CONNECTIONS': str(connections),
           'OMP_NUM_THREADS': '1'}
    config, checkpoint = dim_files
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, osp.join('tests', 'tools', '_app_server.py'), config, checkpoint,
             click_config, click_ckpt, '--port', str(port), '--device', 'cpu',
             '--max-upload-mb', str(MAX_UPLOAD_MB), '--max-side', str(MAX_SIDE)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    root = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log.read_text()
        for line in text.splitlines():
            if line.startswith('uploads and results: '):
                root = line.split(': ', 1)[1].split(' (')[0]
        if 'Running on local URL' in text:
            break
        if proc.poll() is not None:
            pytest.fail(f'tools/app.py exited ({proc.returncode}):\n{text[-3000:]}')
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f'tools/app.py did not start in 120 s:\n{log.read_text()[-3000:]}')
    server = AppServer(proc, f'http://127.0.0.1:{port}/', root, tmpdir, record, connections,
                       log)
    yield server
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    # stopped cleanly, its temporary folder is gone and nothing else was left behind
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert root is not None and root.startswith(str(tmpdir)), log.read_text()[-2000:]
    assert not osp.exists(root)
    assert os.listdir(tmpdir) == []
    # the server opened no connection to anything but this machine
    addresses = connections.read_text().splitlines() if connections.exists() else []
    foreign = [a for a in addresses if not a.startswith(("('127.", "('::1'", "('localhost'"))]
    assert foreign == []


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(app, browser):
    """A fresh page on the app; afterwards, every request it made went to the app."""
    context = browser.new_context(viewport={'width': 1280, 'height': 1000},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests = []
    page.on('request', lambda r: requests.append(r.url))
    page.goto(app.url)
    page.wait_for_selector('#mb-run')
    yield page
    context.close()
    hosts = {urlparse(u).netloc for u in requests if not u.startswith(('data:', 'blob:'))}
    assert hosts == {urlparse(app.url).netloc}, hosts


# ----------------------------------------------------------------------------- helpers
def first_sample(root: str) -> dict:
    with open(osp.join(root, 'test_list.json')) as f:
        entry = json.load(f)['data_list'][0]
    return {k: osp.join(root, v) for k, v in entry.items() if k.endswith('_path')}


def status_of(page) -> str:
    return page.inner_text('#mb-status')


def wait_status(page, *words: str) -> str:
    """The status once it holds one of ``words`` and Gradio's progress overlay
    ("processing | 0.5/0.8s"), which can linger a moment after the new text, is gone."""
    page.wait_for_function(
        'words => { const t = document.querySelector("#mb-status").innerText; '
        'return words.some(w => t.includes(w)) && !t.includes("processing |"); }',
        arg=list(words))
    return status_of(page)


def upload_photo(page, path: str) -> None:
    page.set_input_files('#mb-image input[type=file]', path)
    wait_status(page, 'Photo:')


def run_and_wait(page) -> str:
    page.click('#mb-run')
    text = wait_status(page, 'Done:', '⚠')
    if 'Done:' in text:
        page.wait_for_selector('#mb-download-alpha', state='visible')
        page.wait_for_selector('#mb-alpha img')
    return text


def download(page, button: str, folder) -> np.ndarray:
    with page.expect_download() as info:
        page.click(button)
    path = osp.join(str(folder), info.value.suggested_filename)
    info.value.save_as(path)
    return cv2.imread(path, cv2.IMREAD_UNCHANGED)


def shown_image(page, selector: str) -> np.ndarray:
    """The image an <img> on the page shows, fetched from its src."""
    src = page.get_attribute(f'{selector} img', 'src')
    body = page.request.get(src).body()
    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)


def wait_for_image(page, selector: str, ok, timeout_s: float = 30) -> np.ndarray:
    """The image shown at ``selector`` once ``ok(image)`` holds (polled: the page gives
    no event for a server-side image update)."""
    deadline = time.monotonic() + timeout_s
    while True:
        image = shown_image(page, selector) if page.locator(f'{selector} img').count() else None
        if image is not None and ok(image):
            return image
        if time.monotonic() > deadline:
            raise AssertionError(f'{selector}: the expected image did not appear in '
                                 f'{timeout_s} s')
        page.wait_for_timeout(100)


def tool(page, label: str):
    """The choice of a guidance tool (the "Guidance" radio)."""
    return page.locator('#mb-source').get_by_label(label, exact=True)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG file that declares ``width x height`` pixels and holds almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack(
            '>I', zlib.crc32(kind + data) & 0xffffffff)
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(
        b'IDAT', zlib.compress(b'\0' * 1000)) + chunk(b'IEND', b'')


def open_tab(page, label: str) -> None:
    tool(page, label).check()


# ------------------------------------------------------------------------------- tests
def test_trimap_upload_gives_the_inferencers_alpha(app, page, dim_files, synthetic_root,
                                                   tmp_path):
    from mattebox.apis import MattingInferencer
    sample = first_sample(synthetic_root)
    upload_photo(page, sample['merged_path'])
    assert 'Photo: 64 x 64 pixels' in status_of(page)
    # the upload lives in the app's temporary folder
    uploads = [f for _, _, files in os.walk(app.root) for f in files]
    assert osp.basename(sample['merged_path']) in uploads
    page.set_input_files('#mb-trimap-file input[type=file]', sample['trimap_path'])
    page.wait_for_selector('#mb-trimap-file img')
    assert 'Done: DIM on 64 x 64 pixels' in run_and_wait(page)

    config, checkpoint = dim_files
    expected = MattingInferencer(config, checkpoint, device='cpu')(
        sample['merged_path'], trimap=sample['trimap_path'])
    alpha = download(page, '#mb-download-alpha', tmp_path)
    assert alpha.dtype == np.uint8 and alpha.shape == (64, 64)
    assert np.array_equal(alpha, expected.alpha_uint8)
    assert np.array_equal(shown_image(page, '#mb-alpha'), expected.alpha_uint8)
    cutout = download(page, '#mb-download-cutout', tmp_path)  # BGRA
    assert cutout.shape == (64, 64, 4)
    assert np.array_equal(cutout[..., 3], expected.alpha_uint8)
    assert np.array_equal(cutout[..., 2::-1], expected.foreground)
    # the composite follows the colour picker without running the model again
    composite = shown_image(page, '#mb-composite')
    trimap = cv2.imread(sample['trimap_path'], cv2.IMREAD_GRAYSCALE)
    assert (composite[trimap == 0] == [64, 177, 0]).all()  # BGR of the default #00b140


def test_painted_mask_with_the_band_slider(page, dim_files, synthetic_root, tmp_path):
    from mattebox.apis import MattingInferencer
    sample = first_sample(synthetic_root)
    upload_photo(page, sample['merged_path'])
    open_tab(page, 'Paint mask')
    editor = '#mb-mask-painter'
    page.click(f'{editor} button[aria-label="Brush"]')
    canvas = page.locator(f'{editor} canvas').first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cx, cy = box['x'] + box['width'] / 2, box['y'] + box['height'] / 2
    page.mouse.move(cx - 30, cy)
    page.mouse.down()
    page.mouse.move(cx + 30, cy, steps=8)
    page.mouse.up()
    page.wait_for_selector('#mb-mask-made img')

    band = page.locator('#mb-band input[type=number]')
    assert band.input_value() == '10'  # the default band
    first = wait_for_image(page, '#mb-mask-made', lambda t: set(np.unique(t)) == {0, 128, 255})
    unknown = {10: int((first == 128).sum())}
    for width in (3, 8):
        band.fill(str(width))
        band.press('Enter')
        # the preview ("What the model gets") follows the slider: wait until it shows
        # a trimap whose band differs from the previous width's
        trimap = wait_for_image(page, '#mb-mask-made', lambda t: set(np.unique(t)) == {
            0, 128, 255} and int((t == 128).sum()) not in unknown.values())
        unknown[width] = int((trimap == 128).sum())
    assert unknown[10] > unknown[8] > unknown[3] > 0, unknown
    text = run_and_wait(page)
    assert 'Trimap made from the mask (unknown band 8 px on each side).' in text, text
    config, checkpoint = dim_files
    expected = MattingInferencer(config, checkpoint, device='cpu')(
        sample['merged_path'], trimap=trimap)
    assert np.array_equal(download(page, '#mb-download-alpha', tmp_path),
                          expected.alpha_uint8)


def test_no_guidance_shows_what_to_give(page, synthetic_root):
    upload_photo(page, first_sample(synthetic_root)['merged_path'])
    text = run_and_wait(page)
    assert text.startswith('⚠ No guidance given: DIM needs a trimap: upload one ("Upload '
                           'trimap"), paint one ("Paint trimap") or paint a mask'), text
    assert 'Traceback' not in page.content()
    assert not page.locator('#mb-download-alpha').is_visible()


def test_oversized_uploads_are_refused(page, synthetic_root, tmp_path):
    rng = np.random.default_rng(0)
    heavy = str(tmp_path / 'heavy.png')   # ~1.2 MB of noise, over the 1 MB limit
    cv2.imwrite(heavy, rng.integers(0, 256, (400, 1000, 3), dtype=np.uint8))
    assert osp.getsize(heavy) > MAX_UPLOAD_MB * 1024 * 1024
    page.set_input_files('#mb-image input[type=file]', heavy)
    toast = page.locator('.toast-body').first
    toast.wait_for()
    assert 'File(s) exceed the maximum allowed size of 1.0 Mb: "heavy.png"' in \
        toast.inner_text()
    assert not page.locator('#mb-image img').count()
    wide = str(tmp_path / 'wide.png')     # a small file, but wider than --max-side
    cv2.imwrite(wide, np.zeros((40, MAX_SIDE + 100, 3), np.uint8))
    page.set_input_files('#mb-image input[type=file]', wide)
    text = wait_status(page, 'refused')
    assert (f'Photo refused: photo: {MAX_SIDE + 100} x 40 pixels is too large; this page '
            f'takes images up to {MAX_SIDE} pixels on the longer side') in text, text
    page.wait_for_selector('#mb-image img', state='detached')  # the photo is taken away
    # a decompression bomb (a 100-byte file that declares 40000 x 40000 pixels) is refused from its
    # header, and the server goes on serving
    bomb = str(tmp_path / 'bomb.png')
    with open(bomb, 'wb') as f:
        f.write(png_header_only(40000, 40000))
    page.set_input_files('#mb-image input[type=file]', bomb)
    wait_status(page, 'more than')
    assert 'Photo refused: photo: more than 178956970 pixels, too large' in status_of(page)
    upload_photo(page, first_sample(synthetic_root)['merged_path'])
    assert 'Photo: 64 x 64 pixels' in status_of(page)


def test_click_box_text_and_transparent_reach_a_model_that_takes_them(app, page,
                                                                      synthetic_root,
                                                                      tmp_path):
    # DIM: trimap tools only
    assert tool(page, 'Upload trimap').is_visible()
    assert tool(page, 'Click / box').count() == 0
    assert not page.locator('#mb-text').is_visible()
    assert not page.locator('#mb-transparent').is_visible()
    # the recorder declares points (fg and bg), boxes, mask, text, transparent
    page.locator('#mb-model input').click()
    page.get_by_role('option', name='_ClickRecorder', exact=False).click()
    wait_status(page, 'Model changed')
    tool(page, 'Click / box').wait_for()
    assert tool(page, 'Paint mask').is_visible()
    assert tool(page, 'Upload trimap').count() == 0
    page.locator('#mb-text').wait_for(state='visible')
    page.locator('#mb-transparent').wait_for(state='visible')
    assert not page.locator('#mb-band').is_visible()  # the mask is used as is

    upload_photo(page, first_sample(synthetic_root)['merged_path'])
    open_tab(page, 'Click / box')
    img = page.locator('#mb-clicks .mb-stage img')
    img.wait_for()

    def at(x, y):  # viewport position of image pixel (x, y)'s centre, 64 x 64 image
        img.scroll_into_view_if_needed()
        b = img.bounding_box()
        return b['x'] + (x + 0.5) * b['width'] / 64, b['y'] + (y + 0.5) * b['height'] / 64

    def clicks_info(text):
        page.wait_for_function('t => document.querySelector("#mb-clicks-info").innerText'
                               '.includes(t)', arg=text)

    page.mouse.click(*at(20, 30))
    clicks_info('1 foreground click,')
    page.mouse.click(*at(40, 10))
    clicks_info('2 foreground clicks')
    page.get_by_label('background click').check()
    page.mouse.click(*at(5, 60))
    clicks_info('1 background click')
    page.get_by_label('drag a box').check()
    page.mouse.move(*at(10, 12))
    page.mouse.down()
    page.mouse.move(*at(50, 48), steps=6)
    page.mouse.up()
    clicks_info('box (')
    page.click('#mb-undo')  # takes the box back
    clicks_info('no box')
    page.mouse.move(*at(10, 12))
    page.mouse.down()
    page.mouse.move(*at(50, 48), steps=6)
    page.mouse.up()
    clicks_info('box (')
    page.locator('#mb-text textarea').fill('the blob in the middle')
    page.locator('#mb-transparent input').check()
    assert 'Done: _ClickRecorder' in run_and_wait(page)

    got = json.loads(app.record.read_text())
    assert got['points'] == [[20, 30, 1], [40, 10, 1], [5, 60, 0]]
    x0, y0, x1, y1 = got['boxes'][0]
    # pressed at the centre of pixel (10, 12), released at that of (50, 48): edges round
    assert (x0, y0) in {(10, 12), (11, 13)} and (x1, y1) in {(50, 48), (51, 49)}, got
    assert got['text'] == 'the blob in the middle' and got['transparent'] is True
    alpha = download(page, '#mb-download-alpha', tmp_path)
    inside = alpha[int(y0):int(y1), int(x0):int(x1)]
    assert (inside == 128).all()          # 0.5: the box, halved by the transparent flag
    assert alpha[60, 5] == 0 and alpha[30, 20] == 128


def test_a_long_run_shows_its_progress(page, synthetic_root):
    page.locator('#mb-model input').click()
    page.get_by_role('option', name='_ClickRecorder', exact=False).click()
    wait_status(page, 'Model changed')
    upload_photo(page, first_sample(synthetic_root)['merged_path'])
    open_tab(page, 'Click / box')
    img = page.locator('#mb-clicks .mb-stage img')
    img.scroll_into_view_if_needed()
    b = img.bounding_box()
    page.mouse.click(b['x'] + b['width'] / 2, b['y'] + b['height'] / 2)
    page.wait_for_function('() => document.querySelector("#mb-clicks-info").innerText'
                           '.includes("1 foreground click")')
    page.locator('#mb-text textarea').fill('slow')   # the recorder then takes 3 s
    page.click('#mb-run')
    bar = page.locator('#mb-alpha [role=progressbar]')
    bar.wait_for()
    assert bar.get_attribute('aria-valuetext').startswith('running _ClickRecorder')
    assert 'Done: _ClickRecorder' in wait_status(page, 'Done:')
    bar.wait_for(state='detached')
