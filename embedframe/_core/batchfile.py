"""Batch API files: request lines, ``custom_id``, splitting into batches, result lines (pure).

A batch job sends the same requests an online job would (packed under the same
per-request limits), one JSON line each::

    {"custom_id": "JOB:R:DIGEST", "method": "POST", "url": "/v1/embeddings", "body": {...}}

``R`` is the request's number in the job; the job keeps, per request, the content keys of
its inputs in order, and ``DIGEST`` is a digest of those keys. So every answer line is
placed by its ``custom_id`` alone, whatever the order of the output file, and a line whose
digest does not match the keys on record is refused rather than stored under the wrong text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "BATCH_PRICE_FACTOR",
    "ENDPOINT",
    "MAX_FILE_BYTES",
    "MAX_INPUTS_PER_BATCH",
    "MAX_REQUESTS_PER_FILE",
    "UNFINISHED_CODES",
    "CustomId",
    "ResultLine",
    "batch_usd",
    "custom_id",
    "keys_digest",
    "parse_custom_id",
    "read_result_line",
    "request_line",
    "split_parts",
]

ENDPOINT = "/v1/embeddings"
MAX_REQUESTS_PER_FILE = 50_000
"""OpenAI: at most 50,000 requests in one batch input file."""
MAX_FILE_BYTES = 200 * 1000 * 1000
"""OpenAI: at most 200 MB per batch input file (counted in decimal megabytes, to be safe)."""
MAX_INPUTS_PER_BATCH = 50_000
"""OpenAI: at most 50,000 embedding inputs across all the requests of one batch."""
BATCH_PRICE_FACTOR = 0.5
"""The Batch API costs half the list price (OpenAI's pricing page)."""
UNFINISHED_CODES = frozenset({"batch_expired", "batch_cancelled"})
"""Error-file codes of lines the server never ran (the batch expired or was cancelled)."""


def batch_usd(online_usd: float | None) -> float | None:
    """What a job that costs ``online_usd`` at list price costs through the Batch API."""
    return None if online_usd is None else online_usd * BATCH_PRICE_FACTOR


def keys_digest(keys: Sequence[bytes]) -> str:
    """16 hex digits of SHA-256 over a request's content keys, in order."""
    return hashlib.sha256(b"".join(keys)).hexdigest()[:16]


def custom_id(job_id: str, request: int, keys: Sequence[bytes]) -> str:
    """The ``custom_id`` of request ``request`` of job ``job_id`` holding inputs ``keys``."""
    return f"{job_id}:{request}:{keys_digest(keys)}"


@dataclass(frozen=True, slots=True)
class CustomId:
    job_id: str
    request: int
    digest: str


def parse_custom_id(text: object) -> CustomId:
    """The parts of a ``custom_id`` made by :func:`custom_id`; ``ValueError`` if it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"custom_id is {type(text).__name__}, not a string")
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 16:
        raise ValueError(f"custom_id {text[:80]!r} was not made by embedframe")
    return CustomId(parts[0], int(parts[1]), parts[2])


def request_line(custom: str, body: dict[str, Any]) -> bytes:
    """One line of a batch input file (UTF-8 JSON and a newline)."""
    line = {"custom_id": custom, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def split_parts(
    inputs: npt.NDArray[np.int64],
    nbytes: npt.NDArray[np.int64],
    tokens: npt.NDArray[np.int64],
    *,
    max_requests: int = MAX_REQUESTS_PER_FILE,
    max_bytes: int = MAX_FILE_BYTES,
    max_inputs: int = MAX_INPUTS_PER_BATCH,
    max_tokens: int | None = None,
) -> list[npt.NDArray[np.int64]]:
    """Split requests ``0..n-1`` (each with its input count, line bytes and tokens), in order,
    into batches within every limit; each batch is an array of request numbers.

    A request that alone breaks a limit cannot be sent as a batch: ``ValueError``.
    """
    n = len(inputs)
    for name, values, limit in (("inputs", inputs, max_inputs), ("bytes", nbytes, max_bytes)):
        if n and int(values.max()) > limit:
            raise ValueError(f"one request has {int(values.max())} {name}, over the batch limit of {limit}")
    if max_tokens is not None and n and int(tokens.max()) > max_tokens:
        raise ValueError(
            f"one request has {int(tokens.max())} tokens, over the batch limit of {max_tokens} tokens"
        )
    parts: list[npt.NDArray[np.int64]] = []
    start = 0
    count_i = count_b = count_t = 0
    for r in range(n):
        i, b, t = int(inputs[r]), int(nbytes[r]), int(tokens[r])
        over = (
            r - start >= max_requests
            or count_i + i > max_inputs
            or count_b + b > max_bytes
            or (max_tokens is not None and count_t + t > max_tokens)
        )
        if over and r > start:
            parts.append(np.arange(start, r, dtype=np.int64))
            start, count_i, count_b, count_t = r, 0, 0, 0
        count_i, count_b, count_t = count_i + i, count_b + b, count_t + t
    if n:
        parts.append(np.arange(start, n, dtype=np.int64))
    return parts


@dataclass(frozen=True, slots=True)
class ResultLine:
    """One line of a batch output or error file."""

    custom_id: str
    status: int | None
    """The HTTP status of the request, or ``None`` when it never ran."""
    body: bytes | None
    """The embeddings response body (JSON) of a 200; ``None`` otherwise."""
    code: str | None = None
    message: str | None = None


_OK_HEAD = re.compile(
    rb'\{\s*"id"\s*:\s*"[^"\\]*"\s*,\s*"custom_id"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"response"\s*:\s*'
    rb'\{\s*"status_code"\s*:\s*200\s*,\s*"request_id"\s*:\s*"[^"\\]*"\s*,\s*"body"\s*:\s*(?=\{)'
)
_OK_TAIL = re.compile(rb'\}\s*,\s*"error"\s*:\s*null\s*\}\s*$')


def read_result_line(line: bytes) -> ResultLine:
    """Parse one output/error line; ``ValueError`` if it is not one.

    A 200 line laid out as OpenAI writes them (``id``, ``custom_id``, ``response`` with
    ``status_code``, ``request_id``, ``body``; then ``"error": null``) gives its body as the
    bytes of the line, unparsed (vectors are megabytes of base64: the body's decoder checks
    it); any other line is parsed whole.
    """
    head = _OK_HEAD.match(line)
    tail = _OK_TAIL.search(line) if head else None
    if head and tail and tail.start() > head.end():
        return ResultLine(json.loads(head.group(1)), 200, bytes(line[head.end() : tail.start()]))
    doc = json.loads(line)
    if not isinstance(doc, dict) or "custom_id" not in doc:
        raise ValueError("a result line without custom_id")
    cid = str(doc["custom_id"])
    response = doc.get("response")
    error = doc.get("error")
    status = None
    if isinstance(response, dict):
        status = response.get("status_code")
        body = response.get("body")
        if status == 200 and isinstance(body, dict) and not error:
            return ResultLine(cid, 200, json.dumps(body, separators=(",", ":")).encode("utf-8"))
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = error or body["error"]
    code = message = None
    if isinstance(error, dict):
        code = None if error.get("code") is None else str(error.get("code"))
        message = None if error.get("message") is None else str(error.get("message"))
    elif error is not None:
        message = str(error)
    return ResultLine(cid, status if isinstance(status, int) else None, None, code, message)
