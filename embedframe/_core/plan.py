"""From column values to the distinct pieces of text to send (pure).

A row is a null (``None``, ``NaN``, ``pd.NA``), an empty string, or a text. Identical texts
share one entry; a text over the input limit becomes several pieces (chunks) or one
(truncated). Identical pieces are sent once. Every bad value is found here, before any
request is made.

Tokenizing is skipped where it cannot change the result: a text of at most ``limit``
UTF-8 bytes has at most ``limit`` tokens (every token is at least one byte), so its byte
length is a safe upper bound on its token count for packing.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import InputError, InputTypeError
from .chunk import Chunk, split_tokens
from .tokenizer import Tokenizer, token_counts

__all__ = ["EMPTY", "ERROR", "NULL", "Labels", "Plan", "make_plan", "sendable"]

Labels = Sequence[Hashable] | pd.Index
"""Row labels, used to name rows in error messages."""

NULL = -1
EMPTY = -2
ERROR = -3

_SHOWN = 5
_BATCH_MIN = 16
"""Texts to count before a batch count is worth its setup."""


@dataclass(frozen=True)
class Plan:
    """What to send and how to put the answers back together."""

    row_text: npt.NDArray[np.int64]
    """Per row: the index of its distinct text, or ``NULL`` / ``EMPTY`` / ``ERROR``."""
    row_errors: dict[int, str]
    """Per bad row (position), what is wrong with it (only with ``on_bad="mark"``)."""
    texts: list[str]
    """Distinct texts, in order of first appearance."""
    text_tokens: npt.NDArray[np.int64]
    """Per text: its token count, or -1 where it was not tokenized."""
    truncated: npt.NDArray[np.bool_]
    """Per text: whether only its first window is embedded."""
    ref_start: npt.NDArray[np.int64]
    """Offsets into the ``ref_*`` arrays: text ``t`` uses refs ``ref_start[t]:ref_start[t+1]``."""
    ref_piece: npt.NDArray[np.int64]
    """Per ref: the piece it uses."""
    ref_tokens: npt.NDArray[np.int64]
    """Per ref: the piece's token count (the weight of its vector in the text's mean)."""
    ref_span: npt.NDArray[np.int64]
    """Per ref: ``[token_start, token_end)`` of the piece within its text; -1 when unknown."""
    pieces: list[str]
    """Distinct strings to send."""
    piece_bound: npt.NDArray[np.int64]
    """Per piece: an upper bound on its token count."""
    piece_exact: npt.NDArray[np.bool_]
    """Per piece: whether ``piece_bound`` is the exact count."""

    @property
    def n_rows(self) -> int:
        return len(self.row_text)

    @property
    def chunked(self) -> npt.NDArray[np.bool_]:
        """Per text: whether it was split into more than one piece."""
        return np.diff(self.ref_start) > 1

    @property
    def single_piece(self) -> bool:
        """Whether every text is exactly one piece, text ``t`` being piece ``t``."""
        return (
            len(self.pieces) == len(self.texts)
            and len(self.ref_piece) == len(self.texts)
            and bool(np.array_equal(self.ref_piece, np.arange(len(self.texts))))
        )


def sendable(text: str) -> str:
    """``text`` as it is sent: lone surrogates (which UTF-8 cannot encode) become U+FFFD.

    The one place this rule lives: the planner, Dask's de-duplication and the local
    server all clean text with it.
    """
    return _clean(text)[0]


def _clean(text: str) -> tuple[str, int]:
    """The text as it will be sent, and its UTF-8 length."""
    try:
        return text, len(text.encode("utf-8"))
    except UnicodeEncodeError:
        fixed = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return fixed, len(fixed.encode("utf-8"))


def _labels(labels: Labels, rows: Sequence[int]) -> str:
    shown = ", ".join(repr(_plain(labels[i])) for i in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return shown + more


def make_plan(
    values: npt.NDArray[np.object_],
    labels: Labels,
    tokenizer: Tokenizer,
    *,
    column: Hashable = "text",
    limit: int,
    window: int,
    overlap: int = 0,
    long_text: str = "chunk",
    empty: str = "null",
    exact: bool = False,
    on_bad: str = "raise",
    byte_bound: bool = True,
    count_all: bool = False,
    long_hint: str | None = None,
) -> Plan:
    """Plan the requests for ``values`` (an object array, one entry per row).

    ``labels`` are the row labels used in error messages. A text over ``limit`` tokens is
    handled by ``long_text``: split into windows of ``window`` tokens sharing ``overlap``
    (``chunk``), cut to its first window (``truncate``), or refused (``error``).
    ``exact`` (for per-chunk output, which reports token spans) tokenizes every text and
    splits every text over ``window`` tokens. ``on_bad="raise"`` raises for the first kind
    of bad row found; ``on_bad="mark"`` gives bad rows the code ``ERROR`` and a message in
    ``row_errors`` instead, so a job can go on past them. ``byte_bound`` says the
    tokenizer never makes more tokens than UTF-8 bytes (true of tiktoken's byte-level BPE).
    ``count_all`` tokenizes every text so ``text_tokens`` is known for all (per-row reports).
    ``long_hint`` replaces the advice given for texts over ``limit`` (which option to set).
    """
    if on_bad not in ("raise", "mark"):
        raise ValueError(f"on_bad must be 'raise' or 'mark', got {on_bad!r}")
    row_text, distinct, bad_type = _distinct(values)
    row_errors: dict[int, str] = {}
    if bad_type:
        if on_bad == "raise":
            first = values[bad_type[0]]
            raise InputTypeError(
                f"column {column!r} holds {len(bad_type)} value(s) that are not strings, at row "
                f"label(s) {_labels(labels, bad_type)} (the first is {type(first).__name__} "
                f"{_short(first)}); convert them with .astype(str), or set them to None for a "
                "null vector"
            )
        for i in bad_type:
            row_text[i] = ERROR
            row_errors[i] = f"not a string ({type(values[i]).__name__})"

    is_empty = np.fromiter((not t or t.isspace() for t in distinct), dtype=bool, count=len(distinct))
    if is_empty.any():
        empty_rows = np.flatnonzero((row_text >= 0) & is_empty[np.maximum(row_text, 0)])
        if empty == "error" and on_bad == "raise":
            raise InputError(
                f"column {column!r} has {len(empty_rows)} empty or whitespace-only string(s), at "
                f"row label(s) {_labels(labels, empty_rows.tolist())}; the API rejects them. Drop "
                "those rows, or pass empty='null' to get a null vector for them"
            )
        keep = np.flatnonzero(~is_empty)
        new_id = np.full(len(distinct), EMPTY, dtype=np.int64)
        new_id[keep] = np.arange(len(keep))
        row_text = np.where(row_text >= 0, new_id[np.maximum(row_text, 0)], row_text)
        distinct = [distinct[i] for i in keep.tolist()]
        if empty == "error":
            for i in empty_rows.tolist():
                row_text[i] = ERROR
                row_errors[i] = "empty or whitespace-only string"

    builder = _Builder(
        tokenizer,
        split_over=window if exact else limit,
        window=window,
        overlap=overlap,
        long_text=long_text,
        exact=exact or count_all,
        byte_bound=byte_bound,
    )
    if not builder.add_all_short(distinct):
        builder.add_all(distinct)
    if builder.too_long:
        uids = np.array([u for u, _ in builder.too_long])
        rows = np.flatnonzero(np.isin(row_text, uids))
        worst = max(count for _, count in builder.too_long)
        if on_bad == "raise":
            raise InputError(
                f"column {column!r} has {len(rows)} text(s) over the input limit of {builder.split_over} "
                f"tokens (the longest has {worst}), at row label(s) {_labels(labels, rows.tolist())}; "
                + (
                    long_hint
                    or "pass long_text='chunk' to embed them in pieces or long_text='truncate' to embed "
                    "their start"
                )
            )
        counts = dict(builder.too_long)
        for i in rows.tolist():
            row_errors[i] = f"{counts[int(row_text[i])]} tokens, over the limit of {builder.split_over}"
            if long_hint:
                row_errors[i] += f" ({long_hint})"
            row_text[i] = ERROR
    return builder.build(row_text, distinct, row_errors)


def _distinct(values: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.int64], list[str], list[int]]:
    """Per row: its distinct string's index (``NULL`` for nulls); the distinct strings in
    order of first appearance; and the rows holding something that is not a string."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64), [], []
    try:
        codes, uniques = pd.factorize(values)  # hashes in C; None, NaN and pd.NA get -1
    except TypeError:  # an unhashable value (list, dict): go row by row
        return _distinct_slowly(values)
    codes = codes.astype(np.int64, copy=False)
    is_str = np.fromiter((isinstance(u, str) for u in uniques), dtype=bool, count=len(uniques))
    strings = np.flatnonzero(is_str)
    new_id = np.full(len(uniques) + 1, NULL, dtype=np.int64)  # slot -1 stays NULL
    new_id[strings] = np.arange(len(strings))
    bad_type: list[int] = []
    if len(strings) < len(uniques):
        new_id[np.flatnonzero(~is_str)] = ERROR
        bad_type = np.flatnonzero(np.isin(codes, np.flatnonzero(~is_str))).tolist()
    row_text = new_id[codes]
    row_text[bad_type] = NULL
    return row_text, [str(uniques[i]) for i in strings.tolist()], bad_type


def _distinct_slowly(values: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.int64], list[str], list[int]]:
    """:func:`_distinct` for columns holding unhashable values."""
    missing = pd.isna(values)
    row_text = np.full(len(values), NULL, dtype=np.int64)
    index: dict[str, int] = {}
    bad_type: list[int] = []
    for i in np.flatnonzero(~missing).tolist():
        value = values[i]
        if not isinstance(value, str):
            bad_type.append(i)
            continue
        row_text[i] = index.setdefault(value, len(index))
    return row_text, list(index), bad_type


