"""Adobe Composition-1k and any dataset annotated in its json format."""
import json
import os.path as osp
from typing import List, Union

from mmengine.dataset import BaseDataset

from mattebox.registry import DATASETS

from mattebox.engine.errors import MissingDataFileError

from .validation import DatasetValidationError as AnnotationError
from .validation import ValidatedDatasetMixin

PATH_KEYS = ('alpha_path', 'fg_path', 'bg_path', 'merged_path', 'trimap_path')


@DATASETS.register_module()
class AdobeComp1kDataset(ValidatedDatasetMixin, BaseDataset):
    """Composition-1k: samples listed in a json annotation file.

    The annotation file is either a plain list of samples or
    ``{"metainfo": {...}, "data_list": [...]}``. A sample is a dict whose
    ``alpha_path``, ``fg_path``, ``bg_path``, ``merged_path`` and ``trimap_path``
    (each optional, at least one required) are relative to ``data_root``; other keys
    are kept as they are. Example::

        [{"alpha_path": "Training_set/alpha/a.jpg", "fg_path": "Training_set/fg/a.jpg",
          "bg_path": "bg/b.jpg", "merged_path": "Training_set/merged/a_0.png"}, ...]

    Args:
        ann_file: annotation json, relative to ``data_root`` unless absolute.
        data_root: folder that the paths in the annotation are relative to.
        pipeline: transforms applied to each sample.
        test_mode: whether this is a test set.
        validate: ``'header'`` (default: every referenced file exists, is complete,
            and its header gives the size and channels: sizes agree, alpha and trimap
            single-channel), ``'decode'`` / ``True`` (decode everything: also trimap
            values) or ``False``; see :mod:`mattebox.datasets.validation`. Fails
            listing every problem.
        skip_broken_samples: in training, replace a sample whose files fail to load
            (changed on disk since the check) by another one, and count and list it
            (``BrokenSamplesHook``) instead of stopping; never in test mode.
        allow_outside_root: allow annotated paths that lead outside ``data_root``
            (absolute or with ``..``); refused by default.
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_type='matting', task_name='matting')

    def __init__(self, ann_file: str, data_root: str = '',
                 validate: Union[bool, str] = 'header', skip_broken_samples: bool = False,
                 allow_outside_root: bool = False, **kwargs) -> None:
        # metainfo precedence: constructor argument > annotation file > class default
        self._user_metainfo = dict(kwargs.get('metainfo') or {})
        self._init_checks(validate, skip_broken_samples, allow_outside_root)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise MissingDataFileError(
                f'{type(self).__name__}: annotation file not found: {self.ann_file} '
                f'(ann_file joined with data_root {self.data_root!r})')
        try:
            with open(self.ann_file, encoding='utf-8') as f:
                raw = json.load(f)
        except json.JSONDecodeError as e:
            raise AnnotationError(f'annotation file {self.ann_file} is not valid json: '
                                  f'{e}') from e
        if isinstance(raw, dict):
            if 'data_list' not in raw:
                raise AnnotationError(f'annotation file {self.ann_file}: a dict annotation '
                                      f'needs a "data_list" key, found keys {sorted(raw)}')
            self._metainfo.update(raw.get('metainfo', {}))
            self._metainfo.update(self._user_metainfo)
            entries = raw['data_list']
        elif isinstance(raw, list):
            entries = raw
        else:
            raise AnnotationError(f'annotation file {self.ann_file}: expected a list of '
                                  f'samples or {{"metainfo", "data_list"}}, got '
                                  f'{type(raw).__name__}')

        data_list = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not any(k in entry for k in PATH_KEYS):
                raise AnnotationError(f'annotation file {self.ann_file}, sample {i}: expected '
                                      f'a dict with some of {list(PATH_KEYS)}, got {entry!r}')
            info = dict(entry)
            for key in PATH_KEYS:
                if key in info:
                    if not isinstance(info[key], str):
                        raise AnnotationError(f'annotation file {self.ann_file}, sample {i}: '
                                              f'{key} must be a string, got {info[key]!r}')
                    info[key] = osp.join(self.data_root, info[key])
            data_list.append(info)
        if not data_list:
            raise AnnotationError(f'annotation file {self.ann_file} lists no samples')
        return data_list
