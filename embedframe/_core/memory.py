"""Large result matrices whose pages the kernel maps ahead, on another core.

A job's vectors fill one float32 matrix (614 MB for 100,000 x 1536). Fresh memory costs a
page fault per 4 KiB page at its first write, and on virtual machines those faults were
a fifth of the client's time, paid on the thread that decodes responses. Linux (5.14+)
can map a whole range in one call, ``madvise(MADV_POPULATE_WRITE)``, several times faster
than faulting page by page; made through ctypes, the call releases the GIL, so a
background thread maps the matrix while the event loop goes on receiving. Elsewhere, or
for small matrices, this is plain ``np.empty``.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = ["empty_matrix"]

_MIN_BYTES = 64 << 20
"""Below this, faulting as rows are written costs too little to be worth a thread."""
_STEP = 4 << 20
"""Mapped per call: each call holds the address-space lock, which stalls the decoding
thread's own allocations, so calls are kept short."""
_MADV_HUGEPAGE = 14
_MADV_POPULATE_WRITE = 23


def _madvise() -> Callable[[int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_MADVISE = _madvise()


def empty_matrix(rows: int, dim: int, *, start_row: int = 0) -> npt.NDArray[np.float32]:
    """An uninitialised ``(rows, dim)`` float32 matrix, mapped in the background from ``start_row`` on.

    Rows before ``start_row`` are about to be written by the caller (its pages fault then,
    as usual), so mapping starts after them and never races the first writes.
    """
    size = rows * dim * 4
    if _MADVISE is None or size < _MIN_BYTES:
        return np.empty((rows, dim), dtype=np.float32)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    matrix: npt.NDArray[np.float32] = np.frombuffer(memory, dtype=np.float32).reshape(rows, dim)
    address = matrix.ctypes.data
    _MADVISE(address, size, _MADV_HUGEPAGE)  # a hint: fewer, larger pages where the kernel allows
    first = (start_row * dim * 4 + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    thread = threading.Thread(
        target=_populate, args=(memory, address, first, size), name="embedframe-prefault", daemon=True
    )
    thread.start()
    return matrix


def _populate(memory: mmap.mmap, address: int, first: int, size: int) -> None:
    """Map ``[first, size)`` in steps; stops at the first refusal (old kernel: no such advice).

    ``memory`` is held so the mapping outlives the calls even if the matrix is dropped.
    """
    assert _MADVISE is not None
    for offset in range(first, size, _STEP):
        if _MADVISE(address + offset, min(_STEP, size - offset), _MADV_POPULATE_WRITE) != 0:
            break
    del memory
