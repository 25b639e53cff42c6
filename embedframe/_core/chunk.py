"""Split one tokenized text into windows that each fit a token limit (pure).

Windows are cut at token positions, then widened or narrowed to whole characters so a
chunk's text never holds half a character. A chunk's text is re-encoded to count the
tokens the server will count; if that is over the limit the window is narrowed until it
fits, so no chunk is ever over the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import Tokenizer

__all__ = ["Chunk", "split_tokens"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One window of a text."""

    token_start: int
    """First token, as a position in the whole text's tokens."""
    token_end: int
    """One past the last token."""
    text: str
    tokens: int
    """Tokens in ``text`` when encoded on its own (what the server counts)."""


def split_tokens(
    tokens: list[int],
    tokenizer: Tokenizer,
    *,
    window: int,
    overlap: int = 0,
    first_only: bool = False,
) -> list[Chunk]:
    """Cut ``tokens`` into windows of at most ``window`` tokens, ``overlap`` tokens shared.

    ``first_only`` gives just the first window (truncation).
    """
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, {window}), got {overlap}")
    n = len(tokens)
    text, offsets = tokenizer.decode_with_offsets(tokens)

    def char_at(i: int) -> int:
        return len(text) if i >= n else offsets[i]

    chunks: list[Chunk] = []
    start = 0
    while start < n:
        end = min(start + window, n)
        while True:
            piece = text[char_at(start) : char_at(end)]
            count = len(tokenizer.encode_ordinary(piece)) if piece else 0
            if count <= window or end - start <= 1:
                break
            end = max(start + 1, end - max(1, count - window))
        if piece:
            chunks.append(Chunk(start, end, piece, count))
        if first_only or end >= n:
            break
        start = max(end - overlap, start + 1)
    return chunks
