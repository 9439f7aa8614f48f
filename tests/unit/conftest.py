"""Unit-test fixtures shared by the learned models' tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run torch on one thread, as the models do: their batches are tiny, and more threads on busy
    cores make training and scoring many times slower (OpenMP threads wait on each other)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
