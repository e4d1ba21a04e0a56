"""Rerun the commands of the README results tables and compare with the documented numbers.

    python benchmarks/readme_tables.py [TABLE ...] [--quick] [--keep DIR] [--rtol 0.01]
    python benchmarks/readme_tables.py --list

Each table (``--list``) names a README, the ``bash`` code blocks whose commands produce
its numbers, and which table row each ``tools/test.py`` command of those blocks scores.
The commands are read from the README itself, not copied here, so what is checked is
what a reader runs. They are run, in order, in a fresh scratch folder that holds only
links to the repository's ``configs``, ``tools``, ``mattebox`` and ``benchmarks`` (a
fresh clone: no data, no ``work_dirs``), with ``python`` being this interpreter;
``export NAME=VALUE`` lines set the environment of the following commands, ``#``
comments are skipped. The one change made to a command: ``tools/test.py`` gets
``--out`` so that the metrics are read from a file, not from the console.

The documented numbers are read from the README's markdown table (the row whose first
cell starts with the row's label; columns by header: SAD, MSE, Grad, Conn, ...).
A measured value passes when ``|measured - documented| <= max(rtol * |documented|,
half a unit of the documented number's last digit)``; the script prints documented,
measured and the difference for every cell, and exits with 1 if any cell fails.

``--quick`` shortens every training command to ``--quick-iters`` iterations (and the
checkpoint names of the test commands with it): it checks that the documented commands
run, in minutes, and prints what they give; the documented numbers are shown but not
judged. ``--seed S`` trains with ``randomness.seed=S`` and prints what that gives (not
judged): how far a table's numbers move with the seed. Run the full check before writing
numbers into a README.

Metrics depend on the torch thread count for the same seed (multi-threaded float sums):
the README blocks set ``OMP_NUM_THREADS`` themselves when their numbers need it.
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LINKED = ('configs', 'tools', 'mattebox', 'benchmarks')

#: table name -> README, and the code blocks (a heading, then the n-th ```bash block
#: after it) with the row label of each tools/test.py command in the block, in order
TABLES = {
    'diffusionmat-tiny': dict(
        readme='configs/diffusionmat/README.md',
        blocks=[
            dict(heading='## The tiny synthetic run', index=0,
                 rows=['prior alone, trained', 'DiffusionMat, trained']),
            dict(heading='## The tiny synthetic run', index=1,
                 rows=['prior alone, untrained', 'DiffusionMat, untrained']),
        ]),
}

#: README column header -> key of tools/test.py's metrics json
COLUMNS = {'SAD': 'SAD', 'MSE': 'MSE', 'Grad': 'GRAD', 'Conn': 'CONN', 'MAD': 'MAD'}


# ----------------------------------------------------------------------- README parsing
def code_block(text: str, heading: str, index: int, where: str) -> str:
    """The ``index``-th ```bash block after the line ``heading`` (up to the next heading
    of the same or a higher level)."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        raise SystemExit(f'{where}: no heading {heading!r}') from None
    level = len(heading) - len(heading.lstrip('#'))
    blocks, current = [], None
    for line in lines[start + 1:]:
        if current is None and re.match(r'#{1,%d} ' % level, line):
            break
        if current is None and line.strip() == '```bash':
            current = []
        elif current is not None and line.strip() == '```':
            blocks.append('\n'.join(current))
            current = None
        elif current is not None:
            current.append(line)
    if index >= len(blocks):
        raise SystemExit(f'{where}: {heading!r} has {len(blocks)} bash block(s), '
                         f'block {index} wanted')
    return blocks[index]


def commands(block: str) -> List[Tuple[str, object]]:
    """``('env', (name, value))`` and ``('run', argv)`` items of a bash block: ``\\``
    continuations joined, comments dropped."""
    out: List[Tuple[str, object]] = []
    for line in block.replace('\\\n', ' ').splitlines():
        line = line.split(' #')[0].strip() if not line.lstrip().startswith('#') else ''
        if not line:
            continue
        m = re.fullmatch(r'export\s+(\w+)=(\S+)', line)
        if m:
            out.append(('env', (m.group(1), m.group(2))))
            continue
        argv = shlex.split(line)
        env = {}
        while argv and re.fullmatch(r'\w+=\S*', argv[0]):
            name, value = argv.pop(0).split('=', 1)
            env[name] = value
        out.append(('run', (env, argv)))
    return out


