"""The cache writer: answers written on a background thread, grouped, bounded, never lost by a failing job."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from embedframe import AuthenticationError, EmbedConfig, to_numpy
from embedframe._storage.cachewriter import CacheWriter
from embedframe.cache import CacheWarning, Keys, VectorCache
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, vector_for_text

NAMESPACE = VectorCache.namespace(
    base_url="http://127.0.0.1/v1", model="m", dimensions=None, encoding="cl100k_base", long_text="chunk"
)


class GatedCache(VectorCache):
    """A real cache whose first write waits until the test opens the gate (so answers pile up)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.writes: list[int] = []

    def put_many(
        self, parts: Iterable[tuple[Keys, npt.NDArray[np.float32]]], *, finite_checked: bool = False
    ) -> None:
        parts = list(parts)
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self.writes.append(sum(len(v) for _, v in parts))
        super().put_many(parts, finite_checked=finite_checked)


def job(n: int, dim: int = 8) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]:
    """A job's key array and its result matrix (row i distinct and exact)."""
    keys = VectorCache.key_array(namespace=NAMESPACE, texts=[f"text {i}" for i in range(n)])
    matrix = np.arange(n * dim, dtype=np.float32).reshape(n, dim)
    return keys, matrix


def test_answers_that_wait_are_written_together_from_views_of_the_matrix(tmp_path: Path) -> None:
    """While one shard is written, the answers arriving meanwhile wait and then go into one shard; every vector is exact."""
    keys, matrix = job(40)
    cache = GatedCache(tmp_path / "c")
    writer = CacheWriter(cache, keys, max_waiting=100)

    async def run() -> None:
        writer.submit(np.arange(0, 10), matrix[0:10])
        assert cache.entered.wait(30)
        for lo in range(10, 40, 10):  # arrive while the first write is held
            writer.submit(np.arange(lo, lo + 10), matrix[lo : lo + 10])
        cache.gate.set()
        await writer.aclose()

    asyncio.run(run())
    assert cache.writes == [10, 30] and writer.shards_written == 2 and writer.rows_written == 40
    fresh = VectorCache(tmp_path / "c")
    found, got = fresh.get(keys)
    assert found.all() and got is not None and np.array_equal(got, matrix)
    assert fresh.shard_count() == 2


def test_answers_arriving_together_share_one_shard(tmp_path: Path) -> None:
    """Answers handed over within LINGER_S of each other go into one shard (a group commit), not one shard each."""
    keys, matrix = job(50)
    writer = CacheWriter(VectorCache(tmp_path / "c"), keys)

    async def run() -> None:
        for lo in range(0, 50, 10):
            writer.submit(np.arange(lo, lo + 10), matrix[lo : lo + 10])
        await writer.aclose()

    asyncio.run(run())
    # one shard; or two where the thread, started by the first answer, took it before the
    # next arrived (on a busy machine): then the gap is known and the other four share one
    assert writer.shards_written <= 2 and writer.rows_written == 50
    found, got = VectorCache(tmp_path / "c").get(keys)
    assert found.all() and got is not None and np.array_equal(got, matrix)


def test_a_lone_answer_is_written_without_waiting_for_the_job_to_close(tmp_path: Path) -> None:
    """Less than GROUP_BYTES waiting is still written once LINGER_S has passed: a kill after that loses nothing."""
    keys, matrix = job(10)
    writer = CacheWriter(VectorCache(tmp_path / "c"), keys)

    async def run() -> None:
        writer.submit(np.arange(10), matrix)
        deadline = time.monotonic() + 30
        while writer.rows_written < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert writer.rows_written == 10, "written while the job is still open"
        found, _ = VectorCache(tmp_path / "c").get(keys)
        assert found.all()
        await writer.aclose()

    asyncio.run(run())


