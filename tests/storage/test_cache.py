"""The vector cache: exact round trips, namespaces, persistence, damage, crashes, concurrency."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from embedframe import ConfigError
from embedframe._storage.shardfile import open_shard, write_parquet_shard
from embedframe.cache import CACHE_DIR_ENV, CacheWarning, VectorCache, default_cache, default_cache_dir

NS = VectorCache.namespace(
    base_url="http://127.0.0.1:8000/v1", model="m", dimensions=None, encoding="cl100k_base", long_text="chunk"
)


def keys(ids: Iterable[int], namespace: str = NS) -> list[bytes]:
    return VectorCache.keys(namespace=namespace, texts=[f"text {i}" for i in ids])


def vectors(ids: Sequence[int] | range, dim: int = 16) -> npt.NDArray[np.float32]:
    """A distinct, reproducible vector per id."""
    i = np.asarray(ids, dtype=np.float64)[:, None]
    j = np.arange(dim, dtype=np.float64)[None, :]
    return np.sin(i * 0.7311 + j * 1.37 + i * j * 0.001).astype(np.float32)


def shards(directory: Path) -> list[Path]:
    return sorted([*directory.glob("shard-*.arrow"), *directory.glob("shard-*.parquet")])


def rows_in(path: Path) -> int:
    with open_shard(path.name, str(path)) as shard:
        return sum(shard.sizes)


def check_exact(cache: VectorCache, ids: Sequence[int] | range, dim: int = 16) -> npt.NDArray[np.bool_]:
    """Look ``ids`` up; every one found must hold exactly its vector. Returns the found mask."""
    found, got = cache.get(keys(ids))
    if found.any():
        assert got is not None
        assert np.array_equal(got[found], vectors(ids, dim)[found])
        assert not got[~found].any()
    return found


def test_put_then_get_is_exact_in_key_order(tmp_path: Path) -> None:
    """Vectors come back bit-exact, in the order asked, with unknown keys not found."""
    cache = VectorCache(tmp_path)
    cache.put(keys(range(100)), vectors(range(100)))
    ask = [*random.Random(0).sample(range(100), 100), 1000, 1001]
    found, got = cache.get(keys(ask))
    assert found.tolist() == [True] * 100 + [False, False]
    assert got is not None and got.dtype == np.float32 and got.shape == (102, 16)
    assert np.array_equal(got[:100], vectors(ask[:100]))
    assert not got[100:].any()
    assert len(cache) == 100
    assert cache.contains(keys([5, 1000])).tolist() == [True, False]


def test_nothing_found_gives_none(tmp_path: Path) -> None:
    """A lookup that finds nothing (or asks nothing) returns an all-false mask and no matrix."""
    cache = VectorCache(tmp_path)
    found, got = cache.get(keys([1, 2]))
    assert found.tolist() == [False, False] and got is None
    found, got = cache.get([])
    assert found.shape == (0,) and got is None


def test_keys_differ_by_namespace() -> None:
    """The same text under another model, size, server, encoding or policy has another key."""
    base: dict[str, Any] = {
        "base_url": "https://api.openai.com/v1",
        "model": "text-embedding-3-small",
        "dimensions": None,
        "encoding": "cl100k_base",
        "long_text": "chunk",
    }
    variants: list[dict[str, Any]] = [
        {},
        {"model": "text-embedding-3-large"},
        {"dimensions": 256},
        {"dimensions": 512},
        {"base_url": "http://127.0.0.1:8000/v1"},
        {"encoding": "o200k_base"},
        {"long_text": "truncate"},
    ]
    found = {
        VectorCache.key(namespace=VectorCache.namespace(**{**base, **v}), text="hello") for v in variants
    }
    assert len(found) == len(variants)
    one = VectorCache.key(namespace=NS, text="hello")
    assert len(one) == 32 and one == VectorCache.key(namespace=NS, text="hello")
    # Length-prefixed: moving a character across the boundary changes the key.
    assert VectorCache.key(namespace="ab", text="c") != VectorCache.key(namespace="a", text="bc")


def test_namespace_holds_only_the_given_fields_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace is sorted JSON of exactly the five fields; credentials in the URL are dropped."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-SECRET")
    text = VectorCache.namespace(
        base_url="https://user:sk-url-SECRET@example.com/v1/?key=sk-query-SECRET",
        model="m",
        dimensions=64,
        encoding="cl100k_base",
        long_text="truncate",
    )
    assert json.loads(text) == {
        "base_url": "https://example.com/v1",
        "model": "m",
        "dimensions": 64,
        "encoding": "cl100k_base",
        "long_text": "truncate",
    }
    assert "SECRET" not in text
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_persists_across_instances(tmp_path: Path) -> None:
    """A new cache on the same directory sees every earlier put."""
    VectorCache(tmp_path).put(keys(range(50)), vectors(range(50)))
    VectorCache(tmp_path).put(keys(range(50, 80)), vectors(range(50, 80)))
    later = VectorCache(tmp_path)
    assert check_exact(later, range(80)).all() and len(later) == 80


def test_new_shards_from_elsewhere_are_picked_up(tmp_path: Path) -> None:
    """An instance that already built its index sees shards written by another one since."""
    reader, writer = VectorCache(tmp_path), VectorCache(tmp_path)
    assert not check_exact(reader, range(10)).any()
    writer.put(keys(range(10)), vectors(range(10)))
    assert check_exact(reader, range(10)).all()


def test_sizes_coexist_and_mixed_lookups_are_refused(tmp_path: Path) -> None:
    """Vectors of different sizes live side by side; one lookup must not mix them."""
    other = VectorCache.namespace(
        base_url="http://127.0.0.1:8000/v1",
        model="m",
        dimensions=8,
        encoding="cl100k_base",
        long_text="chunk",
    )
    cache = VectorCache(tmp_path)
    cache.put(keys(range(10)), vectors(range(10), 16))
    cache.put(keys(range(10), other), vectors(range(10), 8))
    assert check_exact(cache, range(10), 16).all()
    found, got = cache.get(keys(range(10), other))
    assert found.all() and got is not None and np.array_equal(got, vectors(range(10), 8))
    with pytest.raises(ValueError, match="different sizes"):
        cache.get(keys([0]) + keys([0], other))


def test_put_refuses_bad_input(tmp_path: Path) -> None:
    """Short keys, mismatched shapes, non-float32 and non-finite vectors are refused."""
    cache = VectorCache(tmp_path)
    with pytest.raises(ValueError, match="32 bytes"):
        cache.put([b"short"], vectors([0]))
    with pytest.raises(ValueError, match="shape"):
        cache.put(keys([0, 1]), vectors([0]))
    with pytest.raises(TypeError, match="float32"):
        cache.put(keys([0]), vectors([0]).astype(np.float64))
    bad = vectors([0])
    bad[0, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        cache.put(keys([0]), bad)
    assert shards(tmp_path) == [] and len(cache) == 0


def test_truncated_shard_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A truncated shard is skipped with a warning naming it; the other shards still serve."""
    VectorCache(tmp_path).put(keys(range(20)), vectors(range(20)))
    (damaged,) = shards(tmp_path)
    VectorCache(tmp_path).put(keys(range(20, 40)), vectors(range(20, 40)))
    with damaged.open("r+b") as f:
        f.truncate(damaged.stat().st_size // 2)
    cache = VectorCache(tmp_path)
    with pytest.warns(CacheWarning, match=re.escape(damaged.name)):
        found = check_exact(cache, range(40))
    assert found.tolist() == [False] * 20 + [True] * 20


def test_garbage_and_foreign_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    """Garbage bytes or a Parquet file of another schema under a shard's name never crash a lookup."""
    VectorCache(tmp_path).put(keys(range(10)), vectors(range(10)))
    garbage = tmp_path / f"shard-{'a' * 32}-1.parquet"
    garbage.write_bytes(os.urandom(5000))
    foreign = tmp_path / f"shard-{'b' * 32}-1.parquet"
    pq.write_table(pa.table({"key": [b"x" * 32], "vector": [[1.0, 2.0]]}), foreign)
    cache = VectorCache(tmp_path)
    with pytest.warns(CacheWarning) as record:
        assert check_exact(cache, range(10)).all()
    named = " ".join(str(w.message) for w in record)
    assert garbage.name in named and foreign.name in named
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(cache) == 10  # warned once, not at every look


def test_corrupted_vector_bytes_are_never_returned(tmp_path: Path) -> None:
    """Bytes flipped inside a stored vector fail the page checksum: not found, never a wrong vector."""
    cache = VectorCache(tmp_path)
    cache.put(keys(range(10)), vectors(range(10)))
    (path,) = shards(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.find(vectors([4])[0].astype("<f4").tobytes())
    assert at > 0
    data[at + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = VectorCache(tmp_path)
    with pytest.warns(CacheWarning, match=re.escape(path.name)):
        found = check_exact(fresh, range(10))
    assert not found.any()


def test_corrupted_key_bytes_fail_the_index_build(tmp_path: Path) -> None:
    """A flipped byte in a stored key fails its group's checksum when the index is built: the shard is skipped, never misread."""
    VectorCache(tmp_path).put(keys(range(10)), vectors(range(10)))
    (path,) = shards(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.find(keys([3])[0])
    assert at > 0
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match=re.escape(path.name)):
        assert not check_exact(VectorCache(tmp_path), range(10)).any()


def test_shards_of_the_earlier_parquet_format_are_read_and_compacted(tmp_path: Path) -> None:
    """A cache written by an earlier version (Parquet shards) serves its vectors exactly, and compaction merges them with new shards."""
    ids = range(0, 30)
    old = tmp_path / f"shard-{'e' * 32}-1.parquet"
    words = np.frombuffer(b"".join(keys(ids)), dtype=np.uint64).reshape(-1, 4)
    write_parquet_shard(str(old), 16, [(words, vectors(ids))])
    cache = VectorCache(tmp_path, shard_rows=1000)
    cache.put(keys(range(30, 40)), vectors(range(30, 40)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_exact(cache, range(40)).all()
        cache.compact()
        (merged,) = shards(tmp_path)
        assert merged.suffix == ".arrow" and rows_in(merged) == 40
        assert check_exact(VectorCache(tmp_path), range(40)).all()


def test_temp_files_are_ignored_and_stale_ones_cleaned_by_compact(tmp_path: Path) -> None:
    """Unfinished writes (temp files) are invisible; compact removes those older than an hour."""
    VectorCache(tmp_path).put(keys(range(10)), vectors(range(10)))
    fresh = tmp_path / f".shard-{'c' * 32}-9.parquet.tmp"
    stale = tmp_path / f".shard-{'d' * 32}-9.parquet.tmp"
    fresh.write_bytes(shards(tmp_path)[0].read_bytes()[:100])
    stale.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = VectorCache(tmp_path)
        assert check_exact(cache, range(10)).all() and len(cache) == 10
        cache.compact()
    assert fresh.exists() and not stale.exists()


def test_compact_keeps_every_vector_and_reduces_shards(tmp_path: Path) -> None:
    """Compaction merges small shards into fewer, dropping duplicate keys and no vector."""
    cache = VectorCache(tmp_path, shard_rows=60)
    for start in range(0, 200, 10):
        ids = range(start, start + 15)  # overlaps the next put by 5
        cache.put(keys(ids), vectors(ids))
    assert len(shards(tmp_path)) == 20 and len(cache) == 205
    cache.compact()
    after = shards(tmp_path)
    assert len(after) < 6
    assert sum(rows_in(p) for p in after) == 205  # duplicates merged away
    for c in (cache, VectorCache(tmp_path)):
        assert check_exact(c, range(205)).all() and len(c) == 205


def test_compact_leaves_large_shards_alone(tmp_path: Path) -> None:
    """Shards of 32 MiB of vectors or more are never rewritten by compaction, only small ones merged."""
    dim, big = 4096, 2100  # 2100 x 16 KiB = 33.6 MiB
    cache = VectorCache(tmp_path, shard_rows=100_000)
    for start in (0, big):
        cache.put(keys(range(start, start + big)), vectors(range(start, start + big), dim))
    large = set(shards(tmp_path))
    for start in range(2 * big, 2 * big + 30, 10):
        cache.put(keys(range(start, start + 10)), vectors(range(start, start + 10), dim))
    cache.compact()
    after = set(shards(tmp_path))
    assert large <= after and len(after) == 3
    assert check_exact(VectorCache(tmp_path), range(2 * big + 30), dim).all()


def test_reader_survives_a_compaction_by_another_instance(tmp_path: Path) -> None:
    """A reader whose index names removed shards re-lists and finds every vector in the merged one."""
    writer = VectorCache(tmp_path, shard_rows=1000)
    for start in range(0, 100, 10):
        writer.put(keys(range(start, start + 10)), vectors(range(start, start + 10)))
    reader = VectorCache(tmp_path)
    assert check_exact(reader, range(100)).all()  # index built over the ten small shards
    VectorCache(tmp_path, shard_rows=1000).compact()
    assert len(shards(tmp_path)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_exact(reader, range(100)).all()
        assert check_exact(writer, range(100)).all() and len(writer) == 100


def test_clear_removes_everything(tmp_path: Path) -> None:
    """After clear nothing is found, by this instance or a new one."""
    cache = VectorCache(tmp_path)
    cache.put(keys(range(10)), vectors(range(10)))
    cache.clear()
    assert len(cache) == 0 and shards(tmp_path) == []
    assert not check_exact(VectorCache(tmp_path), range(10)).any()


def test_threads_share_one_instance(tmp_path: Path) -> None:
    """Threads putting and getting on one cache at once leave every vector exact."""
    cache = VectorCache(tmp_path)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(10):
                ids = range(t * 1000 + k * 20, t * 1000 + k * 20 + 20)
                cache.put(keys(ids), vectors(ids))
                check_exact(cache, range((t + 1) % 4 * 1000, (t + 1) % 4 * 1000 + 200))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    every = [t * 1000 + i for t in range(4) for i in range(200)]
    assert check_exact(cache, every).all() and len(cache) == 800


def _process_worker(directory: str, me: int, barrier: Barrier) -> None:
    """Put own and shared keys in small batches while reading the other's; compact now and then."""
    cache = VectorCache(directory, shard_rows=200)
    other = 1 - me
    barrier.wait()
    for k in range(25):
        ids = [
            *range(me * 10_000 + k * 20, me * 10_000 + k * 20 + 20),
            *range(50_000 + k * 10, 50_000 + k * 10 + 10),
        ]
        cache.put(keys(ids), vectors(ids))
        check_exact(cache, range(other * 10_000, other * 10_000 + 500))
        if me == 0 and k % 5 == 4:
            cache.compact()


def test_two_processes_share_a_directory(tmp_path: Path) -> None:
    """Two processes writing distinct and overlapping keys while reading (and compacting) corrupt nothing."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_process_worker, args=(str(tmp_path), me, barrier)) for me in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    every = [*range(500), *range(10_000, 10_500), *range(50_000, 50_250)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = VectorCache(tmp_path)
        assert check_exact(cache, every).all() and len(cache) == len(every)


_KILL_ROWS = 2000
_KILL_DIM = 256


def _put_forever(directory: str) -> None:
    """Put batches of fresh keys until killed."""
    cache = VectorCache(directory)
    for k in range(10_000):
        ids = range(k * _KILL_ROWS, (k + 1) * _KILL_ROWS)
        cache.put(keys(ids), vectors(ids, _KILL_DIM))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_put_leaves_a_readable_cache(tmp_path: Path) -> None:
    """A writer killed at a random moment leaves whole puts, each exact, and nothing unreadable."""
    ctx = mp.get_context("spawn")
    rng = random.Random()
    for _ in range(3):  # each kill lands mid-write about a quarter of the time
        before = len(shards(tmp_path))
        child = ctx.Process(target=_put_forever, args=(str(tmp_path),))
        child.start()
        deadline = time.monotonic() + 30
        while len(shards(tmp_path)) < before + 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = VectorCache(tmp_path)
        # Each child restarts at put 0, so no key lies beyond as many puts as there are shards.
        found = check_exact(cache, range((len(shards(tmp_path)) + 1) * _KILL_ROWS), _KILL_DIM)
    per_put = found.reshape(-1, _KILL_ROWS)
    whole, some = np.all(per_put, axis=1).tolist(), np.any(per_put, axis=1).tolist()
    assert whole == some  # each put is all there or absent
    assert whole[0] and whole[1]
    assert len(cache) == int(found.sum())


def test_default_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """EMBEDFRAME_CACHE_DIR overrides the per-user cache directory."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv(CACHE_DIR_ENV)
    default = default_cache_dir()
    assert default.name == "vectors" and "embedframe" in str(default)


def test_the_default_cache_may_be_a_url_and_only_then_is_not_a_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """EMBEDFRAME_CACHE_DIR may name an object store (kept as its URL) or a file:// URL (a path);
    asking for a local directory where it is an object store says so, without its credentials."""
    monkeypatch.setenv(CACHE_DIR_ENV, (tmp_path / "here").as_uri())
    assert default_cache() == default_cache_dir() == tmp_path / "here"
    monkeypatch.setenv(CACHE_DIR_ENV, " s3://user:PW-SECRET@bucket/vectors ")
    assert default_cache() == "s3://user:PW-SECRET@bucket/vectors"
    with pytest.raises(ConfigError, match=r"EMBEDFRAME_CACHE_DIR is the URL 's3://bucket/vectors'") as caught:
        default_cache_dir()
    assert "SECRET" not in str(caught.value)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
