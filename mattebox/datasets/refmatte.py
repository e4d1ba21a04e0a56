"""RefMatte (Li et al., CVPR 2023): referring image matting, one alpha per instance and
four expressions per instance; and image + alpha folders with offline captions
(P3M-10K, AM-2K, RM-1K) used as referring data.

Layout read by :class:`RefMatteDataset` (``docs/datasets.md``, "RefMatte"; the folder
names are arguments, the defaults follow the release as far as public sources tell:
``train/{img,mask}``, ``test/{img,mask}``, ``RefMatte_RW_100/{image_all,mask}``)::

    data/RefMatte/
      train/img/<image>.jpg          composited training images
      train/mask/<instance>.png      one alpha per instance
      test/img/  test/mask/
      json/refmatte_train_label.json
      json/refmatte_test_label.json
    data/RefMatte_RW_100/
      image_all/<image>.jpg  mask/<instance>.png  refmatte_rw100_label.json

The label json is keyed by instance::

    {"<instance_id>": {"image_name": "<image>.jpg",
                       "alpha_name": "<instance>.png",          (optional)
                       "expressions": ["...", "...", "...", "..."],
                       ...any other key, kept in the data info}, ...}

or a list of such dicts, each with ``"instance_id"``. The key names are arguments
(``image_key``, ``alpha_key``, ``expressions_key``; each takes a list of accepted names).
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from mattebox.engine.errors import MissingDataFileError
from mattebox.registry import DATASETS

from .background import IMG_SUFFIXES
from .folder import MattingFolderDataset
from .referring import (ReferringDatasetMixin, as_expressions, check_expression_mode,
                        expand_expressions)
from .validation import DatasetValidationError as AnnotationError
from .validation import ValidatedDatasetMixin

#: Default folders of each RefMatte layout, relative to ``data_root``.
REFMATTE_LAYOUTS = {
    'train': dict(img_dir='train/img', alpha_dir='train/mask'),
    'test': dict(img_dir='test/img', alpha_dir='test/mask'),
    'rw100': dict(img_dir='image_all', alpha_dir='mask'),
}


def read_json(path: str, owner: str, what: str):
    """Load a json file; errors name the file."""
    if not osp.isfile(path):
        raise MissingDataFileError(f'{owner}: {what} not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise AnnotationError(f'{owner}: {what} {path} is not valid json: {e}') from e


def _first_key(entry: dict, names: Sequence[str]) -> Optional[str]:
    return next((n for n in names if n in entry), None)


def _names(value: Union[str, Sequence[str]]) -> List[str]:
    return [value] if isinstance(value, str) else list(value)


@DATASETS.register_module()
class RefMatteDataset(ReferringDatasetMixin, ValidatedDatasetMixin, BaseDataset):
    """RefMatte / RefMatte-RW100: images, one alpha per instance, expressions per instance.

    Args:
        data_root: the dataset root (``data/RefMatte``; ``data/RefMatte_RW_100`` for
            ``layout='rw100'``).
        ann_file: the label json (relative to ``data_root`` unless absolute), keyed by
            instance (module docstring).
        layout: ``'train'``, ``'test'`` or ``'rw100'``: the default ``img_dir`` and
            ``alpha_dir`` (``REFMATTE_LAYOUTS``).
        expression_mode: ``'random'`` (training: one sample per instance, an expression
            drawn per load), ``'all'`` (one sample per expression: the RefMatte test
            protocol) or ``'index'`` (the expression that ``index_file`` or
            ``expression_index`` names).
        img_dir: folder of the images (default from ``layout``).
        alpha_dir: folder of the alpha mattes (default from ``layout``).
        index_file: ``'index'`` mode: a json ``{"<instance_id>": k}`` or a list of
            ``{"instance_id": ..., "expression_index": k}``; only the listed instances
            are used.
        expression_index: ``'index'`` mode without ``index_file``: one index for all.
        expression_seed: ``'random'`` mode: None (global ``np.random``) or a seed that
            fixes one expression per sample.
        image_key: the entry key(s) of the image file name, first found wins.
        alpha_key: the entry key(s) of the alpha file name; absent: ``<instance_id>`` +
            ``alpha_suffix``.
        expressions_key: the entry key(s) of the expressions (a list, or one string:
            e.g. ``'keyword'`` for the keyword-based setting).
        alpha_suffix: extension of default alpha names.
        source: the ``source`` name in the data info.
        distractors: also add, for every sample of an image with several instances, a
            *distractor* sample: the same ground truth with the expression (same index)
            of the next instance of that image (``distractor=True``,
            ``distractor_id``). :class:`~mattebox.evaluation.ReferringMattingMetric`
            scores them apart (``SAD_distractor``...): a grounding check.
        validate, skip_broken_samples, allow_outside_root: start-up file checks and
            broken-sample handling, as :class:`AdobeComp1kDataset` (``'header'``
            checks every image and alpha at start-up).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(dataset_type='referring_matting', task_name='matting')

    def __init__(self, data_root: str = '', ann_file: str = '', layout: str = 'train',
                 expression_mode: str = 'random', img_dir: Optional[str] = None,
                 alpha_dir: Optional[str] = None, index_file: Optional[str] = None,
                 expression_index: Optional[int] = None,
                 expression_seed: Optional[int] = None,
                 image_key: Union[str, Sequence[str]] = ('image_name', 'image', 'img_name'),
                 alpha_key: Union[str, Sequence[str]] = ('alpha_name', 'mask_name', 'alpha'),
                 expressions_key: Union[str, Sequence[str]] = ('expressions', 'expression'),
                 alpha_suffix: str = '.png', source: str = 'refmatte',
                 distractors: bool = False, validate: Union[bool, str] = 'header',
                 skip_broken_samples: bool = False, allow_outside_root: bool = False,
                 **kwargs) -> None:
        name = type(self).__name__
        if layout not in REFMATTE_LAYOUTS:
            raise ValueError(f'{name}: layout must be one of {sorted(REFMATTE_LAYOUTS)}, got '
                             f'{layout!r}')
        if not ann_file:
            raise ValueError(f'{name}: ann_file (the label json) is required')
        self.layout = layout
        self.expression_mode = check_expression_mode(expression_mode, name)
        self.img_dir = REFMATTE_LAYOUTS[layout]['img_dir'] if img_dir is None else img_dir
        self.alpha_dir = (REFMATTE_LAYOUTS[layout]['alpha_dir'] if alpha_dir is None
                          else alpha_dir)
        self.index_file = index_file
        self.expression_index = expression_index
        self.expression_seed = expression_seed
        self.image_key = _names(image_key)
        self.alpha_key = _names(alpha_key)
        self.expressions_key = _names(expressions_key)
        self.alpha_suffix = alpha_suffix
        self.source = source
        if distractors and self.expression_mode == 'random':
            raise ValueError(f"{name}: distractors need expression_mode 'all' or 'index' "
                             f'(fixed expressions), got {expression_mode!r}')
        self.distractors = distractors
        self._init_checks(validate, skip_broken_samples, allow_outside_root)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def _rooted(self, path: str) -> str:
        return path if osp.isabs(path) else osp.join(self.data_root, path)

    def _entries(self) -> List[tuple]:
        """``[(instance_id, entry, where)]`` of the label json."""
        name = type(self).__name__
        raw = read_json(self.ann_file, name, 'label json (ann_file)')
        if isinstance(raw, dict):
            items = [(str(k), v, f'{self.ann_file}, key {k!r}') for k, v in raw.items()]
        elif isinstance(raw, list):
            items = []
            for i, v in enumerate(raw):
                where = f'{self.ann_file}, entry {i}'
                if not isinstance(v, dict) or 'instance_id' not in v:
                    raise AnnotationError(f'{name}: {where}: a list entry must be a dict with '
                                     f'"instance_id", got {v!r}')
                items.append((str(v['instance_id']), v, where))
        else:
            raise AnnotationError(f'{name}: label json {self.ann_file}: expected a dict keyed by '
                             f'instance or a list of instances, got {type(raw).__name__}')
        if not items:
            raise AnnotationError(f'{name}: label json {self.ann_file} lists no instance')
        return items

    def _index_of(self) -> Optional[Dict[str, int]]:
        if self.index_file is None:
            return None
        name = type(self).__name__
        path = self._rooted(self.index_file)
        raw = read_json(path, name, 'index_file')
        out: Dict[str, int] = {}
        pairs = raw.items() if isinstance(raw, dict) else None
        if pairs is None:
            if not isinstance(raw, list):
                raise AnnotationError(f'{name}: index_file {path}: expected {{"<instance_id>": k}} '
                                 f'or a list of {{"instance_id", "expression_index"}}, got '
                                 f'{type(raw).__name__}')
            pairs = []
            for i, e in enumerate(raw):
                if not (isinstance(e, dict) and 'instance_id' in e
                        and 'expression_index' in e):
                    raise AnnotationError(f'{name}: index_file {path}, entry {i}: expected '
                                     f'{{"instance_id", "expression_index"}}, got {e!r}')
                pairs.append((e['instance_id'], e['expression_index']))
        for key, k in pairs:
            if isinstance(k, bool) or not isinstance(k, int):
                raise AnnotationError(f'{name}: index_file {path}, instance {key!r}: expression '
                                 f'index must be an int, got {k!r}')
            out[str(key)] = k
        return out

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        img_dir, alpha_dir = self._rooted(self.img_dir), self._rooted(self.alpha_dir)
        instances = []
        for inst_id, entry, where in self._entries():
            if not isinstance(entry, dict):
                raise AnnotationError(f'{name}: {where}: expected a dict with the image name and '
                                 f'expressions, got {entry!r}')
            ikey = _first_key(entry, self.image_key)
            if ikey is None or not isinstance(entry[ikey], str):
                raise AnnotationError(f'{name}: {where}: no image file name (one of keys '
                                 f'{self.image_key}); keys present: {sorted(entry)}')
            ekey = _first_key(entry, self.expressions_key)
            if ekey is None:
                raise AnnotationError(f'{name}: {where}: no expressions (one of keys '
                                 f'{self.expressions_key}); keys present: {sorted(entry)}')
            exprs = as_expressions(entry[ekey], f'{name}: {where}: {ekey!r}')
            akey = _first_key(entry, self.alpha_key)
            alpha_name = entry[akey] if akey else inst_id + self.alpha_suffix
            info = {k: v for k, v in entry.items() if k not in (ikey, ekey, akey)}
            image_name = entry[ikey]
            info.update(
                merged_path=osp.join(img_dir, image_name),
                alpha_path=osp.join(alpha_dir, alpha_name),
                expressions=exprs, instance_id=inst_id,
                image_id=str(entry.get('image_id', osp.splitext(image_name)[0])),
                binary_gt=False, source=self.source)
            instances.append(info)
        index_of = self._index_of() if self.expression_mode == 'index' else None
        if index_of is not None:
            unknown = sorted(set(index_of) - {i['instance_id'] for i in instances})
            if unknown:
                raise AnnotationError(f'{name}: index_file {self._rooted(self.index_file)} names '
                                 f'{len(unknown)} instance(s) missing from {self.ann_file}, '
                                 f'e.g. {unknown[:5]}')
        data_list = expand_expressions(instances, self.expression_mode,
                                       f'{name} ({self.ann_file})', index_of,
                                       self.expression_index)
        if self.distractors:
            data_list += self._distractor_samples(instances, data_list)
        return data_list

    @staticmethod
    def _distractor_samples(instances: List[dict], data_list: List[dict]) -> List[dict]:
        """For each sample: its ground truth with the same-index expression of the next
        instance (in label order, cyclic) of the same image."""
        by_image: Dict[str, List[dict]] = {}
        for inst in instances:
            by_image.setdefault(inst['image_id'], []).append(inst)
        out = []
        for info in data_list:
            group = by_image[info['image_id']]
            if len(group) < 2:
                continue
            pos = next(i for i, g in enumerate(group)
                       if g['instance_id'] == info['instance_id'])
            other = group[(pos + 1) % len(group)]
            k = min(info['expression_index'], len(other['expressions']) - 1)
            out.append(dict(info, text=other['expressions'][k], expression_index=k,
                            expressions=other['expressions'], distractor=True,
                            distractor_id=other['instance_id']))
        return out


