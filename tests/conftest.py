import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Tests run tiny networks: extra intra-op threads only add contention on 2-core CI.
    torch.set_num_threads(1)
    yield
