"""Data faults are found before training and named: paths stay inside data_root, alpha
mattes are single-channel, 16-bit mattes keep their scale and precision, and a sample
that breaks mid-training is an error naming its files, or with skip_broken_samples,
skipped, counted and listed."""
import glob
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.hooks import Hook

from mattebox.datasets import AdobeComp1kDataset
from mattebox.datasets.transforms import read_image
from mattebox.datasets.validation import DatasetValidationError, validate_samples
from mattebox.engine.errors import DataFileError, MissingDataFileError
from mattebox.evaluation import functional as F
from mattebox.registry import HOOKS

PIPELINE = [dict(type='LoadImageFromFile', key='alpha', color_type='grayscale',
                 save_original_img=True),
            dict(type='LoadImageFromFile', key='merged'),
            dict(type='PackMattingInputs')]


@pytest.fixture
def data(synthetic_root, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(synthetic_root, root)
    return root


def _edit(root, split_file, index, **paths):
    path = root / split_file
    ann = json.loads(path.read_text())
    ann['data_list'][index].update(paths)
    path.write_text(json.dumps(ann))


def test_paths_outside_data_root_are_refused(data, tmp_path):
    outside = tmp_path / 'outside.png'
    shutil.copy(data / 'test/alpha/0000.png', outside)
    _edit(data, 'test_list.json', 0, alpha_path='../outside.png')
    _edit(data, 'test_list.json', 2, trimap_path=str(outside))
    with pytest.raises(DatasetValidationError) as info:
        AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True)
    assert str(info.value) == (
        f'AdobeComp1kDataset ({data}/test_list.json): 2 path(s) lead outside data_root '
        f"{data} (an absolute path or '..'):\n"
        f'  sample 0: alpha_path {data}/../outside.png\n'
        f'  sample 2: trimap_path {outside}\n'
        'Move the files under data_root, or set allow_outside_root=True in the dataset '
        'config if that is intended.')
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True,
                            allow_outside_root=True)
    assert osp.realpath(ds.get_data_info(0)['alpha_path']) == str(outside)
    # an absolute path inside data_root is fine
    _edit(data, 'test_list.json', 0, alpha_path=str(data / 'test/alpha/0000.png'))
    _edit(data, 'test_list.json', 2, trimap_path='test/trimap/0002.png')
    assert len(AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data))) == 4


def test_colour_alpha_is_refused_at_start_up_and_at_load(data):
    alpha = cv2.imread(str(data / 'test/alpha/0001.png'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / 'test/alpha/0001.png'), cv2.merge([alpha, alpha, alpha // 2]))
    with pytest.raises(DatasetValidationError) as info:  # the default 'header' check
        AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True)
    assert (f'ERROR: {data}/test/alpha/0001.png: 3-channel alpha whose colour channels '
            'differ; the alpha must be single-channel') in str(info.value)
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True,
                            validate=False, pipeline=PIPELINE)
    with pytest.raises(DataFileError) as info:  # the loader refuses it too
        ds[1]
    assert str(info.value).startswith(f'{data}/test/alpha/0001.png: the alpha has 3 colour '
                                      'channels that differ; it must be single-channel')
    # equal channels: accepted (a warning at start-up), loaded as the grey image
    cv2.imwrite(str(data / 'test/alpha/0001.png'), cv2.merge([alpha, alpha, alpha]))
    problems = validate_samples([{'alpha_path': str(data / 'test/alpha/0001.png')}],
                                level='header')
    assert [p.severity for p in problems] == ['warning']
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True,
                            pipeline=PIPELINE)
    assert np.array_equal(ds[1]['data_samples'].ori_alpha.numpy(), alpha)


