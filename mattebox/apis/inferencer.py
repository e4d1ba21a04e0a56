"""One inference API for every model family: an image and its guidance in, the alpha
matte, the foreground colours and the cut-out out."""
import copy
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from mattebox import guidance as G
from mattebox.engine.config_check import check_cfg_options, load_config
from mattebox.engine.errors import UserError
from mattebox.foreground import estimate_foreground

ImageLike = Union[str, os.PathLike, np.ndarray, Any]  # a path, an array or a PIL image
ColourLike = Union[ImageLike, Tuple[int, int, int]]

#: pipeline transforms that read ground truth or annotations; inference drops them (the
#: user gives the image and the guidance instead)
GROUND_TRUTH_TRANSFORMS = ('LoadImageFromFile', 'GenerateTrimap',
                           'GenerateTrimapWithDistTransform', 'GenerateBoxPrompt',
                           'GeneratePointPrompt', 'GenerateMaskPrompt', 'LoadText')


#: how each kind of guidance is named in messages, and given to the API and the CLI
KIND_NAMES = {'trimap': 'a trimap', 'mask': 'a mask', 'points': 'points', 'boxes': 'a box',
              'text': 'text', 'transparent': 'the transparent flag'}
API_HINTS = {'trimap': 'trimap= (--trimap)', 'mask': 'mask= (--mask)',
             'points': 'points= (--point X Y [LABEL])', 'boxes': 'box= (--box X0 Y0 X1 Y1)',
             'text': 'text= (--text "...")', 'transparent': 'transparent= (--transparent)'}


class InputError(UserError, ValueError):
    """An image, guidance or background given to the inferencer cannot be used (missing
    file, undecodable, wrong shape or values); the message names it."""


class GuidanceError(InputError):
    """The guidance given cannot drive the model (missing, or of a kind it does not take
    and that cannot be converted); the message says what the model takes."""


# --------------------------------------------------------------------------- reading
def _is_pil(obj) -> bool:
    return type(obj).__module__.startswith('PIL.')


def _read_file(path, color_type: str, what: str) -> np.ndarray:
    from mattebox.datasets.transforms.loading import read_image
    try:
        return read_image(os.fspath(path), color_type, key=what)
    except (FileNotFoundError, ValueError) as e:
        raise InputError(str(e)) from None


def read_rgb(image: ImageLike, what: str = 'image') -> np.ndarray:
    """An RGB image as H x W x 3: uint8 as given or read, or float32 in [0, 1].

    Accepts a file path, a ``PIL.Image`` (converted to RGB) or an array: H x W x 3 RGB
    uint8, or float in [0, 1] (kept as float32, no round trip through uint8); a
    greyscale H x W array is repeated to three channels.
    """
    if isinstance(image, (str, os.PathLike)):
        return np.ascontiguousarray(_read_file(image, 'color', what)[..., ::-1])
    if _is_pil(image):
        return np.asarray(image.convert('RGB'))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputError(f'{what}: expected an H x W x 3 RGB array, got shape {arr.shape}')
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
            raise InputError(f'{what}: a float image must lie in [0, 1] (divide a 0-255 '
                             f'image by 255), got values in [{arr.min()}, {arr.max()}]')
        return arr.astype(np.float32, copy=False)
    raise InputError(f'{what}: expected a uint8 or a float image, got dtype {arr.dtype}')


def read_gray(image: ImageLike, what: str) -> np.ndarray:
    """A single-channel uint8 H x W map (trimap, mask) from a path, PIL image or array
    (uint8, bool, or float in [0, 1])."""
    if isinstance(image, (str, os.PathLike)):
        return _read_file(image, 'grayscale', what)
    arr = np.asarray(image.convert('L')) if _is_pil(image) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise InputError(f'{what}: expected an H x W array, got shape {arr.shape}')
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise InputError(f'{what}: a float map must lie in [0, 1], got values in '
                             f'[{arr.min()}, {arr.max()}]')
        return np.rint(arr * 255).astype(np.uint8)
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputError(f'{what}: expected 0-255 values, got [{arr.min()}, {arr.max()}]')
        arr = arr.astype(np.uint8)
    return arr


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image


def fit_background(background: ColourLike, shape: Sequence[int]) -> np.ndarray:
    """A background as float32 H x W x 3 RGB in [0, 1] of ``shape``: an image (path,
    PIL, array) scaled to cover the frame and centre-cropped, or an RGB colour."""
    h, w = int(shape[0]), int(shape[1])
    if isinstance(background, (tuple, list)) and len(background) == 3 and all(
            isinstance(v, (int, float, np.integer, np.floating)) for v in background):
        colour = np.asarray(background, np.float32)
        colour = colour / 255.0 if colour.max() > 1 else colour
        return np.broadcast_to(colour, (h, w, 3)).copy()
    bg = _to_float(read_rgb(background, 'background'))
    scale = max(h / bg.shape[0], w / bg.shape[1])
    size = (max(w, int(round(bg.shape[1] * scale))), max(h, int(round(bg.shape[0] * scale))))
    bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (bg.shape[0] - h) // 2, (bg.shape[1] - w) // 2
    return np.ascontiguousarray(bg[top:top + h, left:left + w])


