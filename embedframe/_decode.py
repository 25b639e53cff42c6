"""Read an embeddings response body into a float32 matrix, checking the contract (pure).

Vectors are placed by ``data[].index``, never by position. Base64 vectors are decoded
straight from bytes; float lists (servers that ignore ``encoding_format``) are accepted
too. Nothing is returned unless every check passes, so a bad response can never put a
wrong vector in the output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pybase64

from .errors import ResponseError

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
_SPACE = frozenset(b" \t\r\n")


def _value_starts(body: bytes | bytearray, n: int) -> tuple[npt.NDArray[np.int64], int] | None:
    """Where each ``"embedding": "..."`` string value starts, and the first one's width.

    The search jumps over each value (they are the bulk of the body), so it reads little
    more than the JSON around them; values of other widths are caught by the caller.
    """
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


def decode_embeddings(body: bytes | bytearray, n: int, dimensions: int | None = None) -> Decoded:
    """Decode a response to ``n`` inputs; ``dimensions``, when given, is the required size.

    Base64 bodies take a fast path: the (large) base64 strings are cut out of the body,
    the small rest is parsed as JSON to check its shape, and the strings are decoded
    straight from the body's bytes in one call. Anything unusual takes the plain path.
    """
    fast = _decode_base64_fast(body, n, dimensions)
    return fast if fast is not None else _decode_plain(body, n, dimensions)


def _decode_base64_fast(body: bytes | bytearray, n: int, dimensions: int | None) -> Decoded | None:
    """The fast path, or ``None`` when the body is not the plain shape it handles."""
    if n == 0 or b"\\" in body:
        return None
    found = _value_starts(body, n)
    if found is None:
        return None
    starts, width = found
    ends = starts + width
    raw_bytes = np.frombuffer(body, dtype=np.uint8)
    if int(ends[-1]) >= len(body) or not (raw_bytes[ends] == 0x22).all():
        return None  # values of different widths
    if n > 1 and (raw_bytes[ends[:-1] - 1] == 0x3D).any():
        return None  # padding inside would stop a joined decode
    view = memoryview(body)
    bounds = np.empty(2 * n + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, len(body)
    bounds[1:-1:2], bounds[2:-1:2] = starts, ends
    edges = bounds.tolist()
    try:
        doc = json.loads(b"".join([view[edges[k] : edges[k + 1]] for k in range(0, 2 * n + 2, 2)]))
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
    try:
        raw = pybase64.b64decode(
            b"".join([view[edges[k] : edges[k + 1]] for k in range(1, 2 * n, 2)]), validate=True
        )
    except ValueError as exc:
        raise ResponseError(f"an embedding is not valid base64: {exc}") from exc
    if len(raw) % (4 * n):
        raise ResponseError(f"the embeddings decode to {len(raw)} bytes, not {n} equal float32 vectors")
    d = len(raw) // (4 * n)
    if dimensions is not None and d != dimensions:
        raise ResponseError(f"asked for {dimensions} dimensions but the server sent {d}")
    by_position = np.frombuffer(raw, dtype="<f4").reshape(n, d)
    if np.array_equal(order, np.arange(n)):
        vectors = by_position
    else:
        vectors = np.empty((n, d), dtype=np.float32)
        vectors[order] = by_position
    _check_finite(vectors)
    return Decoded(vectors, _usage(doc))


def _check_finite(vectors: npt.NDArray[np.float32]) -> None:
    if not np.isfinite(vectors).all():
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
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