def _plain(label: object) -> object:
    """A row label as the user wrote it: ``5``, not ``np.int64(5)`` (also inside MultiIndex tuples)."""
    if isinstance(label, tuple):
        return tuple(_plain(part) for part in label)
    return label.item() if isinstance(label, np.generic) else label


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Builder:
    """Accumulates the pieces of each distinct text."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        split_over: int,
        window: int,
        overlap: int,
        long_text: str,
        exact: bool,
        byte_bound: bool,
    ) -> None:
        self.byte_bound = byte_bound
        self.tokenizer = tokenizer
        self.split_over = split_over
        self.window = window
        self.overlap = overlap
        self.long_text = long_text
        self.exact = exact
        self.piece_index: dict[str, int] = {}
        self.pieces: list[str] = []
        self.bound: list[int] = []
        self.is_exact: list[bool] = []
        self.ref_start: list[int] = [0]
        self.ref_piece: list[int] = []
        self.ref_tokens: list[int] = []
        self.ref_span: list[tuple[int, int]] = []
        self.text_tokens: list[int] = []
        self.truncated: list[bool] = []
        self.too_long: list[tuple[int, int]] = []

    def _piece(self, text: str, bound: int, exact: bool) -> int:
        pid = self.piece_index.get(text)
        if pid is None:
            pid = self.piece_index[text] = len(self.pieces)
            self.pieces.append(text)
            self.bound.append(bound)
            self.is_exact.append(exact)
        elif exact and not self.is_exact[pid]:
            self.bound[pid] = bound
            self.is_exact[pid] = True
        return pid

    def _ref(self, pid: int, tokens: int, span: tuple[int, int]) -> None:
        self.ref_piece.append(pid)
        self.ref_tokens.append(tokens)
        self.ref_span.append(span)

    def add_all_short(self, texts: list[str]) -> bool:
        """Take every text as one untokenized piece when all are short; ``False`` if not."""
        if not self.byte_bound or self.exact or self.pieces:
            return False
        try:
            nbytes = [len(t.encode("utf-8")) for t in texts]
        except UnicodeEncodeError:
            return False
        if nbytes and max(nbytes) > self.split_over:
            return False
        n = len(texts)
        self.pieces = list(texts)
        self.bound = nbytes
        self.is_exact = [False] * n
        self.ref_start = list(range(n + 1))
        self.ref_piece = list(range(n))
        self.ref_tokens = list(nbytes)
        self.ref_span = [(-1, -1)] * n
        self.text_tokens = [-1] * n
        self.truncated = [False] * n
        return True

    def _bounded(self, nbytes: int) -> bool:
        """Whether a text of ``nbytes`` is taken whole without counting its tokens."""
        return self.byte_bound and nbytes <= self.split_over and not self.exact

    def add_all(self, texts: list[str]) -> None:
        """Add every text (text ``i`` has uid ``i``). The token counts needed are counted in
        one batch first (in parallel where the tokenizer can: 100,000 short texts took 4.1 s
        one at a time through a Hugging Face tokenizer); only texts over the limit are then
        tokenized one by one, to be cut."""
        cleaned = [_clean(t) for t in texts]
        need = [i for i, (_, nbytes) in enumerate(cleaned) if not self._bounded(nbytes)]
        counts: dict[int, int] = {}
        if len(need) >= _BATCH_MIN:
            counted = token_counts(self.tokenizer, [cleaned[i][0] for i in need])
            counts = dict(zip(need, counted, strict=True))
        for uid, (text, nbytes) in enumerate(cleaned):
            self.add(uid, text, nbytes, counts.get(uid))

    def add(self, uid: int, text: str, nbytes: int, count: int | None = None) -> None:
        """Add one cleaned text of ``nbytes``; ``count``, when given, is its token count."""
        truncated = False
        if self._bounded(nbytes):
            self._ref(self._piece(text, nbytes, False), nbytes, (-1, -1))
            self.text_tokens.append(-1)
        elif count is not None and count <= self.split_over:
            self.text_tokens.append(count)
            self._ref(self._piece(text, count, True), count, (0, count))
        else:
            tokens = self.tokenizer.encode_ordinary(text)
            count = len(tokens)
            self.text_tokens.append(count)
            if count <= self.split_over:
                self._ref(self._piece(text, count, True), count, (0, count))
            elif self.long_text == "error":
                self.too_long.append((uid, count))
            else:
                truncated = self.long_text == "truncate"
                chunks = split_tokens(
                    tokens, self.tokenizer, window=self.window, overlap=self.overlap, first_only=truncated
                )
                for chunk in chunks:
                    self._chunk(chunk)
        self.truncated.append(truncated)
        self.ref_start.append(len(self.ref_piece))

    def _chunk(self, chunk: Chunk) -> None:
        pid = self._piece(chunk.text, chunk.tokens, True)
        self._ref(pid, chunk.tokens, (chunk.token_start, chunk.token_end))

    def build(self, row_text: npt.NDArray[np.int64], texts: list[str], row_errors: dict[int, str]) -> Plan:
        return Plan(
            row_text=row_text,
            row_errors=row_errors,
            texts=texts,
            text_tokens=np.asarray(self.text_tokens, dtype=np.int64),
            truncated=np.asarray(self.truncated, dtype=bool),
            ref_start=np.asarray(self.ref_start, dtype=np.int64),
            ref_piece=np.asarray(self.ref_piece, dtype=np.int64),
            ref_tokens=np.asarray(self.ref_tokens, dtype=np.int64),
            ref_span=np.asarray(self.ref_span, dtype=np.int64).reshape(-1, 2),
            pieces=self.pieces,
            piece_bound=np.asarray(self.bound, dtype=np.int64),
            piece_exact=np.asarray(self.is_exact, dtype=bool),
        )
