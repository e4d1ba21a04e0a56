"""One torch thread for these tests: the networks are tiny, and on a shared 2-core
machine two threads make them several times slower (thread contention), not faster."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
