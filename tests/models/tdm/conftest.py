"""One torch thread for these tests (see tests/conftest.py::one_torch_thread)."""
import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