# ---------------------------------------------------------------------------- result
class MattingResult:
    """What :class:`MattingInferencer` returns.

    Attributes:
        alpha: float32 H x W in [0, 1], at the image's own size.
        image: the input, H x W x 3 RGB (uint8, or float32 in [0, 1]).
        guidance: the guidance the model was given, in image pixels (after any
            conversion, e.g. the trimap made from a mask), plus ``notes`` on the
            conversions done.
    """

    def __init__(self, alpha: np.ndarray, image: np.ndarray, guidance: Dict[str, Any]) -> None:
        self.alpha = alpha
        self.image = image
        self.guidance = guidance
        self._foreground: Optional[np.ndarray] = None

    @property
    def alpha_uint8(self) -> np.ndarray:
        """The alpha as an 8-bit H x W array (what an alpha PNG holds)."""
        return np.rint(self.alpha * 255).astype(np.uint8)

    @property
    def foreground(self) -> np.ndarray:
        """Estimated foreground colours, H x W x 3 uint8 RGB (multi-level estimation,
        :func:`mattebox.foreground.estimate_foreground`; computed once, when asked)."""
        if self._foreground is None:
            fg = estimate_foreground(self.image, self.alpha)
            self._foreground = np.rint(fg * 255).astype(np.uint8)
        return self._foreground

    def cutout(self) -> np.ndarray:
        """The subject as H x W x 4 uint8 RGBA: estimated foreground + alpha."""
        return np.dstack([self.foreground, self.alpha_uint8])

    def composite(self, background: ColourLike) -> np.ndarray:
        """The subject over a new background (an image, scaled to cover the frame, or an
        RGB colour), H x W x 3 uint8 RGB."""
        bg = fit_background(background, self.alpha.shape)
        a = self.alpha[..., None]
        out = (self.foreground.astype(np.float32) / 255.0) * a + bg * (1 - a)
        return np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)


# ------------------------------------------------------------------------ inferencer
def families_taking(kind: str) -> List[str]:
    """Names of the registered model families whose ``guidance_spec`` accepts ``kind``."""
    from mattebox.models.base_mattor import BaseMattor
    from mattebox.registry import MODELS
    names = []
    for name, cls in sorted(MODELS.module_dict.items()):
        if (isinstance(cls, type) and issubclass(cls, BaseMattor) and not name.startswith('_')
                and kind in cls.guidance_spec.accepted):
            names.append(name)
    return names


def inference_pipeline(cfg) -> list:
    """The config's ``inference_pipeline``, or its test pipeline without the transforms
    that read ground truth (:data:`GROUND_TRUTH_TRANSFORMS`): the inferencer gives the
    image and the guidance as arrays instead."""
    if cfg.get('inference_pipeline') is not None:
        return copy.deepcopy(list(cfg.inference_pipeline))
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except AttributeError:
        return [dict(type='PackMattingInputs')]
    return [copy.deepcopy(t) for t in pipeline if t.get('type') not in GROUND_TRUTH_TRANSFORMS]


