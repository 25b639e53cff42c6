"""One embedding job, end to end: plan, pack, send concurrently, put back together.

The only async implementation; the sync API wraps it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass

import httpx
import numpy as np
import numpy.typing as npt

from ._combine import rows_from_texts, texts_from_pieces
from ._http import Sender, SendStats, make_client
from ._pack import Batch, pack
from ._plan import Labels, Plan, make_plan
from ._progress import Progress
from ._tokenizer import Tokenizer, get_tokenizer
from .config import EmbedConfig
from .errors import ConfigError, EmbedFrameError, InputError, ResponseError

__all__ = ["JobResult", "JobStats", "run_job"]

log = logging.getLogger("embedframe")


@dataclass(frozen=True)
class JobStats:
    """What one job did."""

    rows: int
    null_rows: int
    empty_rows: int
    distinct_texts: int
    chunked_texts: int
    truncated_texts: int
    pieces: int
    requests: int
    retries: int
    rate_limited: int
    tokens: int
    """Tokens billed: the servers' ``usage`` where given, else counted here."""
    seconds: float


@dataclass(frozen=True)
class JobResult:
    plan: Plan
    pieces: npt.NDArray[np.float32]
    """One vector per piece (chunk)."""
    rows: npt.NDArray[np.float32]
    """One vector per row; zeros where ``valid`` is false."""
    valid: npt.NDArray[np.bool_]
    stats: JobStats


def _check_endpoint(config: EmbedConfig) -> None:
    if config.api_key is None and config.base_url is None:
        raise ConfigError(
            "no API key and no server: set OPENAI_API_KEY (or pass api_key=...) to use OpenAI, "
            "or pass base_url=... (or set OPENAI_BASE_URL) for a compatible server"
        )


async def run_job(
    values: npt.NDArray[np.object_],
    labels: Labels,
    config: EmbedConfig,
    *,
    column: Hashable = "text",
    exact: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> JobResult:
    """Embed ``values`` (one per row) as ``config`` says."""
    started = time.perf_counter()
    tokenizer = get_tokenizer(config.tokenizer_name)
    plan = make_plan(
        values,
        labels,
        tokenizer,
        column=column,
        limit=config.input_limit,
        window=config.window,
        overlap=config.chunk_overlap,
        long_text=config.long_text,
        empty=config.empty,
        exact=exact,
    )
    bound = plan.piece_bound.copy()
    exact_counts = plan.piece_exact.copy()
    batches = pack(
        bound,
        exact_counts,
        max_inputs=config.max_inputs_per_request,
        max_tokens=config.max_tokens_per_request,
        count=lambda p: len(tokenizer.encode_ordinary(plan.pieces[p])),
    )
    dim = config.dimensions or config.model_info.dimensions
    pieces: npt.NDArray[np.float32] | None = None
    stats = SendStats()
    if batches:
        _check_endpoint(config)
        pieces, stats = await _send_all(plan, batches, config, transport)
        dim = pieces.shape[1]
    if pieces is None:
        if dim is None:
            raise InputError(
                f"column {column!r} has no text to embed and the size of {config.model!r}'s vectors "
                "is not known; pass dimensions=... to get an all-null vector column"
            )
        pieces = np.zeros((0, dim), dtype=np.float32)
    texts = texts_from_pieces(pieces, plan)
    rows, valid = rows_from_texts(texts, plan.row_text)
    if stats.usage_missing or not stats.requests:
        tokens = _count_tokens(plan, bound, exact_counts, tokenizer)
    else:
        tokens = stats.usage_tokens
    job = JobStats(
        rows=plan.n_rows,
        null_rows=int((plan.row_text == -1).sum()),
        empty_rows=int((plan.row_text == -2).sum()),
        distinct_texts=len(plan.texts),
        chunked_texts=int(plan.chunked.sum()),
        truncated_texts=int(plan.truncated.sum()),
        pieces=len(plan.pieces),
        requests=stats.requests,
        retries=stats.retries,
        rate_limited=stats.rate_limited,
        tokens=tokens,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "embedded %d rows in %d requests (%d tokens, %.1f s)", job.rows, job.requests, job.tokens, job.seconds
    )
    return JobResult(plan, pieces, rows, valid, job)


def _count_tokens(
    plan: Plan, bound: npt.NDArray[np.int64], exact: npt.NDArray[np.bool_], tokenizer: Tokenizer
) -> int:
    """Tokens sent, counted here (for servers that give no ``usage``)."""
    total = int(bound[exact].sum())
    for p in np.flatnonzero(~exact).tolist():
        total += len(tokenizer.encode_ordinary(plan.pieces[p]))
    return total


def _piece_rows(plan: Plan) -> npt.NDArray[np.float64]:
    """How many rows each piece stands for (chunks share their text's rows), for progress."""
    valid = plan.row_text[plan.row_text >= 0]
    rows_per_text = np.bincount(valid, minlength=len(plan.texts)).astype(np.float64)
    refs_per_text = np.diff(plan.ref_start)
    weights = np.repeat(rows_per_text / np.maximum(refs_per_text, 1), refs_per_text)
    out = np.zeros(len(plan.pieces), dtype=np.float64)
    np.add.at(out, plan.ref_piece, weights)
    return out


async def _send_all(
    plan: Plan, batches: list[Batch], config: EmbedConfig, transport: httpx.AsyncBaseTransport | None
) -> tuple[npt.NDArray[np.float32], SendStats]:
    queue: asyncio.Queue[Batch] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    holder: dict[str, npt.NDArray[np.float32]] = {}
    piece_rows = _piece_rows(plan)
    n_pieces = len(plan.pieces)
    progress = Progress(
        total_rows=plan.n_rows,
        done_rows=float(plan.n_rows - piece_rows.sum()),
        enabled=config.progress,
    )
    async with make_client(config, transport) as client:
        sender = Sender(config, client)

        async def worker() -> None:
            while True:
                try:
                    batch = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                decoded = await sender.embed([plan.pieces[i] for i in batch.pieces.tolist()])
                matrix = holder.get("m")
                if matrix is None:
                    matrix = holder["m"] = np.empty((n_pieces, decoded.vectors.shape[1]), dtype=np.float32)
                elif decoded.vectors.shape[1] != matrix.shape[1]:
                    raise ResponseError(
                        f"the server changed vector size mid-job: {matrix.shape[1]} then "
                        f"{decoded.vectors.shape[1]}; pass dimensions=... to pin it"
                    )
                matrix[batch.pieces] = decoded.vectors
                progress.advance(float(piece_rows[batch.pieces].sum()), sender.stats.usage_tokens)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(config.concurrency, len(batches))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            raise _first_error(group_error) from None
        finally:
            progress.close()
    return holder["m"], sender.stats


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to show from a failed task group: ours first, then anything else."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    for exc in flat:
        if isinstance(exc, EmbedFrameError):
            return exc
    return flat[0]
