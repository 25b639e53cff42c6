"""Work that was paid for is kept: the vector cache across runs, frames and processes, and resuming after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import embedframe
from embedframe import EmbedConfig, read_parquet, to_numpy
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer, vector_for_text

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

CONCURRENCY = 2
PER_REQUEST = 4
AT_RISK = 2 * CONCURRENCY * PER_REQUEST
"""Inputs a SIGKILL may cost: the requests in flight and the answers waiting to be written
(the cache's writer holds workers back while more than ``concurrency`` answers wait)."""
LATENCY_S = 0.04

# The child embeds a Parquet file's "text" column and writes the result, as a user's script would.
EMBED_CHILD = """
import json, sys
import pandas as pd
import embedframe
src, dst, url, per_request, concurrency = sys.argv[1:6]
df = pd.read_parquet(src)
out = df.embed("text", base_url=url, max_inputs_per_request=int(per_request),
               concurrency=int(concurrency), progress=False)
out.embed.to_parquet(dst)
print(json.dumps(out.attrs["embedframe"]))
"""

FILE_CHILD = """
import dataclasses, json, sys
import embedframe
src, dst, url, per_request, concurrency, batch_rows = sys.argv[1:7]
stats = embedframe.embed_file(src, dst, column="text", batch_rows=int(batch_rows), base_url=url,
                              max_inputs_per_request=int(per_request), concurrency=int(concurrency),
                              progress=False)
print(json.dumps(dataclasses.asdict(stats)))
"""


def expected(texts: list[str], dim: int = DIM) -> np.ndarray:
    return np.stack([vector_for_text(t, dim) for t in texts])


def texts(n: int, tag: str = "row") -> list[str]:
    return [f"{tag} {i}: a sentence about item {i * 7919 % 1000}" for i in range(n)]


def child(code: str, *args: object, api_key: str | None = None) -> subprocess.Popen[str]:
    """A fresh Python process running ``code``; it inherits this test's EMBEDFRAME_CACHE_DIR."""
    env = os.environ.copy()
    if api_key is not None:
        env["OPENAI_API_KEY"] = api_key
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], what: str) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fails if the child ends first."""
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, f"the child finished before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def answered(server: FakeServer) -> list[str]:
    """Every input the server answered 200 (also answers the killed child never read)."""
    return [str(t) for r in list(server.requests) if r.status == 200 for t in r.inputs]


# ------------------------------------------------------------------------------ in-process


def test_rerunning_a_job_sends_nothing_and_gives_identical_vectors(
    server: FakeServer, config: EmbedConfig
) -> None:
    """The same job run again makes zero requests and returns the same vectors, bit for bit."""
    df = pd.DataFrame({"text": [*texts(40), None, ""]})
    first = df.embed("text", config=config)
    sent = len(server.requests)
    assert sent > 0 and first.attrs["embedframe"]["cache_hits"] == 0
    again = df.embed("text", config=config)
    assert len(server.requests) == sent
    assert again.attrs["embedframe"]["requests"] == 0 and again.attrs["embedframe"]["cache_hits"] == 40
    assert np.array_equal(
        to_numpy(again["text_embedding"]), to_numpy(first["text_embedding"]), equal_nan=True
    )


def test_identical_texts_are_paid_once_across_runs_and_frames(
    server: FakeServer, config: EmbedConfig
) -> None:
    """A text already embedded (in another frame, column or call) is never sent again."""
    a = pd.DataFrame({"text": ["apple", "banana", "cherry"]})
    b = pd.DataFrame({"body": ["cherry", "date", "apple", "date"]}, index=[9, 8, 7, 6])
    a.embed("text", config=config)
    out = b.embed("body", config=config)
    embedframe.embed(pd.Series(["banana", "elder"]), config=config)
    assert Counter(server.ok_inputs()) == Counter(["apple", "banana", "cherry", "date", "elder"])
    assert out.attrs["embedframe"]["cache_hits"] == 2
    assert np.array_equal(to_numpy(out["body_embedding"]), expected(["cherry", "date", "apple", "date"]))


def test_cache_false_sends_again_and_stores_nothing(server: FakeServer, config: EmbedConfig) -> None:
    """cache=False neither reads nor writes the cache: every run pays, and a later cached run pays once more."""
    df = pd.DataFrame({"text": texts(10)})
    df.embed("text", config=config)
    df.embed("text", config=config, cache=False)
    assert len(server.ok_inputs()) == 20  # ignores what the cache holds
    fresh = pd.DataFrame({"text": texts(5, "fresh")})
    fresh.embed("text", config=config, cache=False)
    fresh.embed("text", config=config)
    assert Counter(server.ok_inputs())[texts(5, "fresh")[0]] == 2  # the uncached run stored nothing


def test_a_second_process_shares_the_cache_dir(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """A child process finds what this process paid for, and this process then finds what the child paid for."""
    ours, theirs = texts(30, "ours"), texts(20, "theirs")
    pd.DataFrame({"text": ours}).embed("text", config=config)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"text": ours + theirs}).to_parquet(src)
    before = len(server.ok_inputs())
    summary = finish(child(EMBED_CHILD, src, tmp_path / "out.parquet", server.url, 2048, 2, api_key=API_KEY))
    assert summary["cache_hits"] == 30
    assert sorted(server.ok_inputs()[before:]) == sorted(theirs)
    assert np.array_equal(
        to_numpy(read_parquet(tmp_path / "out.parquet")["text_embedding"]), expected(ours + theirs)
    )
    sent = len(server.requests)
    out = pd.DataFrame({"text": theirs}).embed("text", config=config)
    assert len(server.requests) == sent and out.attrs["embedframe"]["cache_hits"] == 20


# ------------------------------------------------------------------------------- SIGKILL


def test_sigkill_mid_run_then_rerun_pays_only_for_requests_in_flight(tmp_path: Path) -> None:
    """A df.embed process killed mid-run, rerun in a new process, gives the uninterrupted result; only in-flight inputs are paid twice."""
    n = 320  # 80 requests of 4, two at a time, 40 ms each: about 1.6 s of work
    all_texts = texts(n)
    src = tmp_path / "in.parquet"
    pd.DataFrame({"id": range(n), "text": all_texts}).to_parquet(src)
    out = tmp_path / "out.parquet"
    with FakeServer(dim=DIM, latency_s=LATENCY_S) as server:
        killed = child(EMBED_CHILD, src, out, server.url, PER_REQUEST, CONCURRENCY)
        kill_when(killed, lambda: len(answered(server)) >= n // 4, "a quarter of the rows were answered")
        paid_before = set(answered(server))
        assert not out.exists()
        summary = finish(child(EMBED_CHILD, src, out, server.url, PER_REQUEST, CONCURRENCY))
        inputs = answered(server)
    assert set(inputs) == set(all_texts)
    duplicates = len(inputs) - len(set(inputs))
    assert duplicates <= AT_RISK, f"{duplicates} inputs were paid twice"
    assert int(str(summary["cache_hits"])) >= len(paid_before) - AT_RISK
    assert len(inputs) < 2 * n  # the rerun did not start over

    resumed = read_parquet(out)
    assert resumed["id"].tolist() == list(range(n)) and resumed["text"].tolist() == all_texts
    with FakeServer(dim=DIM) as clean_server:  # the same job, never interrupted, nothing cached
        clean = pd.DataFrame({"id": range(n), "text": all_texts}).embed(
            "text", base_url=clean_server.url, cache=False, progress=False
        )
    assert np.array_equal(to_numpy(resumed["text_embedding"]), to_numpy(clean["text_embedding"]))
    assert np.array_equal(to_numpy(resumed["text_embedding"]), expected(all_texts))


def test_sigkill_of_a_file_job_after_its_first_part_resumes_without_duplicate_rows(tmp_path: Path) -> None:
    """embed_file killed after part 0 is written resumes from there: no duplicate rows, equal to a clean run."""
    n, batch_rows = 120, 40
    all_texts = texts(n, "file")
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": range(n), "text": all_texts, "n": np.arange(n) * 3}).to_csv(src, index=False)
    dst = tmp_path / "out.parquet"
    first_part = tmp_path / "out.parquet.parts" / "part-00000.parquet"
    with FakeServer(dim=DIM, latency_s=LATENCY_S) as server:
        killed = child(FILE_CHILD, src, dst, server.url, PER_REQUEST, CONCURRENCY, batch_rows)
        kill_when(killed, first_part.exists, "the first part was written")
        assert not dst.exists()
        stats = finish(child(FILE_CHILD, src, dst, server.url, PER_REQUEST, CONCURRENCY, batch_rows))
        inputs = answered(server)
    assert stats["parts_skipped"] == 1 and stats["parts_written"] == 2 and stats["rows"] == n
    assert set(inputs) == set(all_texts)
    assert len(inputs) - len(set(inputs)) <= AT_RISK
    assert not (tmp_path / "out.parquet.parts").exists()

    resumed = read_parquet(dst)
    assert pq.ParquetFile(dst).metadata.num_rows == n
    as_text = [str(i) for i in range(n)]  # a CSV's columns come out as written: text
    assert resumed["id"].tolist() == as_text and resumed["n"].tolist() == [str(3 * i) for i in range(n)]
    with FakeServer(dim=DIM) as clean_server:
        clean_path = tmp_path / "clean.parquet"
        embedframe.embed_file(
            src,
            clean_path,
            column="text",
            batch_rows=batch_rows,
            base_url=clean_server.url,
            cache=False,
            progress=False,
        )
    clean = read_parquet(clean_path)
    pd.testing.assert_frame_equal(
        resumed.drop(columns="text_embedding"), clean.drop(columns="text_embedding")
    )
    assert np.array_equal(to_numpy(resumed["text_embedding"]), to_numpy(clean["text_embedding"]))
    assert np.array_equal(to_numpy(resumed["text_embedding"]), expected(all_texts))
