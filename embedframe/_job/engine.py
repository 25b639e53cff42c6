"""One embedding job, end to end: plan, pack, send concurrently, put back together.

The only async implementation; the sync API wraps it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._core.combine import rows_from_texts, texts_from_pieces
from .._core.pack import Batch, pack
from .._core.plan import EMPTY, ERROR, NULL, Labels, Plan, make_plan
from .._core.tokenizer import Tokenizer, token_counts_or_bounds
from .._storage.cachewriter import CacheWriter
from .._wire.http import SendStats
from .._wire.limits import PROBE_TOKENS, paced_request_tokens
from ..config import OPENAI_BASE_URL, EmbedConfig
from ..errors import InputError
from .backend import Backend, resolve_backend
from .sending import Sending, mark_refused

if TYPE_CHECKING:
    from ..cache import VectorCache

__all__ = [
    "ANSWER_BYTES",
    "JobResult",
    "JobStats",
    "RequestLimits",
    "count_tokens",
    "pack_pieces",
    "request_limits",
    "run_job",
]

log = logging.getLogger("embedframe")

COMPACT_OVER_SHARDS = 256
"""After a job, the cache is compacted when it holds more shard files than this."""


@dataclass(frozen=True)
class JobStats:
    """What one job did."""

    rows: int
    null_rows: int
    empty_rows: int
    error_rows: int
    """Rows left null because they are bad (only when bad rows are reported, not raised)."""
    distinct_texts: int
    chunked_texts: int
    truncated_texts: int
    pieces: int
    cache_hits: int
    """Pieces found in the cache, not sent."""
    requests: int
    retries: int
    tokens_sent: int
    """Token budget spent on the wire, retries and splits included (an upper bound)."""
    rate_limited: int
    tokens: int
    """Tokens billed: the servers' ``usage`` where given, else counted here."""
    seconds: float
    backend: str
    model: str


@dataclass(frozen=True)
class JobResult:
    plan: Plan
    pieces: npt.NDArray[np.float32]
    """One vector per piece (chunk)."""
    rows: npt.NDArray[np.float32]
    """One vector per row; zeros where ``valid`` is false."""
    valid: npt.NDArray[np.bool_]
    stats: JobStats
    config: EmbedConfig
    """The config as resolved for the backend (model and base_url filled in)."""


async def run_job(
    values: npt.NDArray[np.object_],
    labels: Labels,
    config: EmbedConfig,
    *,
    column: Hashable = "text",
    exact: bool = False,
    count_all: bool = False,
    on_bad: str = "raise",
) -> JobResult:
    """Embed ``values`` (one per row) as ``config`` says.

    Pieces already in the cache are not sent. Every successful response is handed to the
    cache's writer at once and written on its thread while sending goes on, so a crash
    loses at most the requests in flight and the answers waiting to be written (a bounded
    amount); the job waits for those writes before it returns or raises.
    """
    started = time.perf_counter()
    # Off the event loop: against a self-hosted server it asks about the model (discovery).
    backend = await asyncio.to_thread(resolve_backend, config)
    config = backend.config
    tokenizer = backend.tokenizer
    plan = plan_for(
        values,
        labels,
        backend,
        column=column,
        exact=exact,
        on_bad=on_bad,
        count_all=count_all or config.tokens_per_minute is not None,
    )
    store = open_cache(config)
    # An empty cache has nothing to look up: the keys are then hashed on the cache writer's
    # thread as the answers arrive, not on the event loop before the first request.
    lookup = store is not None and not store.is_empty()
    keys = piece_key_array(config, plan.pieces) if lookup else None
    pieces, found = _from_cache(store, keys, len(plan.pieces))
    todo = np.flatnonzero(~found)
    batches, bound, exact_counts = pack_pieces(plan, todo, config, tokenizer)
    piece_bound = plan.piece_bound.copy()
    piece_bound[todo] = bound
    stats = SendStats()
    if batches:
        writer = None
        if store is not None:
            key_source = keys if keys is not None else _keys_of_pieces(config, plan.pieces)
            writer = CacheWriter(store, key_source, max_waiting=config.concurrency)
        sending = Sending(plan, config, piece_bound, writer, on_bad, request_limits(config))
        sending.server_window, sending.window_source = backend.server_window, backend.window_source
        sending.server_counts_tokens = backend.server_kind is not None
        sending.exact = plan.piece_exact.copy()
        sending.exact[todo] = exact_counts
        sending.count = lambda i: len(tokenizer.encode_ordinary(plan.pieces[i]))
        try:
            pieces, stats = await sending.run(batches, backend.transport, pieces)
        finally:
            if writer is not None:  # what was paid for is written, whatever happened
                await writer.aclose()
        mark_refused(plan, sending.refused)
        if store is not None and store.shard_count() > COMPACT_OVER_SHARDS:
            await asyncio.to_thread(store.compact)
    if pieces is None:
        dim = config.expected_dimensions
        if dim is None:
            raise InputError(
                f"column {column!r} has no text to embed and the size of {config.model!r}'s vectors "
                "is not known; pass dimensions=... to get an all-null vector column"
            )
        pieces = np.zeros((0, dim), dtype=np.float32)
    texts = texts_from_pieces(pieces, plan)
    rows, valid = rows_from_texts(texts, plan.row_text)
    if stats.usage_missing or not stats.requests:
        tokens = count_tokens(plan, todo, bound, exact_counts, tokenizer)
    else:
        tokens = stats.usage_tokens
    job = JobStats(
        rows=plan.n_rows,
        null_rows=int((plan.row_text == NULL).sum()),
        empty_rows=int((plan.row_text == EMPTY).sum()),
        error_rows=int((plan.row_text == ERROR).sum()),
        distinct_texts=len(plan.texts),
        chunked_texts=int(plan.chunked.sum()),
        truncated_texts=int(plan.truncated.sum()),
        pieces=len(plan.pieces),
        cache_hits=int(found.sum()),
        requests=stats.requests,
        retries=stats.retries,
        rate_limited=stats.rate_limited,
        tokens_sent=stats.tokens_sent,
        tokens=tokens,
        seconds=time.perf_counter() - started,
        backend=backend.description,
        model=str(config.model),
    )
    log.info(
        "embedded %d rows in %d requests (%d tokens, %d cache hits, %.1f s)",
        job.rows,
        job.requests,
        job.tokens,
        job.cache_hits,
        job.seconds,
    )
    return JobResult(plan, pieces, rows, valid, job, config)


