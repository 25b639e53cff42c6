"""Dask: the same call on a real two-process LocalCluster, against the loopback server."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import embedframe
from embedframe import EmbedConfig, to_numpy, vector_dtype
from embedframe._wire.limits import BURST_S
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, Fault, RateLimit, encoding, vector_for_text
from tests.support.hookserver import HookedServer as TimedServer  # records arrival times

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import embedframe.dask as edask  # noqa: E402  (after the skips: needs Dask)

MODEL = "fake-embed"  # not in the model table: the vector size is learnt by a probe request


def two_workers() -> Any:
    """A LocalCluster of two worker processes (one thread each) on loopback."""
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port, never the default 8787
        silence_logs=logging.ERROR,
    )


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """The module's cluster and its client."""
    with two_workers() as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def timed_server() -> Iterator[TimedServer]:
    with TimedServer(dim=DIM, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def tserver(timed_server: TimedServer) -> Iterator[TimedServer]:
    timed_server.reset()
    timed_server.latency_s = 0.0
    yield timed_server
    timed_server.reset()
    timed_server.latency_s = 0.0


def cfg_for(server: FakeServer, **options: Any) -> EmbedConfig:
    base: dict[str, Any] = {
        "base_url": server.url,
        "api_key": API_KEY,
        "model": MODEL,
        # The fake counts with cl100k_base; a model not in the table would otherwise be
        # counted by its UTF-8 bytes (an upper bound), which paces token budgets ~4x too slow.
        "tokenizer": "cl100k_base",
        "progress": False,
        "wait_initial": 0.01,
        "wait_max": 0.05,
    }
    base.update(options)
    return EmbedConfig(**base)


def frame(n: int = 3000, distinct: int = 900, seed: int = 7) -> pd.DataFrame:
    """Texts repeated across partitions, nulls, empties, one long text, and a whole partition without text."""
    rng = np.random.default_rng(seed)
    texts: list[Any] = [
        f"review {k}: the item was {'good' if k % 3 else 'bad'}" for k in rng.integers(0, distinct, n)
    ]
    texts[3] = None
    texts[11] = ""
    texts[12] = "   "
    texts[20] = " ".join(f"word{i}" for i in range(400))  # over max_input_tokens: chunked
    texts[n // 2 : n // 2 + n // 6] = [None] * (n // 6)  # one partition of six has no text
    index = pd.Index([f"r{i:05d}" for i in rng.permutation(n)], name="id")  # not sorted, not a range
    return pd.DataFrame({"text": texts, "n": np.arange(n)}, index=index)


def texts_of(n: int, size: int) -> list[str]:
    """``n`` distinct texts of exactly ``size`` tokens each."""
    count = lambda text: len(encoding().encode_ordinary(text))  # noqa: E731
    out = [f"{i} " + "hello world " * ((size - 1) // 2) for i in range(n)]
    out = [t if count(t) == size else t + "x" * (size - count(t)) for t in out]
    assert all(count(t) == size for t in out)
    return out


# ------------------------------------------------------------------------- no cluster needed


def test_importing_embedframe_does_not_import_dask() -> None:
    """`import embedframe` (and embedframe.dask) never imports Dask; ddf.embed appears when Dask is imported."""
    code = (
        "import sys, embedframe, embedframe.dask\n"
        "assert 'dask' not in sys.modules, 'dask was imported'\n"
        "import dask.dataframe as dd, pandas as pd\n"
        "ddf = dd.from_pandas(pd.DataFrame({'t': ['a']}), npartitions=1)\n"
        "assert type(ddf.embed).__name__ == 'DaskEmbedAccessor'\n"
        "assert type(ddf.t.embed).__name__ == 'DaskSeriesEmbedAccessor'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_without_dask_the_core_imports_and_the_dask_api_says_what_to_install() -> None:
    """With Dask missing, embedframe.dask imports, registers nothing, and its functions raise ConfigError."""
    code = (
        "import sys\n"
        "sys.modules['dask'] = None\n"
        "import embedframe, embedframe.dask as e\n"
        "try:\n"
        "    e.embed_column(object(), 'text')\n"
        "except embedframe.ConfigError as err:\n"
        "    assert 'dask' in str(err).lower(), err\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_rate_limits_are_split_into_shares() -> None:
    """RPM/TPM are divided among the workers; every share still fits one full-size input."""
    cfg = EmbedConfig(base_url="http://127.0.0.1:9/v1", requests_per_minute=3000, tokens_per_minute=1_000_000)
    split, shares = edask._share_limits(cfg, 4)
    assert shares == 4
    assert (split.requests_per_minute, split.tokens_per_minute) == (750, 250_000)
    _, shares = edask._share_limits(cfg.replace(tokens_per_minute=20_000), 8)
    assert shares == 2  # 20,000 / 8191-token inputs
    assert edask._share_limits(cfg.replace(requests_per_minute=None, tokens_per_minute=None), 4) == (
        cfg.replace(requests_per_minute=None, tokens_per_minute=None),
        0,
    )


def test_a_process_forgets_a_job_idle_for_long_but_never_one_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process drops a job's lock, budget and pause once it is idle for _JOB_IDLE_S, never while a partition sends; a forgotten job runs again."""
    from embedframe.dask import _cluster

    monkeypatch.setattr(_cluster, "_JOB_IDLE_S", 0.0)
    cfg = EmbedConfig(base_url="http://127.0.0.1:9/v1", requests_per_minute=600)
    a, b, c = (_cluster.Cluster.start(cfg, 1) for _ in range(3))
    with a.sending():
        with b.sending():
            assert {a.name, b.name} <= set(_cluster._jobs)
        budget = _cluster._jobs[a.name].limiter
        with c.sending():  # b is idle now; a still sends
            assert a.name in _cluster._jobs and b.name not in _cluster._jobs
    with a.sending():  # forgotten when it entered, then made again
        assert _cluster._jobs[a.name].limiter is not budget
        assert c.name not in _cluster._jobs
    monkeypatch.setattr(_cluster, "_JOB_IDLE_S", 600.0)
    with b.sending():
        assert a.name in _cluster._jobs  # idle for less than _JOB_IDLE_S: kept


def test_a_partition_digest_follows_its_texts_and_index_and_takes_any_value() -> None:
    """The digest a finished to_parquet records: the same for the same texts and index (object or
    Arrow strings), different for another text or index, and defined for unhashable bad rows."""
    from embedframe.dask._write import series_digest

    texts = ["a", None, "c"]
    same = series_digest(pd.Series(texts, dtype=object))
    assert series_digest(pd.Series(texts, dtype="string[pyarrow]")) == same
    assert series_digest(pd.Series(["a", None, "d"], dtype=object)) != same
    assert series_digest(pd.Series(texts, dtype=object, index=[1, 2, 3])) != same
    odd = pd.Series(["a", ["not", "text"], {"k": 1}], dtype=object)
    assert series_digest(odd) == series_digest(odd.copy()) != same


def test_cache_location_is_a_path_or_an_fsspec_url(tmp_path: Path) -> None:
    """A file:// URL becomes a local path, an object-store URL travels as it is, an unknown scheme is refused."""
    cfg = edask._job_config(None, {"base_url": "http://127.0.0.1:9/v1", "cache": (tmp_path / "c").as_uri()})
    assert cfg.cache == str(tmp_path / "c")
    cfg = edask._job_config(None, {"base_url": "http://127.0.0.1:9/v1", "cache": "memory://bucket/vectors"})
    assert cfg.cache == "memory://bucket/vectors"
    with pytest.raises(embedframe.ConfigError, match=r"nosuchfs://"):
        edask._job_config(None, {"base_url": "http://127.0.0.1:9/v1", "cache": "nosuchfs://bucket/vectors"})


def test_cache_true_takes_the_clients_environment_to_every_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cache=True is pinned to $EMBEDFRAME_CACHE_DIR as the client sees it: an absolute path, or its URL as it is."""
    monkeypatch.setenv("EMBEDFRAME_CACHE_DIR", "memory://bucket/from-env")
    assert edask._job_config(None, {"base_url": "http://127.0.0.1:9/v1"}).cache == "memory://bucket/from-env"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEDFRAME_CACHE_DIR", "relative/cache")
    assert edask._job_config(None, {"base_url": "http://127.0.0.1:9/v1"}).cache == str(
        tmp_path / "relative/cache"
    )


# ---------------------------------------------------------------------------- on the cluster


def test_matches_pandas_row_for_row_and_sends_each_text_once(client: Any, tserver: TimedServer) -> None:
    """A 3,000-row frame on 2 workers equals the pandas accessor's output; each distinct input is sent once."""
    pdf = frame()
    ddf = dd.from_pandas(pdf, npartitions=6, sort=False)
    cfg = cfg_for(tserver, max_input_tokens=128, max_inputs_per_request=100)

    out = ddf.embed.column("text", config=cfg)
    assert out.npartitions == ddf.npartitions
    assert out._meta["text_embedding"].dtype == vector_dtype(DIM)
    got = out.compute()
    sent = Counter(tserver.ok_inputs())
    assert max(sent.values()) == 1  # the probe's text included: it was cached, then reused

    tserver.reset()
    expected = ddf.compute().embed.column("text", config=cfg.replace(cache=False))
    pd.testing.assert_frame_equal(got, expected)
    assert Counter(tserver.ok_inputs()) == sent  # exactly what one machine sends
    assert got["text_embedding"].dtype == vector_dtype(DIM)
    parts = out.map_partitions(len).compute().tolist()
    assert parts == ddf.map_partitions(len).compute().tolist()
    assert got.attrs["embedframe"]["requests"] >= 1
    assert got.attrs[embedframe.api.PROVENANCE_ATTR]["text_embedding"]["dimensions"] == DIM

    rows = np.flatnonzero(got["text"].notna() & (got["text"].str.strip() != "")).tolist()
    short = [i for i in rows if i != 20][:50]
    vectors = to_numpy(got["text_embedding"].iloc[short])
    np.testing.assert_array_equal(
        vectors, np.stack([vector_for_text(got["text"].iloc[i], DIM) for i in short])
    )

    tserver.reset()
    again = ddf.embed.column("text", config=cfg).compute()  # a rerun pays for nothing
    pd.testing.assert_frame_equal(again, got)
    streamed = ddf.embed.column("text", config=cfg, dedupe="partition").compute()
    pd.testing.assert_frame_equal(streamed, got, check_like=False)
    series = ddf["text"].embed(config=cfg).compute()
    pd.testing.assert_series_equal(series, got["text_embedding"])
    assert tserver.requests == []


def test_estimate_on_the_cluster_matches_pandas_and_sends_nothing(client: Any, tserver: TimedServer) -> None:
    """ddf.embed.estimate equals the pandas estimate (requests at least as many) without any request."""
    pdf = frame(n=1200, distinct=400, seed=3)
    ddf = dd.from_pandas(pdf, npartitions=4, sort=False)
    cfg = cfg_for(tserver, max_input_tokens=128, max_inputs_per_request=50)
    ours = ddf.embed.estimate("text", config=cfg)
    theirs = ddf.compute().embed.estimate("text", config=cfg)
    assert tserver.requests == []
    mine, ref = ours.as_dict(), theirs.as_dict()
    assert mine.pop("requests") >= ref.pop("requests")
    assert mine == ref
    assert ours.tokens > 0 and ours.cache_hits == 0

    per_partition = ddf.embed.estimate("text", config=cfg, dedupe="partition")
    assert per_partition.rows == ours.rows
    assert per_partition.distinct_texts > ours.distinct_texts  # texts shared by partitions count once each


def test_to_parquet_writes_what_pandas_writes(client: Any, tserver: TimedServer, tmp_path: Path) -> None:
    """One file per partition, same vector schema and footer as pandas; pandas, pyarrow and Dask read it back."""
    pdf = frame(n=600, distinct=200, seed=5)
    ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
    out = ddf.embed.column("text", config=cfg_for(tserver, max_input_tokens=128))
    target = tmp_path / "out"
    out.embed.to_parquet(target)
    files = sorted(p.name for p in target.glob("*.parquet"))
    assert files == ["part.00000.parquet", "part.00001.parquet", "part.00002.parquet"]

    whole = out.compute()
    single = tmp_path / "single.parquet"
    whole.embed.to_parquet(single)
    assert pq.read_schema(target / files[0]).field("text_embedding") == pq.read_schema(single).field(
        "text_embedding"
    )
    provenance = embedframe.read_provenance(target / files[1])
    assert provenance["dimensions"] == DIM and provenance["vector_column"] == "text_embedding"

    back = pd.concat([embedframe.read_parquet(target / f) for f in files])
    pd.testing.assert_frame_equal(back, embedframe.read_parquet(single))  # as pandas' own file reads back
    np.testing.assert_array_equal(to_numpy(back["text_embedding"]), to_numpy(whole["text_embedding"]))
    assert back["text_embedding"].dtype == vector_dtype(DIM)
    assert len(pd.read_parquet(target)) == len(whole)
    assert dd.read_parquet(target).map_partitions(len).compute().sum() == len(whole)
    pattern = str(target / "*.parquet")
    with contextlib.suppress(ImportError):
        import polars as pl

        assert pl.read_parquet(pattern)["text_embedding"].dtype == pl.Array(pl.Float32, DIM)
    with contextlib.suppress(ImportError):
        import duckdb

        assert duckdb.sql(f"select count(*) from read_parquet('{pattern}')").fetchall() == [(len(whole),)]

    stamps = {f: (target / f).stat().st_mtime_ns for f in files}
    sent = len(tserver.requests)
    out.embed.to_parquet(target)  # the same job again (a scheduler's rerun): nothing to do
    assert len(tserver.requests) == sent
    assert {f: (target / f).stat().st_mtime_ns for f in files} == stamps
    other = ddf.embed.column("text", config=cfg_for(tserver, max_input_tokens=64))
    with pytest.raises(embedframe.InputError, match="overwrite=True"):
        other.embed.to_parquet(target)  # another job into the same directory is refused
    other.embed.to_parquet(target, overwrite=True)
    assert embedframe.read_provenance(target / files[0])["max_input_tokens"] == 64


def test_a_touched_input_is_the_same_job_and_new_texts_are_refused_before_sending(
    client: Any, tserver: TimedServer, tmp_path: Path
) -> None:
    """to_parquet again after the input file was touched (new mtime, same texts): the same
    finished job, nothing sent or rewritten; other texts under that name: refused, nothing sent."""
    from embedframe.provenance import attached_provenance

    source, target = tmp_path / "in.parquet", tmp_path / "out"
    pd.DataFrame({"text": [f"touched text {i}" for i in range(300)]}).to_parquet(source)
    cfg = cfg_for(tserver)

    def job() -> Any:
        return dd.read_parquet(source).embed.column("text", config=cfg, vector_size=DIM)

    first = job()
    first.embed.to_parquet(target)
    files = sorted(target.glob("part.*.parquet"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    sent = len(tserver.requests)
    assert sent > 0

    later = time.time() + 5
    os.utime(source, (later, later))
    touched = job()
    token = attached_provenance(touched._meta)["dask_input"]
    assert token != attached_provenance(first._meta)["dask_input"], "Dask's token follows the mtime"
    touched.embed.to_parquet(target)  # a scheduler's rerun after a re-download
    assert len(tserver.requests) == sent
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    marker = json.loads((target / "_embedframe_job.json").read_text())
    assert marker["job"]["identity"]["dask_input"] == token  # the next rerun needs no reading

    pd.DataFrame({"text": [f"other text {i}" for i in range(300)]}).to_parquet(source)
    with pytest.raises(embedframe.InputError, match=r"another job \(identity.dask_input differ\)"):
        job().embed.to_parquet(target)
    assert len(tserver.requests) == sent  # refused before any partition was embedded
    assert {f: f.stat().st_mtime_ns for f in files} == stamps


def test_an_unfinished_output_of_the_same_job_is_resumed_by_running_it_again(
    tserver: TimedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stopped after its parts and before its record (a crash) is finished by running
    it again, without overwrite=True and without paying twice; another job's unfinished output is refused."""
    target, elsewhere = tmp_path / "out", tmp_path / "other"

    def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("killed before the job was recorded as finished")

    # In this process, where the crash is patched in (and no P2P shuffle, which needs the cluster).
    with dask.config.set({"scheduler": "sync", "dataframe.shuffle.method": "tasks"}):
        pdf = frame(n=300, distinct=300, seed=13)
        ddf = dd.from_pandas(pdf, npartitions=3, sort=False)
        out = ddf.embed.column("text", config=cfg_for(tserver, max_input_tokens=128), vector_size=DIM)
        other = ddf.embed.column("text", config=cfg_for(tserver, max_input_tokens=64), vector_size=DIM)
        with monkeypatch.context() as patched:
            patched.setattr(edask, "write_marker", crash)
            for frame_, where in ((out, target), (other, elsewhere)):
                with pytest.raises(RuntimeError, match="killed"):
                    frame_.embed.to_parquet(where)
        assert len(list(target.glob("part.*.parquet"))) == 3
        assert json.loads((target / "_embedframe_job.json").read_text())["state"] == "started"
        sent = len(tserver.requests)

        out.embed.to_parquet(target)  # the scheduler's retry
        assert len(tserver.requests) == sent  # every vector from the cache
        back = pd.concat([embedframe.read_parquet(f) for f in sorted(target.glob("part.*.parquet"))])
        whole = out.compute()  # from the cache too
        assert len(tserver.requests) == sent and back.index.equals(whole.index)
        np.testing.assert_array_equal(to_numpy(back["text_embedding"]), to_numpy(whole["text_embedding"]))
        assert "rows" in json.loads((target / "_embedframe_job.json").read_text())
        with pytest.raises(embedframe.InputError, match="another job"):
            out.embed.to_parquet(elsewhere)  # another job's unfinished parts are not ours to replace


def test_details_and_bad_rows_as_on_pandas(client: Any, tserver: TimedServer) -> None:
    """details=True gives pandas' per-row columns; a non-string value raises InputTypeError before any request."""
    pdf = frame(n=400, distinct=100, seed=9)
    ddf = dd.from_pandas(pdf, npartitions=4, sort=False)
    cfg = cfg_for(tserver, max_input_tokens=128)
    got = ddf.embed.column("text", config=cfg, details=True, vector_size=DIM).compute()
    expected = ddf.compute().embed.column("text", config=cfg.replace(cache=False), details=True)
    pd.testing.assert_frame_equal(got, expected)

    tserver.reset()
    bad = pdf.astype({"text": object})
    bad.iloc[350, 0] = 12345
    with dask.config.set({"dataframe.convert-string": False}):  # else Dask makes the int a string
        bad_ddf = dd.from_pandas(bad, npartitions=4, sort=False)
    with pytest.raises(embedframe.InputTypeError, match=r"int"):
        bad_ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    assert tserver.requests == []


def test_vectors_of_another_size_than_the_graph_expects_raise(client: Any, tserver: TimedServer) -> None:
    """A server whose vectors differ from the model table's size stops the job with a ResponseError naming vector_size=."""
    ddf = dd.from_pandas(pd.DataFrame({"text": ["one", "two", "three"]}), npartitions=2)
    out = ddf.embed.column("text", config=cfg_for(tserver, model="text-embedding-3-small"))
    assert out._meta["text_embedding"].dtype == vector_dtype(1536)  # from the model table
    with pytest.raises(embedframe.ResponseError, match="vector_size="):
        out.compute()


def test_api_errors_reach_the_client_as_themselves(client: Any, tserver: TimedServer) -> None:
    """A 401 on a worker raises AuthenticationError (status 401) in the caller."""
    ddf = dd.from_pandas(pd.DataFrame({"text": ["a", "b", "c", "d"]}), npartitions=2)
    cfg = cfg_for(tserver, api_key="sk-wrong-key-0123456789")
    with pytest.raises(embedframe.AuthenticationError) as caught:
        ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    assert caught.value.status == 401
    deadline = time.monotonic() + 30  # the other worker's task may still be sending: let it end here
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_global_token_limit_holds_across_both_workers(client: Any, tserver: TimedServer) -> None:
    """At the server, the 2-worker job's tokens never run ahead of the budget's pace by more than the two shares' half-second bursts."""
    tpm = 60_000  # 1,000 tokens a second for the whole cluster: two shares of 500
    texts = texts_of(330, 20)  # 6,600 tokens: over 6 s of pacing
    ddf = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=6)
    cfg = cfg_for(
        tserver, tokens_per_minute=tpm, max_input_tokens=512, max_inputs_per_request=10, concurrency=4
    )
    with distributed.get_task_stream(client) as stream:
        out = ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    np.testing.assert_array_equal(
        to_numpy(out["text_embedding"]), np.stack([vector_for_text(t, DIM) for t in texts])
    )
    embedding = [t for t in stream.data if "embed_texts" in t["key"][0]]
    assert len({t["worker"] for t in embedding}) == 2

    # Only this job's requests: a task of the previous test (401) may still send after it ended.
    ours = set(texts)
    got = sorted((t, r.total_tokens) for t, r in tserver.arrivals if set(r.inputs or []) <= ours)
    assert sum(n for _, n in got) == 6600
    t0, total = got[0][0], 0
    for t, n in got:
        total += n
        allowed = tpm / 60 * BURST_S + tpm / 60 * (t - t0 + 0.25)  # 0.25 s: from taking to arriving
        assert total <= allowed, f"{total} tokens arrived by t+{t - t0:.2f}s, more than {allowed:.0f}"
    assert got[-1][0] - t0 >= (6600 - 1000) / 1000 * 0.9, "the budget made the job wait"


def test_limits_learned_from_the_server_are_split_among_workers(client: Any, tserver: TimedServer) -> None:
    """With no client-side limits, two workers share the rate the server's headers report instead of each taking all of it."""
    tserver.rate_limit = RateLimit(tokens_per_minute=120_000, window_s=1.0)  # 2,000 tokens a second
    try:
        texts = texts_of(600, 20)  # 12,000 tokens: 6 s at the server's rate
        ddf = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=6)
        cfg = cfg_for(tserver, max_input_tokens=512, max_inputs_per_request=10, concurrency=4)
        with distributed.get_task_stream(client) as stream:
            out = ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    finally:
        tserver.rate_limit = None
    np.testing.assert_array_equal(
        to_numpy(out["text_embedding"]), np.stack([vector_for_text(t, DIM) for t in texts])
    )
    assert len({t["worker"] for t in stream.data if "embed_texts" in t["key"][0]}) == 2
    refused = [r for r in tserver.requests if r.status == 429]
    assert len(refused) <= 1, (
        f"{len(refused)} requests refused: the workers together went over the server's rate"
    )


def _set_job_idle_s(seconds: float) -> None:
    from embedframe.dask import _cluster

    _cluster._JOB_IDLE_S = seconds


def _jobs_here() -> list[str]:
    from embedframe.dask import _cluster

    return sorted(_cluster._jobs)


def _refreshing(names: list[str]) -> list[str]:
    """The names among ``names`` of this process's semaphores that still refresh their leases."""
    import gc

    return sorted(
        o.name
        for o in gc.get_objects()
        if isinstance(o, distributed.Semaphore) and o.name in names and o.refresh_callback.is_running()
    )


def test_a_worker_forgets_an_idle_job_and_stops_its_lease_refresh(client: Any, tserver: TimedServer) -> None:
    """On real workers, a finished job's state goes when a later job starts after _JOB_IDLE_S: its semaphore stops refreshing."""
    ddf = dd.from_pandas(pd.DataFrame({"text": [f"idle job {i}" for i in range(40)]}), npartitions=2)
    cfg = cfg_for(tserver, max_inputs_per_request=5)
    ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    first = {w: names for w, names in client.run(_jobs_here).items() if names}
    assert first, "the job kept its state on the workers that ran it"
    assert all(client.run(_refreshing, names, workers=[w])[w] == names for w, names in first.items())
    client.run(_set_job_idle_s, 0.0)
    try:
        ddf = dd.from_pandas(pd.DataFrame({"text": [f"next job {i}" for i in range(40)]}), npartitions=2)
        ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
        second = client.run(_jobs_here)
        ran = [w for w in first if set(second[w]) - set(first[w])]  # workers that sent for the new job
        assert ran, "the new job ran on a worker that ran the first"
        time.sleep(0.2)  # the stop is scheduled on the worker's event loop
        for worker in ran:
            assert not set(first[worker]) & set(second[worker])
            assert client.run(_refreshing, first[worker], workers=[worker])[worker] == []
    finally:
        client.run(_set_job_idle_s, 600.0)


def test_a_429_pauses_every_worker(client: Any, tserver: TimedServer) -> None:
    """A 429 with Retry-After heard by one worker pauses the other too: nothing reaches the server until it is over."""
    tserver.latency_s = 0.03
    texts = [f"pause text {i}" for i in range(480)]
    ddf = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=4)
    tserver.fault_at(12, fault=Fault("429", retry_after="2"))
    cfg = cfg_for(tserver, max_inputs_per_request=4, concurrency=1, max_retry_wait=10)
    with distributed.get_task_stream(client) as stream:
        out = ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    np.testing.assert_array_equal(
        to_numpy(out["text_embedding"]), np.stack([vector_for_text(t, DIM) for t in texts])
    )
    assert len({t["worker"] for t in stream.data if "embed_texts" in t["key"][0]}) == 2
    [t429] = [t for t, r in tserver.arrivals if r.status == 429]
    during = [t - t429 for t, _ in tserver.arrivals if t429 + 0.5 < t < t429 + 1.9]
    assert not during, f"requests arrived during the pause, at +{[round(d, 2) for d in during]} s"
    assert any(t > t429 + 1.9 for t, _ in tserver.arrivals), "the job went on after the pause"


def test_killed_worker_still_gives_the_complete_output(client: Any, tserver: TimedServer) -> None:
    """SIGKILL of a worker mid-job: Dask recomputes its tasks, the cache spares what was paid, the output is whole."""
    tserver.latency_s = 0.1
    n = 1600
    pdf = pd.DataFrame({"text": [f"survivor text {i}" for i in range(n)]}, index=np.arange(n) * 3)
    ddf = dd.from_pandas(pdf, npartitions=8)
    cfg = cfg_for(tserver, max_inputs_per_request=10, concurrency=2)
    future = client.compute(ddf.embed.column("text", config=cfg, vector_size=DIM))

    deadline = time.monotonic() + 30
    while len(tserver.requests) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not future.done(), "the job ended before a worker could be killed"
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    killed_at = len(tserver.requests)

    got = future.result(timeout=120)
    assert killed_at < len(tserver.requests)  # work went on after the kill
    expected = np.stack([vector_for_text(t, DIM) for t in pdf["text"]])
    assert got.index.equals(pdf.index)
    np.testing.assert_array_equal(to_numpy(got["text_embedding"]), expected)
    sent = Counter(tserver.ok_inputs())
    assert set(sent) == set(pdf["text"])
    resent = sum(c - 1 for c in sent.values())
    # at most the killed worker's requests in flight and answers not yet written: 2 x concurrency
    # requests of 10 (the cache writer's bound, see embedframe/_storage/cachewriter.py)
    assert resent <= 2 * 2 * 10
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it


def test_cache_on_s3_resumes_on_a_fresh_cluster(client: Any, tserver: TimedServer, s3_server: Any) -> None:
    """A job with its cache in an S3 bucket, run again on a new cluster (new worker processes), sends nothing."""
    pdf = frame(n=600, distinct=200, seed=11)
    ddf = dd.from_pandas(pdf, npartitions=4, sort=False)
    cfg = cfg_for(
        tserver,
        max_input_tokens=128,
        cache=f"s3://{s3_server.new_bucket()}/vectors",
        cache_storage_options=s3_server.options,
    )
    first = ddf.embed.column("text", config=cfg, vector_size=DIM).compute()
    assert tserver.requests and max(Counter(tserver.ok_inputs()).values()) == 1

    tserver.reset()
    with two_workers() as cluster, distributed.Client(cluster, set_as_default=False) as fresh:
        again = fresh.compute(ddf.embed.column("text", config=cfg, vector_size=DIM)).result(timeout=120)
    assert tserver.requests == []
    pd.testing.assert_frame_equal(again, first)


def test_to_parquet_on_s3_reads_back_equal(
    client: Any, tserver: TimedServer, s3_server: Any, tmp_path: Path
) -> None:
    """ddf.embed.to_parquet('s3://...') writes one object per partition that reads back equal; parts there need overwrite=True."""
    import s3fs

    pdf = frame(n=300, distinct=100, seed=13)
    out = dd.from_pandas(pdf, npartitions=3, sort=False).embed.column(
        "text", config=cfg_for(tserver, max_input_tokens=128), vector_size=DIM
    )
    url = f"s3://{s3_server.new_bucket()}/out/"
    out.embed.to_parquet(url, storage_options=s3_server.options)
    fs = s3fs.S3FileSystem(**s3_server.options)
    files = sorted(f for f in fs.ls(url, detail=False) if f.endswith(".parquet"))
    assert [f.rpartition("/")[2] for f in files] == [f"part.{i:05d}.parquet" for i in range(3)]
    for f in files:
        fs.get_file(f, str(tmp_path / f.rpartition("/")[2]))
    back = pd.concat([embedframe.read_parquet(tmp_path / f.rpartition("/")[2]) for f in files])
    whole = out.compute()
    np.testing.assert_array_equal(to_numpy(back["text_embedding"]), to_numpy(whole["text_embedding"]))
    pd.testing.assert_frame_equal(  # string dtypes' NA flavour differs after a Parquet round trip
        back.drop(columns="text_embedding"),
        whole.drop(columns="text_embedding"),
        check_dtype=False,
        check_index_type=False,
    )
    assert len(pd.read_parquet(url, storage_options=s3_server.options)) == len(whole)

    out.embed.to_parquet(url, storage_options=s3_server.options)  # the same job again: nothing to do
    with pytest.raises(embedframe.InputError, match="overwrite=True"):
        out.partitions[:2].embed.to_parquet(url, storage_options=s3_server.options)  # another job
    out.partitions[:2].embed.to_parquet(url, storage_options=s3_server.options, overwrite=True)
    parts = [f for f in fs.ls(url, detail=False, refresh=True) if f.endswith(".parquet")]
    assert len(parts) == 2  # the old parts went first
