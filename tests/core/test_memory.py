"""Result matrices mapped ahead in the background: shape, contents and Arrow use are ordinary."""

from __future__ import annotations

import mmap
import sys
import threading
import time

import numpy as np
import pytest

from embedframe import from_numpy, to_numpy
from embedframe._core.memory import empty_matrix


def test_a_small_matrix_is_plain_numpy() -> None:
    """Below the size where mapping pays, the matrix is an ordinary writable float32 array."""
    m = empty_matrix(10, 4)
    assert m.shape == (10, 4) and m.dtype == np.float32 and m.flags.writeable and m.flags.c_contiguous


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="background mapping is Linux-only")
def test_a_large_matrix_is_mapped_and_behaves_as_an_array() -> None:
    """A 96 MB matrix is backed by an anonymous mapping, is written and read as usual, and becomes a
    vector column without a copy; the mapping thread ends on its own."""
    m = empty_matrix(16_384, 1536, start_row=100)
    owner = m.base
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap)
    assert m.shape == (16_384, 1536) and m.dtype == np.float32 and m.flags.writeable
    m[:] = np.arange(16_384, dtype=np.float32)[:, None]
    column = from_numpy(m)
    back = to_numpy(column)
    assert np.shares_memory(back, m) and back[12_345, 7] == 12_345
    deadline = time.monotonic() + 30
    while any(t.name == "embedframe-prefault" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "embedframe-prefault" for t in threading.enumerate())
