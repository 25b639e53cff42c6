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


def decode_embeddings(body: bytes, n: int, dimensions: int | None = None) -> Decoded:
    """Decode a response to ``n`` inputs; ``dimensions``, when given, is the required size."""
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
    if not np.isfinite(out).all():
        bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
        raise ResponseError(f"the response holds NaN or infinite values (input(s) {bad[:5].tolist()})")
    usage = doc.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return Decoded(out, tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None)
