"""Multi-level foreground estimation: recovers the foreground colours of a composite
(no halo of the old background), with exact behaviour at the extremes."""
import numpy as np
import pytest

from mattebox.datasets.synthetic import make_sample
from mattebox.foreground import estimate_foreground


def composite_of(seed=3, size=(96, 128)):
    s = make_sample(seed, size)
    fg = s['fg'][..., ::-1].astype(np.float32) / 255
    bg = s['bg'][..., ::-1].astype(np.float32) / 255
    a = s['alpha'].astype(np.float32) / 255
    return fg * a[..., None] + bg * (1 - a[..., None]), fg, bg, a


def test_foreground_removes_the_old_background_from_soft_pixels():
    image, fg, bg, a = composite_of()
    est, est_bg = estimate_foreground(image, a, return_background=True)
    assert est.dtype == np.float32 and est.shape == image.shape
    assert 0 <= est.min() and est.max() <= 1
    # the composite over a new background: with the image as foreground the old
    # background shows through every soft pixel; the estimate removes most of it
    soft = (a > 0.02) & (a < 0.98)
    green = np.zeros_like(image)
    green[..., 1] = 1
    truth = fg * a[..., None] + green * (1 - a[..., None])
    naive = np.abs(image * a[..., None] + green * (1 - a[..., None]) - truth)[soft].mean()
    ours = np.abs(est * a[..., None] + green * (1 - a[..., None]) - truth)[soft].mean()
    assert ours < 0.3 * naive, (ours, naive)
    # the model holds: alpha F + (1 - alpha) B reproduces the image
    recon = est * a[..., None] + est_bg * (1 - a[..., None])
    assert np.abs(recon - image).mean() < 0.01


def test_opaque_and_uint8_inputs():
    image, _, _, a = composite_of()
    opaque = estimate_foreground(image, np.ones_like(a))
    np.testing.assert_allclose(opaque, image, atol=1e-3)  # alpha 1: F is the image
    as_uint8 = estimate_foreground(np.rint(image * 255).astype(np.uint8),
                                   np.rint(a * 255).astype(np.uint8))
    assert np.abs(as_uint8 - estimate_foreground(image, a)).max() < 0.02
    tiny = estimate_foreground(np.full((1, 1, 3), 0.5, np.float32), np.ones((1, 1)))
    np.testing.assert_allclose(tiny, 0.5, atol=1e-4)


def test_shape_errors():
    with pytest.raises(ValueError, match='expected an H x W x 3 image and an H x W alpha'):
        estimate_foreground(np.zeros((4, 4, 3)), np.zeros((4, 5)))