def documented_row(text: str, label: str, where: str) -> Dict[str, str]:
    """``{column: documented string}`` of the table row whose first cell starts with
    ``label`` (the header is the nearest table header above it)."""
    header: Optional[List[str]] = None
    for line in text.splitlines():
        if not line.startswith('|'):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if header is None:
            header = cells
            continue
        if cells[0].startswith(label):
            return {h: c.strip('*') for h, c in zip(header, cells) if h in COLUMNS}
    raise SystemExit(f'{where}: no table row starting with {label!r}')


# --------------------------------------------------------------------------- running
def scratch_folder(keep: Optional[str]) -> str:
    folder = keep or tempfile.mkdtemp(prefix='readme_tables_')
    os.makedirs(folder, exist_ok=True)
    if os.listdir(folder):
        raise SystemExit(f'--keep {folder}: the folder must be new or empty (a fresh clone)')
    for name in LINKED:
        os.symlink(osp.join(ROOT, name), osp.join(folder, name))
    os.makedirs(osp.join(folder, 'bin'))
    os.symlink(sys.executable, osp.join(folder, 'bin', 'python'))
    return folder


def shorten(argv: List[str], iters: int) -> List[str]:
    """A command cut to ``iters`` iterations: a training command without its own
    ``train_cfg.max_iters`` gets ``train_cfg.max_iters=iters``, and every checkpoint name
    ``iter_N.pth`` with ``N > iters`` becomes ``iter_{iters}.pth``."""
    def rename(arg: str) -> str:
        m = re.search(r'iter_(\d+)\.pth$', arg)
        return arg[:m.start()] + f'iter_{iters}.pth' if m and int(m.group(1)) > iters else arg

    argv = [rename(a) for a in argv]
    if any(a.startswith('train_cfg.max_iters=') for a in argv):
        return argv
    return with_cfg_option(argv, f'train_cfg.max_iters={iters}')


def with_cfg_option(argv: List[str], option: str) -> List[str]:
    """A training command with ``--cfg-options option`` added (other commands as they are)."""
    if not (len(argv) > 1 and argv[1].endswith('tools/train.py')):
        return argv
    if '--cfg-options' in argv:
        at = argv.index('--cfg-options') + 1
        return argv[:at] + [option] + argv[at:]
    return argv + ['--cfg-options', option]


