"""Tests of the Composition-1k dataset (mattebox.datasets.comp1k)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mattebox.datasets import AdobeComp1kDataset
from mattebox.registry import DATASETS

ENTRIES = [
    {'alpha_path': 'train/alpha/0.png', 'fg_path': 'train/fg/0.png',
     'bg_path': 'bg/7.png', 'merged_path': 'train/merged/0_7.png', 'bg_index': 7},
    {'alpha_path': 'train/alpha/1.png', 'merged_path': 'train/merged/1_3.png'},
    {'merged_path': 'test/merged/2.png', 'trimap_path': 'test/trimap/2.png'},
]
PATH_KEYS = ('alpha_path', 'fg_path', 'bg_path', 'merged_path', 'trimap_path')
LOAD_PIPELINE = [
    dict(type='LoadImageFromFile', key='alpha', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='merged'),
    dict(type='PackMattingInputs'),
]


def _write_json(path, obj) -> str:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
    return str(path)


def _make_images(root, n: int = 3, size=(12, 16)) -> list:
    """Write ``n`` alpha/merged pairs under ``root`` and return the relative entries."""
    entries = []
    for i in range(n):
        for kind in ('alpha', 'merged'):
            os.makedirs(osp.join(root, kind), exist_ok=True)
            shape = size if kind == 'alpha' else size + (3,)
            img = np.full(shape, 10 * i + (kind == 'merged'), np.uint8)
            assert cv2.imwrite(osp.join(root, kind, f'{i}.png'), img)
        entries.append({'alpha_path': f'alpha/{i}.png', 'merged_path': f'merged/{i}.png'})
    return entries


class TestAnnotationFormats:

    def test_plain_list_and_dict_are_equivalent(self, tmp_path):
        list_file = _write_json(tmp_path / 'list.json', ENTRIES)
        dict_file = _write_json(tmp_path / 'dict.json',
                                {'metainfo': {'seed': 5, 'classes': ['fg']},
                                 'data_list': ENTRIES})
        root = str(tmp_path / 'root')
        # the files do not exist: only the annotation is read (validate=False)
        ds_list = AdobeComp1kDataset(ann_file=list_file, data_root=root, validate=False)
        ds_dict = AdobeComp1kDataset(ann_file=dict_file, data_root=root, validate=False)
        assert len(ds_list) == len(ds_dict) == len(ENTRIES)
        for i, entry in enumerate(ENTRIES):
            a, b = ds_list.get_data_info(i), ds_dict.get_data_info(i)
            assert a == b
            assert a['sample_idx'] == i
            for key in PATH_KEYS:
                if key in entry:
                    assert a[key] == osp.join(root, entry[key])
                else:
                    assert key not in a
        assert ds_list.get_data_info(0)['bg_index'] == 7   # other keys are kept
        # metainfo from the file is exposed, on top of the class defaults
        assert ds_dict.metainfo['seed'] == 5
        assert ds_dict.metainfo['classes'] == ['fg']
        assert ds_dict.metainfo['task_name'] == 'matting'
        assert 'seed' not in ds_list.metainfo
        assert ds_list.metainfo['dataset_type'] == 'matting'

    def test_ann_file_relative_to_data_root(self, tmp_path):
        _write_json(tmp_path / 'ann.json', ENTRIES)
        ds = AdobeComp1kDataset(ann_file='ann.json', data_root=str(tmp_path), validate=False)
        assert ds.ann_file == osp.join(str(tmp_path), 'ann.json')
        assert ds.get_data_info(1)['merged_path'] == osp.join(str(tmp_path),
                                                               'train/merged/1_3.png')

    def test_no_data_root_keeps_paths(self, tmp_path):
        entries = [{'merged_path': str(tmp_path / 'abs.png')}, {'merged_path': 'rel.png'}]
        ds = AdobeComp1kDataset(ann_file=_write_json(tmp_path / 'a.json', entries),
                                validate=False)
        assert ds.get_data_info(0)['merged_path'] == str(tmp_path / 'abs.png')
        assert ds.get_data_info(1)['merged_path'] == 'rel.png'

    @pytest.mark.parametrize('raw', [[], {'data_list': []}])
    def test_empty_annotation_names_the_file(self, tmp_path, raw):
        path = _write_json(tmp_path / 'a.json', raw)
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=path)
        assert path in str(e.value)

    def test_built_from_registry(self, tmp_path):
        ann = _write_json(tmp_path / 'a.json', _make_images(tmp_path))
        ds = DATASETS.build(dict(type='AdobeComp1kDataset', ann_file='a.json',
                                 data_root=str(tmp_path), test_mode=True,
                                 pipeline=LOAD_PIPELINE))
        assert isinstance(ds, AdobeComp1kDataset)
        assert ds.ann_file == ann
        assert len(ds) == 3
        assert ds[1]['inputs'].shape == (3, 12, 16)

    def test_synthetic_annotations(self, synthetic_root):
        train = AdobeComp1kDataset(ann_file='training_list.json', data_root=synthetic_root)
        test = AdobeComp1kDataset(ann_file='test_list.json', data_root=synthetic_root,
                                  test_mode=True)
        assert (len(train), len(test)) == (8, 4)
        assert 'trimap_path' not in train.get_data_info(0)
        info = test.get_data_info(3)
        for key in PATH_KEYS:
            assert info[key].startswith(synthetic_root + os.sep)
            assert osp.isfile(info[key]), key
        assert test.metainfo['size'] == [64, 64]

    def test_constructor_metainfo_wins_over_the_file(self, tmp_path):
        ann = _write_json(tmp_path / 'a.json', {'metainfo': {'dataset_type': 'from_file',
                                                             'seed': 1},
                                                'data_list': ENTRIES})
        ds = AdobeComp1kDataset(ann_file=ann, metainfo=dict(dataset_type='from_config'),
                                validate=False)
        assert ds.metainfo['seed'] == 1
        assert ds.metainfo['dataset_type'] == 'from_config'


class TestAnnotationErrors:

    def test_missing_annotation_file(self, tmp_path):
        with pytest.raises(FileNotFoundError) as e:
            AdobeComp1kDataset(ann_file='missing.json', data_root=str(tmp_path))
        assert osp.join(str(tmp_path), 'missing.json') in str(e.value)

    def test_invalid_json(self, tmp_path):
        path = tmp_path / 'bad.json'
        path.write_text('[{"merged_path": "a.png"},')
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=str(path))
        assert str(path) in str(e.value)
        assert 'json' in str(e.value)

    @pytest.mark.parametrize('bad', ['merged/0.png', {'image': 'merged/0.png'}, None, [1]])
    def test_entry_without_path_keys_names_file_and_index(self, tmp_path, bad):
        path = _write_json(tmp_path / 'a.json', [ENTRIES[0], bad])
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=path)
        assert path in str(e.value)
        assert 'sample 1' in str(e.value)
        assert 'merged_path' in str(e.value)

    @pytest.mark.parametrize('value', [None, 3, ['a.png']])
    def test_non_string_path_names_file_and_index(self, tmp_path, value):
        path = _write_json(tmp_path / 'a.json', [ENTRIES[0], {'merged_path': value}])
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=path, data_root=str(tmp_path))
        assert path in str(e.value)
        assert 'sample 1' in str(e.value)
        assert 'merged_path' in str(e.value)

    def test_entry_error_in_dict_format(self, tmp_path):
        path = _write_json(tmp_path / 'a.json', {'data_list': [{}, ENTRIES[0]]})
        with pytest.raises(ValueError, match='sample 0'):
            AdobeComp1kDataset(ann_file=path)

    def test_dict_without_data_list(self, tmp_path):
        path = _write_json(tmp_path / 'a.json', {'metainfo': {}, 'samples': ENTRIES})
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=path)
        assert path in str(e.value)
        assert 'data_list' in str(e.value)
        assert "'samples'" in str(e.value)

    @pytest.mark.parametrize('raw', ['just a string', 3])
    def test_neither_list_nor_dict(self, tmp_path, raw):
        path = _write_json(tmp_path / 'a.json', raw)
        with pytest.raises(ValueError) as e:
            AdobeComp1kDataset(ann_file=path)
        assert path in str(e.value)
        assert type(raw).__name__ in str(e.value)


class TestLoadingSamples:

    def test_items_match_files(self, tmp_path):
        ann = _write_json(tmp_path / 'a.json', _make_images(tmp_path))
        ds = AdobeComp1kDataset(ann_file=ann, data_root=str(tmp_path), test_mode=True,
                                pipeline=LOAD_PIPELINE)
        for i in range(3):
            out = ds[i]
            assert out['inputs'].shape == (3, 12, 16)
            assert (out['inputs'] == 10 * i + 1).all()
            s = out['data_samples']
            assert (s.gt_alpha == 10 * i).all()
            assert s.metainfo['sample_idx'] == i
            assert s.metainfo['alpha_path'] == osp.join(str(tmp_path), f'alpha/{i}.png')

    @pytest.mark.parametrize('test_mode', [True, False])
    def test_missing_image_raises_naming_the_file(self, tmp_path, test_mode):
        ann = _write_json(tmp_path / 'a.json', _make_images(tmp_path))
        missing = osp.join(str(tmp_path), 'merged', '1.png')
        os.remove(missing)
        # a file gone after the start-up check (validate=False stands for that)
        ds = AdobeComp1kDataset(ann_file=ann, data_root=str(tmp_path), test_mode=test_mode,
                                pipeline=LOAD_PIPELINE, max_refetch=5, validate=False)
        # an exception is not a ``None`` sample: mmengine does not refetch another index
        # even in train mode, so the user sees the missing file
        with pytest.raises(FileNotFoundError) as e:
            ds[1]
        assert missing in str(e.value)
        assert "'merged'" in str(e.value)
        assert ds[0]['data_samples'].metainfo['sample_idx'] == 0
        assert ds[2]['data_samples'].metainfo['sample_idx'] == 2

    def test_corrupt_image_raises_naming_the_file(self, tmp_path):
        ann = _write_json(tmp_path / 'a.json', _make_images(tmp_path))
        broken = osp.join(str(tmp_path), 'alpha', '2.png')
        with open(broken, 'rb') as f:
            data = f.read()
        with open(broken, 'wb') as f:
            f.write(data[:len(data) // 2])
        ds = AdobeComp1kDataset(ann_file=ann, data_root=str(tmp_path), test_mode=False,
                                pipeline=LOAD_PIPELINE, validate=False)
        with pytest.raises(ValueError, match=broken):
            ds[2]
