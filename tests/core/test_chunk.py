"""Splitting a tokenized text into windows."""

from __future__ import annotations

import itertools

import pytest

from embedframe._core.chunk import split_tokens
from embedframe._core.tokenizer import get_tokenizer

enc = get_tokenizer("cl100k_base")


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog. " * 200,
        "日本語のテキストと絵文字😀🎉が混ざった文章。" * 150,
        "x" * 5000,
        "مرحبا بالعالم " * 300,
    ],
)
def test_windows_fit_and_rebuild_the_text(text: str) -> None:
    """Without overlap, chunks are within the window and concatenate back to the text."""
    chunks = split_tokens(enc.encode_ordinary(text), enc, window=100)
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == text
    for c in chunks:
        assert c.tokens == len(enc.encode_ordinary(c.text)) <= 100
        assert "\ufffd" not in c.text


def test_overlap_repeats_tokens_between_neighbours() -> None:
    """With overlap k, each chunk starts k tokens before the previous one ended."""
    tokens = enc.encode_ordinary("word " * 1000)
    chunks = split_tokens(tokens, enc, window=100, overlap=20)
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.token_start == prev.token_end - 20
    assert chunks[-1].token_end == len(tokens)


def test_first_only_gives_one_window() -> None:
    """Truncation keeps only the first window."""
    tokens = enc.encode_ordinary("word " * 1000)
    (only,) = split_tokens(tokens, enc, window=50, first_only=True)
    assert only.token_start == 0 and only.tokens <= 50
    assert ("word " * 1000).startswith(only.text)