def plan_for(
    values: npt.NDArray[np.object_],
    labels: Labels,
    backend: Backend,
    *,
    column: Hashable,
    on_bad: str,
    exact: bool = False,
    count_all: bool = False,
    byte_bound: bool | None = None,
) -> Plan:
    """The plan for ``values`` under ``backend``'s config: the one place config becomes
    planning, so a job, its estimate and Dask's look-ahead always agree."""
    cfg = backend.config
    return make_plan(
        values,
        labels,
        backend.tokenizer,
        column=column,
        limit=cfg.input_limit,
        window=cfg.window,
        overlap=cfg.chunk_overlap,
        # A model whose window is unknown is never chunked at a guessed size: longer texts
        # are refused before anything is sent, naming the option that makes them work.
        long_text=cfg.long_text if cfg.window_known else "error",
        long_hint=None if cfg.window_known else _unknown_window_hint(cfg),
        empty=cfg.empty,
        exact=exact,
        on_bad=on_bad,
        byte_bound=backend.byte_bound if byte_bound is None else byte_bound,
        count_all=count_all,
    )


def _unknown_window_hint(cfg: EmbedConfig) -> str:
    return (
        f"the window of {cfg.model!r} is not known (not in the model table, and the server did not "
        f"say), so only texts of up to {cfg.input_limit} tokens, the smallest common window, are sent. "
        f"Pass max_input_tokens={cfg.input_limit} to chunk longer texts at that window (safe for the "
        "popular models), or the model's own window less its special tokens (510 for a 512-position "
        "BERT model), or details=True to skip these rows"
    )


def _from_cache(
    store: VectorCache | None, keys: npt.NDArray[np.uint64] | None, n: int
) -> tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.bool_]]:
    """The piece matrix with cached rows filled (``None`` if nothing was cached), and which."""
    if store is None or keys is None or n == 0:
        return None, np.zeros(n, dtype=bool)
    found, cached = store.get(keys)
    if cached is None or not found.any():
        return None, np.zeros(n, dtype=bool)
    return cached, found


@dataclass(frozen=True)
class RequestLimits:
    """How much one request may hold."""

    max_inputs: int
    max_tokens: int
    """Tokens per request: ``max_tokens_per_request``, and under ``tokens_per_minute`` a
    quarter of a second's budget (:func:`~embedframe._wire.limits.paced_request_tokens`),
    so requests are paced; a piece larger than that goes alone."""
    first_tokens: int | None = None
    """Tokens in the first request, when the token budget is to be learned from the
    server's headers (no ``tokens_per_minute``): a small probe sent alone."""


ANSWER_BYTES = 4 << 20
"""Vector bytes one answer holds at most, unless the user sets ``max_inputs_per_request``.

Each answer in flight is received into a buffer of its own (its base64 is 4/3 of this), and
eight connections receive at once: at 2048 inputs of 1536-d that was 8 x 17 MiB held beside
the result matrix. Capped at 4 MiB (682 inputs of 1536-d, 1024 of 1024-d, 2048 below 512-d)
the buffers hold ~45 MiB, and ``benchmarks/bench_throughput.py`` measured the job no slower
(100,000 texts: peak RSS 870 MiB against 980, 1.10-1.14 s against 1.15-1.19 s with the
cache off). Request budgets are not at stake: a request of 682 inputs is far above the
tokens per request that any provider's requests-per-minute ratio asks for."""


