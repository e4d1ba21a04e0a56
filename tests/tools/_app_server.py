"""Runs ``tools/app.py`` for the browser tests: ``python tests/tools/_app_server.py ARGS``.

Registers the test-only ``_ClickRecorder`` model, and records every outgoing connection
the server process opens (address per line) in ``$MATTEBOX_TEST_CONNECTIONS``, so a test
can assert that the page contacts nothing but this machine.
"""
import os
import os.path as osp
import runpy
import socket
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _log(address) -> None:
    with open(os.environ['MATTEBOX_TEST_CONNECTIONS'], 'a') as f:
        f.write(f'{address!r}\n')


def connect(self, address):
    _log(address)
    return _connect(self, address)


def connect_ex(self, address):
    _log(address)
    return _connect_ex(self, address)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex

import tests.tools._click_mattor  # noqa: E402,F401  (registers _ClickRecorder)

sys.argv = [osp.join(ROOT, 'tools', 'app.py'), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name='__main__')
