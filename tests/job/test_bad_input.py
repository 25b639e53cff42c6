"""Every awkward input gives its documented result, or a clear error before any request is sent."""

from __future__ import annotations

import decimal
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import embedframe
from embedframe import EmbedConfig, InputError, InputTypeError, to_numpy
from embedframe._core.plan import NULL, make_plan
from embedframe._core.tokenizer import get_tokenizer
from tests.support import DIM
from tests.support.fakeserver import FakeServer, encoding, vector_for_text

enc = get_tokenizer("cl100k_base")


def vec(text: str) -> np.ndarray:
    return vector_for_text(text, DIM)


# ------------------------------------------------------------------- nulls and empties


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), np.nan, pd.NA, pd.NaT, np.float64("nan"), "", " ", "\t\n ", "\u3000"],
    ids=[
        "None",
        "nan",
        "np.nan",
        "pd.NA",
        "NaT",
        "np.float64-nan",
        "empty",
        "space",
        "whitespace",
        "ideographic-space",
    ],
)
def test_missing_and_blank_values_are_null_vectors_and_not_sent(
    server: FakeServer, config: EmbedConfig, value: Any
) -> None:
    """Nulls (None, NaN, pd.NA, NaT) and blank strings give a null vector; only the real text is sent."""
    out = embedframe.embed(pd.Series(["real", value], dtype=object), config=config)
    assert out.isna().tolist() == [False, True]
    assert server.ok_inputs() == ["real"]


def test_empty_error_refuses_blanks_before_sending(server: FakeServer, config: EmbedConfig) -> None:
    """empty='error' names the blank rows and sends nothing."""
    s = pd.Series(["fine", "  ", ""], index=["a", "b", "c"])
    with pytest.raises(InputError, match=r"2 empty or whitespace-only.*'b', 'c'"):
        embedframe.embed(s, config=config, empty="error")
    assert server.requests == []


