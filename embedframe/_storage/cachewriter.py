"""A job's cache commits, on a background thread: sending never waits for the disk.

Measured reason (``benchmarks/bench_throughput.py``, 100,000 texts, 1536-d, 2 vCPUs): with
each answer written, fsynced and renamed by the worker that received it before it sent its
next request, the cache cost half the job's speed (~35,000 rows/s against ~60,000 with
``cache=False``); with this writer the job's event loop spends no time on the disk. Here
a worker hands its answer over (the keys and a view of the rows of the job's result matrix,
no copy) and goes on sending; one thread writes what has arrived as one shard (a group
commit: when answers come fast it waits up to :data:`LINGER_S` for :data:`GROUP_BYTES` of
them, and the slower the disk, the more answers each shard and its single fsync carry).

What a kill costs: an answer is on disk once its shard is renamed into place; SIGKILL
loses the requests in flight and the answers handed over but not yet written. Those are
bounded: a worker that hands over an answer while more than ``max_waiting`` answers (or
``max_pending_bytes`` of vectors) wait is held back until the thread catches up, so with
``c`` workers a kill loses at most ``2c`` requests' answers, and memory stays bounded,
whatever the server's speed. A job always waits for its writer (:meth:`aclose`) before it
returns or raises; a thread still writing when the interpreter exits is waited for (it
is not a daemon).

A write that fails (disk full, a store refusing writes) does not fail the job that paid for
the vectors: the job gets a :class:`~embedframe.cache.CacheWarning` naming the cache and the
error, stops writing to the cache, and returns its vectors.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._warn import warn

if TYPE_CHECKING:
    from ..cache import VectorCache

__all__ = ["CacheWriter"]

PENDING_BYTES = 128 << 20
"""Vector bytes handed over and not yet written beyond which a worker waits."""
IDLE_S = 1.0
"""How long the writer thread waits for a next answer before it ends (a job closes it at once)."""
SHARD_BYTES = 64 << 20
"""Vector bytes one shard takes at most (an object-store shard is built in memory)."""
GROUP_BYTES = 16 << 20
"""Vector bytes the thread waits for before it writes a shard (unless :data:`LINGER_S`
passes, a worker is held back, or the job closes): each shard costs a file, two fsyncs
and a rename, and answers of 4 MiB one shard each made a job's cache writes a third
dearer (``benchmarks/bench_throughput.py``)."""
LINGER_S = 0.1
"""How long the oldest waiting answer waits for others to share its shard."""
FAST_S = 0.02
"""Answers arriving closer together than this (on average) are worth waiting for: from a
slower server each is written as it comes, so a kill loses no more than before."""


class CacheWriter:
    """Writes a job's answers to ``cache`` on one background thread, grouping them into shards.

    ``keys`` is the job's key array (``VectorCache.key_array``), of which an answer names
    its rows, or a function giving the keys of some pieces (hashed then on the writer's
    thread). :meth:`submit` may be called from any thread; :meth:`room` and :meth:`aclose`
    from an event loop.
    """

    def __init__(
        self,
        cache: VectorCache,
        keys: npt.NDArray[np.uint64] | Callable[[npt.NDArray[np.int64]], npt.NDArray[np.uint64]],
        *,
        max_waiting: int = 8,
        max_pending_bytes: int = PENDING_BYTES,
        max_shard_bytes: int = SHARD_BYTES,
        group_bytes: int = GROUP_BYTES,
    ) -> None:
        self.cache = cache
        self.keys = keys
        self.max_waiting = max(1, max_waiting)
        self.max_pending_bytes = max_pending_bytes
        self.max_shard_bytes = max_shard_bytes
        self.group_bytes = min(group_bytes, max_pending_bytes, max_shard_bytes)
        self.rows_written = 0
        self.shards_written = 0
        self._queue: deque[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = deque()
        self._waiting = 0
        """Answers handed over and not yet written (queued or being written)."""
        self._pending = 0
        """Their vector bytes."""
        self._cond = threading.Condition()
        self._last: float | None = None
        self._gap: float | None = None
        """Seconds between answers handed over, a moving average."""
        self._thread: threading.Thread | None = None
        self._futures: list[asyncio.Future[None]] = []
        self._error: BaseException | None = None
        self._warned = False
        self._closed = False

    def submit(self, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]) -> None:
        """Hand over ``vectors`` (row ``i`` for piece ``ids[i]``) to be written; never waits.

        The writer reads ``vectors`` later: they must not change until :meth:`aclose`.
        """
        if not len(ids):
            return
        with self._cond:
            if self._error is not None:
                return  # the cache failed: the job goes on without it (warned by room/aclose)
            now = time.monotonic()
            if self._last is not None:
                gap = now - self._last
                self._gap = gap if self._gap is None else (self._gap + gap) / 2
            self._last = now
            self._queue.append((ids, vectors))
            self._waiting += 1
            self._pending += vectors.nbytes
            if self._thread is None:
                # Not a daemon: a thread still writing when the interpreter exits is waited for.
                self._thread = threading.Thread(target=self._drain, name="embedframe-cache-writer")
                self._thread.start()
            else:
                self._cond.notify_all()

    async def room(self) -> None:
        """Wait, without blocking the loop, while more than ``max_waiting`` answers (or
        ``max_pending_bytes``) wait to be written."""
        await self._until(self._has_room)
        self._warn()

    async def aclose(self) -> None:
        """Wait until everything handed over is written (a failed write becomes a warning)."""
        self._closing()
        await self._until(lambda: self._thread is None)
        self._warn()

    def close(self) -> None:
        """:meth:`aclose` for a thread that runs no event loop."""
        self._closing()
        with self._cond:
            self._cond.wait_for(lambda: self._thread is None)
        self._warn()

    def _closing(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def error(self) -> BaseException | None:
        """The write error that turned the cache off for this job, if any."""
        return self._error

    def _has_room(self) -> bool:
        return self._error is not None or (
            self._waiting <= self.max_waiting and self._pending <= self.max_pending_bytes
        )

    async def _until(self, ready: Callable[[], bool]) -> None:
        """Wait until ``ready()`` (checked under the lock); the thread wakes us after each write."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if ready():
                    return
                future: asyncio.Future[None] = loop.create_future()
                self._futures.append(future)
            await future

    def _wake(self) -> None:
        """Wake every coroutine waiting in :meth:`_until` (lock held; called from the thread)."""
        self._cond.notify_all()
        futures, self._futures = self._futures, []
        for future in futures:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
                future.get_loop().call_soon_threadsafe(_resolve, future)

    def _warn(self) -> None:
        if self._error is not None and not self._warned:
            self._warned = True
            from ..cache import CacheWarning

            warn(
                f"embedframe cache: could not write to {self.cache.location} "
                f"({type(self._error).__name__}: {self._error}); this job's vectors from then on "
                "are not cached (the job itself goes on), so a rerun pays for them again",
                CacheWarning,
            )

    def _group_ready(self) -> bool:
        """Whether to write the next shard now: enough waits, a worker is held back, or the
        job is closing (lock held)."""
        return self._closed or self._pending >= self.group_bytes or not self._has_room()

    def _keys_of(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        return self.keys(ids) if callable(self.keys) else self.keys[ids]

    def _take(self) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """The answers for the next shard: what waits, up to ``max_shard_bytes`` (lock held)."""
        taken = [self._queue.popleft()]
        size = taken[0][1].nbytes
        while self._queue and size + self._queue[0][1].nbytes <= self.max_shard_bytes:
            size += self._queue[0][1].nbytes
            taken.append(self._queue.popleft())
        return taken

    def _drain(self) -> None:
        while True:
            with self._cond:
                # The thread waits for the job's next answer (starting one per answer cost the
                # event loop ~1.5 ms each); it ends when the job closes it, or idles too long.
                if not self._queue and not self._closed:
                    self._cond.wait_for(lambda: self._queue or self._closed, timeout=IDLE_S)
                if not self._queue:
                    self._thread = None
                    self._wake()
                    return
                if self._gap is not None and self._gap < FAST_S:
                    # A group commit: answers come fast, wait a little for more to share the shard.
                    self._cond.wait_for(self._group_ready, timeout=LINGER_S)
                taken = self._take()
            try:
                parts = [(self._keys_of(ids), vectors) for ids, vectors in taken]
                self.cache.put_many(parts, finite_checked=True)  # decoding refused NaN and infinity
            except BaseException as exc:  # reported to the job as a warning
                with self._cond:
                    self._error = exc
                    self._queue.clear()
                    self._waiting = self._pending = 0
                    self._thread = None
                    self._wake()
                return
            with self._cond:
                self._waiting -= len(taken)
                self._pending -= sum(vectors.nbytes for _, vectors in taken)
                self.rows_written += sum(len(ids) for ids, _ in taken)
                self.shards_written += 1
                self._wake()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
