"""Warnings point at the user's line (the call into embedframe), not at embedframe's internals."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig
from embedframe._job import engine
from embedframe.cache import CacheWarning
from tests.support import API_KEY
from tests.support.fakeserver import FakeServer

PLAIN_HTTP = "http://embeddings.example.com/v1"


def _only(record: list[warnings.WarningMessage], category: type[Warning]) -> warnings.WarningMessage:
    found = [w for w in record if issubclass(w.category, category)]
    assert len(found) == 1, [str(w.message) for w in record]
    return found[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: EmbedConfig(api_key=API_KEY, base_url=PLAIN_HTTP),
        lambda: EmbedConfig().replace(api_key=API_KEY, base_url=PLAIN_HTTP),
        lambda: embedframe.estimate(["a text"], api_key=API_KEY, base_url=PLAIN_HTTP),
        lambda: pd.DataFrame({"t": ["a"]}).embed.estimate("t", api_key=API_KEY, base_url=PLAIN_HTTP),
    ],
    ids=["EmbedConfig", "replace", "estimate", "accessor"],
)
def test_key_over_plain_http_warning_points_at_the_call(make: object) -> None:
    """The plain-http warning names this file and the line of the call, whichever way the config is
    made (and, under the default filter, shows once for that line)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        make()  # type: ignore[operator]
    found = _only(record, UserWarning)
    assert "unencrypted" in str(found.message)
    assert found.filename == __file__, (found.filename, found.lineno)


def _damaged_cache(server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmbedConfig:
    """A config whose cache holds one shard cut in half, not yet read by this process."""
    config = EmbedConfig(base_url=server.url, api_key=API_KEY, progress=False, cache=tmp_path / "cache")
    embedframe.embed(["one", "two"], config=config)
    (shard,) = (tmp_path / "cache").rglob("shard-*.arrow")
    with shard.open("r+b") as f:
        f.truncate(shard.stat().st_size // 2)
    monkeypatch.setattr(engine, "_open_caches", {})
    return config


def test_cache_warning_points_at_the_users_call(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged cache shard found during ``df.embed`` warns at the user's call."""
    config = _damaged_cache(server, tmp_path, monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = _line() + 1
        pd.DataFrame({"text": ["one", "two"]}).embed("text", config=config)
    found = _only(record, CacheWarning)
    assert (found.filename, found.lineno) == (__file__, line)


def test_cache_warning_inside_a_running_loop_points_at_the_users_call(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a running loop (Jupyter) the job runs on a helper thread; its warnings still name the
    user's line, not threading.py or asyncio."""
    config = _damaged_cache(server, tmp_path, monkeypatch)
    where: list[int] = []

    async def cell() -> None:
        where.append(_line() + 1)
        embedframe.embed(["one", "two"], config=config)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        asyncio.run(cell())
    found = _only(record, CacheWarning)
    assert (found.filename, found.lineno) == (__file__, where[0])


def _line() -> int:
    """The caller's line number."""
    import sys

    return sys._getframe(1).f_lineno


def test_replacing_an_existing_vector_column_warns_at_the_users_line(
    server: FakeServer, config: EmbedConfig
) -> None:
    """Embedding into a column the frame already has warns (naming it, output= and drop) before
    anything is sent; the result holds the new vectors and the input frame keeps its column."""
    out = pd.DataFrame({"text": ["one", "two"]}).embed("text", config=config)
    out["text"] = ["three", "four"]
    sent = len(server.requests)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        line = _line() + 1
        again = out.embed("text", config=config)
    found = _only(record, UserWarning)
    assert "'text_embedding'" in str(found.message) and "output=" in str(found.message)
    assert (found.filename, found.lineno) == (__file__, line)
    assert len(server.requests) > sent
    assert not again["text_embedding"].equals(out["text_embedding"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # another output name, or the column dropped: no warning
        out.embed("text", config=config, output="v2")
        out.drop(columns=["text_embedding"]).embed("text", config=config)
