"""Batch mode: embed a table through OpenAI's Batch API, at half the price, for jobs that can wait.

``df.embed("text", batch=True)`` blocks until done; ``df.embed.submit("text")`` returns a
:class:`BatchJob` at once, which this or another process gets back by id with
:func:`batch_job` (``status()``, ``wait()``, ``result()``, ``cancel()``). Texts already in
the vector cache are not sent, duplicates are sent once, and finished batches' vectors go
into the cache, so the result is assembled exactly as an online job's is.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Unpack

import pandas as pd

from ._core.batchfile import MAX_INPUTS_PER_BATCH
from ._job.backend import resolve_backend
from ._job.batch_flow import advance, cancel
from ._job.batch_plan import PLANNING_FIELDS, check_batch_config, jobs_root, prepare, public_fields
from ._job.batch_report import BatchStatus, ProgressBar, assemble, status_of
from ._job.batch_state import JobFiles, JobState, job_lock
from ._job.sync import run_sync
from .config import EmbedConfig, resolve_config
from .errors import BatchError, ConfigError
from .options import EmbedOptions, takes_options

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
    """Longest wait between status checks while nothing changes."""
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
        if self.max_poll_interval < self.poll_interval:
            raise ConfigError(
                f"max_poll_interval ({self.max_poll_interval:g} s) is below poll_interval "
                f"({self.poll_interval:g} s); raise it"
            )
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


class BatchJob:
    """A Batch API job: get it back in any process with :func:`batch_job` (its ``id``)."""

    def __init__(self, files: JobFiles, config: EmbedConfig, options: BatchOptions) -> None:
        self._files = files
        self._config = config
        self._options = options
        self.id: str = files.directory.name
        """The job's id: pass it to :func:`batch_job` (or ``embedframe batch ...``) to come back."""

    def __repr__(self) -> str:
        return f"BatchJob({self.id!r})"

    @property
    def state(self) -> JobState:
        """The job's state as last saved (no request)."""
        return self._files.load()

    async def astatus(self) -> BatchStatus:
        """Async :meth:`status`."""
        return status_of(await advance(self._files, self._config))

    def status(self) -> BatchStatus:
        """Check on the job: polls its batches and does what is due (submit queued batches,
        collect finished ones into the cache, send expired lines again, delete files)."""
        return run_sync(self.astatus())

    async def await_(self, *, timeout: float | None = None) -> BatchStatus:
        """Async :meth:`wait`."""
        opts = self._options
        interval = opts.poll_interval
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(self._files.load(), self._config.progress)
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
        return status_of(await cancel(self._files, self._config))

    def cancel(self) -> BatchStatus:
        """Cancel the batches not yet finished; nothing more is submitted. Lines that ran are
        kept (they are paid for); ``wait()`` then ``result(details=True)`` gives the rows done."""
        return run_sync(self.acancel())

    async def aremove(self) -> None:
        """Async :meth:`remove`."""
        async with job_lock(self._files.directory):
            if not self._files.load().finished:
                raise BatchError(
                    f"batch job {self.id} has batches still running: wait() for them, or cancel() it, "
                    "before removing it"
                )
            shutil.rmtree(self._files.directory)

    def remove(self) -> None:
        """Delete the job's folder (its state, the frame submitted, the request lines) once every
        batch has ended. The vectors stay in the cache; the job cannot be resumed any more."""
        run_sync(self.aremove())

    async def aresult(self) -> pd.DataFrame:
        """Async :meth:`result`."""
        return await assemble(self._files, self._config)

    def result(self) -> pd.DataFrame:
        """The frame submitted, plus its vector column (and the details columns if asked for).

        Lines the server failed (error file) are sent online; with ``details=True`` the rows
        it refuses, and rows of cancelled or failed batches, get a null vector and a status
        that says why. Without it such rows raise :class:`BatchError`.
        """
        return run_sync(self.aresult())


# --------------------------------------------------------------------------- entry points


def _batch_config(config: EmbedConfig | None, options: EmbedOptions) -> EmbedConfig:
    cfg = resolve_config(config, options)
    if cfg.api_key is None and cfg.base_url is None:
        raise ConfigError(
            "batch mode needs OpenAI's Batch API (or a server that has one): set OPENAI_API_KEY "
            "or pass api_key=... (and base_url=... for another server); the local model has no batch mode"
        )
    cfg = resolve_backend(cfg, announce=False).config
    check_batch_config(cfg)
    return cfg


def _fit_requests(config: EmbedConfig, opts: BatchOptions) -> EmbedConfig:
    """``config`` with requests small enough that each fits in one batch."""
    changes: dict[str, int] = {}
    if opts.max_batch_inputs < config.max_inputs_per_request:
        changes["max_inputs_per_request"] = opts.max_batch_inputs
    if opts.max_batch_tokens is not None and opts.max_batch_tokens < config.max_tokens_per_request:
        if opts.max_batch_tokens < config.input_limit:
            raise ConfigError(
                f"max_batch_tokens={opts.max_batch_tokens} is below one input's limit ({config.input_limit} "
                "tokens), so some inputs could fit in no batch; raise it, or lower max_input_tokens"
            )
        changes["max_tokens_per_request"] = opts.max_batch_tokens
    return config.replace(**changes) if changes else config


@takes_options
async def asubmit(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    extra: dict[str, Any] | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> BatchJob:
    """Async :func:`submit`."""
    from .api import get_column
    from .vectors import output_name

    get_column(df, column)
    opts = batch or BatchOptions()
    cfg = _fit_requests(_batch_config(config, options), opts)
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
    try:
        await advance(submission.files, cfg)
    except Exception as exc:
        exc.add_note(
            f"batch job {job.id} is recorded: submit the same frame again, or call "
            f"embedframe.batch_job({job.id!r}).status(), to go on from where it stopped"
        )
        raise
    return job


@takes_options
def submit(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
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


@takes_options
async def abatch_job(
    job_id: str,
    *,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> BatchJob:
    """Async :func:`batch_job`."""
    return batch_job(job_id, batch=batch, config=config, **options)


@takes_options
def batch_job(
    job_id: str,
    *,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
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


@takes_options
async def aembed_column_batch(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """Async :func:`embed_column_batch`."""
    job = await asubmit(df, column, output=output, details=details, batch=batch, config=config, **options)
    await job.await_()
    return await job.aresult()


@takes_options
def embed_column_batch(
    df: pd.DataFrame,
    column: Hashable,
    *,
    output: Hashable | None = None,
    details: bool = False,
    batch: BatchOptions | None = None,
    config: EmbedConfig | None = None,
    **options: Unpack[EmbedOptions],
) -> pd.DataFrame:
    """:func:`submit`, wait with a progress bar, and return the result: what
    ``df.embed(column, batch=True)`` does."""
    return run_sync(
        aembed_column_batch(df, column, output=output, details=details, batch=batch, config=config, **options)
    )
