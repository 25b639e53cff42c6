"""details=True: per-row tokens, chunks, truncation and status, and bad rows that do not stop the job."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, InputTypeError, read_parquet, to_numpy
from tests.support import DIM
from tests.support.fakeserver import FakeServer, encoding, vector_for_text

LIMIT = 40
LONG = " ".join(f"word{i}" for i in range(100))


def tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))


def rows() -> pd.DataFrame:
    """One row of each kind, with a non-default index."""
    values = ["hello world", None, np.nan, pd.NA, "", "  \t", 5, b"raw", LONG, "hello world", ["a"]]
    index = list("abcdefghijk")
    return pd.DataFrame(
        {"text": pd.Series(values, index=index, dtype=object), "k": range(len(values))}, index=index
    )


STATUSES = [
    "ok",
    "null_input",
    "null_input",
    "null_input",
    "empty",
    "empty",
    "error: not a string (int)",
    "error: not a string (bytes)",
    "LONG",
    "ok",
    "error: not a string (list)",
]


def test_every_status_under_long_text_error(server: FakeServer, config: EmbedConfig) -> None:
    """ok, null_input, empty, 'error: not a string (int)' and the too-long error; only ok rows get vectors."""
    out = rows().embed("text", config=config, details=True, long_text="error", max_input_tokens=LIMIT)
    expected = [
        s if s != "LONG" else f"error: {tokens(LONG)} tokens, over the limit of {LIMIT}" for s in STATUSES
    ]
    assert out["text_status"].tolist() == expected
    assert str(out["text_status"].dtype) == "string"
    ok = out["text_status"].eq("ok").to_numpy()
    assert out["text_embedding"].notna().to_numpy().tolist() == ok.tolist()
    assert np.array_equal(
        to_numpy(out["text_embedding"])[ok], np.stack([vector_for_text("hello world", DIM)] * 2)
    )
    assert out.attrs["embedframe"]["error_rows"] == 4
    assert server.ok_inputs() == ["hello world"]


def test_tokens_are_tiktoken_counts(server: FakeServer, config: EmbedConfig) -> None:
    """<col>_tokens is the cl100k_base count of each row's text (the whole text when chunked), <NA> without text."""
    df = pd.DataFrame({"text": ["a", "hello world", "ünïcödé ✓ 🙂", LONG, None, "", 7]})
    out = df.embed("text", config=config, details=True, max_input_tokens=LIMIT)
    assert str(out["text_tokens"].dtype) == "Int64"
    assert out["text_tokens"].tolist()[:4] == [tokens(t) for t in df["text"][:4]]
    assert out["text_tokens"].isna().tolist() == [False] * 4 + [True] * 3


def test_chunks_and_truncated(server: FakeServer, config: EmbedConfig) -> None:
    """A long text counts its chunks (with overlap too) or is marked truncated; short texts are one chunk, no text zero."""
    df = pd.DataFrame({"text": ["short", LONG, None]})
    n = tokens(LONG)
    chunked = df.embed("text", config=config, details=True, max_input_tokens=LIMIT)
    assert chunked["text_chunks"].tolist() == [1, math.ceil(n / LIMIT), 0]
    assert chunked["text_truncated"].tolist() == [False, False, False]
    overlap = df.embed(
        "text", config=config, details=True, max_input_tokens=LIMIT, chunk_tokens=20, chunk_overlap=5
    )
    assert overlap["text_chunks"].tolist() == [1, math.ceil((n - 5) / 15), 0]
    truncated = df.embed("text", config=config, details=True, max_input_tokens=LIMIT, long_text="truncate")
    assert truncated["text_chunks"].tolist() == [1, 1, 0]
    assert truncated["text_truncated"].tolist() == [False, True, False]
    # the text's own count, not the window's
    assert truncated["text_tokens"].tolist()[:2] == [tokens("short"), n]
    assert chunked["text_chunks"].dtype == np.int64 and chunked["text_truncated"].dtype == bool


def test_a_bad_row_does_not_stop_the_job(server: FakeServer, config: EmbedConfig) -> None:
    """Without details a non-string fails the call before any request; with details the rest is embedded and it gets a null vector."""
    df = pd.DataFrame({"text": pd.Series(["first", 3.5, "second", {"x": 1}, "third"], dtype=object)})
    with pytest.raises(InputTypeError):
        df.embed("text", config=config)
    assert server.requests == []
    out = df.embed("text", config=config, details=True)
    assert out["text_status"].tolist() == [
        "ok",
        "error: not a string (float)",
        "ok",
        "error: not a string (dict)",
        "ok",
    ]
    assert out["text_embedding"].isna().tolist() == [False, True, False, True, False]
    m = to_numpy(out["text_embedding"])
    assert np.array_equal(
        m[[0, 2, 4]], np.stack([vector_for_text(t, DIM) for t in ("first", "second", "third")])
    )
    assert sorted(server.ok_inputs()) == ["first", "second", "third"]


def test_details_columns_are_written_by_embed_file(
    tmp_path: Path, server: FakeServer, config: EmbedConfig
) -> None:
    """embed_file(details=True) writes the four accounting columns to the file, across batches."""
    src = tmp_path / "in.jsonl"
    pd.DataFrame({"id": range(6), "text": ["one", None, "", LONG, 12, "six"]}).to_json(
        src, orient="records", lines=True
    )
    dst = tmp_path / "out.parquet"
    stats = embedframe.embed_file(
        src, dst, column="text", details=True, batch_rows=4, max_input_tokens=LIMIT, config=config
    )
    back = read_parquet(dst)
    assert list(back.columns) == [
        "id",
        "text",
        "text_embedding",
        "text_tokens",
        "text_chunks",
        "text_truncated",
        "text_status",
    ]
    assert back["text_status"].tolist() == [
        "ok",
        "null_input",
        "empty",
        "ok",
        "error: not a string (int)",
        "ok",
    ]
    assert back["text_chunks"].tolist() == [1, 0, 0, math.ceil(tokens(LONG) / LIMIT), 0, 1]
    assert back["text_tokens"].tolist()[3] == tokens(LONG)
    assert back["text_embedding"].isna().tolist() == [False, True, True, False, True, False]
    assert stats.error_rows == 1
    # a bad value is kept, as text: Parquet cannot mix types in one column
    assert back["text"].tolist()[4] == "12"