def request_limits(config: EmbedConfig) -> RequestLimits:
    """The per-request limits ``config`` sets: the one place they are derived, for the job,
    its estimate and Dask's look-ahead alike."""
    max_tokens = config.max_tokens_per_request
    paced = paced_request_tokens(config.tokens_per_minute, config.requests_per_minute)
    if paced is not None:
        max_tokens = min(max_tokens, paced)
    first = PROBE_TOKENS if config.tokens_per_minute is None else None
    max_inputs = config.max_inputs_per_request
    dim = config.expected_dimensions
    if dim and not config.is_set("max_inputs_per_request"):
        max_inputs = max(1, min(max_inputs, ANSWER_BYTES // (4 * dim)))
    return RequestLimits(max_inputs, max_tokens, first)


def pack_pieces(
    plan: Plan, todo: npt.NDArray[np.int64], config: EmbedConfig, tokenizer: Tokenizer
) -> tuple[list[Batch], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The requests that send pieces ``todo`` of ``plan``, with each piece's token bound and
    whether that bound is exact (pieces are tokenized only where a bound would close a
    request early). The same packing for the job, its estimate and Dask's look-ahead."""
    bound = plan.piece_bound[todo].copy()
    exact = plan.piece_exact[todo].copy()
    limits = request_limits(config)

    def count(i: int) -> int:
        return len(tokenizer.encode_ordinary(plan.pieces[int(todo[i])]))

    packed = pack(bound, exact, max_inputs=limits.max_inputs, max_tokens=limits.max_tokens, count=count)
    if limits.first_tokens is not None and packed and packed[0].tokens > limits.first_tokens:
        # the probe: the first batch's head, up to first_tokens; its tail stays one request
        n = len(packed[0].pieces)  # the first batch is todo's first n pieces
        head = pack(bound[:n], exact[:n], max_inputs=n, max_tokens=limits.first_tokens, count=count)[0]
        if len(head.pieces) < n:
            rest = np.arange(len(head.pieces), n, dtype=np.int64)
            packed[:1] = [head, Batch(rest, int(bound[len(head.pieces) : n].sum()))]
    batches = [Batch(todo[b.pieces], b.tokens) for b in packed]
    return batches, bound, exact


def count_tokens(
    plan: Plan,
    todo: npt.NDArray[np.int64],
    bound: npt.NDArray[np.int64],
    exact: npt.NDArray[np.bool_],
    tokenizer: Tokenizer,
) -> int:
    """Exact tokens of pieces ``todo`` (bounds where exact, else counted now, in one batch)."""
    return sum(
        token_counts_or_bounds(tokenizer, bound.tolist(), exact.tolist(), lambda i: plan.pieces[int(todo[i])])
    )


_open_caches: dict[str, VectorCache] = {}
_open_caches_lock = threading.Lock()


def open_cache(config: EmbedConfig) -> VectorCache | None:
    """The job's vector cache, or ``None`` when caching is off.

    One instance per location (directory, or URL and storage options) and process, so its
    index of keys is built once and then only extended with shards written since (by this
    process or others).
    """
    where = config.storage
    key = where.key
    if key is None:
        return None
    with _open_caches_lock:
        store = _open_caches.get(key)
        if store is None:
            from ..cache import VectorCache

            location = where.url if where.url is not None else where.directory
            assert location is not None
            store = _open_caches[key] = VectorCache(location, storage_options=where.storage_options)
    return store


def piece_keys(config: EmbedConfig, pieces: list[str]) -> list[bytes]:
    """The cache key of each piece: what is sent, to which model, asking for which size."""
    from ..cache import VectorCache

    return VectorCache.keys(namespace=_cache_namespace(config), texts=pieces)


def piece_key_array(config: EmbedConfig, pieces: list[str]) -> npt.NDArray[np.uint64]:
    """:func:`piece_keys` as one ``(n, 4)`` uint64 array (no Python object per key)."""
    from ..cache import VectorCache

    return VectorCache.key_array(namespace=_cache_namespace(config), texts=pieces)


def _keys_of_pieces(
    config: EmbedConfig, pieces: list[str]
) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.uint64]]:
    """The cache keys of some of ``pieces``, by index (the namespace made once)."""
    from ..cache import VectorCache

    namespace = _cache_namespace(config)

    def keys_of(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        return VectorCache.key_array(namespace=namespace, texts=[pieces[i] for i in ids.tolist()])

    return keys_of


def _cache_namespace(config: EmbedConfig) -> str:
    from ..cache import VectorCache

    return VectorCache.namespace(
        base_url=config.base_url or OPENAI_BASE_URL,
        model=str(config.model),
        dimensions=config.dimensions,
        encoding=config.tokenizer_key,
        long_text=config.long_text,
    )