def test_sixteen_bit_alpha_keeps_its_scale_and_precision(data):
    alpha8 = cv2.imread(str(data / 'test/alpha/0002.png'), cv2.IMREAD_GRAYSCALE)
    alpha16 = alpha8.astype(np.uint16) * 257  # the same matte in 16 bits
    alpha16[alpha8 == 100] += 100  # and values between the 8-bit steps
    cv2.imwrite(str(data / 'test/alpha/0002.png'), alpha16)
    loaded = read_image(str(data / 'test/alpha/0002.png'), 'grayscale', key='alpha')
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, alpha16 * (255 / 65535), rtol=1e-6)
    assert loaded.max() <= 255.0 and loaded[alpha8 == 255].min() == 255.0
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True,
                            pipeline=PIPELINE)
    sample = ds[2]['data_samples']
    assert sample.ori_alpha.dtype == torch.float32  # 0..1, what the metrics read
    np.testing.assert_allclose(sample.ori_alpha.numpy(), alpha16 / 65535, rtol=1e-6)
    pred = alpha8.copy()
    pred[10:20, 10:20] = 0
    trimap = cv2.imread(str(data / 'test/trimap/0002.png'), cv2.IMREAD_GRAYSCALE)
    exact = F.sad(pred, alpha16 / 65535.0, trimap)
    assert F.sad(pred, sample.ori_alpha.numpy(), trimap) == pytest.approx(exact, rel=1e-6)
    assert exact != F.sad(pred, alpha8, trimap)  # the extra precision counts


def test_sixteen_bit_alpha_holding_8_bit_values_is_a_warning(data):
    alpha8 = cv2.imread(str(data / 'test/alpha/0003.png'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(data / 'test/alpha/0003.png'), alpha8.astype(np.uint16))
    problems = validate_samples([{'alpha_path': str(data / 'test/alpha/0003.png')}],
                                level='header')
    assert [str(p) for p in problems] == [
        f'WARNING: {data}/test/alpha/0003.png: 16-bit alpha holding only values 0..255: '
        'it is read on the 16-bit scale (v / 65535), i.e. nearly black; if these are 8-bit '
        'values, save the file as 8-bit (sample 0)']


@HOOKS.register_module(force=True)
class BreakFileHook(Hook):
    """Test hook: truncate a file before training iteration ``at`` (as if it changed on
    disk after the start-up check)."""

    def __init__(self, path: str, at: int = 1) -> None:
        self.path, self.at = path, at

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.at:
            with open(self.path, 'r+b') as f:
                f.truncate(100)


def _train(cfg, broken: str, skip: bool):
    from mattebox.engine.runner import build_runner
    cfg.train_cfg.max_iters = 4  # one epoch: every sample is met
    cfg.train_dataloader.dataset.skip_broken_samples = skip
    cfg.custom_hooks = [dict(type='BreakFileHook', path=broken)]
    runner = build_runner(cfg, 'train')
    runner.train()
    return runner


def test_a_sample_broken_mid_training_is_an_error_naming_its_file(tiny_cfg, data,
                                                                 one_torch_thread):
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        tiny_cfg[loader].dataset.data_root = str(data)
    broken = str(data / 'train/merged/0006.png')
    with pytest.raises(DataFileError) as info:
        _train(tiny_cfg, broken, skip=False)
    assert str(info.value) == (f"cannot decode image file (key 'merged'): {broken} "
                               '(truncated or not an image?)')
    assert 'while loading sample 6 of AdobeComp1kDataset: alpha_path=' in \
        '\n'.join(info.value.__notes__)


def test_skip_broken_samples_skips_counts_and_lists(tiny_cfg, data, one_torch_thread):
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        tiny_cfg[loader].dataset.data_root = str(data)
    tiny_cfg.log_level = 'INFO'
    broken = str(data / 'train/merged/0006.png')
    runner = _train(tiny_cfg, broken, skip=True)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'BrokenSamplesHook')
    assert len(hook.skipped) == 1
    assert hook.skipped[0].startswith(f'sample 6 ({data}/train/alpha/0006.png, ')
    assert hook.skipped[0].endswith(f"DataFileError: cannot decode image file (key 'merged'): "
                                    f'{broken} (truncated or not an image?)')
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert ('1 broken training sample(s) were skipped (skip_broken_samples=True) and '
            f'replaced by others:\n  sample 6 ({data}/train/alpha/0006.png') in log
    assert runner.iter == 4


def test_skip_broken_samples_never_applies_to_testing(data):
    ds = AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data), test_mode=True,
                            pipeline=PIPELINE, skip_broken_samples=True)
    os.remove(data / 'test/merged/0001.png')  # gone after the start-up check
    with pytest.raises(MissingDataFileError, match='test/merged/0001.png'):
        ds[1]
    with pytest.raises(ValueError, match='skip_broken_samples must be True or False'):
        AdobeComp1kDataset(ann_file='test_list.json', data_root=str(data),
                           skip_broken_samples='yes')
