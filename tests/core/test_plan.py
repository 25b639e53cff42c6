"""From column values to the pieces to send: nulls, empties, bad types, duplicates, long texts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from embedframe._core.plan import EMPTY, NULL, make_plan
from embedframe._core.tokenizer import get_tokenizer
from embedframe.errors import InputError, InputTypeError

enc = get_tokenizer("cl100k_base")


def plan(values: list[Any], **kw: Any):  # type: ignore[no-untyped-def]
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    labels = kw.pop("labels", list(range(len(values))))
    kw.setdefault("limit", 8191)
    kw.setdefault("window", kw["limit"])
    return make_plan(arr, labels, enc, **kw)


def test_nulls_and_empties_send_nothing() -> None:
    """None, NaN, pd.NA, '' and whitespace become null rows with no piece."""
    p = plan([None, float("nan"), pd.NA, "", "  \n\t", "ok"])
    assert p.row_text.tolist() == [NULL, NULL, NULL, EMPTY, EMPTY, 0]
    assert p.pieces == ["ok"]


def test_empty_error_names_the_rows() -> None:
    """empty='error' refuses empty strings, naming their row labels and the fix."""
    with pytest.raises(InputError, match=r"'b'.*empty='null'"):
        plan(["a", " "], labels=["a", "b"], empty="error")


@pytest.mark.parametrize("bad", [3, 2.5, b"bytes", ["a"], {"k": "v"}])
def test_non_string_raises_type_error_naming_row_and_type(bad: Any) -> None:
    """A value that is not a string is a TypeError naming the row label and its type."""
    with pytest.raises(TypeError, match=rf"'row-1'.*{type(bad).__name__}") as info:
        plan(["fine", bad], labels=["row-0", "row-1"])
    assert isinstance(info.value, InputTypeError)


def test_duplicates_share_one_piece() -> None:
    """Identical texts map to one distinct text and one piece."""
    p = plan(["a", "b", "a", "a"])
    assert p.row_text.tolist() == [0, 1, 0, 0] and p.pieces == ["a", "b"]


def test_short_texts_are_not_tokenized() -> None:
    """A text within the limit in UTF-8 bytes keeps its byte length as its bound, untokenized."""
    p = plan(["héllo"])
    assert p.piece_bound.tolist() == [6] and not p.piece_exact[0] and p.text_tokens[0] == -1


def test_long_text_is_chunked_within_the_limit() -> None:
    """A text over the limit becomes several pieces, each within it, weighted by tokens."""
    text = "lorem ipsum dolor sit amet " * 100
    p = plan([text], limit=100)
    assert p.chunked[0] and len(p.pieces) > 1
    assert all(len(enc.encode_ordinary(s)) <= 100 for s in p.pieces)
    assert p.ref_tokens.tolist() == [len(enc.encode_ordinary(p.pieces[i])) for i in p.ref_piece]
    assert len(p.pieces) < len(p.ref_piece), "repeated windows are sent once"


def test_truncate_keeps_the_first_window() -> None:
    """long_text='truncate' sends only the start of the text and marks it truncated."""
    text = "lorem ipsum dolor sit amet " * 100
    p = plan([text], limit=100, long_text="truncate")
    assert len(p.pieces) == 1 and p.truncated[0] and text.startswith(p.pieces[0])


def test_long_text_error_names_rows_and_token_count() -> None:
    """long_text='error' refuses over-long texts, naming the rows and the longest count."""
    text = "lorem ipsum dolor sit amet " * 100
    with pytest.raises(InputError, match=r"'long'.*long_text='chunk'"):
        plan(["short", text], labels=["short", "long"], limit=100, long_text="error")


def test_a_text_over_the_byte_limit_but_within_tokens_is_one_piece() -> None:
    """A long-in-bytes text that fits in tokens is sent whole with its exact count."""
    text = "word " * 50  # 250 bytes, about 50 tokens
    p = plan([text], limit=100)
    assert p.pieces == [text] and p.piece_exact[0] and p.piece_bound[0] == len(enc.encode_ordinary(text))


def test_lone_surrogate_is_replaced_not_fatal() -> None:
    """A lone surrogate (unencodable in UTF-8) is sent as U+FFFD instead of crashing."""
    p = plan(["a\ud800b"])
    assert p.pieces == ["a\ufffdb"]


def test_special_token_text_is_plain_text() -> None:
    """Special-token strings plan like any other text."""
    p = plan(["<|endoftext|>", "<|fim_prefix|> x"])
    assert p.pieces == ["<|endoftext|>", "<|fim_prefix|> x"]


class _Counted:
    """A tokenizer that counts in batches (``count``), recording what each path was asked."""

    def __init__(self, inner: Any, batch: bool) -> None:
        self.inner, self.name = inner, "counted"
        self.batches: list[int] = []
        self.one_by_one = 0
        if batch:
            self.count = self._count

    def _count(self, texts: list[str]) -> list[int]:
        self.batches.append(len(texts))
        return [len(self.inner.encode_ordinary(t)) for t in texts]

    def encode_ordinary(self, text: str) -> list[int]:
        self.one_by_one += 1
        return self.inner.encode_ordinary(text)

    def decode_with_offsets(self, tokens: list[int]) -> tuple[str, list[int]]:
        return self.inner.decode_with_offsets(tokens)


def test_counts_come_in_one_batch_and_make_the_same_plan() -> None:
    """A tokenizer with count() is asked once for every text that needs counting; only texts over the limit are tokenized one by one; the plan is the same."""
    values = [f"text number {i} " * (1 + i % 7) for i in range(60)] + [
        "long " * 400,
        None,
        "",
        "text number 0 ",
    ]
    plans, calls = [], []
    for batch in (True, False):
        tok = _Counted(get_tokenizer("cl100k_base"), batch)
        arr = np.array(values, dtype=object)
        plans.append(make_plan(arr, list(range(len(values))), tok, limit=100, window=100, byte_bound=False))
        calls.append(tok.one_by_one)
        assert tok.batches == ([61] if batch else [])  # 61 distinct texts, counted at once
    assert calls[0] < 10 < 60 < calls[1]  # only the long text (and its chunks) one by one
    with_batch, one_by_one = plans
    assert with_batch.pieces == one_by_one.pieces
    for field in (
        "piece_bound",
        "piece_exact",
        "text_tokens",
        "ref_start",
        "ref_piece",
        "ref_tokens",
        "ref_span",
        "row_text",
    ):
        np.testing.assert_array_equal(getattr(with_batch, field), getattr(one_by_one, field), err_msg=field)
