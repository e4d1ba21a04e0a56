"""RefCOCODataset on a fake REFER annotation; COCO polygons and RLE without pycocotools;
the restricted refs pickle reader."""
import json
import os
import pickle

import cv2
import numpy as np
import pytest

from mattebox.datasets import RefCOCODataset
from mattebox.datasets.refcoco import (decode_rle, load_refs_pickle, rasterise_polygons,
                                       segmentation_to_mask)

REFS = [
    {'ref_id': 10, 'ann_id': 100, 'image_id': 1, 'split': 'train', 'category_id': 1,
     'sentences': [{'sent': 'left square', 'raw': 'Left square'}, {'sent': 'the square'}]},
    {'ref_id': 11, 'ann_id': 101, 'image_id': 1, 'split': 'testA', 'category_id': 1,
     'sentences': [{'sent': 'the rle object'}]},
]
INSTANCES = {
    'images': [{'id': 1, 'file_name': 'COCO_train2014_000000000001.jpg', 'height': 8,
                'width': 8}],
    'annotations': [
        {'id': 100, 'image_id': 1, 'segmentation': [[1, 1, 5, 1, 5, 5, 1, 5]], 'iscrowd': 0},
        {'id': 101, 'image_id': 1, 'iscrowd': 1,
         'segmentation': {'size': [8, 8], 'counts': [9, 3, 52]}},
    ],
}


def _tree(root, refs=REFS, instances=INSTANCES, refs_name='refs(unc).json'):
    (root / 'refcoco').mkdir(parents=True, exist_ok=True)
    (root / 'refcoco' / refs_name).write_text(json.dumps(refs))
    (root / 'refcoco' / 'instances.json').write_text(json.dumps(instances))
    img_dir = root / 'images' / 'mscoco' / 'images' / 'train2014'
    img_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(img_dir / 'COCO_train2014_000000000001.jpg'),
                np.zeros((8, 8, 3), np.uint8))


def test_polygon_square_covers_pixels_whose_centres_are_inside():
    mask = rasterise_polygons([[1, 1, 5, 1, 5, 5, 1, 5]], 8, 8)
    expected = np.zeros((8, 8), np.uint8)
    expected[1:5, 1:5] = 255
    assert np.array_equal(mask, expected)


def test_polygon_triangle_and_union():
    tri = rasterise_polygons([[0, 0, 4.2, 0, 0, 4.2]], 6, 6)
    i, j = np.mgrid[0:6, 0:6]
    assert np.array_equal(tri > 0, i + j <= 3)  # centre (j+.5, i+.5): x + y < 4.2
    two = rasterise_polygons([[0, 0, 2, 0, 2, 2, 0, 2], [4, 4, 6, 4, 6, 6, 4, 6]], 6, 6)
    assert int((two > 0).sum()) == 8 and two[5, 5] == 255 and two[3, 3] == 0
    clipped = rasterise_polygons([[-3, -3, 20, -3, 20, 20, -3, 20]], 4, 5)
    assert clipped.min() == 255 and clipped.shape == (4, 5)
    with pytest.raises(ValueError, match='polygon 0: expected a flat list of at least 3'):
        rasterise_polygons([[1, 2, 3, 4]], 4, 4)


def test_uncompressed_rle_is_column_major():
    mask = decode_rle({'size': [3, 4], 'counts': [1, 2, 3, 6]})
    expected = np.array([[0, 0, 1, 1], [1, 0, 1, 1], [1, 0, 1, 1]], np.uint8) * 255
    assert np.array_equal(mask, expected)
    with pytest.raises(ValueError, match=r'counts sum to 11, expected h \* w = 12'):
        decode_rle({'size': [3, 4], 'counts': [1, 2, 3, 5]})


def test_compressed_rle_strings():
    # maskApi.c rleToString of [1, 2, 3, 6]: deltas from the 3rd count on -> "1234"
    assert np.array_equal(decode_rle({'size': [3, 4], 'counts': '1234'}),
                          decode_rle({'size': [3, 4], 'counts': [1, 2, 3, 6]}))
    # 40 needs two 5-bit groups ("X1"); a negative delta (2 - 5 = -3) is "M"
    m = decode_rle({'size': [6, 7], 'counts': 'X12'})
    assert int((m > 0).sum()) == 2 and m[4, 6] == 255 and m[5, 6] == 255
    m = decode_rle({'size': [1, 11], 'counts': '153M'})
    assert m[0].tolist() == [0, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255]
    with pytest.raises(ValueError, match='RLE size'):
        segmentation_to_mask({'size': [3, 4], 'counts': [12]}, 4, 3)