# --------------------------------------------------------------------------- non-strings


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (42, "int"),
        (np.int64(7), "int64"),
        (3.5, "float"),
        (True, "bool"),
        (decimal.Decimal("1.5"), "Decimal"),
        (b"raw bytes", "bytes"),
        (bytearray(b"xy"), "bytearray"),
        (["a", "list"], "list"),
        (("a", "tuple"), "tuple"),
        ({"a": "dict"}, "dict"),
        ({"a", "set"}, "set"),
        (pd.Timestamp("2024-01-01"), "Timestamp"),
        (object(), "object"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_non_string_values_fail_before_sending(
    server: FakeServer, config: EmbedConfig, value: Any, type_name: str
) -> None:
    """A value that is not a string raises InputTypeError naming its row label and type; nothing is sent."""
    values = np.empty(3, dtype=object)
    values[:] = ["ok", None, "fine"]
    values[1] = value
    df = pd.DataFrame({"text": values}, index=["r0", "r1", "r2"])
    with pytest.raises(InputTypeError, match=rf"'r1' \(the first is {type_name}\b") as info:
        df.embed("text", config=config)
    assert isinstance(info.value, TypeError) and "astype(str)" in str(info.value)
    assert server.requests == []


def test_numeric_column_fails_naming_how_many(server: FakeServer, config: EmbedConfig) -> None:
    """A whole int column fails at once with the count of bad rows; nothing is sent."""
    df = pd.DataFrame({"n": range(10)})
    with pytest.raises(InputTypeError, match=r"10 value\(s\) that are not strings.*and 5 more"):
        df.embed("n", config=config)
    assert server.requests == []


# ----------------------------------------------------------------- dtypes and frame shapes


@pytest.mark.parametrize(
    "dtype",
    [
        "category",
        "string",
        "string[pyarrow]",
        pd.ArrowDtype(pa.string()),
        pd.ArrowDtype(pa.large_string()),
        object,
    ],
    ids=["category", "string", "string-pyarrow", "arrow-string", "arrow-large-string", "object"],
)
def test_string_dtypes_all_work(server: FakeServer, config: EmbedConfig, dtype: Any) -> None:
    """Categorical, pandas string, pyarrow string and ArrowDtype columns embed the same; their nulls are nulls."""
    s = pd.Series(["apple", None, "banana", "apple"], dtype=dtype, name="fruit")
    out = embedframe.embed(s, config=config)
    assert out.isna().tolist() == [False, True, False, False]
    m = to_numpy(out)
    np.testing.assert_array_equal(m[[0, 2, 3]], np.stack([vec("apple"), vec("banana"), vec("apple")]))
    assert sorted(server.ok_inputs()) == ["apple", "banana"]


def test_missing_column_names_the_columns(server: FakeServer, config: EmbedConfig) -> None:
    """A column that is not there is an InputError listing the frame's columns; nothing is sent."""
    df = pd.DataFrame({"body": ["x"], "title": ["y"]})
    with pytest.raises(InputError, match=r"no column 'text'.*\['body', 'title'\]"):
        df.embed("text", config=config)
    assert server.requests == []


def test_duplicate_column_labels_are_refused(server: FakeServer, config: EmbedConfig) -> None:
    """A label naming two columns is an InputError, not a silent pick."""
    df = pd.DataFrame([["a", "b"]], columns=["text", "text"])
    with pytest.raises(InputError, match="names 2 columns"):
        df.embed("text", config=config)


def test_duplicate_index_labels_are_kept(server: FakeServer, config: EmbedConfig) -> None:
    """Rows sharing an index label each keep their own vector, in order."""
    df = pd.DataFrame({"text": ["one", "two", "three"]}, index=[5, 5, 5])
    out = df.embed("text", config=config)
    assert out.index.tolist() == [5, 5, 5]
    with pytest.raises(InputTypeError, match=r"label\(s\) 5, 5 \(the first is int 2\)"):
        pd.DataFrame({"text": ["one", 2, 3]}, index=[5, 5, 5]).embed("text", config=config)
    np.testing.assert_array_equal(
        to_numpy(out["text_embedding"]), np.stack([vec(t) for t in ("one", "two", "three")])
    )


def test_multiindex_frame_keeps_its_index(server: FakeServer, config: EmbedConfig) -> None:
    """A MultiIndex frame gets its vector column on the same MultiIndex, and error messages name tuple labels."""
    index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", "n"])
    df = pd.DataFrame({"text": ["x", "y", "z"]}, index=index)
    out = df.embed("text", config=config)
    assert out.index.equals(index)
    np.testing.assert_array_equal(to_numpy(out["text_embedding"]), np.stack([vec(t) for t in "xyz"]))
    bad = pd.DataFrame({"text": ["x", 1, "z"]}, index=index)
    with pytest.raises(InputTypeError, match=r"\('a', 2\)"):
        bad.embed("text", config=config)


def test_empty_frame_gives_an_empty_column_without_requests(server: FakeServer, config: EmbedConfig) -> None:
    """An empty frame gives an empty vector column sized by dimensions= or the model; an unknown size is an InputError."""
    df = pd.DataFrame({"text": pd.Series([], dtype=object)})
    out = df.embed("text", config=config)
    assert len(out) == 0 and out["text_embedding"].dtype == embedframe.vector_dtype(1536)
    out = df.embed("text", config=config, dimensions=DIM)
    assert out["text_embedding"].dtype == embedframe.vector_dtype(DIM)
    with pytest.raises(InputError, match="pass dimensions="):
        df.embed("text", config=config, model="my-own-model")
    assert server.requests == []


def test_single_row(server: FakeServer, config: EmbedConfig) -> None:
    """A one-row frame is one request with one input."""
    out = pd.DataFrame({"text": ["only"]}, index=["r"]).embed("text", config=config)
    np.testing.assert_array_equal(to_numpy(out["text_embedding"]), vec("only")[None])
    assert [r.inputs for r in server.requests] == [["only"]]


def test_a_single_string_is_refused(config: EmbedConfig) -> None:
    """embed('text') (a str, not a list) is an InputError rather than one vector per character."""
    with pytest.raises(InputError, match="wrap it in a list"):
        embedframe.embed("just one string", config=config)


# ---------------------------------------------------------------------- odd characters


def test_lone_surrogates_are_sent_as_replacement_characters(server: FakeServer, config: EmbedConfig) -> None:
    """A lone surrogate is sent as U+FFFD (the rest of the text kept); a surrogate pair becomes its character."""
    texts = ["\ud800", "a\udc80b", "\ud83d\ude00 paired"]
    out = embedframe.embed(texts, config=config)
    sent = ["\ufffd", "a\ufffdb", "😀 paired"]
    assert server.ok_inputs() == sent
    np.testing.assert_array_equal(to_numpy(out), np.stack([vec(t) for t in sent]))


def test_nul_bytes_and_control_characters_are_sent_intact(server: FakeServer, config: EmbedConfig) -> None:
    """NUL and other control characters are part of the text: sent as they are and embedded as such."""
    texts = ["a\x00b", "\x00", "bell\x07 esc\x1b del\x7f", "line\r\nbreak\u2028sep"]
    out = embedframe.embed(texts, config=config)
    assert server.ok_inputs() == texts
    np.testing.assert_array_equal(to_numpy(out), np.stack([vec(t) for t in texts]))


def test_emoji_cjk_and_rtl_text(server: FakeServer, config: EmbedConfig) -> None:
    """Emoji (with ZWJ sequences and skin tones), CJK, Arabic and Hebrew with direction marks embed exactly."""
    texts = [
        "👩‍👩‍👧‍👦 family 👍🏽",
        "東京都の天気は晴れです。",
        "한국어 텍스트",
        "مرحبا بالعالم",
        "\u202bשלום עולם\u202c",  # noqa: RUF001
        "mixed עברית and English \u200f!",
        "🇺🇳" * 50,
    ]
    out = embedframe.embed(texts, config=config)
    np.testing.assert_array_equal(to_numpy(out), np.stack([vec(t) for t in texts]))
    assert sorted(server.ok_inputs()) == sorted(texts)


def test_every_special_token_string_is_ordinary_text(server: FakeServer, config: EmbedConfig) -> None:
    """Each of the encoding's special-token strings, alone or inside text, is sent and counted as ordinary text."""
    specials = sorted(encoding().special_tokens_set)
    assert "<|endoftext|>" in specials and len(specials) >= 5
    texts = specials + [f"before {s} after" for s in specials] + ["".join(specials)]
    out = embedframe.embed(texts, config=config)
    np.testing.assert_array_equal(to_numpy(out), np.stack([vec(t) for t in texts]))
    counted = {t: c for r in server.requests for t, c in zip(r.inputs, r.token_counts, strict=True)}
    assert all(counted[t] == len(enc.encode_ordinary(t)) > 1 for t in specials)
    assert out.attrs["embedframe"]["tokens"] == sum(counted.values())


# ----------------------------------------------------------------------------- big inputs


def ten_million_characters() -> str:
    rng = np.random.default_rng(0)
    words = np.array(
        [
            "the",
            "quick",
            "brown",
            "fox",
            "jumps",
            "over",
            "lazy",
            "dogs",
            "while",
            "sphinx",
            "of",
            "black",
            "quartz",
            "judge",
            "my",
            "vow",
        ]
    )
    text = " ".join(words[rng.integers(0, len(words), 2_000_000)].tolist())
    return (text * 2)[:10_000_000]


def test_ten_million_character_text_plan() -> None:
    """A 10,000,000-character text is planned as chunks of at most the limit that cover all its tokens in order."""
    text = ten_million_characters()
    values = np.empty(1, dtype=object)
    values[0] = text
    plan = make_plan(values, ["big"], enc, limit=8191, window=8191, exact=True)
    n_tokens = int(plan.text_tokens[0])
    spans = plan.ref_span[plan.ref_start[0] : plan.ref_start[1]]
    assert n_tokens > 1_000_000 and spans[0, 0] == 0 and spans[-1, 1] == n_tokens
    assert (spans[1:, 0] == spans[:-1, 1]).all(), "no gap, no overlap"
    assert int(plan.ref_tokens.max()) <= 8191
    assert "".join(plan.pieces[p] for p in plan.ref_piece.tolist()) == text


def test_ten_million_character_text_job(server: FakeServer, config: EmbedConfig) -> None:
    """A 10,000,000-character text is embedded in chunks no request refuses, to one unit vector."""
    text = ten_million_characters()
    out = embedframe.embed([text, "short"], config=config, cache=False)
    m = to_numpy(out)
    assert math.isclose(float(np.linalg.norm(m[0])), 1.0, abs_tol=1e-5)
    np.testing.assert_array_equal(m[1], vec("short"))
    assert all(r.status == 200 for r in server.requests)
    assert max(max(r.token_counts) for r in server.requests) <= 8191
    assert max(r.total_tokens for r in server.requests) <= 300_000
    assert out.attrs["embedframe"]["chunked_texts"] == 1


def test_a_million_identical_rows_send_one_input(server: FakeServer, config: EmbedConfig) -> None:
    """A million copies of one text are one input in one request, and every row gets its vector."""
    df = pd.DataFrame({"text": ["the same review"] * 1_000_000})
    out = df.embed("text", config=config)
    assert [r.inputs for r in server.requests] == [["the same review"]]
    m = to_numpy(out["text_embedding"])
    assert m.shape == (1_000_000, DIM)
    np.testing.assert_array_equal(m[[0, 499_999, -1]], np.stack([vec("the same review")] * 3))
    assert (m == m[0]).all()
    assert out.attrs["embedframe"]["distinct_texts"] == 1


def test_plan_marks_nulls_without_tokenizing() -> None:
    """The pure planner maps None, NaN and pd.NA to NULL and sends identical strings once."""
    values = np.array([None, float("nan"), pd.NA, "a", "a"], dtype=object)
    plan = make_plan(values, list("vwxyz"), enc, limit=8191, window=8191)
    assert plan.row_text.tolist() == [NULL, NULL, NULL, 0, 0] and plan.pieces == ["a"]
