"""Semantic search over a vector column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import embedframe
from embedframe import EmbedConfig, InputError, from_numpy, local
from tests.support.fakeserver import FakeServer


def test_search_ranks_by_cosine_and_skips_nulls(server: FakeServer, config: EmbedConfig) -> None:
    """The row whose text equals the query scores 1 and comes first; null vectors never match."""
    df = pd.DataFrame({"text": ["alpha beta", "gamma delta", None, "epsilon"]})
    out = df.embed("text", config=config)
    hits = out.embed.search("gamma delta", k=10, config=config)
    assert hits.index[0] == 1 and np.isclose(hits["score"].iloc[0], 1.0, atol=1e-5)
    assert 2 not in hits.index and len(hits) == 3
    assert list(hits["score"]) == sorted(hits["score"], reverse=True)


def test_search_refuses_another_model(server: FakeServer, config: EmbedConfig) -> None:
    """A query embedded with a different model than the column is refused, naming both."""
    out = pd.DataFrame({"text": ["a", "b"]}).embed("text", config=config)
    sent = len(server.requests)
    with pytest.raises(InputError, match="text-embedding-3-large"):
        out.embed.search("a", config=config, model="text-embedding-3-large")
    assert len(server.requests) == sent  # refused before anything was sent


def test_search_needs_one_vector_column() -> None:
    """Without column= a frame with two vector columns is ambiguous."""
    m = np.eye(2, dtype=np.float32)
    df = pd.DataFrame({"a": from_numpy(m), "b": from_numpy(m)})
    with pytest.raises(InputError, match="column="):
        df.embed.search("x")


def _reviews(config: EmbedConfig) -> pd.DataFrame:
    df = pd.DataFrame({"text": ["alpha beta", "gamma delta", None, "it broke after a week"]})
    return df.embed("text", config=config, dimensions=8)


def test_search_uses_the_columns_model_and_dimensions(server: FakeServer, config: EmbedConfig) -> None:
    """A column embedded with dimensions=8 is searched with an 8-d query by default (model and
    size come from the frame's record), not refused after the query was paid for."""
    out = _reviews(config)
    hits = out.embed.search("gamma delta", config=config)  # in the cache: the column's own vector
    assert hits.index[0] == 1 and np.isclose(hits["score"].iloc[0], 1.0, atol=1e-5)
    assert len(out.embed.search("a kettle that broke", config=config)) == 3
    query = server.requests[-1]
    assert query.inputs == ["a kettle that broke"] and query.dimensions == 8
    assert query.model == out.attrs["embedframe_provenance"]["text_embedding"]["model"]


def test_search_refuses_another_size_before_sending(server: FakeServer, config: EmbedConfig) -> None:
    """An explicit dimensions= that cannot match the column is refused before any request."""
    out = _reviews(config)
    sent = len(server.requests)
    with pytest.raises(InputError, match=r"8-d vectors.*dimensions=16.*dimensions=8"):
        out.embed.search("broken", config=config, dimensions=16)
    assert len(server.requests) == sent


def test_search_refuses_another_server_before_sending(server: FakeServer, config: EmbedConfig) -> None:
    """A query that would go to another server than the column's is refused before any request,
    naming the column's server; the server is never taken from the record (keys stay put)."""
    out = _reviews(config)
    sent = len(server.requests)
    with pytest.raises(InputError, match=f"127.0.0.1:{server.port}.*base_url="):
        out.embed.search("broken", config=config.replace(base_url="http://127.0.0.1:9/v1"))
    assert len(server.requests) == sent


def test_search_reads_the_record_from_parquet(
    server: FakeServer, config: EmbedConfig, tmp_path: Path
) -> None:
    """A frame read back from Parquet (written from pandas, or from Arrow with only the footer's
    provenance) is searched with the recorded size."""
    out = _reviews(config)
    path = tmp_path / "out.parquet"
    out.embed.to_parquet(path)
    footer_only = tmp_path / "arrow.parquet"
    table = pq.read_table(path)
    pq.write_table(
        table.replace_schema_metadata({b"embedframe": table.schema.metadata[b"embedframe"]}), footer_only
    )
    for file in (path, footer_only):
        back = embedframe.read_parquet(file)
        hits = back.embed.search("it broke after a week", config=config)
        assert hits.index[0] == 3 and server.requests[-1].dimensions == 8


def test_search_shows_no_progress_bar(
    server: FakeServer,
    config: EmbedConfig,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One query is no long job: no bar even when it takes longer than the bar's delay."""
    from embedframe._job import progress

    out = _reviews(config)
    monkeypatch.setattr(progress, "_DELAY_S", 0.0)
    capsys.readouterr()
    out.embed.search("broken", config=config.replace(progress=None))
    assert "embedding" not in capsys.readouterr().err
    out.embed.search("not cached yet", config=config.replace(progress=True))  # asked for: shown
    assert "embedding" in capsys.readouterr().err


@pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")
def test_search_with_the_local_model_and_dimensions() -> None:
    """The issue's case: ``df.embed("text", dimensions=64)`` with the local model, then a plain search."""
    df = pd.DataFrame({"text": ["the kettle broke", "lovely soft towels", "arrived broken", None]})
    out = df.embed("text", dimensions=64, progress=False)
    hits = out.embed.search("broken", k=2)
    assert len(hits) == 2 and set(hits.index) <= {0, 1, 2}