def test_refcoco_dataset_split_and_masks(tmp_path):
    _tree(tmp_path)
    ds = RefCOCODataset(data_root=str(tmp_path), expression_mode='all', split='train',
                        pipeline=[dict(type='LoadImageFromFile', key='merged'),
                                  dict(type='LoadReferringAlpha', save_original_img=True),
                                  dict(type='PackMattingInputs')])
    assert len(ds) == 2
    info = ds.get_data_info(1)
    assert info['text'] == 'the square' and info['expressions'] == ['left square',
                                                                   'the square']
    assert info['instance_id'] == '10' and info['image_id'] == '1'
    assert info['binary_gt'] is True and info['source'] == 'refcoco'
    assert info['merged_path'].endswith('train2014/COCO_train2014_000000000001.jpg')
    sample = ds[0]['data_samples']
    alpha = sample.gt_alpha[0].numpy()
    assert set(np.unique(alpha).tolist()) == {0, 255} and int((alpha > 0).sum()) == 16
    assert sample.metainfo['binary_gt'] is True and sample.text == 'left square'
    ds = RefCOCODataset(data_root=str(tmp_path), expression_mode='all', split=None,
                        pipeline=[dict(type='LoadReferringAlpha')])
    assert len(ds) == 3
    rle_alpha = ds[2]['alpha']
    assert int((rle_alpha > 0).sum()) == 3 and rle_alpha[1:4, 1].min() == 255


def test_refcoco_errors_name_file_and_ref(tmp_path):
    bad = [dict(REFS[0], ann_id=999)]
    _tree(tmp_path, refs=bad)
    with pytest.raises(ValueError, match=r'ref 0 \(ref_id 10\): ann_id 999 is not in .*'
                                         r'instances.json'):
        RefCOCODataset(data_root=str(tmp_path))
    _tree(tmp_path, refs=[{'ref_id': 1}])
    with pytest.raises(ValueError, match=r"ref 0: missing key\(s\) \['ann_id', 'image_id', "
                                         r"'sentences'\]"):
        RefCOCODataset(data_root=str(tmp_path))
    _tree(tmp_path, instances={'images': []})
    with pytest.raises(ValueError, match='instances.json: expected a COCO json'):
        RefCOCODataset(data_root=str(tmp_path))
    _tree(tmp_path)
    with pytest.raises(ValueError, match=r"no ref of split \['val'\]"):
        RefCOCODataset(data_root=str(tmp_path), split='val')


def test_refs_pickle_plain_data_loads_and_code_is_refused(tmp_path):
    _tree(tmp_path)
    with open(tmp_path / 'refcoco' / 'refs(unc).p', 'wb') as f:
        pickle.dump(REFS, f, protocol=2)
    ds = RefCOCODataset(data_root=str(tmp_path), ann_file='refcoco/refs(unc).p',
                        expression_mode='all')
    assert len(ds) == 2 and ds.get_data_info(0)['text'] == 'left square'

    class Evil:
        def __reduce__(self):
            return (os.system, ('echo pwned',))

    path = tmp_path / 'evil.p'
    path.write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(pickle.UnpicklingError, match=r'refusing to load (posix|nt)\.system'):
        load_refs_pickle(str(path))
    with pytest.raises(ValueError, match='allow_pickle=False'):
        RefCOCODataset(data_root=str(tmp_path), ann_file='refcoco/refs(unc).p',
                       allow_pickle=False)


def test_startup_checks_images_and_root(tmp_path):
    from mattebox.datasets import DatasetValidationError
    root = tmp_path / 'refer'
    _tree(root)
    (root / 'images' / 'mscoco' / 'images' / 'train2014' /
     'COCO_train2014_000000000001.jpg').unlink()
    with pytest.raises(DatasetValidationError, match=r'COCO_train2014_000000000001.jpg'):
        RefCOCODataset(data_root=str(root))
    assert len(RefCOCODataset(data_root=str(root), validate=False)) == 1
    coco = tmp_path / 'coco'  # COCO images kept outside the REFER folder
    coco.mkdir()
    cv2.imwrite(str(coco / 'COCO_train2014_000000000001.jpg'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetValidationError, match='lead outside data_root'):
        RefCOCODataset(data_root=str(root), img_dir=str(coco))
    ds = RefCOCODataset(data_root=str(root), img_dir=str(coco), allow_outside_root=True)
    assert ds.get_data_info(0)['merged_path'].startswith(str(coco))
