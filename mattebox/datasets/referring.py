"""What the referring (text-grounded) datasets share: the data info keys and the
expression modes.

Every referring dataset (:class:`~mattebox.datasets.refmatte.RefMatteDataset`,
:class:`~mattebox.datasets.refcoco.RefCOCODataset`,
:class:`~mattebox.datasets.refmatte.CaptionedFolderDataset`) yields data info dicts
with these keys (``docs/datasets.md``, "Referring matting"):

=====================  ==================================================================
key                    meaning
=====================  ==================================================================
``merged_path``        the image
``alpha_path``         the instance's alpha matte (RefMatte, captioned folders); RefCOCO
                       gives ``segmentation`` + ``img_height`` / ``img_width`` instead,
                       which :class:`~mattebox.datasets.transforms.LoadReferringAlpha`
                       rasterises
``text``               str: the expression of this sample
``expressions``        list of str: every expression of the instance
``instance_id``        str: the instance (RefMatte key, RefCOCO ``ref_id``, file name)
``image_id``           str: the image (several instances share one)
``expression_index``   int: index of ``text`` in ``expressions``; -1 when not chosen yet
``binary_gt``          bool: the ground truth is a binary mask (RefCOCO), not a matte
``source``             str: the source name (``'refmatte'``, ``'refcoco'``, ``'p3m'``...)
=====================  ==================================================================

Expression modes (``expression_mode``):

- ``'random'`` (training): one sample per instance; each time the sample is loaded one
  expression is drawn, from the global ``np.random`` (seeded per worker by mmengine,
  like every random transform), or with ``expression_seed=N`` from a generator seeded
  by ``(N, sample_idx)``, which fixes one expression per instance (fixed validation
  prompts).
- ``'all'`` (evaluation): every instance expanded into one sample per expression,
  instance-major (``expression_index`` 0, 1, 2, 3 of instance 0, then instance 1...).
- ``'index'``: one sample per instance with the expression an index file names
  (RefMatte) or ``expression_index`` (every dataset: a fixed index for all instances).
"""
from typing import Any, List, Optional, Sequence

import numpy as np

from .validation import DatasetValidationError as AnnotationError

EXPRESSION_MODES = ('random', 'all', 'index')

#: Keys of a referring data info dict that PackMattingInputs copies into the metainfo.
REFERRING_META_KEYS = ('instance_id', 'image_id', 'expression_index', 'binary_gt', 'source',
                       'expressions', 'distractor', 'distractor_id')


def check_expression_mode(mode: str, owner: str) -> str:
    if mode not in EXPRESSION_MODES:
        raise ValueError(f'{owner}: expression_mode must be one of {EXPRESSION_MODES}, '
                         f'got {mode!r}')
    return mode


def as_expressions(value: Any, where: str) -> List[str]:
    """A non-empty list of non-empty strings from a string or a list of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(
            isinstance(v, str) and v.strip() for v in items):
        raise AnnotationError(f'{where}: expected a non-empty string or list of non-empty '
                         f'strings, got {value!r}')
    return [v.strip() for v in items]


def expand_expressions(instances: Sequence[dict], mode: str, owner: str,
                       index_of: Optional[dict] = None,
                       fixed_index: Optional[int] = None) -> List[dict]:
    """The data list of ``instances`` (dicts with ``expressions``) under ``mode``.

    Args:
        instances: one dict per instance, with ``expressions`` and ``instance_id``.
        mode: ``'random'``, ``'all'`` or ``'index'``.
        owner: the dataset (and file) for error messages.
        index_of: ``'index'`` mode: instance id -> expression index (instances missing
            from it are left out).
        fixed_index: ``'index'`` mode without ``index_of``: the same index for all.
    """
    out = []
    for inst in instances:
        exprs = inst['expressions']
        if mode == 'random':
            out.append(dict(inst, text=exprs[0], expression_index=-1))
        elif mode == 'all':
            for k, text in enumerate(exprs):
                out.append(dict(inst, text=text, expression_index=k))
        else:
            if index_of is not None:
                if inst['instance_id'] not in index_of:
                    continue
                k = index_of[inst['instance_id']]
            else:
                k = fixed_index
            if k is None:
                raise AnnotationError(f"{owner}: expression_mode='index' needs an index file "
                                 f'(index_file=...) or expression_index=K')
            if not -len(exprs) <= k < len(exprs):
                raise AnnotationError(f'{owner}: instance {inst["instance_id"]!r} has '
                                 f'{len(exprs)} expressions, the index asks for {k}')
            k = k % len(exprs)
            out.append(dict(inst, text=exprs[k], expression_index=k))
    return out


def draw_expression(info: dict, seed: Optional[int]) -> dict:
    """Set ``text`` / ``expression_index`` of a ``'random'``-mode data info in place."""
    exprs = info['expressions']
    if seed is None:
        k = int(np.random.randint(len(exprs)))
    else:
        k = int(np.random.default_rng([int(seed), int(info['sample_idx'])])
                .integers(len(exprs)))
    info['text'] = exprs[k]
    info['expression_index'] = k
    return info


class ReferringDatasetMixin:
    """Draws the expression of a ``'random'``-mode sample each time it is loaded
    (``prepare_data``; set ``self.expression_mode`` and ``self.expression_seed``).
    ``get_data_info`` outside loading (start-up checks, samplers) draws nothing: such
    infos have ``expression_index`` -1 and ``text`` the first expression."""

    expression_mode = 'all'
    expression_seed: Optional[int] = None
    _drawing = False

    def prepare_data(self, idx: int):
        self._drawing = True
        try:
            return super().prepare_data(idx)
        finally:
            self._drawing = False

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if self._drawing and self.expression_mode == 'random':
            draw_expression(info, self.expression_seed)
        return info
