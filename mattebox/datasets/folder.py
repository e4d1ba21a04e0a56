"""Any "image + alpha (+ trimap / fg / bg)" folder tree, samples matched by file name.

The layouts of the public matting datasets (Distinctions-646, AIM-500, AM-2K, P3M-10k,
...) differ only in their folder names, which are arguments here; ``docs/datasets.md``
gives the arguments for each.
"""
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mattebox.registry import DATASETS

from .background import IMG_SUFFIXES, BackgroundFolder, assign_backgrounds, list_images
from .validation import ValidatedDatasetMixin

#: folder argument -> results key of the file (``merged`` is the input image).
FOLDER_KEYS = {'image_dir': 'merged', 'fg_dir': 'fg', 'alpha_dir': 'alpha',
               'trimap_dir': 'trimap', 'bg_dir': 'bg'}


def _stem(rel_path: str) -> str:
    return osp.splitext(rel_path)[0]


@DATASETS.register_module()
class MattingFolderDataset(ValidatedDatasetMixin, BaseDataset):
    """Samples made of files with the same name (without extension) in several folders.

    The first folder given among ``image_dir``, ``fg_dir``, ``alpha_dir``,
    ``trimap_dir`` (in that order) lists the samples, sorted by file name; every other
    folder given must hold a file of the same name (any image extension:
    ``o_1a2b.jpg`` matches ``o_1a2b.png``). A sample is a dict with ``merged_path``
    (from ``image_dir``: the input image, as in Composition-1k), ``fg_path``,
    ``alpha_path``, ``trimap_path``, ``bg_path`` (absolute or relative to the working
    folder) and ``name`` (the matched name), the keys that ``LoadImageFromFile`` and
    ``PackMattingInputs`` use.

    Backgrounds for composition come either matched by name (``bg_dir``) or from a
    background folder (``backgrounds``, e.g. BG-20K or COCO): every sample is repeated
    ``per_sample`` times, repeat ``k`` of sample ``i`` with background
    ``i * per_sample + k`` of the (sorted, optionally shuffled) folder, as DIM pairs
    Composition-1k's foregrounds with COCO. Put ``FitBgToFg`` after loading to give the
    background the foreground's size. For a new random background at every iteration
    use the ``RandomLoadResizeBg`` transform instead.

    Args:
        data_root: root folder; the ``*_dir`` arguments are relative to it.
        image_dir: folder of input images (``merged``), or None.
        alpha_dir: folder of alpha mattes, or None (unlabelled data).
        trimap_dir: folder of trimaps, or None.
        fg_dir: folder of foregrounds, or None.
        bg_dir: folder of backgrounds matched by name, or None.
        backgrounds: a background folder to pair samples with: ``dict(folder=...,
            per_sample=1, names_file=None, shuffle_seed=None, recursive=False)``
            (``folder`` and ``names_file`` relative to ``data_root`` unless absolute).
        key_regex: a regular expression applied to the names of the listing folder; its
            first group (or the group named ``key``) is the name looked up in the other
            folders. E.g. ``r'(.+)_\\d+'`` matches ``hair_3.png`` (a composited test
            image) with ``hair.png`` (its alpha).
        recursive: also list sub-folders (names then include the sub-folder).
        suffixes: file name endings taken as images.
        on_missing: ``'error'``: a name missing from another folder is an error, listing
            every missing file; ``'skip'``: such samples are left out with a warning.
        transparent_names: a text file (relative to ``data_root`` unless absolute) listing
            the names (one per line, with or without extension) of the samples whose
            subject is (semi-)transparent: they get ``transparent=True``, the others
            ``False`` (SDMatte's ``*_transparent_samples.txt``); None: no flag.
        validate: ``'header'`` (default), ``'decode'`` / ``True`` or ``False``: check
            every file at start-up
            (:func:`~mattebox.datasets.validation.validate_samples`) and fail listing
            every problem.
        skip_broken_samples: in training, replace a sample whose files fail to load by
            another one, counted and listed (``BrokenSamplesHook``); never in test mode.
        allow_outside_root: allow folders that lead outside ``data_root`` (refused by
            default; a ``backgrounds`` folder may always lie elsewhere).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``pipeline``,
            ``test_mode``, ``metainfo``, ...).
    """

    METAINFO = dict(dataset_type='matting', task_name='matting')

    def __init__(self, data_root: str = '', image_dir: Optional[str] = 'image',
                 alpha_dir: Optional[str] = 'alpha', trimap_dir: Optional[str] = None,
                 fg_dir: Optional[str] = None, bg_dir: Optional[str] = None,
                 backgrounds: Optional[dict] = None, key_regex: Optional[str] = None,
                 recursive: bool = False, suffixes: Sequence[str] = IMG_SUFFIXES,
                 on_missing: str = 'error', transparent_names: Optional[str] = None,
                 validate: Union[bool, str] = 'header', skip_broken_samples: bool = False,
                 allow_outside_root: bool = False, **kwargs) -> None:
        self.transparent_names = transparent_names
        self.folders = {arg: d for arg, d in (('image_dir', image_dir), ('fg_dir', fg_dir),
                                              ('alpha_dir', alpha_dir),
                                              ('trimap_dir', trimap_dir),
                                              ('bg_dir', bg_dir)) if d}
        if not any(arg != 'bg_dir' for arg in self.folders):
            raise ValueError('MattingFolderDataset: give at least one of image_dir, fg_dir, '
                             'alpha_dir, trimap_dir')
        if on_missing not in ('error', 'skip'):
            raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
        if bg_dir and backgrounds:
            raise ValueError('MattingFolderDataset: give bg_dir (backgrounds matched by '
                             'name) or backgrounds (a background folder), not both')
        if backgrounds is not None:
            unknown = set(backgrounds) - {'folder', 'per_sample', 'names_file',
                                          'shuffle_seed', 'recursive'}
            if 'folder' not in backgrounds or unknown:
                raise ValueError("backgrounds must be dict(folder=..., per_sample=1, "
                                 "names_file=None, shuffle_seed=None, recursive=False), "
                                 f'got {backgrounds!r}')
        self.backgrounds = dict(backgrounds) if backgrounds else None
        self.key_regex = re.compile(key_regex) if key_regex else None
        self.recursive = recursive
        self.suffixes = tuple(suffixes)
        self.on_missing = on_missing
        self._init_checks(validate, skip_broken_samples, allow_outside_root)
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _read_names(self, names_file: str) -> set:
        path = names_file if osp.isabs(names_file) else osp.join(self.data_root, names_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{type(self).__name__}: transparent_names file not found: '
                                    f'{path}')
        with open(path, encoding='utf-8') as f:
            return {_stem(line.strip()) for line in f if line.strip()}

    def _rooted_keys(self):
        """A ``backgrounds`` folder (BG-20K, COCO) may lie outside ``data_root``."""
        keys = super()._rooted_keys()
        return tuple(k for k in keys if k != 'bg_path') if self.backgrounds else keys

    def _key(self, name: str) -> str:
        if self.key_regex is None:
            return name
        m = self.key_regex.fullmatch(name)
        if m is None:
            raise ValueError(f'{type(self).__name__}: key_regex {self.key_regex.pattern!r} '
                             f'does not match the file name {name!r}')
        groups = m.groupdict()
        return groups['key'] if 'key' in groups else m.group(1)

    def _index(self, arg: str, folder: str) -> Dict[str, str]:
        """name (without extension) -> path, for one folder."""
        index: Dict[str, str] = {}
        for rel in list_images(folder, self.suffixes, self.recursive):
            name = _stem(rel)
            if name in index:
                raise ValueError(f'{type(self).__name__}: {arg} {folder} holds two images '
                                 f'named {name!r}: {osp.basename(index[name])} and '
                                 f'{osp.basename(rel)}; the match by name is ambiguous')
            index[name] = osp.join(folder, rel)
        return index

    def load_data_list(self) -> List[dict]:
        name = type(self).__name__
        folders = {arg: osp.join(self.data_root, d) for arg, d in self.folders.items()}
        missing_dirs = [f'{arg}={p}' for arg, p in folders.items() if not osp.isdir(p)]
        if missing_dirs:
            raise FileNotFoundError(f'{name}: folder(s) not found: {", ".join(missing_dirs)}')
        args = list(folders)
        anchor = args[0]
        indexes = {arg: self._index(arg, folders[arg]) for arg in args}
        if not indexes[anchor]:
            raise ValueError(f'{name}: no image ({", ".join(self.suffixes)}) in '
                             f'{anchor} {folders[anchor]}')
        data_list, missing = [], []
        used = {arg: set() for arg in args[1:]}
        for stem in sorted(indexes[anchor]):
            key = self._key(stem)
            sample = {f'{FOLDER_KEYS[anchor]}_path': indexes[anchor][stem], 'name': stem}
            lacking = []
            for arg in args[1:]:
                path = indexes[arg].get(key)
                if path is None:
                    lacking.append(osp.join(folders[arg], key + '.*'))
                else:
                    sample[f'{FOLDER_KEYS[arg]}_path'] = path
                    used[arg].add(key)
            if lacking:
                missing.append(f'{indexes[anchor][stem]}: no match in ' + ', '.join(lacking))
                continue
            data_list.append(sample)
        if missing and self.on_missing == 'error':
            shown = '\n'.join(missing[:20])
            more = f'\n... and {len(missing) - 20} more' if len(missing) > 20 else ''
            raise FileNotFoundError(
                f'{name}: {len(missing)} sample(s) of {anchor} {folders[anchor]} have no '
                f'file of the same name (any extension) in another folder:\n{shown}{more}'
                "\n(on_missing='skip' leaves them out)")
        if missing:
            print_log(f'{name}: left out {len(missing)} sample(s) without a match, e.g. '
                      f'{missing[0]}', logger='current', level=30)
        for arg, keys in used.items():
            extra = len(indexes[arg]) - len(keys)
            if extra and self.key_regex is None:
                print_log(f'{name}: {extra} image(s) of {arg} {folders[arg]} match no '
                          f'sample of {anchor}', logger='current', level=30)
        if not data_list:
            raise ValueError(f'{name}: no sample found under {self.data_root!r} '
                             f'({", ".join(f"{a}={d}" for a, d in self.folders.items())})')
        if self.transparent_names:
            flagged = self._read_names(self.transparent_names)
            for sample in data_list:
                sample['transparent'] = sample['name'] in flagged
        if self.backgrounds:
            bg = self.backgrounds
            root = self.data_root

            def rooted(p):
                return p if p is None or osp.isabs(p) else osp.join(root, p)

            source = BackgroundFolder(rooted(bg['folder']), rooted(bg.get('names_file')),
                                      recursive=bg.get('recursive', False),
                                      suffixes=self.suffixes)
            paths = [source[i] for i in range(len(source))]
            data_list = assign_backgrounds(data_list, paths, bg.get('per_sample', 1),
                                           bg.get('shuffle_seed'))
        return data_list

