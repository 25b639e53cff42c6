"""Batch mode: embed a table through OpenAI's Batch API, at half the price, for jobs that can wait.

``df.embed("text", batch=True)`` blocks until done; ``df.embed.submit("text")`` returns a
:class:`BatchJob` at once, which this or another process gets back by id with
:func:`batch_job` (``status()``, ``wait()``, ``result()``, ``cancel()``). Texts already in
the vector cache are not sent, duplicates are sent once, and finished batches' vectors go
into the cache, so the result is assembled exactly as an online job's is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._core.batchfile import MAX_INPUTS_PER_BATCH, batch_usd
from ._job.backend import resolve_backend
from ._job.batch_flow import (
    PLANNING_FIELDS,
    advance,
    cancel,
    check_batch_config,
    jobs_root,
    plan_job,
    prepare,
    public_fields,
)
from ._job.batch_state import JobFiles, JobState
from ._job.engine import open_cache, piece_keys
from ._job.sync import run_sync
from .config import EmbedConfig, resolve_config
from .errors import BatchError, ConfigError
from .models import model_info

__all__ = [
    "BatchJob",
    "BatchOptions",
    "BatchStatus",
    "abatch_job",
    "aembed_column_batch",
    "asubmit",
    "batch_job",
    "embed_column_batch",
    "submit",
]


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """How a batch job is cut into batches and how often it is polled."""

    poll_interval: float = 15.0
    """Seconds between status checks at first; the wait grows to ``max_poll_interval``."""
    max_poll_interval: float = 300.0
    max_batch_inputs: int = MAX_INPUTS_PER_BATCH
    """Inputs per batch (OpenAI's limit for embeddings is 50,000)."""
    max_batch_tokens: int | None = None
    """Tokens per batch, e.g. your model's batch queue limit; ``None``: no cap (the queue
    limit is then learnt from the server's refusals)."""
    max_resubmits: int = 3
    """How often the unfinished lines of an expired batch are sent again."""

    def __post_init__(self) -> None:
        for name in ("poll_interval", "max_poll_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if (
            isinstance(self.max_batch_inputs, bool)
            or not isinstance(self.max_batch_inputs, int)
            or not 1 <= self.max_batch_inputs <= MAX_INPUTS_PER_BATCH
        ):
            raise ConfigError(
                f"max_batch_inputs must be an integer from 1 to {MAX_INPUTS_PER_BATCH}, got {self.max_batch_inputs!r}"
            )
        if self.max_batch_tokens is not None and (
            isinstance(self.max_batch_tokens, bool)
            or not isinstance(self.max_batch_tokens, int)
            or self.max_batch_tokens < 1
        ):
            raise ConfigError(
                f"max_batch_tokens must be a positive integer or None, got {self.max_batch_tokens!r}"
            )
        if (
            isinstance(self.max_resubmits, bool)
            or not isinstance(self.max_resubmits, int)
            or self.max_resubmits < 0
        ):
            raise ConfigError(f"max_resubmits must be an integer >= 0, got {self.max_resubmits!r}")


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch job stands."""

    job_id: str
    state: str
    """``in_progress``, ``completed``, ``completed_with_errors`` (some lines failed; they are
    sent online, or reported per row, by ``result()``), ``failed``, ``cancelling`` or ``cancelled``."""
    batches: tuple[dict[str, Any], ...]
    """Per batch: part number, batch id, server status, requests, inputs, tokens, counts."""
    requests: int
    requests_done: int
    requests_failed: int
    inputs: int
    """Inputs submitted (texts already in the cache excluded; duplicates once)."""
    cached: int
    """Inputs found in the cache at submit time (not sent)."""
    tokens: int
    usd: float | None
    """Batch price of ``tokens``."""
    online_usd: float | None
    """What the same tokens cost online."""
    errors: tuple[str, ...] = field(default_factory=tuple)
    """The server's errors: failed batches, failed lines (first few)."""

    @property
    def finished(self) -> bool:
        return self.state not in ("in_progress", "cancelling")

    def __str__(self) -> str:
        price = (
            "unknown price" if self.usd is None else f"${self.usd:,.4f} (online ${self.online_usd or 0:,.4f})"
        )
        lines = [
            f"job        {self.job_id}: {self.state}",
            f"requests   {self.requests_done:,} done, {self.requests_failed:,} failed, of {self.requests:,}",
            f"inputs     {self.inputs:,} sent, {self.cached:,} from the cache",
            f"tokens     {self.tokens:,}, batch cost {price}",
        ]
        for b in self.batches:
            lines.append(
                f"  part {b['part']:>3} {b['batch_id'] or '-':<28} {b['status'] or b['stage']:<12} "
                f"{b['requests']:,} requests, {b['inputs']:,} inputs, {b['tokens']:,} tokens"
            )
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def _status(state: JobState) -> BatchStatus:
    parts = [p for p in state.parts if p.stage != "replaced"]
    batches = tuple(
        {
            "part": p.n,
            "batch_id": p.batch_id,
            "stage": p.stage,
            "status": p.outcome or p.status,
            "requests": len(p.requests),
            "inputs": p.inputs,
            "tokens": p.tokens,
            "counts": dict(p.counts),
            "attempt": p.attempt,
        }
        for p in parts
    )
    outcome: dict[int, str] = {}
    running = 0
    for p in sorted(parts, key=lambda q: q.n):  # a part sent again comes after the one that expired
        for r in p.requests:
            if r in p.unfinished:
                outcome[r] = "unfinished"
            elif str(r) in p.line_errors:
                outcome[r] = "error"
            else:
                outcome[r] = "done" if p.stage == "collected" else "pending"
        if p.stage == "submitted":
            running += p.counts.get("completed", 0)
    values = list(outcome.values())
    done, failed_lines, unfinished = (
        values.count("done") + running,
        values.count("error"),
        values.count("unfinished"),
    )
    errors = [e for p in parts for e in p.errors] + [
        f"request {r}: {m}" for p in parts for r, m in list(p.line_errors.items())[:3]
    ]
    if not state.finished:
        name = "cancelling" if state.cancelled else "in_progress"
    elif state.cancelled and unfinished:
        name = "cancelled"
    elif unfinished:
        name = "failed"
    elif failed_lines:
        name = "completed_with_errors"
    else:
        name = "completed"
    price = model_info(state.model).usd_per_million_tokens
    online = None if price is None else state.tokens * price / 1_000_000
    return BatchStatus(
        job_id=state.id,
        state=name,
        batches=batches,
        requests=state.requests,
        requests_done=done,
        requests_failed=failed_lines,
        inputs=state.inputs,
        cached=state.cached,
        tokens=state.tokens,
        usd=batch_usd(online),
        online_usd=online,
        errors=tuple(errors[:10]),
    )


class BatchJob:
    """A Batch API job: get it back in any process with :func:`batch_job` (its ``id``)."""

    def __init__(self, files: JobFiles, config: EmbedConfig, options: BatchOptions) -> None:
        self._files = files
        self._config = config
        self._options = options
        self.id = files.directory.name

    def __repr__(self) -> str:
        return f"BatchJob({self.id!r})"

    @property
    def state(self) -> JobState:
        """The job's state as last saved (no request)."""
        return self._files.load()

    async def astatus(self) -> BatchStatus:
        """Async :meth:`status`."""
        return _status(await advance(self._files, self._config))

    def status(self) -> BatchStatus:
        """Check on the job: polls its batches and does what is due (submit queued batches,
        collect finished ones into the cache, send expired lines again, delete files)."""
        return run_sync(self.astatus())

    async def await_(self, *, timeout: float | None = None) -> BatchStatus:
        """Async :meth:`wait`."""
        opts = self._options
        interval = opts.poll_interval
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _Bar(self._files.load(), self._config.progress)
        last: tuple[Any, ...] = ()
        try:
            while True:
                status = await self.astatus()
                bar.show(status)
                if status.finished:
                    return status
                seen = tuple((b["status"], b["stage"], str(b["counts"])) for b in status.batches)
                interval = opts.poll_interval if seen != last else min(interval * 1.5, opts.max_poll_interval)
                last = seen
                if deadline is not None and time.monotonic() + interval > deadline:
                    raise TimeoutError(
                        f"batch job {self.id} is still {status.state} after {timeout:g} s; it goes on on the "
                        f"server: call wait() again later (embedframe.batch_job({self.id!r}))"
                    )
                await asyncio.sleep(interval)
        finally:
            bar.close()

    def wait(self, *, timeout: float | None = None) -> BatchStatus:
        """Poll until every batch has ended (with backoff); ``timeout`` seconds at most."""
        return run_sync(self.await_(timeout=timeout))

    async def acancel(self) -> BatchStatus:
        """Async :meth:`cancel`."""
        return _status(await cancel(self._files, self._config))

    def cancel(self) -> BatchStatus:
        """Cancel the batches not yet finished; nothing more is submitted. Lines that ran are
        kept (they are paid for); ``wait()`` then ``result(details=True)`` gives the rows done."""
        return run_sync(self.acancel())

    async def aresult(self) -> pd.DataFrame:
        """Async :meth:`result`."""
        return await _result(self._files, self._config)

    def result(self) -> pd.DataFrame:
        """The frame submitted, plus its vector column (and the details columns if asked for).

        Lines the server failed (error file) are sent online; with ``details=True`` the rows
        it refuses, and rows of cancelled or failed batches, get a null vector and a status
        that says why. Without it such rows raise :class:`BatchError`.
        """
        return run_sync(self.aresult())


async def _result(files: JobFiles, config: EmbedConfig) -> pd.DataFrame:
    from . import api

    state = files.load()
    status = _status(state)
    if not state.finished:
        raise BatchError(
            f"batch job {state.id} is still {status.state}: call job.wait() first (or job.status() to check)"
        )
    payload = files.read_input()
    frame: pd.DataFrame = payload["frame"]
    column: Hashable = payload["column"]
    output: Hashable = payload["output"]
    series = frame[column]
    lost = _lost_rows(files, state, config, series)
    if lost and not state.details:
        reasons = sorted({reason for reason in lost.values()})
        raise BatchError(
            f"batch job {state.id}: {len(lost)} row(s) have no vector ({'; '.join(reasons)}). Pass "
            f"details=True at submit to get them as null rows with the reason, or submit the frame "
            "again to send them in a new batch (what is done is in the cache and is not sent again)"
        )
    source = frame
    if lost:
        source = frame.copy(deep=False)
        values = series.to_numpy(dtype=object, copy=True)
        values[list(lost)] = None
        source[column] = pd.Series(values, index=series.index, dtype=object)
    out = await api.aembed_column(source, column, output=output, details=state.details, config=config)
    if lost:
        out[column] = series
        name = f"{column}_status"
        status_col = out[name].astype(object).to_numpy(copy=True)
        for row, reason in lost.items():
            status_col[row] = f"error: not embedded: {reason}"
        out[name] = pd.array(status_col, dtype="string")
    from .api import PROVENANCE_ATTR

    provenance = dict(out.attrs.get(PROVENANCE_ATTR, {}))
    record = dict(provenance.get(str(output), {}))
    stats = out.attrs.get("embedframe", {})
    record.update({"api": "batch", "batch_job": state.id, "online_requests": int(stats.get("requests", 0))})
    provenance[str(output)] = record
    out.attrs[PROVENANCE_ATTR] = provenance
    return out


def _lost_rows(files: JobFiles, state: JobState, config: EmbedConfig, series: pd.Series) -> dict[int, str]:
    """Rows (positions) whose text needs a piece that never ran (cancelled, failed or
    expired batches) and is not in the cache, with the reason."""
    reason_of: dict[bytes, str] = {}
    for part in state.parts:
        for r in part.unfinished:
            for key in files.request_keys(r):
                reason_of[key] = part.reason or "not run"
    if not reason_of:
        return {}
    backend = resolve_backend(config, announce=False)
    values = series.to_numpy(dtype=object)
    plan = plan_job(values, series.index, backend, column=series.name, details=state.details)
    keys = piece_keys(backend.config, plan.pieces)
    store = open_cache(backend.config)
    cached = store.contains(keys) if store is not None and keys else np.zeros(len(keys), dtype=bool)
    bad = {p: reason_of[k] for p, k in enumerate(keys) if k in reason_of and not cached[p]}
    lost: dict[int, str] = {}
    if not bad:
        return lost
    for t in range(len(plan.texts)):
        refs = plan.ref_piece[plan.ref_start[t] : plan.ref_start[t + 1]].tolist()
        hit = next((bad[p] for p in refs if p in bad), None)
        if hit is not None:
            for row in np.flatnonzero(plan.row_text == t).tolist():
                lost[row] = hit
    return lost


class _Bar:
    """A progress bar over a job's requests, with its batches' states."""

    def __init__(self, state: JobState, enabled: bool | None) -> None:
        import warnings

        with warnings.catch_warnings():  # Jupyter without ipywidgets falls back to text: fine
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

        self._bar: Any = None
        if enabled is not False:
            self._bar = tqdm(
                total=state.requests, unit="request", desc=f"batch {state.id}", delay=0 if enabled else 2.0
            )

    def show(self, status: BatchStatus) -> None:
        if self._bar is None:
            return
        self._bar.update(max(0, status.requests_done + status.requests_failed - self._bar.n))
        states: dict[str, int] = {}
        for b in status.batches:
            key = str(b["status"] or b["stage"])
            states[key] = states.get(key, 0) + 1
        self._bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(states.items())))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# --------------------------------------------------------------------------- entry points


