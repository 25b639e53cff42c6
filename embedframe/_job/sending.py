"""Sending a job's batches: concurrent workers, size learning, bad-row isolation.

The I/O half of a job (the pure half is plan, pack and combine): workers take batches
from a queue, send them through a :class:`~embedframe._wire.http.Sender`, fill the piece
matrix and commit every answer to the cache. A request refused for its size is cut to
the limit the server states (else halved) and that limit kept; with ``on_bad="mark"`` a
request refused for its content is narrowed down to the piece the server refuses.
What a refusal means is read by :mod:`embedframe._wire.refusals`.

Longer than most modules: the worker loop, its reactions to each kind of refusal and its
stop (on a failure or the caller's cancellation) share the queue and the piece matrix;
split apart they would pass that state around.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import numpy as np
import numpy.typing as npt

from .._core.memory import empty_matrix
from .._core.pack import Batch, pack
from .._core.plan import ERROR, Plan
from .._core.tokenizer import token_counts_or_bounds
from .._wire.http import SIZE_FIX, SIZE_SOURCE, Sender, SendStats, make_client
from .._wire.refusals import (
    REQUESTED_TOKENS,
    STATED_INPUT_TOKENS,
    STATED_INPUTS,
    STATED_TOKENS,
    hinted,
    input_too_long,
    stated,
    too_large,
)
from .._wire.transport import WireTransport, make_transport
from ..config import EmbedConfig, uses_environment_proxy
from ..errors import BadRequestError, EmbedFrameError, InputError, ResponseError, VectorSizeError
from .progress import Progress
from .tokenizers import RemoteTokenizer

if TYPE_CHECKING:
    from .._storage.cachewriter import CacheWriter
    from .engine import RequestLimits

__all__ = ["Sending", "mark_refused"]

log = logging.getLogger("embedframe")


def _piece_rows(plan: Plan) -> npt.NDArray[np.float64]:
    """How many rows each piece stands for (chunks share their text's rows), for progress."""
    valid = plan.row_text[plan.row_text >= 0]
    rows_per_text = np.bincount(valid, minlength=len(plan.texts)).astype(np.float64)
    refs_per_text = np.diff(plan.ref_start)
    weights = np.repeat(rows_per_text / np.maximum(refs_per_text, 1), refs_per_text)
    out = np.zeros(len(plan.pieces), dtype=np.float64)
    np.add.at(out, plan.ref_piece, weights)
    return out


def mark_refused(plan: Plan, refused: dict[int, str]) -> None:
    """Rows whose text needs a piece the server refused become bad rows (``ERROR``)."""
    if not refused:
        return
    pieces = np.fromiter(refused, dtype=np.int64, count=len(refused))
    for t in range(len(plan.texts)):
        refs = plan.ref_piece[plan.ref_start[t] : plan.ref_start[t + 1]]
        hit = refs[np.isin(refs, pieces)]
        if len(hit):
            for row in np.flatnonzero(plan.row_text == t).tolist():
                plan.row_errors[row] = f"refused by the server: {refused[int(hit[0])]}"
                plan.row_text[row] = ERROR


class Sending:
    """Sends a job's batches with ``config.concurrency`` workers and fills the piece matrix.

    A request refused for its size is cut to the limit the server's message states (else
    split in two) and the smaller size is kept for the rest of the job (servers such as
    TEI take 32 inputs). With ``on_bad="mark"`` a 400 for the content (or an input over
    the server's context length) is narrowed down by halving until the piece the server
    refuses is found; that piece's rows become bad rows and the job goes on.
    """

    def __init__(
        self,
        plan: Plan,
        config: EmbedConfig,
        bound: npt.NDArray[np.int64],
        cache: CacheWriter | None,
        on_bad: str,
        limits: RequestLimits,
    ) -> None:
        self.plan = plan
        self.config = config
        self.bound = bound
        self.cache = cache
        self.on_bad = on_bad
        self.max_inputs = limits.max_inputs
        self.max_tokens = limits.max_tokens
        self.refused: dict[int, str] = {}
        self.queue: asyncio.Queue[Batch] = asyncio.Queue()
        self.matrix: npt.NDArray[np.float32] | None = None
        self._guessed = False
        """Whether ``matrix`` was allocated at a guessed size and holds no row yet."""
        self.failure: Exception | None = None
        self.server_window: int | None = None
        """Tokens of text the server said it reads (discovery); a longer piece is never sent."""
        self.window_source = ""
        self.server_counts_tokens = False
        """Whether the server's ``usage`` counts the model's tokens it read (discovered TEI,
        vLLM, llama.cpp, Ollama): fewer than the inputs hold means it cut some short."""
        self.exact: npt.NDArray[np.bool_] | None = None
        """Which of ``bound`` are exact token counts; with ``count`` (a piece's tokens), a
        request under a token budget is counted exactly before it is cut and charged."""
        self.count: Callable[[int], int] | None = None

    def _batch(self, ids: npt.NDArray[np.int64]) -> Batch:
        return Batch(ids, int(self.bound[ids].sum()))

    def _counted(self, batch: Batch) -> Batch:
        """``batch`` with exact token counts: under a token budget a request is cut and
        charged by what it holds, not by an upper bound (a byte length)."""
        if self.exact is None or self.count is None:
            return batch
        loose = batch.pieces[~self.exact[batch.pieces]]
        if not len(loose):
            return batch
        for i in loose.tolist():
            self.bound[i] = self.count(i)
        self.exact[loose] = True
        return self._batch(batch.pieces)

    def _fit(self, batch: Batch, paced: int | None = None) -> list[Batch]:
        """``batch`` cut to the limits learned so far (and to ``paced`` tokens, the rate
        budget's cap on one request)."""
        max_tokens = self.max_tokens
        if paced is not None:
            max_tokens = min(max_tokens, paced)
            batch = self._counted(batch)
        if len(batch.pieces) <= self.max_inputs and batch.tokens <= max_tokens:
            return [batch]
        parts = pack(  # a piece over max_tokens goes alone
            self.bound[batch.pieces].copy(),
            np.ones(len(batch.pieces), dtype=bool),
            max_inputs=self.max_inputs,
            max_tokens=max_tokens,
            count=lambda i: int(self.bound[batch.pieces[i]]),
        )
        return [self._batch(batch.pieces[p.pieces]) for p in parts]

    def _shrink(self, error: BadRequestError, batch: Batch) -> None:
        """The server refused ``batch`` as too large: send less per request from now on (the
        limit its message states, else half) and queue the batch again to be cut to it."""
        inputs = stated(STATED_INPUTS, error.message)
        tokens = stated(STATED_TOKENS, error.message)
        if inputs is not None and 0 < inputs < len(batch.pieces):
            self.max_inputs = min(self.max_inputs, inputs)
        elif tokens is not None and 0 < tokens < batch.tokens:
            self.max_tokens = min(self.max_tokens, tokens)
        else:
            self.max_inputs = min(self.max_inputs, max(1, len(batch.pieces) // 2))
            self.max_tokens = min(self.max_tokens, max(1, batch.tokens // 2))
        log.warning(
            "the server refused %d inputs (%d tokens) as too large; sending at most %d inputs and %d "
            "tokens per request from now on",
            len(batch.pieces),
            batch.tokens,
            self.max_inputs,
            self.max_tokens,
        )
        parts = self._fit(batch)
        if len(parts) == 1:  # the limits did not cut it (bounds already lower): halve it
            self._halve(batch)
        else:
            for part in parts:
                self.queue.put_nowait(part)

    def _halve(self, batch: Batch) -> None:
        half = len(batch.pieces) // 2
        self.queue.put_nowait(self._batch(batch.pieces[:half]))
        self.queue.put_nowait(self._batch(batch.pieces[half:]))

    async def run(
        self,
        batches: list[Batch],
        transport: httpx.AsyncBaseTransport | None,
        matrix: npt.NDArray[np.float32] | None,
    ) -> tuple[npt.NDArray[np.float32], SendStats]:
        for batch in batches:
            self.queue.put_nowait(batch)
        self.matrix = matrix
        dim = self.config.expected_dimensions
        if matrix is None and dim is not None:
            # The expected size is known before any answer: allocate (and start mapping)
            # now, so every answer decodes straight into its rows. Until a row is stored
            # it is only a guess (a server may serve a known name at another size).
            self.matrix = empty_matrix(len(self.plan.pieces), dim)
            self._guessed = True
        piece_rows = _piece_rows(self.plan)
        pending = float(sum(piece_rows[b.pieces].sum() for b in batches))
        progress = Progress(
            total_rows=self.plan.n_rows,
            done_rows=self.plan.n_rows - pending,
            enabled=self.config.progress,
            requests=len(batches),
        )
        wire = transport
        if wire is None and not uses_environment_proxy(self.config.endpoint):
            wire = make_transport(self.config.concurrency)  # else httpx's own, through the proxy
        async with make_client(self.config, wire) as client:
            sender = Sender(
                self.config, client, recycle=wire.recycle if isinstance(wire, WireTransport) else None
            )
            if matrix is not None:
                sender.dim = matrix.shape[1]
            workers: list[asyncio.Task[None]] = []

            async def worker() -> None:
                while not self.queue.empty() and self.failure is None:
                    try:
                        done = await self._one(sender, self.queue.get_nowait())
                    except Exception as error:
                        self._fail(error, sender, workers)
                        return
                    if done is not None:
                        progress.advance(float(piece_rows[done].sum()), sender.stats.usage_tokens)

            async def crew() -> None:
                async with asyncio.TaskGroup() as group:
                    for _ in range(min(self.config.concurrency, len(batches))):
                        workers.append(group.create_task(worker()))

            team = asyncio.create_task(crew())
            try:
                await asyncio.shield(team)
            except asyncio.CancelledError:
                await self._stop_for_caller(team, sender, workers)
                raise
            except BaseExceptionGroup as group_error:
                raise _first_error(group_error) from None
            finally:
                progress.close()
        if self.failure is not None:
            raise self.failure
        if self.matrix is None:  # every piece was refused
            dim = self.config.expected_dimensions or 1
            self.matrix = np.zeros((len(self.plan.pieces), dim), dtype=np.float32)
        for pid in self.refused:
            self.matrix[pid] = 0
        return self.matrix, sender.stats

    async def _stop_for_caller(
        self, team: asyncio.Task[None], sender: Sender, workers: list[asyncio.Task[None]]
    ) -> None:
        """The caller cancelled the job (Ctrl-C, an interrupted kernel, a timeout): as on a
        failure nothing more is sent, and the requests on the wire finish into the cache
        (they are paid for). Cancelling again while they finish cuts them short too."""
        self._fail(_Stopped("the job was cancelled"), sender, workers)
        with contextlib.suppress(Exception):  # the caller's cancellation is what goes on
            await team

    def _fail(self, error: Exception, sender: Sender, workers: list[asyncio.Task[None]]) -> None:
        """The job fails with its first error. Nothing more is sent; requests already on the
        wire finish and their answers are kept in the cache (they are paid for), the other
        workers stop now."""
        if self.failure is not None:
            return
        self.failure = error
        sender.stop()
        for task in workers:
            busy = sender.posting(task)
            if task is not asyncio.current_task() and not busy:
                task.cancel()

    async def _one(self, sender: Sender, batch: Batch) -> npt.NDArray[np.int64] | None:
        """Send one batch (cut to the limits, its other parts queued); the pieces it completed, if any."""
        parts = self._fit(batch, await sender.limiter.request_tokens())
        for part in parts[1:]:
            self.queue.put_nowait(part)
        batch = parts[0]
        over = self._over_server_window(batch)
        if len(over):
            batch = self._batch(np.setdiff1d(batch.pieces, over))
            if not len(batch.pieces):
                return None
        ids = batch.pieces.tolist()
        try:
            decoded = await sender.embed(
                [self.plan.pieces[i] for i in ids], batch.tokens, lambda: self._rows(batch)
            )
        except BadRequestError as error:
            if too_large(error) and len(ids) > 1:
                self._shrink(error, batch)
                return None
            if self.on_bad == "mark" and error.status in (400, 413, 422):
                if len(ids) > 1:
                    self._halve(batch)
                else:
                    self.refused[ids[0]] = error.message
                return None
            if input_too_long(error):
                raise hinted(
                    error,
                    f"the server takes fewer tokens per input than max_input_tokens="
                    f"{self.config.input_limit}: pass max_input_tokens={self._working_limit(error, batch)} "
                    "so longer texts are chunked, or details=True to skip the rows it refuses",
                ) from error
            if not too_large(error) and error.status in (400, 422):
                raise hinted(
                    error,
                    f"the request held {len(ids)} input(s); pass details=True to find the rows the "
                    "server refuses, skip them and go on",
                ) from error
            raise
        self._check_usage(batch, decoded.prompt_tokens)
        self._store(batch, decoded.vectors)
        if self.cache is not None:
            # Handed over at once (a paid answer is never dropped), written by the cache's
            # own thread while this worker sends on; it waits only if the disk falls behind.
            self.cache.submit(batch.pieces, decoded.vectors)
            await self.cache.room()
        return batch.pieces

    def _over_server_window(self, batch: Batch) -> npt.NDArray[np.int64]:
        """Pieces of ``batch`` longer than the server said it reads (only possible when
        ``max_input_tokens=`` is over that): never sent, since a server such as TEI, Ollama or
        Infinity would embed their start alone. Refused pieces (``details=True``), else an error."""
        window = self.server_window
        if window is None or not len(batch.pieces) or int(self.bound[batch.pieces].max()) <= window:
            return np.zeros(0, dtype=np.int64)
        longer = batch.pieces[self.bound[batch.pieces] > window].tolist()
        counts = {pid: n for pid, n in zip(longer, self._tokens(longer), strict=True) if n > window}
        if not counts:
            return np.zeros(0, dtype=np.int64)
        message = (
            f"{max(counts.values())} tokens, over the {window} tokens of text the server reads "
            f"({self.window_source}); it would embed the start alone. Leave max_input_tokens unset, or "
            f"pass max_input_tokens={window}, so long texts are chunked to fit"
        )
        if self.on_bad != "mark":
            rows = _rows_of_pieces(self.plan, list(counts))
            raise InputError(f"row position(s) {', '.join(map(str, rows[:5]))}: a piece of {message}")
        for pid in counts:
            self.refused[pid] = message
        return np.fromiter(counts, dtype=np.int64, count=len(counts))

    def _tokens(self, pieces: list[int]) -> list[int]:
        """Each piece's tokens: its bound where that is exact (or nothing can count), else
        counted now, in one batch."""
        return token_counts_or_bounds(
            self.config.tokenizer,
            self.bound[pieces].tolist(),
            self.plan.piece_exact[pieces].tolist(),
            lambda i: self.plan.pieces[pieces[i]],
        )

    def _check_usage(self, batch: Batch, prompt_tokens: int | None) -> None:
        """A server that counts the model's tokens and reports fewer than the inputs hold
        (plus its special tokens) has truncated some: an error, never vectors (they would
        stand for the start of their texts). The hint's ``max_input_tokens`` works: the
        longest inputs (chunks are all window-long) are assumed to share the loss."""
        tokenizer = self.config.tokenizer
        if (
            not self.server_counts_tokens
            or prompt_tokens is None
            or not hasattr(tokenizer, "encode_ordinary")
        ):
            return
        if isinstance(tokenizer, RemoteTokenizer) and not self.plan.piece_exact[batch.pieces].all():
            return  # counting again would cost a request per input
        counts = self._tokens(batch.pieces.tolist())
        specials = getattr(tokenizer, "special_tokens", 0)
        expected = sum(counts) + len(counts) * (specials if isinstance(specials, int) else 0)
        if prompt_tokens >= sum(counts):  # not below the text's own tokens: in case a server
            return  # leaves its special tokens out of usage, only a clear loss counts
        longest = max(counts)
        works = longest - -(-(expected - prompt_tokens) // counts.count(longest))
        raise ResponseError(
            f"the server read {prompt_tokens} tokens (its usage) of {len(counts)} input(s) holding "
            f"{expected}: it cut some short instead of refusing them, so their vectors would stand for "
            f"their start alone. It reads fewer tokens than {self.window_source or 'max_input_tokens'} "
            f"says: pass max_input_tokens={max(1, works)} so long texts are chunked to fit"
        )

    def _working_limit(self, error: BadRequestError, batch: Batch) -> str:
        """A ``max_input_tokens`` that would have worked, from the limit the server's message
        states, less what the server adds to a text's own tokens: the model's special tokens,
        or what its count of the longest input ("you requested N tokens") exceeds ours by."""
        limit = stated(STATED_INPUT_TOKENS, error.message)
        if limit is None:
            return f"(a value below {self.config.input_limit})"
        specials = getattr(self.config.tokenizer, "special_tokens", None)
        if not isinstance(specials, int):
            specials = self.config.model_info.special_tokens
        asked = stated(REQUESTED_TOKENS, error.message)
        tokenizer = self.config.tokenizer
        if asked is not None and hasattr(tokenizer, "encode_ordinary"):
            longest = self.plan.pieces[int(batch.pieces[int(np.argmax(self.bound[batch.pieces]))])]
            ours = len(tokenizer.encode_ordinary(longest))  # type: ignore[union-attr]
            specials = max(0, asked - ours) if asked >= ours else specials
        return str(max(1, min(limit - specials, self.config.input_limit - 1)))

    def _rows(self, batch: Batch) -> npt.NDArray[np.float32] | None:
        """The batch's rows of the piece matrix, to decode into, when they are one run."""
        first, last = int(batch.pieces[0]), int(batch.pieces[-1])
        if self.matrix is None or last - first + 1 != len(batch.pieces):
            return None
        return self.matrix[first : last + 1]

    def _store(self, batch: Batch, vectors: npt.NDArray[np.float32]) -> None:
        m = self.matrix
        first, last = int(batch.pieces[0]), int(batch.pieces[-1])
        if m is not None and self._guessed and vectors.shape[1] != m.shape[1]:
            m = None  # the size guessed from the model's name was wrong; nothing stored yet
        self._guessed = False
        if m is None:
            # Uninitialised (every row gets written), mapped ahead in the background.
            m = self.matrix = empty_matrix(len(self.plan.pieces), vectors.shape[1], start_row=last + 1)
        elif vectors.shape[1] != m.shape[1]:
            raise VectorSizeError(vectors.shape[1], m.shape[1], source=SIZE_SOURCE, fix=SIZE_FIX)
        if last - first + 1 == len(batch.pieces):  # a contiguous run: a plain copy, no gather
            if not np.may_share_memory(vectors, m):  # else decoded in place already
                m[first : last + 1] = vectors
        else:
            m[batch.pieces] = vectors


class _Stopped(Exception):
    """The failure a job is marked with when its caller cancelled it (never raised to the caller)."""


def _rows_of_pieces(plan: Plan, pieces: list[int]) -> list[int]:
    """Positions of the rows whose text uses any of ``pieces``."""
    texts = [
        t
        for t in range(len(plan.texts))
        if np.isin(plan.ref_piece[plan.ref_start[t] : plan.ref_start[t + 1]], pieces).any()
    ]
    return np.flatnonzero(np.isin(plan.row_text, texts)).tolist()


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
