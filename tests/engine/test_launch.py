"""The end of a launched process: after a successful distributed run the tools leave
without the interpreter's shutdown (where gloo's threads abort a process now and then),
with everything printed before flushed; a single process ends normally."""
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CODE = ('import atexit; from mattebox.engine.launch import exit_launched_process; '
        'atexit.register(lambda: print("shutdown")); print("done", end=""); '
        'exit_launched_process(); print(" went on")')


@pytest.mark.parametrize('world_size, expected', [('2', 'done'),
                                                  ('1', 'done went on\nshutdown\n'),
                                                  (None, 'done went on\nshutdown\n')])
def test_a_launched_process_leaves_at_once_with_its_output_flushed(world_size, expected):
    env = {k: v for k, v in os.environ.items() if k != 'WORLD_SIZE'}
    env['PYTHONPATH'] = ROOT
    if world_size is not None:
        env['WORLD_SIZE'] = world_size
    proc = subprocess.run([sys.executable, '-c', CODE], cwd=ROOT, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
