"""mattebox.datasets.validation: file checks, start-up validation of the datasets, and
errors that name the files during training."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mattebox.datasets import AdobeComp1kDataset, DatasetValidationError, validate_samples
from mattebox.datasets.validation import inspect_file, read_image_header


def _write(path, img, ext_params=()):
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(str(path), img, list(ext_params))
    return str(path)


def _sample_files(root, i, size=(12, 16), **overrides):
    h, w = size
    entry = {}
    for key, shape in (('alpha', (h, w)), ('fg', (h, w, 3)), ('bg', (h, w, 3)),
                       ('merged', (h, w, 3)), ('trimap', (h, w))):
        img = overrides.get(key)
        if img is None:
            img = np.full(shape, 128 if key == 'trimap' else 7 * i, np.uint8)
        entry[f'{key}_path'] = _write(osp.join(root, key, f'{i}.png'), img)
    return entry


class TestHeaders:

    @pytest.mark.parametrize('ext,params', [
        ('.png', ()), ('.jpg', ()), ('.jpg', (cv2.IMWRITE_JPEG_PROGRESSIVE, 1))])
    def test_sizes_and_channels_from_header(self, tmp_path, ext, params):
        color = _write(tmp_path / f'c{ext}', np.zeros((13, 21, 3), np.uint8), params)
        gray = _write(tmp_path / f'g{ext}', np.zeros((13, 21), np.uint8), params)
        assert read_image_header(color) == (13, 21, 3)
        assert read_image_header(gray) == (13, 21, 1)

    def test_jpeg_with_exif_segment_before_the_frame(self, tmp_path):
        ok, buf = cv2.imencode('.jpg', np.zeros((9, 11, 3), np.uint8))
        data = buf.tobytes()
        app1 = b'\xff\xe1' + (2 + 3000).to_bytes(2, 'big') + b'E' * 3000
        path = tmp_path / 'exif.jpg'
        path.write_bytes(data[:2] + app1 + data[2:])
        assert read_image_header(str(path)) == (9, 11, 3)

    def test_other_formats_have_no_header_reading(self, tmp_path):
        bmp = _write(tmp_path / 'x.bmp', np.zeros((5, 6, 3), np.uint8))
        assert read_image_header(bmp) is None
        info = inspect_file(bmp, 'image', level='header')  # falls back to decoding
        assert info.shape == (5, 6) and not info.errors


class TestInspectFile:

    @pytest.mark.parametrize('level', ['header', 'decode'])
    def test_truncated_png_and_jpeg(self, tmp_path, level):
        for ext in ('.png', '.jpg'):
            path = _write(tmp_path / f'a{ext}', np.random.default_rng(0).integers(
                0, 255, (40, 40, 3), np.uint8))
            data = open(path, 'rb').read()
            open(path, 'wb').write(data[:len(data) - 30])
            info = inspect_file(path, 'image', level)
            assert info.errors and info.errors[0].startswith('truncated ' + ext[1:].upper()
                                                             .replace('JPG', 'JPEG'))

    def test_missing_empty_and_garbage(self, tmp_path):
        assert inspect_file(str(tmp_path / 'no.png')).errors == ['file not found']
        (tmp_path / 'empty.png').write_bytes(b'')
        assert inspect_file(str(tmp_path / 'empty.png')).errors == ['empty file']
        (tmp_path / 'junk.png').write_bytes(b'not an image at all')
        assert inspect_file(str(tmp_path / 'junk.png')).errors == [
            'cannot decode (truncated or not an image)']

    def test_alpha_channels(self, tmp_path):
        a = np.arange(48, dtype=np.uint8).reshape(6, 8)
        equal = _write(tmp_path / 'eq.png', cv2.merge([a, a, a]))
        info = inspect_file(equal, 'alpha')
        assert not info.errors and 'convertible' in info.warnings[0]
        differ = _write(tmp_path / 'df.png', cv2.merge([a, a, a + 1]))
        assert 'colour channels differ' in inspect_file(differ, 'alpha').errors[0]
        assert inspect_file(_write(tmp_path / 'g.png', a), 'alpha').warnings == []
        # header level: a colour alpha is decoded to tell the two apart
        assert 'convertible' in inspect_file(equal, 'alpha', 'header').warnings[0]
        assert 'colour channels differ' in inspect_file(differ, 'alpha', 'header').errors[0]
        # a colour image is fine
        assert inspect_file(differ, 'image', 'header').warnings == []

    @pytest.mark.parametrize('level', ['header', 'decode'])
    def test_sixteen_bit_alpha(self, tmp_path, level):
        full = _write(tmp_path / 'a16.png', np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
        info = inspect_file(full, 'alpha', level)
        assert (info.errors, info.warnings, info.shape) == ([], [], (4, 4))
        low = _write(tmp_path / 'low16.png', np.arange(16, dtype=np.uint16).reshape(4, 4) * 10)
        info = inspect_file(low, 'alpha', level)
        assert info.errors == [] and info.warnings == [
            '16-bit alpha holding only values 0..150: it is read on the 16-bit scale '
            '(v / 65535), i.e. nearly black; if these are 8-bit values, save the file as '
            '8-bit']

    def test_sixteen_bit_trimap_values(self, tmp_path):
        good = _write(tmp_path / 't16.png', np.array([[0, 32896, 65535]], np.uint16))
        assert inspect_file(good, 'trimap').errors == []
        bad = _write(tmp_path / 'b16.png', np.array([[0, 30000, 65535]], np.uint16))
        assert 'values other than 0/128/255' in inspect_file(bad, 'trimap').errors[0]


class TestValidateSamples:

    def test_clean(self, tmp_path):
        samples = [_sample_files(str(tmp_path), i) for i in range(3)]
        assert validate_samples(samples, nproc=2) == []
        assert validate_samples(samples, level='header') == []

    def test_all_problems_at_once_errors_first(self, tmp_path):
        root = str(tmp_path)
        samples = [_sample_files(root, i) for i in range(5)]
        os.remove(samples[0]['fg_path'])
        samples[1] = _sample_files(root, 1, trimap=np.array([[0, 1], [128, 255]], np.uint8),
                                   size=(2, 2))
        a = np.zeros((12, 16), np.uint8)
        samples[2] = _sample_files(root, 2, alpha=cv2.merge([a, a, a]))
        samples[3] = _sample_files(root, 3, bg=np.zeros((12, 15, 3), np.uint8))
        del samples[4]['merged_path']  # online sample: bg may have any size
        samples[4]['bg_path'] = _write(osp.join(root, 'bg', 'big.png'),
                                       np.zeros((30, 30, 3), np.uint8))
        problems = validate_samples(samples, nproc=3)
        text = [str(p) for p in problems]
        assert text == [
            f'ERROR: {samples[0]["fg_path"]}: file not found (sample 0)',
            f'ERROR: {samples[1]["trimap_path"]}: trimap holds values other than '
            '0/128/255: 1 (1 pixels) (sample 1)',
            f'ERROR: {samples[3]["alpha_path"]}: size mismatch: alpha is 12x16 (H x W) but '
            f'bg 12x15 ({samples[3]["bg_path"]}) (sample 3)',
            f'WARNING: {samples[2]["alpha_path"]}: 3-channel alpha; its colour channels '
            'are equal, so it loads as grayscale unchanged (convertible; save it '
            'single-channel to silence this) (sample 2)',
        ]

    def test_each_file_inspected_once_and_samples_grouped(self, tmp_path):
        fg = _write(tmp_path / 'fg.png', np.zeros((10, 10, 3), np.uint8))
        alpha = _write(tmp_path / 'alpha.png', np.zeros((10, 11), np.uint8))
        samples = [dict(fg_path=fg, alpha_path=alpha, sample_idx=i) for i in range(100)]
        problems = validate_samples(samples)
        assert len(problems) == 1
        assert problems[0].samples == list(range(100))
        assert str(problems[0]).endswith('(sample 0, 1, 2, 3, 4 and 95 more)')

    def test_progress_lines(self, tmp_path):
        samples = [_sample_files(str(tmp_path), i) for i in range(4)]
        lines = []
        validate_samples(samples, progress=lines.append, progress_desc='chk')
        assert lines[-1].startswith('chk: 20/20 files (100%')

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match='level must be one of'):
            validate_samples([], level='full')


def _comp1k(tmp_path, n=3, **kwargs):
    samples = [_sample_files(str(tmp_path), i) for i in range(n)]
    rel = [{k: osp.relpath(v, tmp_path) for k, v in s.items()} for s in samples]
    (tmp_path / 'ann.json').write_text(json.dumps(rel))
    return samples, lambda **kw: AdobeComp1kDataset(
        ann_file='ann.json', data_root=str(tmp_path), **{**kwargs, **kw})


class TestDatasetOption:

    def test_validate_at_start_up_lists_every_problem(self, tmp_path):
        samples, build = _comp1k(tmp_path)
        build(validate=True)  # clean: builds
        os.remove(samples[0]['alpha_path'])
        open(samples[2]['merged_path'], 'wb').write(b'\x89PNG\r\n\x1a\n' + b'0' * 40)
        assert len(build(validate=False)) == 3
        for level in ({}, {'validate': True}, {'validate': 'header'},
                      {'validate': 'decode'}):  # 'header' by default
            with pytest.raises(DatasetValidationError) as e:
                build(**level)
            msg = str(e.value)
            assert 'AdobeComp1kDataset' in msg and '2 problem(s)' in msg
            assert samples[0]['alpha_path'] in msg and samples[2]['merged_path'] in msg

    def test_lazy_init_validates_on_full_init(self, tmp_path):
        samples, build = _comp1k(tmp_path)
        os.remove(samples[1]['fg_path'])
        ds = build(validate='header', lazy_init=True)
        with pytest.raises(DatasetValidationError, match='file not found'):
            ds.full_init()

    def test_bad_option(self, tmp_path):
        _, build = _comp1k(tmp_path)
        with pytest.raises(ValueError, match="validate must be False, True, 'header'"):
            build(validate='yes')

    def test_error_in_the_pipeline_names_the_sample_files(self, tmp_path):
        """A failure that is not about a file (here a size mismatch found by a transform,
        or anything else) still carries the sample's files."""
        samples, build = _comp1k(tmp_path)
        cv2.imwrite(samples[1]['fg_path'], np.zeros((5, 5, 3), np.uint8))
        ds = build(validate=False, pipeline=[
            dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
            dict(type='LoadImageFromFile', key='fg'),
            dict(type='Flip', keys=['alpha', 'fg'], flip_ratio=1.0),
            dict(type='CropAroundUnknown', keys=['alpha', 'fg'], crop_sizes=[4])])
        ds[0]
        with pytest.raises(ValueError) as e:
            ds[1]
        notes = '\n'.join(getattr(e.value, '__notes__', []))
        assert 'while loading sample 1 of AdobeComp1kDataset' in notes
        assert f'fg_path={samples[1]["fg_path"]}' in notes
