"""Read an embeddings response body into a float32 matrix, checking the contract (pure).

Vectors are placed by ``data[].index``, never by position. Base64 vectors are decoded
straight from bytes; float lists (servers that ignore ``encoding_format``) are accepted
too. Nothing is returned unless every check passes, so a bad response can never put a
wrong vector in the output.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pybase64

from ..errors import ResponseError

__all__ = ["Decoded", "decode_embeddings"]


@dataclass(frozen=True, slots=True)
class Decoded:
    vectors: npt.NDArray[np.float32]
    """``(n, d)``: row ``i`` is the vector of input ``i``."""
    prompt_tokens: int | None
    """``usage.prompt_tokens`` when the server gave it."""


def _vector(item: object, pos: int) -> npt.NDArray[np.float32]:
    if not isinstance(item, dict):
        raise ResponseError(f"data[{pos}] is {type(item).__name__}, not an object")
    emb = item.get("embedding")
    if isinstance(emb, str):
        try:
            raw = pybase64.b64decode(emb, validate=True)
        except ValueError as exc:
            raise ResponseError(f"data[{pos}].embedding is not valid base64: {exc}") from exc
        if len(raw) % 4:
            raise ResponseError(f"data[{pos}].embedding decodes to {len(raw)} bytes, not whole float32s")
        return np.frombuffer(raw, dtype="<f4")
    if isinstance(emb, list):
        try:
            return np.asarray(emb, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ResponseError(f"data[{pos}].embedding is not a list of numbers") from exc
    raise ResponseError(f"data[{pos}].embedding is {type(emb).__name__}, expected base64 or a list of floats")


_KEY = b'"embedding"'
_COMPACT = b'"embedding":"'
_SPACE = frozenset(b" \t\r\n")
_NEAR = 1024
_BLOCK_BYTES = 512 << 10
"""Base64 decoded per block of about this many characters."""
_MAX_RUNS = 64
"""Evenly spaced runs of values copied with one strided copy each; more means an odd layout."""


def _value_starts(body: bytes | bytearray, n: int) -> tuple[npt.NDArray[np.int64], int] | None:
    """Where each ``"embedding": "..."`` string value starts, and the first one's width.

    The search jumps over each value (they are the bulk of the body), so it reads little
    more than the JSON around them; values of other widths are caught by the caller.
    Compact JSON (what servers send) takes one search per value.
    """
    k = body.find(_COMPACT)
    if k >= 0:
        first = k + len(_COMPACT)
        width = body.find(b'"', first) - first
        if width > 0:
            find, step, found, pos = body.find, len(_COMPACT), [], k
            for _ in range(n):
                # a bounded search first: CPython searches short haystacks much faster
                k = find(_COMPACT, pos, pos + _NEAR)
                if k < 0:
                    k = find(_COMPACT, pos)
                    if k < 0:
                        break
                found.append(k + step)
                pos = k + step + width
            if len(found) == n and find(_KEY, pos) < 0:
                return np.array(found, dtype=np.int64), width
    return _value_starts_spaced(body, n)


def _value_starts_spaced(body: bytes | bytearray, n: int) -> tuple[npt.NDArray[np.int64], int] | None:
    """:func:`_value_starts` for JSON with white space around the colon."""
    starts = np.empty(n, dtype=np.int64)
    pos, width, count = 0, 0, 0
    while True:
        k = body.find(_KEY, pos)
        if k < 0:
            break
        j = k + len(_KEY)
        while j < len(body) and body[j] in _SPACE:
            j += 1
        if j >= len(body) or body[j] != 0x3A:
            pos = j  # the word as a value ("object": "embedding"), not the key
            continue
        j += 1
        while j < len(body) and body[j] in _SPACE:
            j += 1
        if j >= len(body) or body[j] != 0x22 or count == n:
            return None
        if count == 0:
            width = body.find(b'"', j + 1) - (j + 1)
            if width <= 0:
                return None
        starts[count] = j + 1
        count += 1
        pos = j + 1 + width
    return (starts, width) if count == n else None


def decode_embeddings(
    body: bytes | bytearray,
    n: int,
    dimensions: int | None = None,
    *,
    out: npt.NDArray[np.float32] | None = None,
) -> Decoded:
    """Decode a response to ``n`` inputs; ``dimensions``, when given, is the required size.

    ``out``, an ``(n, d)`` C-contiguous float32 array, receives the vectors when they are
    ``d`` wide (then ``Decoded.vectors is out``); otherwise a new array is returned. On
    failure ``out`` may hold partial garbage: its rows mean nothing until a call succeeds.

    Base64 bodies take a fast path: the (large) base64 strings are located without
    parsing them, the small rest is parsed as JSON to check its shape, and the strings
    are decoded block by block from the body's bytes into the result. Anything unusual
    takes the plain path (the whole body parsed as JSON).
    """
    fast = _decode_base64_fast(body, n, dimensions, out)
    return fast if fast is not None else _decode_plain(body, n, dimensions)


def _skeleton(
    raw: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> bytes:
    """The body without the base64 values (each becomes ``""``): the small JSON around them."""
    seg_start = np.concatenate(([0], ends))
    seg_end = np.concatenate((starts, [len(raw)]))
    lengths = seg_end - seg_start
    offsets = np.cumsum(lengths) - lengths
    index = np.repeat(seg_start - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
    return raw[index].tobytes()


def _runs(starts: npt.NDArray[np.int64]) -> list[tuple[int, int, int]] | None:
    """``(first, stop, step)`` for each run of evenly spaced values (the spacing changes
    only where the index gains a digit); ``None`` when there are too many to be worth it."""
    n = len(starts)
    steps = np.diff(starts)
    bounds = [0, *(np.flatnonzero(np.diff(steps)) + 1).tolist(), n]
    if len(bounds) > _MAX_RUNS:
        return None
    return [(a, b, int(steps[a]) if b - a > 1 else 1) for a, b in itertools.pairwise(bounds) if a < b]


def _gather(
    raw: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    runs: list[tuple[int, int, int]] | None,
    a: int,
    b: int,
    skip: int,
    width: int,
    into: npt.NDArray[np.uint8],
) -> None:
    """Copy ``width`` bytes from ``starts[i] + skip`` for values ``a..b-1`` into rows of ``into``."""
    if runs is None:
        for row, i in enumerate(range(a, b)):
            s = int(starts[i]) + skip
            into[row] = raw[s : s + width]
        return
    for first, stop, step in runs:
        lo, hi = max(a, first), min(b, stop)
        if lo >= hi:
            continue
        origin = int(starts[first]) + skip + (lo - first) * step
        into[lo - a : hi - a] = np.lib.stride_tricks.as_strided(
            raw[origin:], shape=(hi - lo, width), strides=(step, 1), writeable=False
        )


def _decode_base64_fast(
    body: bytes | bytearray, n: int, dimensions: int | None, out: npt.NDArray[np.float32] | None = None
) -> Decoded | None:
    """The fast path, or ``None`` when the body is not the plain shape it handles."""
    if n == 0:
        return None
    found = _value_starts(body, n)
    if found is None:
        return None
    starts, width = found
    ends = starts + width
    raw_bytes = np.frombuffer(body, dtype=np.uint8)
    if width % 4 or int(ends[-1]) >= len(raw_bytes) or not (raw_bytes[ends] == 0x22).all():
        return None  # values of different widths, or not whole base64 quads
    pad = int(raw_bytes[ends[0] - 1] == 0x3D) + int(raw_bytes[ends[0] - 2] == 0x3D)
    for k in range(1, 3):
        if not ((raw_bytes[ends - k] == 0x3D) == (k <= pad)).all():
            return None  # padding that differs between values
    skeleton = _skeleton(raw_bytes, starts, ends)
    if b"\\" in skeleton:
        return None  # escapes outside the values: the plain parser reads them right
    try:
        doc = json.loads(skeleton)
    except (ValueError, UnicodeDecodeError):
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list) or len(data) != n:
        return None
    try:
        if any(item["embedding"] != "" for item in data):
            return None
        indexes = [item["index"] for item in data]
    except (TypeError, KeyError):
        return None
    if not all(type(i) is int for i in indexes):
        return None
    order = np.asarray(indexes, dtype=np.int64)
    if order.min() < 0 or order.max() >= n or len(np.unique(order)) != n:
        raise ResponseError(f"the response's data[].index values are not each of 0..{n - 1} once")
    size = width // 4 * 3 - pad
    if size == 0 or size % 4:
        raise ResponseError(f"each embedding decodes to {size} bytes, not whole float32s")
    d = size // 4
    if dimensions is not None and d != dimensions:
        raise ResponseError(f"asked for {dimensions} dimensions but the server sent {d}")
    usable = out is not None and out.shape == (n, d) and out.dtype == np.float32 and out.flags.c_contiguous
    vectors = out if usable and out is not None else np.empty((n, d), dtype=np.float32)
    if not _decode_values(raw_bytes, starts, width, pad, order, vectors):
        return None
    return Decoded(vectors, _usage(doc))


def _decode_values(
    raw: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    width: int,
    pad: int,
    order: npt.NDArray[np.int64],
    vectors: npt.NDArray[np.float32],
) -> bool:
    """Decode value ``i`` into ``vectors[order[i]]``, a block of rows at a time (small
    buffers, reused by the allocator, instead of a body-sized copy); ``False`` when a
    value is not strict base64 (escaped characters, say: the plain path reads those)."""
    n = len(starts)
    runs = _runs(starts)
    in_order = bool(np.array_equal(order, np.arange(n)))
    main = width - 4 if pad else width
    main_bytes = main // 4 * 3
    tail_bytes = 3 - pad if pad else 0
    rows = max(1, _BLOCK_BYTES // width)
    text = np.empty((min(rows, n), main), dtype=np.uint8)
    tails = np.empty((min(rows, n), 4), dtype=np.uint8) if pad else None
    target = vectors.view(np.uint8).reshape(n, vectors.shape[1] * 4)
    for a in range(0, n, rows):
        b = min(n, a + rows)
        chunk = text[: b - a]
        _gather(raw, starts, runs, a, b, 0, main, chunk)
        try:
            block = np.frombuffer(pybase64.b64decode(chunk.data, validate=True), dtype=np.uint8)
            if tails is not None:
                quads = tails[: b - a]
                _gather(raw, starts, runs, a, b, main, 4, quads)
                quads[:, 4 - pad :] = 0x41  # "A" for "=": decodes to the zero bits padding stands for
                tail = np.frombuffer(pybase64.b64decode(quads.data, validate=True), dtype=np.uint8)
        except ValueError:
            return False
        where: slice | npt.NDArray[np.int64] = slice(a, b) if in_order else order[a:b]
        if tails is None:
            rows_out = block.reshape(b - a, main_bytes)
        else:
            rows_out = np.empty((b - a, main_bytes + tail_bytes), dtype=np.uint8)
            rows_out[:, :main_bytes] = block.reshape(b - a, main_bytes)
            rows_out[:, main_bytes:] = tail.reshape(b - a, 3)[:, :tail_bytes]
        # checked while the block is in the CPU's cache: a pass over the whole matrix
        # afterwards reads it all back from memory (a tenth of the decoding's time)
        _check_finite(rows_out.view("<f4"), order[a:b])
        target[where] = rows_out
    return True


def _check_finite(vectors: npt.NDArray[np.float32], inputs: npt.NDArray[np.int64] | None = None) -> None:
    """Refuse NaN and infinity; ``inputs`` are the input indexes of ``vectors``' rows."""
    if not np.isfinite(vectors).all():
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if inputs is not None:
            bad = inputs[bad]
        raise ResponseError(f"the response holds NaN or infinite values (input(s) {bad[:5].tolist()})")


