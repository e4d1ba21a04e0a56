"""Straightforward transcriptions of the matting metrics, for tests and benchmarks only.

``dim_*``: line-by-line NumPy/SciPy transcriptions of the official Deep Image Matting
MATLAB code (``compute_sad_loss.m``, ``compute_mse_loss.m``,
``compute_gradient_loss.m`` + ``gaussgradient.m``, ``compute_connectivity_error.m``),
in single precision where the MATLAB code uses ``single``. They return the raw values
of the MATLAB functions (SAD already divided by 1000; Grad and Conn not divided).
``bwconncomp`` numbers components in column-major order, so the labelling here runs on
the transposed mask; ``bwdist`` is left out because its result never reaches the loss.

``mmagic_*``: transcriptions of MMagic's (mmeval's) matting metrics, including their
whole-image SAD / MSE sums, float64 ``np.arange`` thresholds and OpenCV labelling.

These are deliberately naive (ten full-image labellings, full-image filtering); the
fast implementations in :mod:`mattebox.evaluation.functional` are checked against them.
Inputs are uint8 H x W arrays.
"""
import math

import cv2
import numpy as np
from scipy import ndimage


# --------------------------------------------------------------------------- DIM (MATLAB)
def dim_sad(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    error_map = np.abs(pred.astype(np.float32) - gt.astype(np.float32)) / np.float32(255)
    loss = np.sum(error_map * (trimap == 128).astype(np.float32), dtype=np.float32)
    return float(loss / np.float32(1000))


def dim_mse(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray) -> float:
    error_map = (pred.astype(np.float32) - gt.astype(np.float32)) / np.float32(255)
    unknown = (trimap == 128).astype(np.float32)
    with np.errstate(invalid='ignore', divide='ignore'):
        return float(np.sum(error_map ** 2 * unknown, dtype=np.float32)
                     / np.sum(unknown, dtype=np.float32))


def _gauss(x: float, sigma: float) -> float:
    return math.exp(-x ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))


def _dgauss(x: float, sigma: float) -> float:
    return -x * _gauss(x, sigma) / sigma ** 2


def gaussgradient_kernels(sigma: float):
    """``hx``, ``hy`` exactly as ``gaussgradient.m`` builds them."""
    epsilon = 1e-2
    halfsize = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma
                                                         * epsilon)))
    size = 2 * halfsize + 1
    hx = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            hx[i, j] = _gauss(i - halfsize, sigma) * _dgauss(j - halfsize, sigma)
    hx = hx / math.sqrt(np.sum(np.abs(hx) * np.abs(hx)))
    return hx, hx.T


def _mat2gray(img: np.ndarray) -> np.ndarray:
    img = img.astype(np.float64)
    lo, hi = img.min(), img.max()
    if hi == lo:
        return img  # constant image: its gradient is zero whatever the value
    return (img - lo) / (hi - lo)


def dim_gradient(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray,
                 sigma: float = 1.4) -> float:
    hx, hy = gaussgradient_kernels(sigma)
    amps = []
    for img in (pred, gt):
        img = _mat2gray(img)
        # imfilter(..., 'replicate', 'conv'): true convolution, replicated borders
        gx = ndimage.convolve(img, hx, mode='nearest')
        gy = ndimage.convolve(img, hy, mode='nearest')
        amps.append(np.sqrt(gx ** 2 + gy ** 2))
    error_map = (amps[0].astype(np.float32) - amps[1].astype(np.float32)) ** 2
    return float(np.sum(error_map * (trimap == 128).astype(np.float32), dtype=np.float32))


