"""benchmarks/readme_tables.py reads each README results table and the commands that make
its numbers; these tests keep the READMEs and its registry in step (seconds, nothing is
trained: the full check is the benchmark script itself)."""
import importlib.util
import os.path as osp

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _module():
    spec = importlib.util.spec_from_file_location(
        'readme_tables', osp.join(ROOT, 'benchmarks', 'readme_tables.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rt = _module()


def _text(readme: str) -> str:
    with open(osp.join(ROOT, readme), encoding='utf-8') as f:
        return f.read()


@pytest.mark.parametrize('name', sorted(rt.TABLES))
def test_every_row_has_a_test_command_and_numbers(name):
    table = rt.TABLES[name]
    text = _text(table['readme'])
    for spec in table['blocks']:
        items = rt.commands(rt.code_block(text, spec['heading'], spec['index'], table['readme']))
        tests = [argv for kind, (env, argv) in
                 ((k, i) for k, i in items if k == 'run') if argv[1] == 'tools/test.py']
        assert len(tests) == len(spec['rows']), (name, spec['heading'], tests)
        for row in spec['rows']:
            cells = rt.documented_row(text, row, table['readme'])
            assert cells and all(float(v) >= 0 for v in cells.values()), (row, cells)


@pytest.mark.parametrize('name', sorted(rt.TABLES))
def test_every_block_fixes_the_thread_count(name):
    """The same seed gives different metrics with another torch thread count, so a block
    whose numbers are documented sets OMP_NUM_THREADS before its first command."""
    table = rt.TABLES[name]
    text = _text(table['readme'])
    for spec in table['blocks']:
        items = rt.commands(rt.code_block(text, spec['heading'], spec['index'], table['readme']))
        assert items[0] == ('env', ('OMP_NUM_THREADS', '1')), (name, spec['heading'], items[0])


def test_commands_parse_continuations_env_and_comments():
    block = ('export OMP_NUM_THREADS=1   # one thread\n'
             '# a comment line\n'
             'python tools/train.py a.py \\\n    --cfg-options x=1\n'
             'FOO=2 python tools/test.py a.py w/iter_150.pth\n')
    assert rt.commands(block) == [
        ('env', ('OMP_NUM_THREADS', '1')),
        ('run', ({}, ['python', 'tools/train.py', 'a.py', '--cfg-options', 'x=1'])),
        ('run', ({'FOO': '2'}, ['python', 'tools/test.py', 'a.py', 'w/iter_150.pth'])),
    ]


def test_documented_row_reads_the_row_under_its_header():
    text = ('| model | SAD | MSE | Grad | Conn |\n|---|---|---|---|---|\n'
            '| a, untrained | 1.879 | 0.2285 | 2.248 | 1.902 |\n'
            '| a, trained | **0.934** | 0.0467 | 0.722 | 0.889 |\n')
    assert rt.documented_row(text, 'a, trained', 'x') == {
        'SAD': '0.934', 'MSE': '0.0467', 'Grad': '0.722', 'Conn': '0.889'}
    with pytest.raises(SystemExit, match="no table row starting with 'b'"):
        rt.documented_row(text, 'b', 'x')


def test_judge_tolerance_follows_the_documented_digits():
    assert rt.judge('0.934', 0.9342, 0.0) == (True, pytest.approx(0.0002))
    assert not rt.judge('0.934', 1.2604, 0.01)[0]  # what issue 13 measured
    assert rt.judge('0.934', 0.9431, 0.01)[0]  # within 1 %
    assert not rt.judge('0.934', 0.9445, 0.01)[0]


def test_quick_shortens_training_and_checkpoint_names():
    train = ['python', 'tools/train.py', 'c.py', '--cfg-options',
             'model.prior_checkpoint=w/iter_1000.pth']
    assert rt.shorten(train, 2) == ['python', 'tools/train.py', 'c.py', '--cfg-options',
                                    'train_cfg.max_iters=2', 'model.prior_checkpoint=w/iter_2.pth']
    own = ['python', 'tools/train.py', 'c.py', '--cfg-options', 'train_cfg.max_iters=1']
    assert rt.shorten(own, 2) == own
    assert rt.shorten(['python', 'tools/test.py', 'c.py', 'w/iter_1.pth'], 2)[-1] == 'w/iter_1.pth'


def test_seed_option_goes_to_training_commands_only():
    train = ['python', 'tools/train.py', 'c.py', '--cfg-options', 'a=1']
    assert rt.with_cfg_option(train, 'randomness.seed=1') == [
        'python', 'tools/train.py', 'c.py', '--cfg-options', 'randomness.seed=1', 'a=1']
    assert rt.with_cfg_option(['python', 'tools/train.py', 'c.py'], 'randomness.seed=1') == [
        'python', 'tools/train.py', 'c.py', '--cfg-options', 'randomness.seed=1']
    test = ['python', 'tools/test.py', 'c.py', 'w/iter_1.pth']
    assert rt.with_cfg_option(test, 'randomness.seed=1') == test