class MattingInferencer:
    """Run any mattebox model on an image with its guidance.

    Example::

        from mattebox.apis import MattingInferencer
        matter = MattingInferencer('configs/dim/dim_tiny_synthetic.py', 'iter_3000.pth')
        result = matter('photo.jpg', trimap='photo_trimap.png')
        result.alpha          # float32 H x W in [0, 1]
        result.cutout()       # H x W x 4 uint8 RGBA
        result.composite((0, 177, 64))   # over a green screen

    The model and its pipeline come from the config (``inference_pipeline`` if it has
    one, else its test pipeline without the steps that read ground truth); the
    checkpoint is loaded safely (weights only) and strictly (a checkpoint of another
    model is an error that lists the mismatched keys).

    Guidance the model does not take is converted where that is well defined: a mask
    for a trimap model becomes a trimap with an unknown band of ``band_width`` pixels on
    each side of its edge (default: 1.5 % of the longer side), a trimap for a mask model
    becomes the mask of its unknown and foreground regions, a mask for a box model its
    bounding box. Anything else is refused with a :class:`GuidanceError` that says what
    the model takes and which families take what was given.

    Args:
        config: a config file or a loaded ``mmengine.Config``.
        checkpoint: a local checkpoint file, or None for the config's own weights
            (random unless the config loads some: useful for smoke tests only).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; default: CUDA when available.
        cfg_options: config overrides, as ``--cfg-options`` takes them.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: Optional[str] = None,
                 cfg_options: Optional[dict] = None) -> None:
        from mmcv.transforms import Compose
        from mmengine.config import Config
        from mmengine.registry import DefaultScope

        from mattebox import register_all_modules
        from mattebox.registry import MODELS
        register_all_modules(init_default_scope=False)
        if isinstance(config, Config):
            cfg = copy.deepcopy(config)
            check_cfg_options(cfg, cfg_options)
            if cfg_options:
                cfg.merge_from_dict(cfg_options)
        else:
            cfg = load_config(os.fspath(config), cfg_options)
        self.cfg = cfg
        self.device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
        with DefaultScope.overwrite_default_scope('mattebox'):
            model = MODELS.build(cfg.model)
            self.pipeline = Compose(inference_pipeline(cfg))
        if checkpoint is not None:
            from mattebox.engine.checkpoint import load_model_weights
            load_model_weights(model, checkpoint)
        self.checkpoint = checkpoint
        self.model = model.to(self.device).eval()

    @property
    def guidance_spec(self) -> G.GuidanceSpec:
        """What the model takes (see :class:`mattebox.guidance.GuidanceSpec`)."""
        return self.model.guidance_spec

    @property
    def point_labels(self) -> Tuple[int, ...]:
        """The click labels a point model uses (its ``point_labels`` attribute: 1
        foreground, 0 background; both unless the model says otherwise)."""
        return tuple(getattr(self.model, 'point_labels', (0, 1)))

    @property
    def model_name(self) -> str:
        return type(self.model).__name__

    # -------------------------------------------------------------------- guidance
    def _refuse(self, kind: str, what: str) -> GuidanceError:
        takes = ', '.join(self.guidance_spec.accepted) or 'no guidance'
        others = [f for f in families_taking(kind) if f != self.model_name]
        where = (f'; families that take {what}: {", ".join(others)}' if others else
                 f'; no family in this installation takes {what}')
        return GuidanceError(f'{self.model_name} takes {takes}; it cannot use {what}{where}')

    def prepare_guidance(self, shape: Sequence[int], trimap=None, mask=None, box=None,
                         points=None, text: Optional[str] = None,
                         transparent: Optional[bool] = None,
                         band_width: Optional[int] = None) -> Dict[str, Any]:
        """Read, check and convert the guidance for an image of ``shape`` (H, W).

        Returns:
            The guidance as the pipeline takes it (``trimap`` / ``mask`` uint8 H x W,
            ``points`` K x 3, ``boxes`` B x 4, ``text``, ``transparent``) plus
            ``notes``: the conversions made.

        Raises:
            GuidanceError: see the class docstring.
        """
        try:
            return self._prepare_guidance(shape, trimap, mask, box, points, text, transparent,
                                          band_width)
        except InputError:
            raise
        except ValueError as e:  # from the checks of mattebox.guidance
            raise GuidanceError(str(e)) from None

    def _prepare_guidance(self, shape, trimap, mask, box, points, text, transparent,
                          band_width) -> Dict[str, Any]:
        h, w = int(shape[0]), int(shape[1])
        given: Dict[str, Any] = {}
        # messages name the file when the guidance came as one
        where = {kind: f'{kind} {os.fspath(value)}' if isinstance(value, (str, os.PathLike))
                 else kind for kind, value in (('trimap', trimap), ('mask', mask))}
        if trimap is not None:
            given['trimap'] = G.check_trimap_values(read_gray(trimap, 'trimap'),
                                                    where['trimap'])
        if mask is not None:
            given['mask'] = read_gray(mask, 'mask')
        for kind in ('trimap', 'mask'):
            if kind in given and given[kind].shape != (h, w):
                raise GuidanceError(f'{where[kind]}: {given[kind].shape[1]} x '
                                    f'{given[kind].shape[0]} pixels, the image {w} x {h}; '
                                    "give it at the image's size")
        if box is not None:
            given['boxes'] = G.as_boxes(box, 'box')
        if points is not None:
            given['points'] = G.as_points(points, 'points')
        G.check_inside(given.get('points', np.zeros((0, 3))),
                       given.get('boxes', np.zeros((0, 4))), (h, w))
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise GuidanceError(f'text: expected a non-empty string, got {text!r}')
            given['text'] = text
        if transparent is not None:
            given['transparent'] = bool(transparent)

        spec, notes = self.guidance_spec, []
        accepted = set(spec.accepted)
        out: Dict[str, Any] = {k: v for k, v in given.items() if k in accepted}
        used = set(out)
        if 'trimap' in accepted and 'trimap' not in out and 'mask' in given:
            band = G.band_width_for((h, w)) if band_width is None else int(band_width)
            out['trimap'] = G.trimap_from_mask(given['mask'], band)
            used.add('mask')
            notes.append(f'trimap made from the mask (unknown band {band} px on each side)')
        if 'mask' in accepted and 'mask' not in out and 'trimap' in given:
            out['mask'] = G.mask_from_trimap(given['trimap'])
            used.add('trimap')
            notes.append('mask made from the trimap (its unknown and foreground regions)')
        if 'boxes' in accepted and 'boxes' not in out and 'mask' in given \
                and 'mask' not in used:
            box_of_mask = G.box_from_mask(given['mask'], 128)
            if box_of_mask is not None:
                out['boxes'] = box_of_mask[None]
                used.add('mask')
                notes.append('box made from the mask')
        for kind in given:
            if kind in used:
                continue
            if kind in ('trimap', 'mask') and {'trimap', 'mask'} <= set(given):
                raise GuidanceError(f'{self.model_name} takes one trimap; give either a '
                                    'trimap or a mask (made into a trimap band), not both')
            raise self._refuse(kind, KIND_NAMES[kind])
        labels = self.point_labels
        if 'points' in out and len(out['points']):
            refused = [p[:2].tolist() for p in out['points'] if int(p[2]) not in labels]
            if refused:
                kinds = ' and '.join({1: 'foreground (label 1)', 0: 'background (label 0)'}[k]
                                     for k in labels)
                raise GuidanceError(f'{self.model_name} takes {kinds} clicks only; the '
                                    f'clicks at {refused} have another label')
        lacking = spec.missing(out)
        if lacking:
            need = ('one of ' if spec.one_of and set(lacking) == set(spec.one_of) else '') + \
                ', '.join(KIND_NAMES[k] for k in lacking)
            how = ', or '.join(API_HINTS[k] for k in lacking)
            if 'trimap' in lacking:
                how += ', or mask= (--mask), made into a trimap band'
            raise GuidanceError(f'{self.model_name} needs {need}; none was given. Give {how}')
        out['notes'] = notes
        return out

    # ---------------------------------------------------------------------- running
    def __call__(self, image: ImageLike, trimap=None, mask=None, box=None, points=None,
                 text: Optional[str] = None, transparent: Optional[bool] = None,
                 band_width: Optional[int] = None) -> MattingResult:
        """Matte one image.

        Args:
            image: a path, a ``PIL.Image`` or an H x W x 3 RGB array (uint8, or float32
                in [0, 1], used as is).
            trimap: a path or an H x W uint8 array, 0 / 128 / 255.
            mask: a path or an H x W array (0-255, bool, or float in [0, 1]).
            box: ``(x0, y0, x1, y1)`` in pixels of ``image`` (x1, y1 exclusive).
            points: ``[(x, y), ...]`` or ``[(x, y, label), ...]`` in pixels of ``image``
                (label 1 foreground, 0 background).
            text: the referring expression.
            transparent: the subject is (semi-)transparent.
            band_width: unknown band of a trimap made from a mask, in pixels.

        Returns:
            A :class:`MattingResult`.
        """
        rgb = read_rgb(image)
        h, w = rgb.shape[:2]
        guide = self.prepare_guidance((h, w), trimap, mask, box, points, text, transparent,
                                      band_width)
        results: Dict[str, Any] = {
            'merged': np.ascontiguousarray(rgb[..., ::-1]) if rgb.dtype == np.uint8 else
            np.ascontiguousarray(rgb[..., ::-1] * 255.0, dtype=np.float32),
            'ori_shape': (h, w), 'sample_idx': 0}
        if isinstance(image, (str, os.PathLike)):
            results['merged_path'] = os.fspath(image)
        for key in G.GUIDANCE_FIELDS:
            if key in guide:
                results[key] = guide[key]
        if 'trimap' in guide:
            results['ori_trimap'] = guide['trimap']
        try:
            packed = self.pipeline(results)
        except KeyError as e:
            raise KeyError(f'the inference pipeline of the config needs {e}; give the config '
                           'an inference_pipeline that works from the image and the '
                           'guidance alone') from e
        batch = self.model.data_preprocessor(
            {'inputs': [packed['inputs']], 'data_samples': [packed['data_samples']]}, False)
        with torch.inference_mode():
            self.model.check_guidance(batch['inputs'], 'predict')
            alpha = self.model.predict_alphas(batch['inputs'], batch['data_samples'])[0]
        return MattingResult(alpha.float().cpu().numpy(), rgb, guide)