def dim_connectivity(pred: np.ndarray, gt: np.ndarray, trimap: np.ndarray,
                     step: float = 0.1) -> float:
    pred = pred.astype(np.float32) / np.float32(255)
    gt = gt.astype(np.float32) / np.float32(255)
    n_steps = int(round(1 / step))
    thresh_steps = [k * step for k in range(n_steps + 1)]
    l_map = -np.ones(pred.shape, dtype=np.float32)
    four = ndimage.generate_binary_structure(2, 1)
    for ii in range(1, len(thresh_steps)):
        # MATLAB compares single with a double scalar in single precision
        t = np.float32(thresh_steps[ii])
        both = (pred >= t) & (gt >= t)
        # bwconncomp numbers components in column-major order: label the transpose
        labels_t, n = ndimage.label(both.T, structure=four)
        omega = np.zeros(pred.shape, dtype=bool)
        if n > 0:
            sizes = np.bincount(labels_t.ravel(), minlength=n + 1)[1:]
            max_id = int(np.argmax(sizes)) + 1      # first of equal sizes, like max()
            omega = (labels_t == max_id).T
        flag = (l_map == -1) & ~omega
        l_map[flag] = np.float32(thresh_steps[ii - 1])
    l_map[l_map == -1] = 1
    pred_d = pred - l_map
    gt_d = gt - l_map
    pred_phi = 1 - pred_d * (pred_d >= 0.15).astype(np.float32)
    gt_phi = 1 - gt_d * (gt_d >= 0.15).astype(np.float32)
    return float(np.sum(np.abs(pred_phi - gt_phi) * (trimap == 128).astype(np.float32),
                        dtype=np.float32))


def dim_all(pred, gt, trimap) -> dict:
    """The per-image numbers ``evaluate.m`` prints (SAD, MSE, Grad / 1000, Conn / 1000)."""
    return {
        'SAD': dim_sad(pred, gt, trimap),
        'MSE': dim_mse(pred, gt, trimap),
        'GRAD': dim_gradient(pred, gt, trimap) / 1000,
        'CONN': dim_connectivity(pred, gt, trimap) / 1000,
    }


# --------------------------------------------------------------------------- MMagic
def mmagic_sad(pred, gt, trimap) -> float:
    return float(np.abs(pred / 255.0 - gt / 255.0).sum() / 1000)


def mmagic_mse(pred, gt, trimap) -> float:
    weight_sum = (trimap == 128).sum()
    if weight_sum == 0:
        return 0.0
    return float(((pred / 255.0 - gt / 255.0) ** 2).sum() / weight_sum)


def mmagic_gradient(pred, gt, trimap, sigma: float = 1.4) -> float:
    hx, hy = gaussgradient_kernels(sigma)
    amps = []
    for img in (pred / 255.0, gt / 255.0):
        normed = np.zeros_like(img)
        cv2.normalize(img, normed, 1.0, 0.0, cv2.NORM_MINMAX)
        gx = cv2.filter2D(normed, -1, hx, borderType=cv2.BORDER_REPLICATE)
        gy = cv2.filter2D(normed, -1, hy, borderType=cv2.BORDER_REPLICATE)
        amps.append(np.sqrt(gx ** 2 + gy ** 2))
    return float(((amps[1] - amps[0]) ** 2 * (trimap == 128)).sum() / 1000)


def mmagic_connectivity(pred, gt, trimap, step: float = 0.1) -> float:
    pred = pred / 255.0
    gt = gt / 255.0
    thresh_steps = np.arange(0, 1 + step, step)
    round_down_map = -np.ones_like(gt)
    for i in range(1, len(thresh_steps)):
        inter = ((gt >= thresh_steps[i]) & (pred >= thresh_steps[i])).astype(np.uint8)
        _, output, stats, _ = cv2.connectedComponentsWithStats(inter, connectivity=4)
        size = stats[1:, -1]
        omega = np.zeros_like(gt)
        if len(size) != 0:
            omega[output == np.argmax(size) + 1] = 1
        mask = (round_down_map == -1) & (omega == 0)
        round_down_map[mask] = thresh_steps[i - 1]
    round_down_map[round_down_map == -1] = 1
    gt_diff = gt - round_down_map
    pred_diff = pred - round_down_map
    gt_phi = 1 - gt_diff * (gt_diff >= 0.15)
    pred_phi = 1 - pred_diff * (pred_diff >= 0.15)
    return float(np.sum(np.abs(gt_phi - pred_phi) * (trimap == 128)) / 1000)