def _batch_config(config: EmbedConfig | None, options: dict[str, Any]) -> EmbedConfig:
    cfg = resolve_config(config, options)
    if cfg.api_key is None and cfg.base_url is None:
        raise ConfigError(
            "batch mode needs OpenAI's Batch API (or a server that has one): set OPENAI_API_KEY "
            "or pass api_key=... (and base_url=... for another server); the local model has no batch mode"
        )
    cfg = resolve_backend(cfg, announce=False).config
    check_batch_config(cfg)
    return cfg


async def asubmit(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    extra: dict[str, Any] | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> BatchJob:
    """Async :func:`submit`."""
    from .api import get_column
    from .vectors import output_name

    get_column(df, column)
    opts = batch or BatchOptions()
    cfg = _batch_config(config, options)
    backend = resolve_backend(cfg, announce=False)
    submission = await prepare(
        df,
        column,
        backend,
        output=output if output is not None else output_name(column),
        details=details,
        max_batch_inputs=opts.max_batch_inputs,
        max_batch_tokens=opts.max_batch_tokens,
        max_resubmits=opts.max_resubmits,
        extra=extra or {},
    )
    job = BatchJob(submission.files, cfg, opts)
    await advance(submission.files, cfg)
    return job


def submit(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> BatchJob:
    """Submit ``df[column]`` to the Batch API and return at once with a :class:`BatchJob`.

    The plan is the online one: same chunking and packing, texts already cached left out,
    duplicates sent once; the job's state is kept beside the cache, so submitting the same
    frame again, or :func:`batch_job` with the id, resumes it instead of paying twice.
    Options are :class:`EmbedConfig`'s; ``batch`` sets batch sizes and polling.
    """
    return run_sync(
        asubmit(df, column, output=output, details=details, batch=batch, config=config, **options)
    )


async def abatch_job(
    job_id: str, *, batch: BatchOptions | None = None, config: EmbedConfig | None = None, **options: Any
) -> BatchJob:
    """Async :func:`batch_job`."""
    return batch_job(job_id, batch=batch, config=config, **options)


def batch_job(
    job_id: str, *, batch: BatchOptions | None = None, config: EmbedConfig | None = None, **options: Any
) -> BatchJob:
    """The batch job ``job_id`` (from ``job.id`` or ``embedframe batch submit``), in any process.

    Pass the same ``cache`` as at submit (the job's state is kept beside it) and the API
    key; the model and the other planning options are the job's own.
    """
    cfg = resolve_config(config, options)
    root = jobs_root(cfg)
    if not isinstance(job_id, str) or not job_id or "/" in job_id or job_id.startswith("."):
        raise ConfigError(f"{job_id!r} is not a batch job id")
    files = JobFiles(root / job_id)
    if not files.exists():
        raise ConfigError(f"no batch job {job_id!r} in {root}; pass the cache= the job was submitted with")
    stored = files.load().config
    given = public_fields(cfg)
    changed = {
        k: v
        for k, v in options.items()
        if k in PLANNING_FIELDS and k != "base_url" and given.get(k) != stored.get(k)
    }
    if changed:
        raise ConfigError(
            f"batch job {job_id} was submitted with {', '.join(f'{k}={stored.get(k)!r}' for k in changed)}; "
            "leave these options out"
        )
    fields = dict(stored)
    if given["base_url"] == stored["base_url"]:
        fields.pop("base_url")  # keep the caller's (it may carry a query string)
    job_cfg = cfg.replace(**fields)
    check_batch_config(job_cfg)
    return BatchJob(files, job_cfg, batch or BatchOptions())


async def aembed_column_batch(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Async :func:`embed_column_batch`."""
    job = await asubmit(df, column, output=output, details=details, batch=batch, config=config, **options)
    await job.await_()
    return await job.aresult()


def embed_column_batch(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`submit`, wait with a progress bar, and return the result: what
    ``df.embed(column, batch=True)`` does."""
    return run_sync(
        aembed_column_batch(df, column, output=output, details=details, batch=batch, config=config, **options)
    )
