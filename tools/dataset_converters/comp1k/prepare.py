"""Compose Adobe Composition-1k the way the DIM authors' script does.

Example::

    python tools/dataset_converters/comp1k/prepare.py data/adobe_composition-1k \\
        --coco data/coco --voc data/VOCdevkit --nproc 8

Input (the layout of the Adobe release, ``ADOBE_ROOT``)::

    Training_set/training_fg_names.txt   training_bg_names.txt   (431 / 43100 lines)
    Training_set/Adobe-licensed images/{fg,alpha}/   Training_set/Other/{fg,alpha}/
    Test_set/test_fg_names.txt           test_bg_names.txt       (50 / 1000 lines)
    Test_set/Adobe-licensed images/{fg,alpha,trimaps}/
    COCO_ROOT/train2014/ (or train2017/, names without 'COCO_train2014_')
    VOC_ROOT/VOC2012/JPEGImages/ (VOC_ROOT is VOCdevkit)

Each test foreground is composed over 20 VOC backgrounds and each training foreground
over 100 COCO backgrounds: foreground ``i`` gets backgrounds ``i * N + k`` of the
background names file, in its order. A background smaller than the foreground is
upscaled (bicubic, keeping its ratio), then its top-left foreground-sized window is
kept; the merged image is ``uint8(fg * a + bg * (1 - a))`` with ``a = alpha / 255`` in
float64 and truncated, as in DIM's ``composite4`` and MMagic's converter. (OpenCV's
bicubic and JPEG decoder are used where DIM used PIL's: upscaled backgrounds differ from
DIM's by a few grey levels.)

Output (under ``--out-dir``, default ``ADOBE_ROOT``; nothing in the inputs is
written)::

    Test_set/{bg,merged}/NAME_K.png    Training_set/{bg,merged}/NAME_K.png
    test_list.json       alpha, fg, bg, merged, trimap paths (1000 samples)
    training_list.json   alpha, fg, bg, merged paths (43100 samples; DIM's setting)
    training_list_online.json   alpha, fg and the *source* COCO background of each
                         sample (43100 samples), for online merging
                         (``configs/dim/*online-merge*``): needs no composed image.

Paths in the json files are relative to the output root (``..`` where they leave it),
in the plain-list format of MMagic that ``AdobeComp1kDataset`` reads. Every image is
written to a temporary name and renamed when complete, so an interrupted run resumes
where it stopped: complete outputs (PNG with its end chunk) are skipped. The json of a
split is written only when every sample of it is there.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import os.path as osp
import re
import sys
import time
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

try:
    from mattebox.datasets.background import fit_background
except ImportError:  # run from a source checkout without installing mattebox
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__))))))
    from mattebox.datasets.background import fit_background

SPLITS = {
    'train': dict(prefix='Training_set', names='training', num_bg=100,
                  subsets=('Adobe-licensed images', 'Other'), json='training_list.json'),
    'test': dict(prefix='Test_set', names='test', num_bg=20,
                 subsets=('Adobe-licensed images',), json='test_list.json'),
}
ONLINE_JSON = 'training_list_online.json'
_PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'
_COCO2014_PREFIX = re.compile(r'^COCO_(train|val)2014_')
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]


class PrepareError(Exception):
    """A problem with the inputs, worded for the user."""


# ------------------------------------------------------------------------- helpers
def png_complete(path: str) -> bool:
    """Whether ``path`` is a PNG file that ends with its IEND chunk."""
    try:
        size = osp.getsize(path)
        if size < 8 + len(_PNG_END):
            return False
        with open(path, 'rb') as f:
            if f.read(8) != b'\x89PNG\r\n\x1a\n':
                return False
            f.seek(size - len(_PNG_END))
            return f.read() == _PNG_END
    except OSError:
        return False


def write_png_atomic(path: str, image: np.ndarray) -> None:
    """Write a PNG under a temporary name, then rename it: never a partial ``path``."""
    ok, buf = cv2.imencode('.png', image, _PNG_PARAMS)
    if not ok:
        raise OSError(f'could not encode {path}')
    tmp = f'{path}.tmp{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path: str, obj) -> None:
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def read(path: str, flag: int) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'file not found: {path}')
    img = cv2.imdecode(np.fromfile(path, np.uint8), flag)
    if img is None:
        raise ValueError(f'cannot decode {path} (truncated or not an image?)')
    return img


def read_names(path: str) -> List[str]:
    if not osp.isfile(path):
        raise PrepareError(f'names file not found: {path}')
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def rel(path: str, root: str) -> str:
    return osp.relpath(path, root).replace(os.sep, '/')


def out_name(fg_name: str, k: int) -> str:
    return f'{osp.splitext(fg_name)[0]}_{k}.png'


# ------------------------------------------------------------------------ planning
def find_bg_dir(split: str, coco: Optional[str], voc: Optional[str]) -> str:
    if split == 'train':
        if not coco:
            raise PrepareError('the training set needs --coco COCO_ROOT (or --skip-train)')
        for sub in ('train2014', 'train2017'):
            if osp.isdir(osp.join(coco, sub)):
                return osp.join(coco, sub)
        raise PrepareError(f'neither train2014/ nor train2017/ found under --coco {coco}')
    if not voc:
        raise PrepareError('the test set needs --voc VOC_ROOT (or --skip-test)')
    for sub in ('VOC2012/JPEGImages', 'JPEGImages'):
        if osp.isdir(osp.join(voc, sub)):
            return osp.join(voc, sub)
    raise PrepareError(f'VOC2012/JPEGImages/ not found under --voc {voc} (give the '
                       'VOCdevkit folder)')


def bg_source(bg_dir: str, name: str) -> str:
    path = osp.join(bg_dir, name)
    if not osp.exists(path) and _COCO2014_PREFIX.match(name):  # COCO 2017 file names
        stripped = osp.join(bg_dir, _COCO2014_PREFIX.sub('', name))
        if osp.exists(stripped):
            return stripped
    return path


def plan_split(split: str, root: str, out: str, bg_dir: str,
               num_bg: Optional[int]) -> List[dict]:
    """One task per foreground: its files and its (k, source bg, outputs) list."""
    spec = SPLITS[split]
    num_bg = num_bg or spec['num_bg']
    prefix = osp.join(root, spec['prefix'])
    fg_names = read_names(osp.join(prefix, f'{spec["names"]}_fg_names.txt'))
    bg_names = read_names(osp.join(prefix, f'{spec["names"]}_bg_names.txt'))
    if len(bg_names) != len(fg_names) * num_bg:
        raise PrepareError(
            f'{split}: {len(fg_names)} foregrounds x {num_bg} backgrounds each needs '
            f'{len(fg_names) * num_bg} background names, found {len(bg_names)} in '
            f'{prefix}/{spec["names"]}_bg_names.txt')
    problems, tasks = [], []
    out_prefix = osp.join(out, spec['prefix'])
    for i, fg_name in enumerate(fg_names):
        found = {}
        for kind in ('fg', 'alpha'):
            cands = [osp.join(prefix, sub, kind, fg_name) for sub in spec['subsets']]
            found[kind] = next((c for c in cands if osp.isfile(c)), None)
            if found[kind] is None:
                problems.append(f'{split}: {kind} of {fg_name!r} not found in '
                                + ' or '.join(osp.dirname(c) for c in cands))
        trimaps = []
        comps = []
        for k in range(num_bg):
            name = out_name(fg_name, k)
            comp = dict(k=k, bg_src=bg_source(bg_dir, bg_names[i * num_bg + k]),
                        bg_out=osp.join(out_prefix, 'bg', name),
                        merged_out=osp.join(out_prefix, 'merged', name))
            if not osp.isfile(comp['bg_src']):
                problems.append(f'{split}: background {bg_names[i * num_bg + k]!r} '
                                f'(for {fg_name!r}, k={k}) not found: {comp["bg_src"]}')
            if split == 'test':
                tdir = osp.join(prefix, 'Adobe-licensed images', 'trimaps')
                cands = [osp.join(tdir, osp.splitext(name)[0] + osp.splitext(fg_name)[1]),
                         osp.join(tdir, name), osp.join(tdir, fg_name)]
                comp['trimap'] = next((c for c in cands if osp.isfile(c)), None)
                if comp['trimap'] is None:
                    trimaps.append(osp.basename(cands[0]))
            comps.append(comp)
        if trimaps:
            problems.append(f'test: no trimap for {fg_name!r} in {tdir} (looked for '
                            f'{trimaps[0]} ... and {fg_name})')
        tasks.append(dict(index=i, fg_name=fg_name, fg=found['fg'], alpha=found['alpha'],
                          comps=comps))
    if problems:
        shown = '\n'.join(problems[:30])
        more = f'\n... and {len(problems) - 30} more' if len(problems) > 30 else ''
        raise PrepareError(f'{len(problems)} input problem(s):\n{shown}{more}')
    return tasks


def annotations(split: str, tasks: Sequence[dict], out: str) -> Tuple[list, Optional[list]]:
    composed, online = [], []
    for task in tasks:
        for comp in task['comps']:
            entry = dict(alpha_path=rel(task['alpha'], out), fg_path=rel(task['fg'], out),
                         bg_path=rel(comp['bg_out'], out),
                         merged_path=rel(comp['merged_out'], out))
            if split == 'test':
                entry['trimap_path'] = rel(comp['trimap'], out)
            composed.append(entry)
            online.append(dict(alpha_path=entry['alpha_path'], fg_path=entry['fg_path'],
                               bg_path=rel(comp['bg_src'], out)))
    return composed, (online if split == 'train' else None)


# ------------------------------------------------------------------------- working
def compose_one(task: dict) -> Tuple[int, int, List[str]]:
    """Compose one foreground over its backgrounds; returns (written, skipped, errors)."""
    todo = [c for c in task['comps']
            if not (png_complete(c['bg_out']) and png_complete(c['merged_out']))]
    skipped = len(task['comps']) - len(todo)
    if not todo:
        return 0, skipped, []
    try:
        fg = read(task['fg'], cv2.IMREAD_COLOR)
        alpha = read(task['alpha'], cv2.IMREAD_GRAYSCALE)
    except (OSError, ValueError) as e:
        return 0, skipped, [f'{task["fg_name"]}: {e}']
    if fg.shape[:2] != alpha.shape[:2]:
        return 0, skipped, [f'{task["fg_name"]}: fg {task["fg"]} is {fg.shape[1]}x'
                            f'{fg.shape[0]} but alpha {task["alpha"]} is '
                            f'{alpha.shape[1]}x{alpha.shape[0]}']
    h, w = alpha.shape
    a = alpha.astype(np.float64)[..., None] / 255.0
    fg_part, bg_weight = a * fg, 1.0 - a  # DIM: alpha * fg + (1 - alpha) * bg, float64
    errors, written = [], 0
    for comp in todo:
        try:
            bg = fit_background(read(comp['bg_src'], cv2.IMREAD_COLOR), (h, w), 'bicubic')
            merged = (fg_part + bg_weight * bg).astype(np.uint8)  # truncated, as DIM
            write_png_atomic(comp['bg_out'], bg)
            write_png_atomic(comp['merged_out'], merged)
            written += 1
        except (OSError, ValueError, cv2.error) as e:
            errors.append(f'{task["fg_name"]} k={comp["k"]} (background {comp["bg_src"]}): '
                          f'{e}')
    return written, skipped, errors


class Progress:
    """Counter lines (every 5% or 10 s) with rate and time left; a bar on a terminal."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.start = self.last = time.time()
        self.bar = None
        if sys.stdout.isatty():
            from rich.progress import Progress as RichProgress
            self.bar = RichProgress(transient=False)
            self.bar.start()
            self.task = self.bar.add_task(desc, total=total)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
            return
        now = time.time()
        total = max(self.total, 1)
        if (self.done == self.total or now - self.last >= 10
                or self.done * 20 // total > (self.done - n) * 20 // total):
            self.last = now
            rate = self.done / max(now - self.start, 1e-6)
            left = (self.total - self.done) / rate if rate else 0
            print(f'[{self.desc}] {self.done}/{self.total} '
                  f'({100 * self.done // max(self.total, 1)}%) {rate:.1f}/s, '
                  f'{left:.0f} s left', flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_split(split: str, tasks: List[dict], out: str, nproc: int, compose: bool) -> bool:
    spec = SPLITS[split]
    composed, online = annotations(split, tasks, out)
    if online is not None:
        write_json_atomic(osp.join(out, ONLINE_JSON), online)
        print(f'[{split}] wrote {osp.join(out, ONLINE_JSON)} ({len(online)} samples, '
              'source backgrounds, for online merging)')
    if not compose:
        return True
    for kind in ('bg', 'merged'):
        os.makedirs(osp.join(out, spec['prefix'], kind), exist_ok=True)
    total = sum(len(t['comps']) for t in tasks)
    progress = Progress(total, f'{split}: composing')
    written = skipped = 0
    errors: List[str] = []
    try:
        if nproc > 1:
            with multiprocessing.get_context('fork').Pool(
                    nproc, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
                for w, s, e in pool.imap_unordered(compose_one, tasks):
                    written, skipped = written + w, skipped + s
                    errors += e
                    progress.update(w + s + len(e))
        else:
            for task in tasks:
                w, s, e = compose_one(task)
                written, skipped = written + w, skipped + s
                errors += e
                progress.update(w + s + len(e))
    finally:
        progress.close()
    print(f'[{split}] {written} composed, {skipped} already there (resumed), '
          f'{len(errors)} failed')
    if errors:
        print(f'[{split}] {len(errors)} composition(s) failed; {spec["json"]} not written:',
              file=sys.stderr)
        for e in errors:
            print(f'  {e}', file=sys.stderr)
        return False
    write_json_atomic(osp.join(out, spec['json']), composed)
    print(f'[{split}] wrote {osp.join(out, spec["json"])} ({len(composed)} samples)')
    return True


def check_outputs_apart(tasks: Sequence[dict], bg_dir: str) -> None:
    """Refuse an output folder that is an input folder (outputs never replace inputs)."""
    inputs = {osp.realpath(bg_dir)}
    for task in tasks:
        inputs.update(osp.realpath(osp.dirname(task[k])) for k in ('fg', 'alpha'))
        inputs.update(osp.realpath(osp.dirname(c['trimap'])) for c in task['comps']
                      if c.get('trimap'))
    for task in tasks[:1]:
        for c in task['comps'][:1]:
            for key in ('bg_out', 'merged_out'):
                folder = osp.realpath(osp.dirname(c[key]))
                if folder in inputs:
                    raise PrepareError(f'output folder {folder} is an input folder; '
                                       'choose another --out-dir')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compose Adobe Composition-1k (test: 20 VOC backgrounds per '
        'foreground; training: 100 COCO backgrounds per foreground) as the DIM authors '
        'did, and write the annotation json files. Resumable.')
    parser.add_argument('adobe_root', help='the Adobe release (Training_set/, Test_set/)')
    parser.add_argument('--coco', help='COCO root holding train2014/ or train2017/')
    parser.add_argument('--voc', help='VOCdevkit folder (holding VOC2012/JPEGImages/)')
    parser.add_argument('--out-dir', help='output root (default: adobe_root)')
    parser.add_argument('--nproc', type=int, default=4, help='processes (default: 4)')
    parser.add_argument('--skip-train', action='store_true', help='do not prepare training')
    parser.add_argument('--skip-test', action='store_true', help='do not prepare the test set')
    parser.add_argument('--no-train-composite', action='store_true',
                        help=f'training: only write {ONLINE_JSON} (online merging), no '
                        'composed images')
    parser.add_argument('--train-bgs-per-fg', type=int, default=None,
                        help='backgrounds per training foreground (default: 100, DIM)')
    parser.add_argument('--test-bgs-per-fg', type=int, default=None,
                        help='backgrounds per test foreground (default: 20, DIM)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    root, out = args.adobe_root, args.out_dir or args.adobe_root
    if args.nproc < 1:
        print('error: --nproc must be >= 1', file=sys.stderr)
        return 2
    try:
        if not osp.isdir(root):
            raise PrepareError(f'adobe_root not found: {root}')
        os.makedirs(out, exist_ok=True)
        ok = True
        for split in ('test', 'train'):
            if (split == 'train' and args.skip_train) or (split == 'test' and args.skip_test):
                continue
            bg_dir = find_bg_dir(split, args.coco, args.voc)
            num_bg = args.train_bgs_per_fg if split == 'train' else args.test_bgs_per_fg
            tasks = plan_split(split, root, out, bg_dir, num_bg)
            check_outputs_apart(tasks, bg_dir)
            print(f'[{split}] {len(tasks)} foregrounds x '
                  f'{len(tasks[0]["comps"]) if tasks else 0} backgrounds from {bg_dir}')
            compose = not (split == 'train' and args.no_train_composite)
            ok = run_split(split, tasks, out, args.nproc, compose) and ok
    except PrepareError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