def run_table(name: str, table: dict, args, folder: str) -> List[tuple]:
    """Run a table's blocks in ``folder``; return (row, column, documented, measured)."""
    path = osp.join(ROOT, table['readme'])
    with open(path, encoding='utf-8') as f:
        text = f.read()
    results = []
    for block_spec in table['blocks']:
        block = code_block(text, block_spec['heading'], block_spec['index'], table['readme'])
        env = dict(os.environ)
        env['PATH'] = osp.join(folder, 'bin') + os.pathsep + env.get('PATH', '')
        rows = list(block_spec['rows'])
        for kind, item in commands(block):
            if kind == 'env':
                env[item[0]] = item[1]
                continue
            extra_env, argv = item
            if argv and argv[0] == 'python':
                argv = [sys.executable] + argv[1:]
            if args.quick:
                argv = shorten(argv, args.quick_iters)
            if args.seed is not None:
                argv = with_cfg_option(argv, f'randomness.seed={args.seed}')
            is_test = len(argv) > 1 and argv[1].endswith('tools/test.py')
            if is_test:
                if not rows:
                    raise SystemExit(f'{table["readme"]}: more tools/test.py commands in the '
                                     f'block after {block_spec["heading"]!r} than rows named '
                                     'in benchmarks/readme_tables.py')
                row = rows.pop(0)
                slug = re.sub(r'\W+', '_', row)
                out = osp.join(folder, f'metrics_{len(results)}_{slug}.json')
                argv = argv + ['--out', out]
            shown = ' '.join(f'{k}={v}' for k, v in extra_env.items())
            print(f'[{name}] $ {shown + " " if shown else ""}{" ".join(argv)}', flush=True)
            start = time.time()
            proc = subprocess.run(argv, cwd=folder, env={**env, **extra_env},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            with open(osp.join(folder, 'commands.log'), 'a', encoding='utf-8') as log:
                log.write(f'$ {" ".join(argv)}\n{proc.stdout}\n')
            print(f'[{name}]   exit {proc.returncode}, {time.time() - start:.0f} s', flush=True)
            if proc.returncode != 0:
                print(proc.stdout[-3000:])
                raise SystemExit(f'[{name}] command failed (log: {folder}/commands.log)')
            if is_test:
                with open(out, encoding='utf-8') as f:
                    measured = json.load(f)
                for column, doc in documented_row(text, row, table['readme']).items():
                    results.append((row, column, doc, measured.get(COLUMNS[column])))
        if rows:
            raise SystemExit(f'{table["readme"]}: rows {rows} have no tools/test.py command '
                             f'in the block after {block_spec["heading"]!r}')
    return results


def judge(doc: str, measured: Optional[float], rtol: float) -> Tuple[bool, float]:
    value = float(doc)
    decimals = len(doc.split('.')[1]) if '.' in doc else 0
    tol = max(rtol * abs(value), 0.5 * 10 ** -decimals)
    if measured is None:
        return False, float('nan')
    return abs(measured - value) <= tol, measured - value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('tables', nargs='*', help=f'tables to check (default: all: '
                        f'{", ".join(TABLES)})')
    parser.add_argument('--list', action='store_true', help='list the tables and exit')
    parser.add_argument('--quick', action='store_true',
                        help='short schedules: check that the commands run; no judgement')
    parser.add_argument('--quick-iters', type=int, default=2)
    parser.add_argument('--seed', type=int,
                        help='train with randomness.seed=SEED: how far the numbers move with '
                        'the seed (printed, not judged)')
    parser.add_argument('--rtol', type=float, default=0.01,
                        help='relative tolerance (default 1 %%, or half a unit of the last '
                        'documented digit, whichever is larger)')
    parser.add_argument('--keep', metavar='DIR',
                        help='run in DIR (new or empty) and keep it; default: a temporary '
                        'folder, removed afterwards')
    args = parser.parse_args(argv)
    if args.list:
        for name, table in TABLES.items():
            rows = [r for b in table['blocks'] for r in b['rows']]
            print(f'{name}: {table["readme"]}: {"; ".join(rows)}')
        return 0
    unknown = set(args.tables) - set(TABLES)
    if unknown:
        parser.error(f'unknown table(s) {sorted(unknown)}; known: {", ".join(TABLES)}')
    failed = 0
    for name in args.tables or list(TABLES):
        folder = scratch_folder(osp.join(args.keep, name) if args.keep else None)
        start = time.time()
        try:
            results = run_table(name, TABLES[name], args, folder)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        judged = not args.quick and args.seed is None
        print(f'\n{name} ({TABLES[name]["readme"]}), {time.time() - start:.0f} s'
              f'{"" if judged else ", --quick / --seed: not judged"}')
        print('| row | metric | documented | measured | diff | |')
        print('|---|---|---|---|---|---|')
        for row, column, doc, measured in results:
            ok, diff = judge(doc, measured, args.rtol)
            failed += 0 if (ok or not judged) else 1
            verdict = ('ok' if ok else 'DIFFERS') if judged else ''
            shown = 'missing' if measured is None else f'{measured:.4f}'
            print(f'| {row} | {column} | {doc} | {shown} | {diff:+.4f} | {verdict} |')
    if failed:
        print(f'\n{failed} documented number(s) not reproduced')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
