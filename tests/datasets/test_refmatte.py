"""RefMatteDataset (train / test / RW100 layouts, expression modes) and
CaptionedFolderDataset on small fake trees."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mattebox.datasets import CaptionedFolderDataset, RefMatteDataset
from mattebox.datasets.transforms import (LoadReferringAlpha, PackMattingInputs,
                                          ReferringFlip, UseAsOriginal, swap_left_right)

EXPR = {
    'a_0': ['the dog', 'the brown dog', 'the dog on the left', 'the animal on the left'],
    'a_1': ['the cat', 'the white cat', 'the cat on the right', 'the small animal'],
    'b_0': ['the vase', 'the glass vase', 'the transparent vase', 'the vase in the middle'],
}
IMAGE_OF = {'a_0': 'a.jpg', 'a_1': 'a.jpg', 'b_0': 'b.jpg'}
LAYOUT_DIRS = {'train': ('train/img', 'train/mask'), 'test': ('test/img', 'test/mask'),
               'rw100': ('image_all', 'mask')}


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def make_tree(root: Path, layout: str, as_list: bool = False) -> str:
    """A fake RefMatte tree: 2 images, 3 instances; returns the label json path."""
    img_dir, alpha_dir = LAYOUT_DIRS[layout]
    for name in ('a', 'b'):
        _write(root / img_dir / f'{name}.jpg', np.full((8, 10, 3), 100, np.uint8))
    for k, inst in enumerate(EXPR):
        _write(root / alpha_dir / f'{inst}.png', np.full((8, 10), 50 * (k + 1), np.uint8))
    labels = {inst: {'image_name': IMAGE_OF[inst], 'expressions': EXPR[inst],
                     'category': 'thing'} for inst in EXPR}
    if as_list:
        labels = [dict(v, instance_id=k) for k, v in labels.items()]
    ann = root / 'json' / f'refmatte_{layout}_label.json'
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(json.dumps(labels))
    return str(ann.relative_to(root))


@pytest.mark.parametrize('layout', ['train', 'test', 'rw100'])
def test_each_layout_all_mode(tmp_path, layout):
    ann = make_tree(tmp_path, layout)
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout=layout,
                         expression_mode='all')
    assert len(ds) == 12  # 3 instances x 4 expressions
    img_dir, alpha_dir = LAYOUT_DIRS[layout]
    info = ds.get_data_info(5)  # instance a_1, expression 1
    assert info['instance_id'] == 'a_1' and info['expression_index'] == 1
    assert info['text'] == 'the white cat' and info['expressions'] == EXPR['a_1']
    assert info['merged_path'] == str(tmp_path / img_dir / 'a.jpg')
    assert info['alpha_path'] == str(tmp_path / alpha_dir / 'a_1.png')
    assert info['image_id'] == 'a' and info['binary_gt'] is False
    assert info['source'] == 'refmatte' and info['category'] == 'thing'
    assert [ds.get_data_info(i)['expression_index'] for i in range(4)] == [0, 1, 2, 3]


def test_list_form_of_the_label_json(tmp_path):
    ann = make_tree(tmp_path, 'test', as_list=True)
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='all')
    assert [ds.get_data_info(i)['instance_id'] for i in range(0, 12, 4)] == ['a_0', 'a_1',
                                                                            'b_0']


def test_random_mode_draws_among_the_instance_expressions(tmp_path):
    ann = make_tree(tmp_path, 'train')
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, expression_mode='random')
    assert len(ds) == 3
    np.random.seed(0)
    drawn = {ds[2]['text'] for _ in range(40)}  # drawn at each load
    assert drawn == set(EXPR['b_0'])
    info = ds[0]
    assert info['text'] == EXPR['a_0'][info['expression_index']]
    # outside loading (start-up checks, samplers) nothing is drawn
    assert ds.get_data_info(0)['expression_index'] == -1
    # a seed fixes one expression per sample
    fixed = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, expression_mode='random',
                            expression_seed=3)
    assert len({fixed[1]['text'] for _ in range(5)}) == 1


def test_index_mode_from_file_and_fixed_index(tmp_path):
    ann = make_tree(tmp_path, 'test')
    (tmp_path / 'idx.json').write_text(json.dumps({'a_1': 2, 'b_0': 3}))
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='index', index_file='idx.json')
    assert [(d['instance_id'], d['text']) for d in (ds.get_data_info(i) for i in range(2))] \
        == [('a_1', 'the cat on the right'), ('b_0', 'the vase in the middle')]
    (tmp_path / 'idx2.json').write_text(json.dumps(
        [{'instance_id': 'a_0', 'expression_index': 1}]))
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='index', index_file='idx2.json')
    assert len(ds) == 1 and ds.get_data_info(0)['text'] == 'the brown dog'
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='index', expression_index=0)
    assert [ds.get_data_info(i)['text'] for i in range(3)] == ['the dog', 'the cat', 'the vase']


def test_distractors_pair_gt_with_another_instance_expression(tmp_path):
    ann = make_tree(tmp_path, 'test')
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='all', distractors=True)
    # 12 real samples; distractors only for image a (2 instances): 8
    assert len(ds) == 20
    d = [ds.get_data_info(i) for i in range(12, 20)]
    assert all(x['distractor'] for x in d)
    first = d[0]
    assert first['instance_id'] == 'a_0' and first['distractor_id'] == 'a_1'
    assert first['alpha_path'].endswith('a_0.png') and first['text'] == 'the cat'
    assert d[5]['instance_id'] == 'a_1' and d[5]['text'] == 'the brown dog'
    with pytest.raises(ValueError, match="distractors need expression_mode 'all' or 'index'"):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, expression_mode='random',
                        distractors=True)


def test_pipeline_packs_referring_metainfo(tmp_path):
    ann = make_tree(tmp_path, 'test')
    ds = RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                         expression_mode='all', pipeline=[
                             dict(type='LoadImageFromFile', key='merged'),
                             dict(type='LoadReferringAlpha'),
                             dict(type='Resize', keys=['merged', 'alpha'], scale=(6, 4)),
                             dict(type='UseAsOriginal', keys=['alpha']),
                             dict(type='PackMattingInputs')])
    out = ds[6]
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 4, 6)
    assert sample.text == 'the cat on the right'
    assert sample.metainfo['instance_id'] == 'a_1'
    assert sample.metainfo['expression_index'] == 2
    assert sample.metainfo['binary_gt'] is False
    assert sample.metainfo['ori_shape'] == (4, 6)
    assert tuple(sample.ori_alpha.shape) == (4, 6) and int(sample.ori_alpha[0, 0]) == 100


@pytest.mark.parametrize('labels, message', [
    ({'x': {'expressions': ['a']}}, r"key 'x'.*no image file name.*keys present: \['expressions'\]"),
    ({'x': {'image_name': 'a.jpg'}}, r"key 'x'.*no expressions"),
    ({'x': {'image_name': 'a.jpg', 'expressions': []}}, r"key 'x'.*'expressions'.*non-empty"),
    ({'x': {'image_name': 'a.jpg', 'expressions': ['ok', 3]}}, r"key 'x'"),
    ({}, r'lists no instance'),
    ([{'image_name': 'a.jpg'}], r'entry 0.*"instance_id"'),
    ('text', r'expected a dict keyed by instance'),
])
def test_bad_label_json_names_file_and_key(tmp_path, labels, message):
    ann = tmp_path / 'labels.json'
    ann.write_text(json.dumps(labels))
    with pytest.raises(ValueError, match=message) as info:
        RefMatteDataset(data_root=str(tmp_path), ann_file='labels.json', expression_mode='all')
    assert str(ann) in str(info.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'label json \(ann_file\) not found: .*nope.json'):
        RefMatteDataset(data_root=str(tmp_path), ann_file='nope.json')
    (tmp_path / 'bad.json').write_text('{')
    with pytest.raises(ValueError, match=r'bad.json is not valid json'):
        RefMatteDataset(data_root=str(tmp_path), ann_file='bad.json')
    ann = make_tree(tmp_path, 'test')
    (tmp_path / 'idx.json').write_text(json.dumps({'zz_9': 0}))
    with pytest.raises(ValueError, match=r"idx.json names 1 instance.*'zz_9'"):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                        expression_mode='index', index_file='idx.json')
    (tmp_path / 'idx.json').write_text(json.dumps({'a_0': 7}))
    with pytest.raises(ValueError, match=r"instance 'a_0' has 4 expressions, the index asks "
                                         r'for 7'):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                        expression_mode='index', index_file='idx.json')
    with pytest.raises(ValueError, match=r"expression_mode must be one of"):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, expression_mode='every')
    with pytest.raises(ValueError, match=r"layout must be one of \['rw100', 'test', 'train'\]"):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='val')
    with pytest.raises(ValueError, match=r"needs an index file"):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                        expression_mode='index')


def test_validate_reports_missing_alpha(tmp_path):
    ann = make_tree(tmp_path, 'test')
    (tmp_path / 'test' / 'mask' / 'b_0.png').unlink()
    with pytest.raises(ValueError, match=r'b_0.png'):
        RefMatteDataset(data_root=str(tmp_path), ann_file=ann, layout='test',
                        expression_mode='all', validate='header')


# ------------------------------------------------------------------- captioned folders
def _folder(root: Path) -> None:
    for name in ('p_1', 'p_2', 'p_3'):
        _write(root / 'image' / f'{name}.jpg', np.zeros((4, 4, 3), np.uint8))
        _write(root / 'alpha' / f'{name}.png', np.zeros((4, 4), np.uint8))


def test_captioned_folder_dataset(tmp_path):
    _folder(tmp_path)
    (tmp_path / 'captions.json').write_text(json.dumps(
        {'p_1': 'a woman', 'p_2': ['a man', 'the man in a coat'], 'p_3': 'a child'}))
    ds = CaptionedFolderDataset(data_root=str(tmp_path), captions_file='captions.json',
                                expression_mode='all', source='p3m')
    assert len(ds) == 4
    info = ds.get_data_info(2)
    assert info['text'] == 'the man in a coat' and info['expression_index'] == 1
    assert info['instance_id'] == 'p_2' and info['source'] == 'p3m'
    assert info['binary_gt'] is False
    assert info['alpha_path'].endswith('alpha/p_2.png')
    ds = CaptionedFolderDataset(data_root=str(tmp_path), captions_file='captions.json')
    assert len(ds) == 3 and ds.get_data_info(1)['text'] in ('a man', 'the man in a coat')


def test_captioned_folder_missing_caption(tmp_path):
    _folder(tmp_path)
    (tmp_path / 'captions.json').write_text(json.dumps({'p_1': 'a woman'}))
    with pytest.raises(ValueError, match=r"captions.json has no caption for 2 sample\(s\), "
                                         r"e.g. \['p_2', 'p_3'\]"):
        CaptionedFolderDataset(data_root=str(tmp_path), captions_file='captions.json')
    ds = CaptionedFolderDataset(data_root=str(tmp_path), captions_file='captions.json',
                                on_missing_caption='skip')
    assert len(ds) == 1
    (tmp_path / 'captions.json').write_text(json.dumps({'p_1': ''}))
    with pytest.raises(ValueError, match=r"key 'p_1'"):
        CaptionedFolderDataset(data_root=str(tmp_path), captions_file='captions.json',
                               on_missing_caption='skip')


# ------------------------------------------------------------------------ transforms
def test_swap_left_right_and_referring_flip():
    assert swap_left_right('the Left dog, right of the leftmost cat') == \
        'the Right dog, left of the rightmost cat'
    assert swap_left_right('a bright light') == 'a bright light'
    alpha = np.zeros((2, 4), np.uint8)
    alpha[:, 0] = 255
    results = dict(merged=np.zeros((2, 4, 3), np.uint8), alpha=alpha,
                   text='the dog on the left', expressions=['the left dog', 'the dog'])
    out = ReferringFlip(keys=['merged', 'alpha'], flip_ratio=1.0)(results)
    assert out['flip'] and out['alpha'][0, 3] == 255 and out['alpha'][0, 0] == 0
    assert out['text'] == 'the dog on the right'
    assert out['expressions'] == ['the right dog', 'the dog']
    out = ReferringFlip(keys=['alpha'], flip_ratio=1.0, direction='vertical')(
        dict(alpha=alpha, text='the left dog'))
    assert out['text'] == 'the left dog'


def test_load_referring_alpha_errors():
    with pytest.raises(KeyError, match='needs alpha_path or segmentation'):
        LoadReferringAlpha()(dict(merged_path='x.jpg'))
    with pytest.raises(KeyError, match=r"\['img_width'\]"):
        LoadReferringAlpha()(dict(segmentation=[[0, 0, 1, 0, 1, 1]], img_height=2))
    out = UseAsOriginal(keys=['alpha'])(dict(alpha=np.ones((3, 5), np.uint8)))
    assert out['ori_shape'] == (3, 5) and out['ori_alpha'].shape == (3, 5)
    packed = PackMattingInputs()(dict(merged=np.zeros((3, 5, 3), np.uint8), binary_gt=True,
                                      instance_id='7', expression_index=-1))
    meta = packed['data_samples'].metainfo
    assert meta['binary_gt'] is True and meta['instance_id'] == '7'
    assert meta['expression_index'] == -1
