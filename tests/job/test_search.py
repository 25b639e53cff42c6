"""Semantic search over a vector column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embedframe import EmbedConfig, InputError, from_numpy
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
    with pytest.raises(InputError, match="text-embedding-3-large"):
        out.embed.search("a", config=config, model="text-embedding-3-large")


def test_search_needs_one_vector_column() -> None:
    """Without column= a frame with two vector columns is ambiguous."""
    m = np.eye(2, dtype=np.float32)
    df = pd.DataFrame({"a": from_numpy(m), "b": from_numpy(m)})
    with pytest.raises(InputError, match="column="):
        df.embed.search("x")
