"""The vector cache on an object store (moto's S3 on loopback, fsspec memory://) and on a directory."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import subprocess
import sys
import uuid
import warnings
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

import embedframe
from embedframe import ConfigError, EmbedConfig, VectorCache
from embedframe._job import engine as _engine
from embedframe.cache import CacheWarning
from tests.storage.test_cache import check_exact, keys, vectors
from tests.support import API_KEY
from tests.support.fakeserver import FakeServer

pytest.importorskip("fsspec")


@pytest.fixture(params=["local", "s3", "memory"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any] | None]:
    """A cache location and its storage options: a directory, a moto S3 bucket, fsspec memory."""
    if request.param == "local":
        return str(tmp_path / "cache"), None
    if request.param == "memory":
        return f"memory://embedframe-{uuid.uuid4().hex}/cache", None
    s3 = request.getfixturevalue("s3_server")
    return f"s3://{s3.new_bucket()}/cache", s3.options


def shard_names(cache: VectorCache) -> list[str]:
    return sorted(cache._store.names())


def test_round_trip_compact_and_clear_on_every_store(where: tuple[str, dict[str, Any] | None]) -> None:
    """put/get/contains/len/compact/clear behave the same on a directory, S3 and memory://."""
    location, options = where
    cache = VectorCache(location, storage_options=options, shard_rows=60)
    for start in range(0, 100, 10):
        ids = range(start, start + 15)  # overlaps the next put by 5
        cache.put(keys(ids), vectors(ids))
    assert cache.shard_count() == 10 and len(cache) == 105
    assert check_exact(cache, range(105)).all()
    assert cache.contains(keys([3, 104, 105])).tolist() == [True, True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.compact()
        assert cache.shard_count() < 4
        for c in (cache, VectorCache(location, storage_options=options)):
            assert check_exact(c, range(105)).all() and len(c) == 105
    cache.clear()
    assert cache.shard_count() == 0 and len(cache) == 0
    assert not check_exact(VectorCache(location, storage_options=options), range(105)).any()


def test_shard_removed_between_listing_and_reading(s3_server: Any) -> None:
    """A shard that disappears after the listing (index build) or after indexing (lookup) is skipped quietly."""
    location, options = f"s3://{s3_server.new_bucket()}/cache", s3_server.options
    writer = VectorCache(location, storage_options=options)
    made: list[str] = []  # the shard of each put, in order
    for start in range(0, 30, 10):
        writer.put(keys(range(start, start + 10)), vectors(range(start, start + 10)))
        made += sorted(set(shard_names(writer)) - set(made))
    first, second, _ = made

    reader = VectorCache(location, storage_options=options)
    real_names = reader._store.names

    def names_then_remove() -> set[str]:
        found = real_names()
        writer._store.delete(first)  # another process's compaction, right after our listing
        return found

    reader._store.names = names_then_remove  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reader.contains(keys(range(30))).tolist() == [False] * 10 + [True] * 20
        reader._store.names = real_names  # type: ignore[method-assign]
        writer._store.delete(second)  # indexed, then removed before the vectors are read
        found = check_exact(reader, range(30))
    assert found.tolist() == [False] * 20 + [True] * 10


def test_reader_survives_a_compaction_elsewhere(s3_server: Any) -> None:
    """A reader whose index names compacted-away shards re-lists and finds every vector in the new one."""
    location, options = f"s3://{s3_server.new_bucket()}/cache", s3_server.options
    writer = VectorCache(location, storage_options=options, shard_rows=1000)
    for start in range(0, 60, 10):
        writer.put(keys(range(start, start + 10)), vectors(range(start, start + 10)))
    reader = VectorCache(location, storage_options=options)
    assert check_exact(reader, range(60)).all()
    VectorCache(location, storage_options=options, shard_rows=1000).compact()
    assert len(shard_names(reader)) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_exact(reader, range(60)).all() and len(reader) == 60


def test_lock_free_compaction_keeps_a_key_whose_other_copy_is_elsewhere() -> None:
    """On an object store a merge keeps every key of the shards it replaces, even one also stored in another shard."""
    location = f"memory://embedframe-{uuid.uuid4().hex}/cache"
    cache = VectorCache(location, shard_rows=50)
    cache.put(keys(range(60)), vectors(range(60)))  # a big shard: never merged
    (big,) = shard_names(cache)
    for start in range(0, 40, 10):  # small shards repeating keys of the big one
        cache.put(keys(range(start, start + 10)), vectors(range(start, start + 10)))
    stale = VectorCache(location, shard_rows=50)  # another compactor with the same view
    stale.contains(keys([0]))
    cache.compact()
    stale.compact()  # its shards are gone: it merges nothing and removes nothing it did not copy
    cache._store.delete(big)  # were the duplicates dropped for the big shard's sake, they would be lost now
    fresh = VectorCache(location)
    assert check_exact(fresh, range(40)).all() and len(fresh) == 40


def _s3_worker(location: str, options: dict[str, Any], me: int, barrier: Barrier) -> None:
    """Put own and shared keys, read the other's, compact often (both processes: lock-free)."""
    cache = VectorCache(location, storage_options=options, shard_rows=40)
    other = 1 - me
    barrier.wait()
    for k in range(12):
        ids = [*range(me * 1000 + k * 10, me * 1000 + k * 10 + 10), *range(5000 + k * 5, 5000 + k * 5 + 5)]
        cache.put(keys(ids), vectors(ids))
        check_exact(cache, range(other * 1000, other * 1000 + 120))
        if k % 3 == 2:
            cache.compact()


def test_two_processes_write_and_compact_one_bucket_at_once(s3_server: Any) -> None:
    """Two processes writing, reading and compacting the same S3 prefix at once lose and corrupt nothing."""
    location, options = f"s3://{s3_server.new_bucket()}/cache", s3_server.options
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_s3_worker, args=(location, options, me, barrier)) for me in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    every = [*range(120), *range(1000, 1120), *range(5000, 5060)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = VectorCache(location, storage_options=options)
        assert check_exact(cache, every).all() and len(cache) == len(every)


def test_pandas_job_resumes_from_an_s3_cache(
    server: FakeServer, s3_server: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A job with cache='s3://...' pays once; the same job again sends nothing; no credential shows anywhere."""
    df = pd.DataFrame({"text": [f"review {i}" for i in range(40)] + [None]})
    cfg = EmbedConfig(
        base_url=server.url,
        api_key=API_KEY,
        progress=False,
        max_inputs_per_request=8,
        cache=f"s3://{s3_server.new_bucket()}/vectors",
        cache_storage_options=s3_server.options,
    )
    caplog.set_level(logging.DEBUG, logger="embedframe")
    first = df.embed.column("text", config=cfg)
    assert len(server.requests) == 5
    server.reset()
    _engine._open_caches.clear()  # as a fresh process: nothing but the bucket
    again = df.embed.column("text", config=cfg)
    assert server.requests == []
    pd.testing.assert_frame_equal(again, first)
    again.embed.to_parquet(tmp_path / "out.parquet")
    shown = " ".join(
        [repr(cfg), str(cfg), caplog.text, json.dumps(again.attrs, default=str)]
        + [repr(pq.read_metadata(tmp_path / "out.parquet").metadata)]
        + [repr(c) for c in _engine._open_caches.values()]
    )
    assert "SECRET" not in shown and "***" in repr(cfg)


def test_a_job_with_the_default_cache_uses_the_bucket_the_environment_names(
    server: FakeServer, s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMBEDFRAME_CACHE_DIR=s3://... is where cache=True keeps vectors: a fresh process's same job sends nothing."""
    import s3fs

    bucket = s3_server.new_bucket()
    monkeypatch.setenv("EMBEDFRAME_CACHE_DIR", f"s3://{bucket}/vectors")
    cfg = EmbedConfig(
        base_url=server.url, api_key=API_KEY, progress=False, cache_storage_options=s3_server.options
    )
    assert cfg.cache is True and cfg.cache_url == f"s3://{bucket}/vectors" and cfg.cache_dir is None
    texts = pd.Series([f"from the environment {i}" for i in range(30)])
    first = embedframe.embed(texts, config=cfg)
    assert server.requests
    server.reset()
    _engine._open_caches.clear()  # as a fresh process: nothing but the bucket
    again = embedframe.embed(texts, config=cfg)
    assert server.requests == []
    pd.testing.assert_series_equal(again, first)
    assert s3fs.S3FileSystem(**s3_server.options).ls(f"{bucket}/vectors")
    monkeypatch.setenv("EMBEDFRAME_CACHE_DIR", "nosuchfs://user:PW-SECRET@bucket/vectors")
    with pytest.raises(ConfigError, match=r"EMBEDFRAME_CACHE_DIR") as caught:
        EmbedConfig(base_url=server.url)
    assert "SECRET" not in str(caught.value) and "nosuchfs://bucket/vectors" in str(caught.value)


def test_secrets_in_a_cache_url_or_its_options_are_never_shown() -> None:
    """user:password@ in the URL and storage option values stay out of reprs and error messages."""
    cfg = EmbedConfig(
        base_url="http://127.0.0.1:9/v1",
        cache="memory://user:PW-SECRET@bucket/cache?token=Q-SECRET",
        cache_storage_options={"key": "K-SECRET", "secret": "S-SECRET"},
    )
    assert "SECRET" not in repr(cfg) and "memory://bucket/cache" in repr(cfg)
    with pytest.raises(ConfigError) as caught:
        EmbedConfig(cache="nosuchfs://user:PW-SECRET@bucket/cache?sig=Q-SECRET")
    assert "SECRET" not in str(caught.value) and "nosuchfs://bucket/cache" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        EmbedConfig(cache="/tmp/x", cache_storage_options={"secret": "S-SECRET"})
    assert "SECRET" not in str(caught.value)
    cache = VectorCache(f"memory://me:PW-SECRET@embedframe-{uuid.uuid4().hex}/c")
    assert "SECRET" not in repr(cache) + cache.location


def test_unknown_protocol_fails_before_anything_is_sent(server: FakeServer) -> None:
    """A cache URL whose protocol has no installed implementation raises ConfigError up front."""
    df = pd.DataFrame({"text": ["a", "b"]})
    with pytest.raises(ConfigError, match=r"no fsspec filesystem is installed for nosuchfs://"):
        df.embed.column("text", base_url=server.url, api_key=API_KEY, cache="nosuchfs://bucket/c")
    assert server.requests == []


def test_missing_s3fs_is_named_with_its_pip_command() -> None:
    """Without s3fs, cache='s3://...' raises ConfigError naming s3fs and pip, before any request."""
    code = (
        "import sys\n"
        "sys.modules['s3fs'] = None\n"  # as if it were not installed
        "import pandas as pd, embedframe\n"
        "try:\n"
        "    pd.DataFrame({'t': ['a']}).embed.column('t', base_url='http://127.0.0.1:9/v1', "
        "api_key='sk-x', cache='s3://bucket/c')\n"
        "except embedframe.ConfigError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "s3fs" in done.stdout and "pip install s3fs" in done.stdout, done.stdout


def test_damaged_object_is_skipped_with_a_warning_naming_it_without_credentials(s3_server: Any) -> None:
    """Garbage under a shard's name in the bucket is skipped with a CacheWarning that shows the public URL."""
    location, options = f"s3://{s3_server.new_bucket()}/cache", s3_server.options
    cache = VectorCache(location, storage_options=options)
    cache.put(keys(range(10)), vectors(range(10)))
    bad = f"shard-{'a' * 32}-1.parquet"
    cache._store.fs.pipe_file(f"{cache._store.root}/{bad}", b"not parquet" * 100)  # type: ignore[attr-defined]
    fresh = VectorCache(location, storage_options=options)
    with pytest.warns(CacheWarning, match=bad) as record:
        assert check_exact(fresh, range(10)).all()
    message = str(record[0].message)
    assert location in message and "SECRET" not in message
