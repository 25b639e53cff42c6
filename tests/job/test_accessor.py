"""The df.embed and s.embed accessors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import embedframe
from embedframe import EmbedConfig, InputError, to_numpy
from tests.support import DIM
from tests.support.fakeserver import FakeServer, vector_for_text


def vecs(texts: list[str]) -> np.ndarray:
    return np.stack([vector_for_text(t, DIM) for t in texts])


def test_column_adds_a_vector_column_and_keeps_the_input(server: FakeServer, config: EmbedConfig) -> None:
    """df.embed.column returns a new frame with '<col>_embedding'; df itself is unchanged."""
    df = pd.DataFrame({"text": ["a", "b"], "stars": [5, 1]}, index=["x", "y"])
    before = df.copy()
    out = df.embed.column("text", config=config)
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["text", "stars", "text_embedding"]
    assert out["text_embedding"].dtype == pd.ArrowDtype(pa.list_(pa.float32(), DIM))
    assert out.index.equals(df.index)
    assert np.allclose(to_numpy(out["text_embedding"]), vecs(["a", "b"]), atol=1e-6)


def test_callable_form_and_output_name(server: FakeServer, config: EmbedConfig) -> None:
    """df.embed('text', output=...) is the same call with a chosen column name."""
    df = pd.DataFrame({"text": ["a", "b"]})
    out = df.embed("text", output="vec", config=config)
    assert "vec" in out.columns and np.allclose(to_numpy(out["vec"]), vecs(["a", "b"]), atol=1e-6)


def test_series_accessor(server: FakeServer, config: EmbedConfig) -> None:
    """s.embed() returns a Series of vectors with the same index."""
    s = pd.Series(["p", "q"], index=[10, 20], name="body")
    out = s.embed(config=config)
    assert out.index.tolist() == [10, 20] and out.name == "body_embedding"


def test_duplicate_index_labels_and_multiindex(server: FakeServer, config: EmbedConfig) -> None:
    """Duplicate labels and a MultiIndex are kept; rows are matched by position."""
    idx = pd.MultiIndex.from_tuples([("a", 1), ("a", 1), ("b", 2)])
    df = pd.DataFrame({"text": ["one", "two", "three"]}, index=idx)
    out = df.embed("text", config=config)
    assert out.index.equals(idx)
    assert np.allclose(to_numpy(out["text_embedding"]), vecs(["one", "two", "three"]), atol=1e-6)


@pytest.mark.parametrize(
    "dtype", ["category", "string", pd.ArrowDtype(pa.string()), pd.ArrowDtype(pa.large_string())]
)
def test_string_like_dtypes(server: FakeServer, config: EmbedConfig, dtype: object) -> None:
    """Categorical and Arrow/pandas string columns embed like object strings, nulls included."""
    s = pd.Series(["red", None, "blue", "red"], dtype=dtype)  # type: ignore[call-overload]
    out = s.embed(config=config)
    assert out.isna().tolist() == [False, True, False, False]
    m = to_numpy(out)
    assert np.allclose(m[[0, 2, 3]], vecs(["red", "blue", "red"]), atol=1e-6)


def test_missing_column_names_the_columns(config: EmbedConfig) -> None:
    """A column that is not there raises InputError listing the frame's columns."""
    with pytest.raises(InputError, match=r"no column 'txt'.*'text'"):
        pd.DataFrame({"text": ["a"]}).embed("txt", config=config)


def test_empty_frame_and_single_row(server: FakeServer, config: EmbedConfig) -> None:
    """An empty frame gives an empty vector column with no request; one row works."""
    empty = pd.DataFrame({"text": pd.Series([], dtype=object)})
    out = empty.embed("text", config=config, dimensions=DIM)
    assert len(out) == 0 and out["text_embedding"].dtype == embedframe.vector_dtype(DIM)
    assert server.requests == []
    one = pd.DataFrame({"text": ["solo"]}).embed("text", config=config)
    assert np.allclose(to_numpy(one["text_embedding"]), vecs(["solo"]), atol=1e-6)


def test_options_override_a_shared_config(server: FakeServer, config: EmbedConfig) -> None:
    """A config set once is reused, and per-call options override it for that call only."""
    df = pd.DataFrame({"text": ["a"]})
    out = df.embed("text", config=config, dimensions=8)
    assert out["text_embedding"].dtype == embedframe.vector_dtype(8)
    assert config.dimensions is None
