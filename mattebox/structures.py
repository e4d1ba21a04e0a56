"""The data sample that travels from a dataset to a metric.

A dataset pipeline ends with :class:`~mattebox.datasets.transforms.PackMattingInputs`,
which returns ``{'inputs': Tensor, 'data_samples': MattingDataSample}``. The data
preprocessor batches them, the model reads the ground truth from the samples in
``'loss'`` mode and writes ``pred_alpha`` into them in ``'predict'`` mode, and the
metrics read ``pred_alpha``, ``ori_alpha`` and ``ori_trimap``.

Fields (data; all optional, present only when the pipeline provides them):

==============  ===========================================  =======================
field           meaning                                      type / shape
==============  ===========================================  =======================
``gt_alpha``    ground-truth alpha of the network input      float32 1 x H x W
``gt_fg``       ground-truth foreground                      float32 3 x H x W
``gt_bg``       ground-truth background                      float32 3 x H x W
``gt_merged``   the composite the network sees               float32 3 x H x W
``trimap``      trimap of the network input, 0/128/255       float32 1 x H x W
``seg``         coarse mask (``GenerateSeg``), 0-255         float32 1 x H x W
``soft_seg``    soft coarse mask (``GenerateSoftSeg``)       float32 1 x H x W
``ori_alpha``   alpha as read from disk (for metrics)        uint8 H x W
``ori_trimap``  trimap as read from disk (for metrics)       uint8 H x W
``prompt``      visual / text prompt (points, box, mask,     dict
                text) for prompt-driven models
``pred_alpha``  the prediction at the original resolution    uint8 H x W
==============  ===========================================  =======================

Image-like fields are on the 0-255 scale as packed: uint8 when the source image is
uint8 (less to send between dataloader processes), float32 otherwise (e.g. a composite
made on the fly); the table gives the types after the data preprocessor, which converts
to float32 and rescales ``gt_*`` to 0-1. Metainfo: ``ori_shape`` (H, W of the image on disk),
``img_shape`` (H, W of the network input before batching), the ``*_path`` of every
file read, and ``sample_idx``.
"""
from typing import List, Sequence

import torch
from mmengine.structures import BaseDataElement

DATA_FIELDS = ('gt_alpha', 'gt_fg', 'gt_bg', 'gt_merged', 'trimap', 'seg', 'soft_seg',
               'ori_alpha', 'ori_trimap', 'prompt', 'pred_alpha')


class MattingDataSample(BaseDataElement):
    """One matting sample: ground truth, trimap, prompt, prediction and metainfo.

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
