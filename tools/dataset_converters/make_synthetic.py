"""Write a procedural matting dataset in the Composition-1k layout.

Example::

    python tools/dataset_converters/make_synthetic.py data/synthetic \\
        --num-train 200 --num-test 50 --size 64 64 --seed 0

writes ``OUT/{train,test}/{fg,alpha,bg,merged}/NNNN.png``, ``OUT/test/trimap/NNNN.png``,
``OUT/training_list.json`` and ``OUT/test_list.json``. The same arguments always give
the same bytes; see :mod:`mattebox.datasets.synthetic` for what the data looks like.

With ``--referring`` it writes REFERRING data instead (2-3 objects per image, one alpha
and 4 expressions per object) in the RefMatte layout (``OUT/{train,test}/{img,mask}/``,
``OUT/json/refmatte_{train,test}_label.json``; :mod:`mattebox.datasets.synthetic_referring`);
``--num-train`` / ``--num-test`` then count images::

    python tools/dataset_converters/make_synthetic.py data/synthetic_referring \\
        --referring --num-train 200 --num-test 20 --size 64 64
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

try:
    from mattebox.datasets.synthetic import MIN_SIZE, make_synthetic_dataset
    from mattebox.datasets.synthetic_referring import make_referring_dataset
except ImportError:  # run from a source checkout without installing mattebox
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from mattebox.datasets.synthetic import MIN_SIZE, make_synthetic_dataset
    from mattebox.datasets.synthetic_referring import make_referring_dataset


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Generate a synthetic matting dataset (procedural foregrounds with '
        'hair-like strands, soft edges, semi-transparent regions and holes over '
        'textured backgrounds) in the Composition-1k folder layout.')
    parser.add_argument('out', type=Path, help='output folder (the dataset root)')
    parser.add_argument('--num-train', type=int, default=100,
                        help='number of training samples (default: 100)')
    parser.add_argument('--num-test', type=int, default=20,
                        help='number of test samples, each with a trimap (default: 20)')
    parser.add_argument('--size', type=int, nargs=2, default=(320, 320),
                        metavar=('H', 'W'),
                        help=f'image height and width, each >= {MIN_SIZE} '
                        '(default: 320 320)')
    parser.add_argument('--seed', type=int, default=0,
                        help='base random seed; same seed, same bytes (default: 0)')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into a non-empty folder that is not an earlier '
                        'synthetic dataset (same-named files are replaced, nothing is '
                        'deleted)')
    parser.add_argument('--referring', action='store_true',
                        help='write referring data (2-3 objects per image, 4 expressions '
                        'each) in the RefMatte layout; counts are images')
    parser.add_argument('--quiet', action='store_true', help='print nothing on success')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: generate the dataset, report progress and where it went.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        Process exit status (0 on success, 2 on a bad argument or output folder).
    """
    args = parse_args(argv)
    start = time.perf_counter()
    if args.referring:
        try:
            out = make_referring_dataset(args.out, num_train=args.num_train,
                                         num_test=args.num_test, size=tuple(args.size),
                                         seed=args.seed, overwrite=args.overwrite,
                                         progress=not args.quiet)
        except (ValueError, FileExistsError) as err:
            print(f'make_synthetic.py: error: {err}', file=sys.stderr)
            return 2
        if not args.quiet:
            print(f'[synthetic-referring] {time.perf_counter() - start:.2f} s; labels: '
                  f'{out / "json"}')
        return 0
    try:
        out = make_synthetic_dataset(
            args.out,
            num_train=args.num_train,
            num_test=args.num_test,
            size=tuple(args.size),
            seed=args.seed,
            overwrite=args.overwrite,
            progress=not args.quiet)
    except (ValueError, FileExistsError) as err:
        print(f'make_synthetic.py: error: {err}', file=sys.stderr)
        return 2
    if not args.quiet:
        total = args.num_train + args.num_test
        elapsed = time.perf_counter() - start
        print(f'[synthetic] {total} samples in {elapsed:.2f} s '
              f'({1000 * elapsed / total:.1f} ms/sample); annotations: '
              f'{out / "training_list.json"}, {out / "test_list.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