@DATASETS.register_module()
class CaptionedFolderDataset(ReferringDatasetMixin, MattingFolderDataset):
    """An image + alpha folder (P3M-10K, AM-2K, RM-1K...) with captions made offline.

    The captions json maps a sample name (file name without extension, as
    :class:`MattingFolderDataset` matches them) to a caption or a list of captions::

        {"p_0a1b2c": "a woman with long hair", "p_0a1b2d": ["a man", "the man"]}

    A captioning model never runs here: make the json once, offline (docs/datasets.md).

    Args:
        captions_file: the captions json, relative to ``data_root`` unless absolute.
        expression_mode: ``'random'``, ``'all'`` or ``'index'`` (with
            ``expression_index``), as :class:`RefMatteDataset`.
        expression_index: ``'index'`` mode: the caption index.
        expression_seed: ``'random'`` mode seed (None: global ``np.random``).
        on_missing_caption: ``'error'`` (list every sample without a caption) or
            ``'skip'``.
        source: the ``source`` name (``'p3m'``, ``'am2k'``, ``'rm1k'``...).
        **kwargs: :class:`MattingFolderDataset` arguments (``data_root``, ``image_dir``,
            ``alpha_dir``...).
    """

    METAINFO = dict(dataset_type='referring_matting', task_name='matting')

    def __init__(self, captions_file: str, expression_mode: str = 'random',
                 expression_index: Optional[int] = None,
                 expression_seed: Optional[int] = None, on_missing_caption: str = 'error',
                 source: str = 'captioned', **kwargs) -> None:
        name = type(self).__name__
        self.captions_file = captions_file
        self.expression_mode = check_expression_mode(expression_mode, name)
        self.expression_index = expression_index
        self.expression_seed = expression_seed
        if on_missing_caption not in ('error', 'skip'):
            raise ValueError(f"{name}: on_missing_caption must be 'error' or 'skip', got "
                             f'{on_missing_caption!r}')
        self.on_missing_caption = on_missing_caption
        self.source = source
        kwargs.setdefault('suffixes', IMG_SUFFIXES)
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        path = (self.captions_file if osp.isabs(self.captions_file)
                else osp.join(self.data_root, self.captions_file))
        captions = read_json(path, name, 'captions_file')
        if not isinstance(captions, dict):
            raise AnnotationError(f'{name}: captions_file {path}: expected a dict '
                             f'{{"<name>": caption or [captions]}}, got '
                             f'{type(captions).__name__}')
        instances, missing = [], []
        for sample in super().load_data_list():
            key = sample['name']
            if key not in captions:
                missing.append(key)
                continue
            exprs = as_expressions(captions[key], f'{name}: captions_file {path}, key {key!r}')
            instances.append(dict(sample, expressions=exprs, instance_id=key, image_id=key,
                                  binary_gt=False, source=self.source))
        if missing and self.on_missing_caption == 'error':
            raise AnnotationError(f'{name}: captions_file {path} has no caption for {len(missing)} '
                           f'sample(s), e.g. {missing[:5]} (on_missing_caption=\'skip\' '
                           f'leaves them out)')
        if not instances:
            raise AnnotationError(f'{name}: no sample of {self.data_root!r} has a caption in {path}')
        return expand_expressions(instances, self.expression_mode, f'{name} ({path})',
                                  None, self.expression_index)
