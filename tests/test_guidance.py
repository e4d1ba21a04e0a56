"""The one definition of each guidance conversion (mattebox/guidance.py), on small
arrays with exact expected values."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from mattebox import guidance as G


def test_unknown_region_is_strictly_between_background_and_foreground():
    trimap = np.array([[0, 128, 255], [1, 254, 128]], np.uint8)
    expected = [[False, True, False], [True, True, True]]
    assert G.unknown_region(trimap).tolist() == expected
    assert G.unknown_region(trimap.astype(np.float32)).tolist() == expected
    scaled = torch.tensor([[0.0, 128 / 255, 1.0]])
    assert G.unknown_region(scaled, fg_value=1).tolist() == [[False, True, False]]
    bg, unknown, fg = G.trimap_regions(trimap)
    assert bg.tolist() == [[True, False, False], [False, False, False]]
    assert fg.tolist() == [[False, False, True], [False, False, False]]


def test_decode_trimap_from_labels_and_one_hot():
    labels = np.array([[0, 1, 2]], np.uint8)
    assert G.decode_trimap(labels, 'label').tolist() == [[0, 128, 255]]
    onehot = np.eye(3, dtype=np.uint8)[labels]  # 1 x 3 x 3 (H x W x C)
    assert G.decode_trimap(onehot).tolist() == [[0, 128, 255]]
    assert G.decode_trimap(onehot.transpose(2, 0, 1), channels_first=True).tolist() == \
        [[0, 128, 255]]
    assert G.decode_trimap(labels[None] * 127.5, channels_first=True).tolist() == \
        [[0, 128, 255]]  # 1 x H x W values (rounded)
    assert G.decode_trimap(np.array([[0, 128, 255]], np.uint8)).tolist() == [[0, 128, 255]]


def test_check_trimap_values_names_the_problem():
    assert G.check_trimap_values(np.array([[0, 128, 255]], np.uint8), 'x').dtype == np.uint8
    with pytest.raises(ValueError, match=r'trimap.png: trimap values must be 0, 128 and 255, '
                       r'found \[1, 2\] \(a 0 / 1 / 2 label map'):
        G.check_trimap_values(np.array([[0, 1, 2]], np.uint8), 'trimap.png')
    with pytest.raises(ValueError, match=r'found \[127\] \(a JPEG or a resized trimap'):
        G.check_trimap_values(np.array([[0, 127, 255]], np.uint8), 'trimap.jpg')


def test_trimap_from_alpha():
    alpha = np.zeros((5, 7), np.uint8)
    alpha[1:4, 1:6] = 255
    alpha[2, 3] = 100
    # 1 x 1 kernels: the trimap is the alpha's own regions
    trimap = G.trimap_from_alpha(alpha, 1)
    expected = np.where(alpha == 255, 255, 0).astype(np.uint8)
    expected[2, 3] = 128
    assert trimap.tolist() == expected.tolist()
    # 3 x 3 cross: one pixel of band on both sides of every edge
    trimap = G.trimap_from_alpha(alpha, 3)
    assert trimap[2, 1] == 128 and trimap[2, 0] == 128 and trimap[0, 0] == 0
    assert trimap[2, 3] == 128 and trimap[2, 2] == 128  # around the grey pixel


def test_trimap_from_mask_band():
    mask = np.zeros((9, 9), np.uint8)
    mask[2:7, 2:7] = 255
    trimap = G.trimap_from_mask(mask, band_width=1)  # a 3 x 3 elliptical (cross) disc
    expected = np.zeros((9, 9), np.uint8)
    expected[1:8, 1:8] = 128
    for y, x in ((1, 1), (1, 7), (7, 1), (7, 7)):  # the cross does not reach the corners
        expected[y, x] = 0
    expected[3:6, 3:6] = 255
    assert trimap.tolist() == expected.tolist()
    assert G.trimap_from_mask(mask, band_width=0).tolist() == mask.tolist()
    # soft masks are binarised at the threshold
    assert G.trimap_from_mask(mask // 2, band_width=0, threshold=128).max() == 0
    # without a width, 1.5 % of the longer side (at least one pixel)
    assert G.band_width_for((100, 400)) == 6 and G.band_width_for((9, 9)) == 1


def test_mask_from_trimap_and_back():
    trimap = np.array([[0, 128, 255]], np.uint8)
    assert G.mask_from_trimap(trimap).tolist() == [[0, 255, 255]]


def test_box_from_mask():
    mask = np.zeros((8, 10), np.uint8)
    mask[2:5, 3:7] = 200
    assert G.box_from_mask(mask).tolist() == [3, 2, 7, 5]  # x0, y0, x1, y1 (edges)
    assert G.box_from_mask(mask, inclusive_max=True).tolist() == [3, 2, 6, 4]
    assert G.box_from_mask(mask, threshold=201) is None
    assert G.rasterise_boxes(G.box_from_mask(mask), mask.shape).tolist() == \
        np.where(mask > 0, 255, 0).tolist()


def test_object_box_ignores_a_small_speck_but_not_a_second_object():
    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 5:15] = 255  # 100 pixels
    alpha[0, 29] = 255  # a speck: 1 pixel
    assert G.object_box(alpha).tolist() == [5, 5, 15, 15]
    alpha[16:19, 20:25] = 255  # 15 pixels: less than 10x smaller, kept
    assert G.object_box(alpha).tolist() == [5, 0, 30, 19]
    assert G.object_box(np.zeros((4, 4), np.uint8)) is None


def test_point_heatmap_is_the_normalised_gaussian_of_a_delta():
    shape = (40, 57)
    points = np.array([[10, 5, 1], [50.4, 30.6, 1], [3, 3, 0]], np.float32)
    got = G.point_heatmap(points, shape, sigma=6)
    expected = np.zeros(shape)
    for x, y in ((10, 5), (50, 31)):  # the background click (label 0) is not drawn
        delta = np.zeros(shape)
        delta[y, x] = 1
        blurred = gaussian_filter(delta, sigma=6, mode='reflect', truncate=4)
        expected = np.maximum(expected, blurred / blurred.max())
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert G.point_heatmap(np.zeros((0, 3)), shape, 6).max() == 0


def test_user_points_and_boxes():
    assert G.as_points([(1, 2), (3, 4)]).tolist() == [[1, 2, 1], [3, 4, 1]]
    assert G.as_points([(1, 2, 0)]).tolist() == [[1, 2, 0]]
    assert G.as_boxes((1, 2, 3, 4)).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match='label must be 1'):
        G.as_points([(1, 2, 5)])
    with pytest.raises(ValueError, match=r'box: a box needs x0 < x1 and y0 < y1'):
        G.as_boxes((5, 2, 3, 4))
    with pytest.raises(ValueError, match=r'expected \(x0, y0, x1, y1\)'):
        G.as_boxes((1, 2, 3))
    with pytest.raises(ValueError, match=r'points \[\[10.0, 1.0\]\] lie outside the 10 x 5'):
        G.check_inside(G.as_points([(10, 1)]), np.zeros((0, 4)), (5, 10))
    with pytest.raises(ValueError, match='do not overlap the 10 x 5 image'):
        G.check_inside(np.zeros((0, 3)), G.as_boxes((12, 0, 14, 3)), (5, 10))


def test_guidance_spec_messages():
    spec = G.GuidanceSpec(required=('trimap', ))
    assert spec.accepted == ('trimap', )
    spec.check({'image', 'trimap'}, 'DIM')
    with pytest.raises(G.MissingGuidanceError) as info:
        spec.check({'image', 'mask'}, 'DIM')
    assert str(info.value).startswith("DIM needs guidance trimap, but the batch has ['mask']")
    interactive = G.GuidanceSpec(one_of=('points', 'boxes', 'mask'), optional=('transparent', ))
    assert interactive.accepted == ('mask', 'points', 'boxes', 'transparent')
    assert interactive.missing({'boxes'}) == ()
    with pytest.raises(G.MissingGuidanceError, match='needs guidance one of points, boxes, '
                       'mask, but the batch has none'):
        interactive.check({'image', 'transparent'} - {'transparent'}, 'SDMatte')
    with pytest.raises(ValueError, match="unknown guidance 'scribbles'"):
        G.GuidanceSpec(required=('scribbles', ))


def test_affine_moves_keep_points_on_pixels_and_drop_what_leaves():
    points = np.array([[0, 0, 1], [4, 2, 0]], np.float32)
    flipped = G.affine_points(points, G.flip_matrix('horizontal', (3, 5)), (3, 5))
    assert flipped.tolist() == [[4, 0, 1], [0, 2, 0]]
    cropped = G.affine_points(points, G.shift_matrix(-2, -1), (2, 3))
    assert cropped.tolist() == [[2, 1, 0]]  # (0, 0) left the crop
    boxes = np.array([[0, 0, 2, 1]], np.float32)  # covers pixels x 0..1 of row 0
    assert G.affine_boxes(boxes, G.flip_matrix('horizontal', (3, 5)), (3, 5)).tolist() == \
        [[3, 0, 5, 1]]
    assert G.affine_boxes(boxes, G.scale_matrix(2, 2), (6, 10)).tolist() == [[0, 0, 4, 2]]
    assert G.affine_boxes(boxes, G.shift_matrix(-3, 0), (3, 2)).shape == (0, 4)