def _usage(doc: dict[str, object]) -> int | None:
    usage = doc.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None


def _decode_plain(body: bytes | bytearray, n: int, dimensions: int | None) -> Decoded:
    """Parse the whole body as JSON: float lists, odd layouts, and every error message."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResponseError(f"the response is not valid JSON ({exc}); first bytes: {body[:80]!r}") from exc
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise ResponseError("the response has no 'data' list of embeddings")
    if len(data) != n:
        raise ResponseError(f"sent {n} inputs but the response holds {len(data)} embeddings")
    out: npt.NDArray[np.float32] | None = None
    seen = np.zeros(n, dtype=bool)
    for pos, item in enumerate(data):
        vec = _vector(item, pos)
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ResponseError(f"data[{pos}].index is {index!r}, expected an integer in [0, {n})")
        if seen[index]:
            raise ResponseError(f"index {index} appears twice in the response")
        seen[index] = True
        if out is None:
            d = len(vec)
            if d == 0:
                raise ResponseError("the response holds an empty vector")
            if dimensions is not None and d != dimensions:
                raise ResponseError(f"asked for {dimensions} dimensions but the server sent {d}")
            out = np.empty((n, d), dtype=np.float32)
        elif len(vec) != out.shape[1]:
            raise ResponseError(
                f"vectors of different sizes in one response: {out.shape[1]} and {len(vec)} (data[{pos}])"
            )
        out[index] = vec
    if out is None:
        raise ResponseError("the response holds no embeddings")
    _check_finite(out)
    return Decoded(out, _usage(doc))
