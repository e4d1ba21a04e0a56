"""Guidance through the pipeline: every geometric transform keeps a point on its pixel
and a box around its content; the prompt generators are seeded and respect their
thresholds; packing carries every guidance field."""
import numpy as np
import pytest
import torch

from mattebox.guidance import box_from_mask
from mattebox.registry import TRANSFORMS

H, W = 60, 80


def coordinate_image() -> np.ndarray:
    """H x W x 3 float32 whose pixel (y, x) holds (y, x, 1): where content came from."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.dstack([yy, xx, np.ones_like(yy)])


def sample(points, boxes) -> dict:
    alpha = np.zeros((H, W), np.uint8)
    alpha[20:42, 25:61] = 255
    alpha[20:42, 25] = 128  # an unknown edge, for the crops around the unknown region
    trimap = np.where(alpha > 0, 128, 0).astype(np.uint8)
    return dict(merged=coordinate_image(), alpha=alpha, trimap=trimap, seg=alpha.copy(),
                points=np.asarray(points, np.float32), boxes=np.asarray(boxes, np.float32))


POINTS = [(30, 25, 1), (55, 40, 0), (26, 21, 1)]
BOXES = [box_from_mask(sample([], [])['alpha']).tolist()]  # (25, 20, 61, 42)

TRANSFORM_CFGS = {
    'flip_h': dict(type='Flip', keys=['merged', 'alpha'], flip_ratio=1.0),
    'flip_v': dict(type='Flip', keys=['merged', 'alpha'], flip_ratio=1.0,
                   direction='vertical'),
    'resize_up': dict(type='Resize', keys=['merged', 'alpha'], scale=(160, 120),
                      interpolation='nearest'),
    'resize_odd': dict(type='Resize', keys=['merged', 'alpha'], scale=(53, 37),
                       interpolation='nearest'),
    'crop_unknown': dict(type='CropAroundUnknown', keys=['alpha', 'merged'],
                         crop_sizes=[32], interpolations='nearest'),
    'crop_unknown_upscaled': dict(type='CropAroundUnknown', keys=['alpha', 'merged'],
                                  crop_sizes=[72], interpolations='nearest'),
    'crop_center': dict(type='CropAroundCenter', crop_size=(40, 50),
                        keys=['merged', 'alpha', 'trimap']),
    'crop_center_upscaled': dict(type='CropAroundCenter', crop_size=(90, 90),
                                 keys=['merged', 'alpha', 'trimap']),
    'crop_fg': dict(type='CropAroundFg', keys=['merged', 'alpha', 'seg'],
                    bd_ratio_range=(0.1, 0.1)),
    'affine': dict(type='RandomAffine', keys=['merged', 'alpha'], degrees=30,
                   translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10, flip_ratio=0.5,
                   rotate_min_size=0),
}


@pytest.mark.parametrize('name', sorted(TRANSFORM_CFGS))
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_points_stay_on_their_pixel(name, seed):
    transform = TRANSFORMS.build(TRANSFORM_CFGS[name])
    np.random.seed(seed)
    out = transform(sample(POINTS, BOXES))
    img = out['merged']
    h, w = img.shape[:2]
    kept = 0
    for x, y, label in out['points']:
        row, col = int(round(y)), int(round(x))
        assert 0 <= row < h and 0 <= col < w
        src_y, src_x, valid = img[row, col]
        assert valid == 1  # content, not the border of a warp
        # the content under the moved point came from the point's pixel (nearest
        # sampling of a fractional position may land on a neighbour; shrinking by 1/s
        # leaves only every s-th pixel)
        tol = 2 if name == 'resize_odd' else 1
        origin = [p for p in POINTS if p[2] == label and abs(src_x - p[0]) <= tol
                  and abs(src_y - p[1]) <= tol]
        assert origin, (name, (x, y), (src_x, src_y))
        kept += 1
    if name.startswith(('flip', 'resize')):
        assert kept == len(POINTS)  # nothing leaves the image
        if name.startswith('flip'):  # exact: integer positions
            for x, y, _ in out['points']:
                assert x == int(x) and y == int(y)


@pytest.mark.parametrize('name', sorted(TRANSFORM_CFGS))
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_boxes_stay_around_their_content(name, seed):
    transform = TRANSFORMS.build(TRANSFORM_CFGS[name])
    np.random.seed(seed)
    out = transform(sample(POINTS, BOXES))
    content = box_from_mask(out['alpha'])
    if content is None:  # the object left the crop: so must the box
        assert len(out['boxes']) == 0
        return
    assert out['boxes'].shape == (1, 4)
    x0, y0, x1, y1 = out['boxes'][0]
    cx0, cy0, cx1, cy1 = content
    assert x0 <= cx0 + 1 and y0 <= cy0 + 1 and x1 >= cx1 - 1 and y1 >= cy1 - 1, \
        (name, out['boxes'][0], content)
    h, w = out['alpha'].shape
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    if name != 'affine':  # axis-aligned moves: the box is the content's box again
        assert np.allclose(out['boxes'][0], content, atol=1.0), (out['boxes'][0], content)


def test_transforms_without_guidance_write_none():
    out = TRANSFORMS.build(TRANSFORM_CFGS['flip_h'])(
        dict(merged=coordinate_image(), alpha=np.zeros((H, W), np.uint8)))
    assert 'points' not in out and 'boxes' not in out


# ----------------------------------------------------------------------- prompts
def alpha_with_speck() -> np.ndarray:
    alpha = np.zeros((40, 50), np.uint8)
    alpha[10:30, 10:40] = 255
    alpha[10:30, 10] = 100
    alpha[0, 49] = 255  # a speck
    return alpha


def test_box_prompt_tight_jittered_and_inclusive():
    gen = TRANSFORMS.build(dict(type='GenerateBoxPrompt'))
    assert gen(dict(alpha=alpha_with_speck()))['boxes'].tolist() == [[10, 10, 40, 30]]
    sdmatte = TRANSFORMS.build(dict(type='GenerateBoxPrompt', inclusive_max=True))
    assert sdmatte(dict(alpha=alpha_with_speck()))['boxes'].tolist() == [[10, 10, 39, 29]]
    jitter = TRANSFORMS.build(dict(type='GenerateBoxPrompt', jitter=0.2))
    boxes = []
    for seed in range(20):
        np.random.seed(seed)
        boxes.append(jitter(dict(alpha=alpha_with_speck()))['boxes'][0].tolist())
    np.random.seed(3)
    assert jitter(dict(alpha=alpha_with_speck()))['boxes'][0].tolist() == boxes[3]  # seeded
    assert len({tuple(b) for b in boxes}) > 5
    for x0, y0, x1, y1 in boxes:  # each side moves by at most 20 % of the box's size
        assert abs(x0 - 10) <= 6 and abs(x1 - 40) <= 6 and abs(y0 - 10) <= 4 and \
            abs(y1 - 30) <= 4
        assert 0 <= x0 < x1 <= 50 and 0 <= y0 < y1 <= 40
    assert gen(dict(alpha=np.zeros((4, 4), np.uint8)))['boxes'].shape == (0, 4)


def test_point_prompt_is_seeded_distinct_and_above_the_threshold():
    alpha = alpha_with_speck()
    gen = TRANSFORMS.build(dict(type='GeneratePointPrompt', num_points=10, threshold=0.8))
    np.random.seed(0)
    points = gen(dict(alpha=alpha))['points']
    np.random.seed(0)
    assert np.array_equal(gen(dict(alpha=alpha))['points'], points)
    assert points.shape == (10, 3) and (points[:, 2] == 1).all()
    assert len({(x, y) for x, y, _ in points}) == 10
    assert all(alpha[int(y), int(x)] > 0.8 * 255 for x, y, _ in points)
    # fewer candidates than asked: all of them
    few = np.zeros((5, 5), np.uint8)
    few[1, 2] = few[3, 4] = 255
    few[0, 0] = 200  # below 0.8
    assert sorted(gen(dict(alpha=few))['points'][:, :2].tolist()) == [[2, 1], [4, 3]]
    ranged = TRANSFORMS.build(dict(type='GeneratePointPrompt', num_points=(1, 3)))
    counts = set()
    for seed in range(30):
        np.random.seed(seed)
        counts.add(len(ranged(dict(alpha=alpha))['points']))
    assert counts == {1, 2, 3}


def test_mask_prompt_thresholds_and_morphology():
    alpha = alpha_with_speck()
    exact = TRANSFORMS.build(dict(type='GenerateMaskPrompt', threshold_range=None,
                                  operations=()))
    assert np.array_equal(exact(dict(alpha=alpha))['mask'], alpha)
    binary = TRANSFORMS.build(dict(type='GenerateMaskPrompt', threshold_range=(0.5, 0.5),
                                   operations=()))
    assert binary(dict(alpha=alpha))['mask'].tolist() == \
        np.where(alpha >= 127.5, 255, 0).tolist()
    erode = TRANSFORMS.build(dict(type='GenerateMaskPrompt', threshold_range=(0.5, 0.5),
                                  operations=['erode'], kernel_range=(5, 6)))
    dilate = TRANSFORMS.build(dict(type='GenerateMaskPrompt', threshold_range=(0.5, 0.5),
                                   operations=['dilate'], kernel_range=(5, 6)))
    base = binary(dict(alpha=alpha))['mask'] > 0
    eroded = erode(dict(alpha=alpha))['mask'] > 0
    dilated = dilate(dict(alpha=alpha))['mask'] > 0
    assert eroded.sum() < base.sum() < dilated.sum()
    assert not (eroded & ~base).any() and not (base & ~dilated).any()
    random_ops = TRANSFORMS.build(dict(type='GenerateMaskPrompt'))
    np.random.seed(4)
    first = random_ops(dict(alpha=alpha))['mask']
    np.random.seed(4)
    assert np.array_equal(random_ops(dict(alpha=alpha))['mask'], first)
    with pytest.raises(ValueError, match='operations must be among'):
        TRANSFORMS.build(dict(type='GenerateMaskPrompt', operations=['blur']))


def test_load_text_modes():
    texts = ['the cat', 'the grey cat', 'the animal']
    assert TRANSFORMS.build(dict(type='LoadText', mode='first'))(
        dict(text=texts))['text'] == 'the cat'
    assert TRANSFORMS.build(dict(type='LoadText', mode='last'))(
        dict(text=texts))['text'] == 'the animal'
    assert TRANSFORMS.build(dict(type='LoadText', mode='index'))(
        dict(text=texts, text_index=1))['text'] == 'the grey cat'
    picked = set()
    rand = TRANSFORMS.build(dict(type='LoadText'))
    for seed in range(20):
        np.random.seed(seed)
        picked.add(rand(dict(text=texts))['text'])
    assert picked == set(texts)
    assert rand(dict(text='one'))['text'] == 'one'
    with pytest.raises(ValueError, match="LoadText: 'text' must be a string or a non-empty list"):
        rand(dict(text=[], merged_path='a.png'))


def test_trimap_from_mask_transform():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    out = TRANSFORMS.build(dict(type='GenerateTrimapFromMask', band_width=2))(dict(mask=mask))
    assert set(np.unique(out['trimap'])) == {0, 128, 255}
    assert out['trimap'][10, 10] == 255 and out['trimap'][5, 10] == 128 and \
        out['trimap'][0, 0] == 0


def test_pack_carries_every_guidance_field():
    out = TRANSFORMS.build(dict(type='PackMattingInputs'))(dict(
        merged=np.zeros((6, 8, 3), np.uint8), trimap=np.full((6, 8), 128, np.uint8),
        mask=np.full((6, 8), 255, np.uint8), points=np.array([[1, 2, 1]], np.float32),
        boxes=[[0, 0, 4, 3]], text='the ball', transparent=True))
    s = out['data_samples']
    assert s.trimap.shape == (1, 6, 8) and s.mask.shape == (1, 6, 8)
    assert s.points.dtype == torch.float32 and s.points.tolist() == [[1, 2, 1]]
    assert s.boxes.tolist() == [[0, 0, 4, 3]]
    assert s.text == 'the ball' and s.transparent is True
    with pytest.raises(TypeError, match="'text' must be one string"):
        TRANSFORMS.build(dict(type='PackMattingInputs'))(
            dict(merged=np.zeros((6, 8, 3), np.uint8), text=['a', 'b']))