def test_scattered_answers_are_stored_under_their_own_keys(tmp_path: Path) -> None:
    """An answer for pieces that are not one run (ids out of order) stores each vector under its piece's key."""
    keys, matrix = job(12)
    writer = CacheWriter(VectorCache(tmp_path / "c"), keys)
    ids = np.array([7, 2, 11, 0])

    async def run() -> None:
        writer.submit(ids, matrix[ids])
        await writer.aclose()

    asyncio.run(run())
    found, got = VectorCache(tmp_path / "c").get(keys)
    assert found.tolist() == [i in ids for i in range(12)]
    assert got is not None and np.array_equal(got[ids], matrix[ids])


def test_keys_can_be_hashed_by_the_writer_as_answers_arrive(tmp_path: Path) -> None:
    """Given a key function instead of a key array, the writer hashes each answer's keys itself: the same keys, the same vectors."""
    keys, matrix = job(12)
    texts = [f"text {i}" for i in range(12)]
    asked: list[list[int]] = []

    def keys_of(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        asked.append(ids.tolist())
        return VectorCache.key_array(namespace=NAMESPACE, texts=[texts[i] for i in ids.tolist()])

    writer = CacheWriter(VectorCache(tmp_path / "c"), keys_of)

    async def run() -> None:
        writer.submit(np.array([5, 1, 9]), matrix[[5, 1, 9]])
        writer.submit(np.arange(0, 4), matrix[0:4])
        await writer.aclose()

    asyncio.run(run())
    assert sorted(map(sorted, asked)) == [[0, 1, 2, 3], [1, 5, 9]]
    found, got = VectorCache(tmp_path / "c").get(keys)
    want = [i in (0, 1, 2, 3, 5, 9) for i in range(12)]
    assert found.tolist() == want and got is not None and np.array_equal(got[found], matrix[found])


def test_workers_are_held_back_while_too_many_answers_wait(tmp_path: Path) -> None:
    """room() waits (without blocking the loop) while more than max_waiting answers wait, and returns once they are written."""
    keys, matrix = job(30)
    cache = GatedCache(tmp_path / "c")
    writer = CacheWriter(cache, keys, max_waiting=2)

    async def run() -> None:
        for lo in range(0, 30, 10):
            writer.submit(np.arange(lo, lo + 10), matrix[lo : lo + 10])
        waiting = asyncio.create_task(writer.room())
        await asyncio.sleep(0.2)  # the loop runs on: the wait does not block it
        assert not waiting.done()
        cache.gate.set()
        await asyncio.wait_for(waiting, 30)
        await writer.aclose()

    asyncio.run(run())
    found, _ = VectorCache(tmp_path / "c").get(keys)
    assert found.all()


def test_bytes_waiting_are_bounded_too(tmp_path: Path) -> None:
    """More than max_pending_bytes of vectors waiting holds workers back even under max_waiting answers."""
    keys, matrix = job(20)
    cache = GatedCache(tmp_path / "c")
    writer = CacheWriter(cache, keys, max_waiting=100, max_pending_bytes=matrix[:10].nbytes)

    async def run() -> None:
        writer.submit(np.arange(0, 10), matrix[:10])
        assert cache.entered.wait(30)
        writer.submit(np.arange(10, 20), matrix[10:])
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(writer.room()), 0.2)
        cache.gate.set()
        await asyncio.wait_for(writer.room(), 30)
        await writer.aclose()

    asyncio.run(run())


def test_a_failed_write_is_a_warning_and_the_cache_is_left_alone(tmp_path: Path) -> None:
    """A cache that cannot be written turns into one CacheWarning naming it; later answers are not attempted."""
    keys, matrix = job(20)
    directory = tmp_path / "c"
    writer = CacheWriter(VectorCache(directory), keys)
    shutil.rmtree(directory)
    directory.write_text("not a directory")  # every write now fails

    async def run() -> None:
        writer.submit(np.arange(0, 10), matrix[:10])
        await writer.aclose()
        writer.submit(np.arange(10, 20), matrix[10:])  # ignored: the cache is off for this job
        await writer.room()
        await writer.aclose()

    with pytest.warns(CacheWarning, match=r"could not write to .*[/\\]c \(") as caught:
        asyncio.run(run())
    assert len([w for w in caught if issubclass(w.category, CacheWarning)]) == 1
    assert writer.error is not None and writer.rows_written == 0


