"""The data sample that travels from a dataset to a metric, and the batch a model sees.

A dataset pipeline ends with :class:`~mattebox.datasets.transforms.PackMattingInputs`,
which returns ``{'inputs': Tensor, 'data_samples': MattingDataSample}``: the image and
one sample holding ground truth, guidance and metainfo. The data preprocessor
(:class:`~mattebox.models.data_preprocessor.MattorPreprocessor`) turns a list of them
into the **batch**: ``inputs`` becomes a dict of tensors (below), the ground truth stays
in the samples. The model reads ground truth from the samples in ``'loss'`` mode and
writes ``pred_alpha`` into them in ``'predict'`` mode; the metrics read ``pred_alpha``,
``ori_alpha`` and ``ori_trimap``.

Data sample fields (all optional, present only when the pipeline provides them):

===============  ===========================================  ========================
field            meaning                                      type / shape
===============  ===========================================  ========================
``gt_alpha``     ground-truth alpha of the network input      float32 1 x H x W
``gt_fg``        ground-truth foreground                      float32 3 x H x W
``gt_bg``        ground-truth background                      float32 3 x H x W
``gt_merged``    the composite the network sees               float32 3 x H x W
``ori_alpha``    alpha as read from disk (for metrics)        uint8 H x W (float32
                                                              0..1 from a 16-bit file)
``ori_trimap``   trimap as read from disk (for metrics)       uint8 H x W
``pred_alpha``   the prediction at the original resolution    uint8 H x W
**guidance**
``trimap``       0 bg / 128 unknown / 255 fg                  1 x H x W (3 x H x W
                                                              one-hot, or labels, after
                                                              ``FormatTrimap``)
``mask``         coarse (soft) mask of the object, 0-255      1 x H x W
``points``       clicks: x, y, label (1 fg / 0 bg)            float32 K x 3
``boxes``        x0, y0, x1, y1 pixel edges                   float32 B x 4
``text``         the referring expression                     str
``transparent``  the object is (semi-)transparent             bool
===============  ===========================================  ========================

Coordinates are pixels of the network input (see :mod:`mattebox.guidance` for the
exact conventions); geometric transforms move them with the pixels. MMagic's coarse
masks ``seg`` / ``soft_seg`` (``GenerateSeg`` / ``GenerateSoftSeg``) are packed as
``mask`` (``PackMattingInputs`` takes the first of ``mask``, ``soft_seg``, ``seg``).

Image-like fields are on the 0-255 scale as packed: uint8 when the source image is
uint8 (less to send between dataloader processes), float32 otherwise (e.g. a composite
made on the fly); the table gives the types after the data preprocessor, which converts
to float32 and rescales ``gt_*`` to 0-1. Metainfo: ``ori_shape`` (H, W of the image on
disk), ``img_shape`` (H, W of the network input before batching), the ``*_path`` of
every file read, and ``sample_idx``; referring data adds ``instance_id``, ``image_id``,
``expression_index`` (int, -1 when none), ``binary_gt`` (bool: binary ground truth, e.g.
RefCOCO), ``source``, ``expressions`` (and ``distractor`` / ``distractor_id``).

The batch (``inputs`` after the data preprocessor, N samples, padded to H x W at the
bottom / right; only the guidance every sample has is present):

=================  ==============================================================
key                content
=================  ==============================================================
``image``          float32 N x 3 x H x W, ``(rgb - image_mean) / image_std``
``image_mean``     float32 1 x 3 x 1 x 1, the normalisation of ``image`` (0-255,
``image_std``      RGB order), so that a model can bring other colours into its space
``trimap``         float32 N x 1 x H x W: 0 bg, 128/255 unknown, 1 fg (padding: bg)
``mask``           float32 N x 1 x H x W in [0, 1]
``points``         float32 N x K x 3 (x, y, label), K the most points of a sample
``points_valid``   bool N x K: which rows of ``points`` are real (the rest is padding)
``boxes``          float32 N x B x 4, padded like the points
``boxes_valid``    bool N x B
``text``           list of N strings
``transparent``    bool N
=================  ==============================================================

A model declares the guidance it needs (``BaseMattor.guidance_spec``); a batch without
it fails with :class:`MissingGuidanceError`, which says how to provide it.
"""
from typing import List, Sequence

import torch
from mmengine.structures import BaseDataElement

from mattebox.guidance import GUIDANCE_FIELDS, MissingGuidanceError  # noqa: F401

DATA_FIELDS = ('gt_alpha', 'gt_fg', 'gt_bg', 'gt_merged', 'ori_alpha', 'ori_trimap',
               'pred_alpha') + GUIDANCE_FIELDS


class MattingDataSample(BaseDataElement):
    """One matting sample: ground truth, guidance, prediction and metainfo.

    See the module docstring for the documented fields. Reading a field that the
    pipeline did not provide raises ``AttributeError`` naming the field.
    """

    def __getattr__(self, name: str):
        # BaseDataElement stores fields in __dict__; this only runs for missing ones.
        if name in DATA_FIELDS:
            raise AttributeError(
                f'MattingDataSample has no field {name!r}; fields present: '
                f'{sorted(self.keys())}. Does the pipeline load and pack it?')
        raise AttributeError(f'{type(self).__name__!r} object has no attribute {name!r}')


def stack_field(data_samples: Sequence[MattingDataSample], name: str) -> torch.Tensor:
    """Stack one tensor field of a batch of samples into an ``N x C x H x W`` tensor.

    Raises:
        KeyError: if a sample lacks the field (the message names it and the sample).
    """
    tensors: List[torch.Tensor] = []
    for i, sample in enumerate(data_samples):
        if name not in sample:
            raise KeyError(f'data sample {i} has no field {name!r} (fields: '
                           f'{sorted(sample.keys())}); the model needs it for this mode')
        tensors.append(sample.get(name))
    return torch.stack(tensors, dim=0)