def test_close_waits_for_the_writes_without_an_event_loop(tmp_path: Path) -> None:
    """close() (for code not running a loop) returns once every answer handed over is on disk."""
    keys, matrix = job(10)
    writer = CacheWriter(VectorCache(tmp_path / "c"), keys)
    writer.submit(np.arange(10), matrix)
    writer.close()
    assert VectorCache(tmp_path / "c").contains(keys).all()


# ------------------------------------------------------------------------------ in a job


def test_a_job_whose_cache_cannot_be_written_returns_its_vectors_with_a_warning(
    tmp_path: Path, server: FakeServer
) -> None:
    """The vectors were paid for: a cache that fails mid-job costs a warning, not the job's result."""
    directory = tmp_path / "cache"
    cfg = EmbedConfig(base_url=server.url, api_key=API_KEY, progress=False, cache=str(directory))
    pd.DataFrame({"text": ["warm the cache instance"]}).embed("text", config=cfg)
    shutil.rmtree(directory)
    directory.write_text("not a directory any more")
    texts = [f"sentence {i}" for i in range(6)]
    with pytest.warns(CacheWarning, match="could not write"):
        out = pd.DataFrame({"text": texts}).embed("text", config=cfg)
    assert np.array_equal(to_numpy(out["text_embedding"]), np.stack([vector_for_text(t, DIM) for t in texts]))


def test_answers_received_before_a_job_fails_are_in_the_cache(
    server: FakeServer, config: EmbedConfig
) -> None:
    """A job that fails on its third request has written the first two answers: the rerun pays only for the rest."""
    texts = [f"row {i}" for i in range(12)]
    server.inject("shuffle", "shuffle", "401")  # two good answers (in another order), then a fatal error
    with pytest.raises(AuthenticationError):
        pd.DataFrame({"text": texts}).embed("text", config=config, max_inputs_per_request=4, concurrency=1)
    server.reset()
    out = pd.DataFrame({"text": texts}).embed("text", config=config, max_inputs_per_request=4, concurrency=1)
    assert out.attrs["embedframe"]["cache_hits"] == 8
    assert sorted(server.ok_inputs()) == sorted(texts[8:])


_FAST_CHILD = """
import sys
import embedframe
n, url = int(sys.argv[1]), sys.argv[2]
texts = [f"killed mid-write {i}: a sentence long enough to be worth caching" for i in range(n)]
embedframe.embed(texts, base_url=url, api_key="API_KEY", max_inputs_per_request=256, progress=False)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_while_the_writer_is_busy_leaves_only_whole_exact_shards(tmp_path: Path) -> None:
    """A job against a server faster than its cache writer, killed mid-job: every shard there reads, every vector in it is exact."""
    n, dim = 20_000, 1536
    cache_dir = tmp_path / "cache"
    with FakeServer(dim=dim, api_key=API_KEY) as server:
        url = server.url
        for _ in range(2):  # the second run reads what the first left, then is killed too
            before = len(list(cache_dir.glob("shard-*")))
            proc = subprocess.Popen(
                [sys.executable, "-c", _FAST_CHILD.replace("API_KEY", API_KEY), str(n), url],
                env={**os.environ, "EMBEDFRAME_CACHE_DIR": str(cache_dir)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 60
            while len(list(cache_dir.glob("shard-*"))) < before + 3:
                assert proc.poll() is None, f"the job ended before it was killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "no shard was written"
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            assert proc.returncode == -signal.SIGKILL
    texts = [f"killed mid-write {i}: a sentence long enough to be worth caching" for i in range(n)]
    namespace = VectorCache.namespace(
        base_url=url,
        model="text-embedding-3-small",
        dimensions=None,
        encoding="cl100k_base",
        long_text="chunk",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a damaged shard would warn
        cache = VectorCache(cache_dir)
        found, got = cache.get(VectorCache.key_array(namespace=namespace, texts=texts))
    assert 0 < found.sum() < n and got is not None
    for i in np.flatnonzero(found)[:: max(1, int(found.sum()) // 50)].tolist():
        assert np.array_equal(got[i], vector_for_text(texts[i], dim))
