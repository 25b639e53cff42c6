"""Batch mode's flow: plan a job into batch files, then move it on one step at a time.

:func:`prepare` plans exactly as an online job does (same planner, cache lookup and
packing), writes every request line and the job's state, and sends nothing.
:func:`advance` takes the job's lock and does what can be done now: upload and create the
batches there is room for in the model's queue, poll the others, put finished batches'
vectors in the cache, send unfinished lines of expired batches again, delete the files.
Each step is recorded before it is taken, so a process killed anywhere resumes without
creating a batch twice (see :mod:`embedframe._job.batch_state`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._core.batchfile import (
    MAX_INPUTS_PER_BATCH,
    UNFINISHED_CODES,
    custom_id,
    keys_digest,
    parse_custom_id,
    read_result_line,
    request_line,
    split_parts,
)
from .._core.decode import decode_embeddings
from .._core.plan import Labels, Plan
from .._wire.batchapi import BatchAPI, is_queue_limit
from .._wire.http import make_client
from ..config import OPENAI_BASE_URL, EmbedConfig
from ..errors import APIError, ConfigError, ResponseError
from .backend import Backend
from .batch_state import TERMINAL, JobFiles, JobState, Part, job_lock, now
from .engine import open_cache, pack_pieces, piece_keys, plan_for

__all__ = [
    "AZURE_NOT_SUPPORTED",
    "PLANNING_FIELDS",
    "advance",
    "cancel",
    "check_batch_config",
    "jobs_root",
    "plan_job",
    "prepare",
]

log = logging.getLogger("embedframe")

JOBS_DIR = "batches"
PLANNING_FIELDS = (
    "base_url",
    "model",
    "dimensions",
    "user",
    "encoding",
    "max_input_tokens",
    "long_text",
    "chunk_tokens",
    "chunk_overlap",
    "empty",
    "max_inputs_per_request",
    "max_tokens_per_request",
)
"""The config fields that decide what a job sends: recorded with the job, fixed on resume."""

AZURE_NOT_SUPPORTED = (
    "batch mode does not support Azure OpenAI yet (its Batch API needs a global-batch "
    "deployment, other URLs and file purpose); embed online with df.embed(...), or use "
    "OpenAI's API for batch mode"
)
_LOOKBACK_S = 600.0
"""Slack when looking for a batch made before a crash (clocks of client and server differ)."""


def check_batch_config(config: EmbedConfig) -> None:
    """Refuse configs batch mode cannot serve, before anything is planned."""
    if config.is_azure:
        raise ConfigError(AZURE_NOT_SUPPORTED)
    jobs_root(config)


def jobs_root(config: EmbedConfig) -> Path:
    """Where batch jobs keep their state: ``batches/`` in the local cache directory."""
    if config.cache_url is not None:
        raise ConfigError(
            "batch mode keeps each job's state in a folder beside the vector cache, which must be a "
            "local (or shared-filesystem) directory; pass cache='a/local/folder' for batch jobs"
        )
    directory = config.cache_dir
    if directory is None:
        raise ConfigError(
            "batch mode needs the vector cache (results are put there as batches finish, and the job's "
            "state is kept beside it); leave cache on, or pass cache='a/folder'"
        )
    return directory / JOBS_DIR


def public_fields(config: EmbedConfig) -> dict[str, Any]:
    """The planning fields of ``config``; ``base_url`` without user, password or query."""
    fields = {name: getattr(config, name) for name in PLANNING_FIELDS}
    parts = urlsplit(config.base_url or OPENAI_BASE_URL)
    netloc = parts.netloc.rpartition("@")[2]
    fields["base_url"] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return fields


def plan_job(
    values: npt.NDArray[np.object_], labels: Labels, backend: Backend, *, column: Hashable, details: bool
) -> Plan:
    """The job's plan: the same at submit and at collect time (every text tokenized)."""
    return plan_for(
        values, labels, backend, column=column, on_bad="mark" if details else "raise", count_all=True
    )


@dataclass(frozen=True)
class Submission:
    files: JobFiles
    resumed: bool
    """Whether an unfinished job with the same input was found and is carried on."""


async def prepare(
    frame: pd.DataFrame,
    column: Hashable,
    backend: Backend,
    *,
    output: Hashable,
    details: bool,
    max_batch_inputs: int,
    max_batch_tokens: int | None,
    max_resubmits: int,
    extra: dict[str, Any],
) -> Submission:
    """Plan ``frame[column]`` into batch files and record the job; nothing is sent.

    The job id is a digest of what is embedded and how, so submitting the same frame again
    finds the job already there (unless it ended cancelled or failed) instead of paying twice.
    """
    config = backend.config
    series = frame[column]
    values = series.to_numpy(dtype=object)
    plan = plan_job(values, series.index, backend, column=column, details=details)
    store = open_cache(config)
    if store is None:
        jobs_root(config)  # raises the reason
        raise AssertionError("unreachable")
    keys = piece_keys(config, plan.pieces)
    found = store.contains(keys) if keys else np.zeros(0, dtype=bool)
    base_id = _job_id(config, plan, keys, series.index, column, output, details)
    root = jobs_root(config)
    for suffix in range(1, 1000):
        job_id = base_id if suffix == 1 else f"{base_id}-{suffix}"
        files = JobFiles(root / job_id)
        async with job_lock(files.directory):
            if files.exists():
                state = files.load()
                if state.finished and (state.cancelled or _has_unfinished(state)):
                    continue  # a job that ended without all its vectors: start a new one
                return Submission(files, resumed=True)
            todo = np.flatnonzero(~found)
            batches, _bound, _ = pack_pieces(plan, todo, config, backend.tokenizer)
            lines, request_keys = [], []
            for r, batch in enumerate(batches):
                ids = batch.pieces.tolist()
                rkeys = [keys[i] for i in ids]
                body = _body(config, [plan.pieces[i] for i in ids])
                lines.append(request_line(custom_id(job_id, r, rkeys), body))
                request_keys.append(rkeys)
            inputs = np.array([len(b.pieces) for b in batches], dtype=np.int64)
            nbytes = np.array([len(line) for line in lines], dtype=np.int64)
            tokens = np.array([b.tokens for b in batches], dtype=np.int64)
            groups = split_parts(
                inputs,
                nbytes,
                tokens,
                max_inputs=min(max_batch_inputs, MAX_INPUTS_PER_BATCH),
                max_tokens=max_batch_tokens,
            )
            files.directory.mkdir(parents=True, exist_ok=True)
            files.write_requests(lines, request_keys, tokens)
            files.write_input({"frame": frame, "column": column, "output": output})
            state = JobState(
                id=job_id,
                created_at=now(),
                column=str(column),
                output=str(output),
                details=details,
                config=public_fields(config),
                model=str(config.model),
                rows=plan.n_rows,
                pieces=len(plan.pieces),
                cached=int(found.sum()),
                requests=len(batches),
                inputs=int(inputs.sum()),
                tokens=int(tokens.sum()),
                max_batch_tokens=max_batch_tokens,
                max_resubmits=max_resubmits,
                extra=dict(extra),
            )
            for g in groups:
                state.parts.append(_part(state.next_part_number(), g.tolist(), inputs, nbytes, tokens))
            files.save(state)  # last: a folder without job.json is an unfinished prepare, redone
            log.info(
                "batch job %s: %d inputs in %d requests, %d batch file(s), %d tokens (%d pieces cached)",
                job_id,
                state.inputs,
                state.requests,
                len(state.parts),
                state.tokens,
                state.cached,
            )
            return Submission(files, resumed=False)
    raise ConfigError(f"too many batch jobs for the same input in {root}; remove old ones there")


def _has_unfinished(state: JobState) -> bool:
    return any(p.unfinished for p in state.parts)


def _part(
    n: int,
    requests: list[int],
    inputs: npt.NDArray[np.int64],
    nbytes: npt.NDArray[np.int64],
    tokens: npt.NDArray[np.int64],
    attempt: int = 0,
) -> Part:
    r = np.asarray(requests, dtype=np.int64)
    return Part(
        n=n,
        requests=list(requests),
        inputs=int(inputs[r].sum()),
        tokens=int(tokens[r].sum()),
        bytes=int(nbytes[r].sum()),
        attempt=attempt,
    )


def _body(config: EmbedConfig, inputs: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": config.model, "input": inputs, "encoding_format": "base64"}
    if config.dimensions is not None:
        body["dimensions"] = config.dimensions
    if config.user is not None:
        body["user"] = config.user
    return body


def _job_id(
    config: EmbedConfig,
    plan: Plan,
    keys: list[bytes],
    index: pd.Index,
    column: Hashable,
    output: Hashable,
    details: bool,
) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(public_fields(config), sort_keys=True, default=str).encode())
    h.update(json.dumps([repr(column), repr(output), details]).encode())
    h.update(b"".join(keys))
    h.update(plan.row_text.tobytes())
    h.update(pd.util.hash_pandas_object(index, index=False).to_numpy().tobytes())
    return "ejob_" + h.hexdigest()[:20]


# --------------------------------------------------------------------------- advancing


async def advance(files: JobFiles, config: EmbedConfig, *, cancel: bool = False) -> JobState:
    """Do what can be done for the job now (under its lock); the state after it."""
    async with job_lock(files.directory):
        state = files.load()
        if state.finished and all(p.cleaned for p in state.parts) and not cancel:
            return state
        async with make_client(config) as client:
            step = _Step(state, files, BatchAPI(config, client), config)
            if cancel:
                await step.cancel()
            await step.run()
        return state


async def cancel(files: JobFiles, config: EmbedConfig) -> JobState:
    """Cancel the job's batches; what already finished is kept (and is paid for)."""
    return await advance(files, config, cancel=True)


class _Step:
    def __init__(self, state: JobState, files: JobFiles, api: BatchAPI, config: EmbedConfig) -> None:
        self.state = state
        self.files = files
        self.api = api
        self.config = config
        self.store = open_cache(config)
        self.dim: int | None = config.dimensions

    def save(self) -> None:
        self.files.save(self.state)

    def filename(self, part: Part) -> str:
        return f"embedframe-{self.state.id}-{part.filename}"

    async def run(self) -> None:
        for part in list(self.state.parts):
            if part.stage == "uploading":
                await self._recover_upload(part)
            if part.stage == "creating":
                await self._recover_create(part)
        for part in list(self.state.parts):
            if part.stage == "submitted" and part.status not in TERMINAL:
                self._adopt(part, await self.api.get(str(part.batch_id)))
                self.save()
            if part.stage == "submitted" and part.status in TERMINAL:
                await self._finish(part)
        if self.state.cancelled:
            await self._drop_unsent()
        else:
            await self._submit_more()
        for part in self.state.parts:
            if part.done and not part.cleaned:
                await self._clean(part)

    async def cancel(self) -> None:
        self.state.cancelled = True
        self.save()
        for part in self.state.parts:
            if part.stage == "creating":
                await self._recover_create(part)
            if part.stage == "submitted" and part.status not in TERMINAL and part.status != "cancelling":
                self._adopt(part, await self.api.cancel(str(part.batch_id)))
                self.save()

    # submitting

    async def _submit_more(self) -> None:
        for part in self.state.parts:
            if part.stage not in ("ready", "uploaded"):
                continue
            if not self._room_for(part):
                return
            if part.stage == "ready":
                await self._upload(part)
            if not await self._create(part):
                return

    def _room_for(self, part: Part) -> bool:
        limit = self.state.queue_limit
        active = [p.tokens for p in self.state.parts if p.active]
        return limit is None or not active or sum(active) + part.tokens <= limit

    async def _upload(self, part: Part) -> None:
        part.stage = "uploading"
        self.save()
        size = self.files.part_size(part.requests)
        doc = await self.api.upload(self.filename(part), size, lambda: self.files.part_chunks(part.requests))
        part.input_file_id = str(doc["id"])
        part.stage = "uploaded"
        self.save()

    async def _recover_upload(self, part: Part) -> None:
        """A process died while uploading: adopt the file if it arrived, else upload again."""
        name = self.filename(part)
        size = self.files.part_size(part.requests)
        found = [f for f in await self.api.files() if f.get("filename") == name and f.get("bytes") == size]
        if found:
            part.input_file_id, part.stage = str(found[0]["id"]), "uploaded"
            for extra in found[1:]:
                await self.api.delete_file(str(extra["id"]))
        else:
            part.stage = "ready"
        self.save()

    async def _create(self, part: Part) -> bool:
        part.asked_at = now()
        part.stage = "creating"
        self.save()  # a crash from here on is resolved by looking the batch up, never by a second batch
        metadata = {"embedframe_job": self.state.id, "embedframe_part": str(part.n)}
        try:
            doc = await self.api.create(str(part.input_file_id), metadata)
        except APIError as error:
            part.stage = "uploaded"
            self.save()
            if is_queue_limit(error.code, error.message):
                self._queue_full(part, error.message)
                return False
            raise
        self._adopt(part, doc)
        part.stage = "submitted"
        self.save()
        return True

    async def _recover_create(self, part: Part) -> None:
        """A process died after asking for a batch: adopt it if the server made it."""
        since = (part.asked_at or self.state.created_at) - _LOOKBACK_S
        found = await self.api.find_batch(str(part.input_file_id), since)
        if found is not None:
            self._adopt(part, found)
            part.stage = "submitted"
        else:
            part.stage = "uploaded"
        self.save()

    def _queue_full(self, part: Part, message: str) -> None:
        """The model's batch queue is full: wait for this job's running batches, or, with
        none running, send this part as smaller batches."""
        others = sum(p.tokens for p in self.state.parts if p.active and p is not part)
        if others:
            limit = others + part.tokens - 1
            self.state.queue_limit = min(limit, self.state.queue_limit or limit)
            log.warning(
                "batch job %s: the batch queue is full (%s); waiting for running batches before "
                "submitting more",
                self.state.id,
                message,
            )
        elif len(part.requests) > 1:
            half = len(part.requests) // 2
            self._replace(part, [part.requests[:half], part.requests[half:]])
            self.state.queue_limit = min(part.tokens - 1, self.state.queue_limit or part.tokens)
        else:
            log.warning("batch job %s: the batch queue is full (%s); will try again", self.state.id, message)
        self.save()

    def _replace(self, part: Part, groups: list[list[int]], attempt: int | None = None) -> list[Part]:
        inputs, nbytes, tokens = self.files.request_sizes()
        new = []
        for g in groups:
            p = _part(
                self.state.next_part_number(),
                g,
                inputs,
                nbytes,
                tokens,
                part.attempt if attempt is None else attempt,
            )
            self.state.parts.append(p)
            new.append(p)
        if attempt is None:
            part.stage = "replaced"
        return new

    async def _drop_unsent(self) -> None:
        for part in self.state.parts:
            if part.stage in ("ready", "uploaded", "uploading"):
                if part.stage == "uploading":
                    await self._recover_upload(part)
                part.stage, part.outcome = "dropped", "cancelled"
                part.unfinished, part.reason = list(part.requests), "cancelled before it was submitted"
        self.save()

    # finishing

    def _adopt(self, part: Part, doc: dict[str, Any]) -> None:
        part.batch_id = str(doc.get("id") or part.batch_id)
        part.status = str(doc.get("status"))
        counts = doc.get("request_counts")
        if isinstance(counts, dict):
            part.counts = {k: int(v) for k, v in counts.items() if isinstance(v, int)}
        part.output_file_id = doc.get("output_file_id") or part.output_file_id
        part.error_file_id = doc.get("error_file_id") or part.error_file_id
        errors = doc.get("errors")
        data = errors.get("data") if isinstance(errors, dict) else None
        if isinstance(data, list):
            part.errors = [_describe(e) for e in data if isinstance(e, dict)]

    async def _finish(self, part: Part) -> None:
        if part.status == "failed" and any(is_queue_limit(None, e) for e in part.errors):
            # refused for the queue (not billed): make the batch again when there is room
            part.old_batches.append(str(part.batch_id))
            part.batch_id, part.status, part.errors, part.counts = None, None, [], {}
            part.stage = "uploaded"
            self._queue_full(part, "token_limit_exceeded")
            return
        done, line_errors, unfinished = await self._collect(part)
        part.line_errors = {str(r): m for r, m in sorted(line_errors.items())}
        part.outcome = part.status
        left = sorted(set(part.requests) - done - set(line_errors) | unfinished)
        part.unfinished, part.reason = [], None
        if part.status == "failed":
            part.unfinished = left
            part.reason = "the server failed the batch: " + ("; ".join(part.errors[:5]) or "no reason given")
        elif part.status == "cancelled" or (left and self.state.cancelled):
            part.unfinished, part.reason = left, "cancelled"
        elif left and part.attempt < self.state.max_resubmits:
            new = self._replace(part, [left], attempt=part.attempt + 1)
            log.warning(
                "batch job %s: batch %s %s with %d request(s) unfinished; sending them again as part %d",
                self.state.id,
                part.batch_id,
                part.status,
                len(left),
                new[0].n,
            )
        elif left:
            part.unfinished = left
            part.reason = f"the batch {part.status} {part.attempt + 1} time(s) before these lines ran"
        part.stage = "collected"
        self.save()

    async def _collect(self, part: Part) -> tuple[set[int], dict[int, str], set[int]]:
        """Put the batch's vectors in the cache; which requests were done, which failed (and
        why), which never ran. Safe to repeat after a crash: vectors already there are skipped."""
        done: set[int] = set()
        errors: dict[int, str] = {}
        unfinished: set[int] = set()
        mine = set(part.requests)
        for file_id in (part.output_file_id, part.error_file_id):
            if not file_id:
                continue
            async for raw in self.api.lines(file_id):
                try:
                    line = read_result_line(raw)
                    cid = parse_custom_id(line.custom_id)
                except ValueError as exc:
                    raise ResponseError(f"batch {part.batch_id}: unreadable result line ({exc})") from exc
                if cid.job_id != self.state.id or cid.request not in mine:
                    raise ResponseError(
                        f"batch {part.batch_id} answered custom_id {line.custom_id!r}, which is not one "
                        f"of its requests; nothing from it was stored"
                    )
                keys = self.files.request_keys(cid.request)
                if keys_digest(keys) != cid.digest:
                    raise ResponseError(
                        f"custom_id {line.custom_id!r} does not match the inputs on record for request "
                        f"{cid.request} of job {self.state.id}; nothing from it was stored"
                    )
                if line.status == 200 and line.body is not None:
                    await self._store(keys, line.body)
                    done.add(cid.request)
                elif line.code in UNFINISHED_CODES:
                    unfinished.add(cid.request)
                else:
                    errors[cid.request] = (
                        f"{line.status or ''} {line.code or ''}: {line.message or 'no message'}".strip()
                    )
        return done, errors, unfinished

    async def _store(self, keys: list[bytes], body: bytes) -> None:
        decoded = decode_embeddings(body, len(keys), self.config.dimensions)
        vectors = decoded.vectors
        if self.dim is None:
            self.dim = vectors.shape[1]
        elif vectors.shape[1] != self.dim:
            raise ResponseError(
                f"the batch sent {vectors.shape[1]}-d vectors after {self.dim}-d ones; pass dimensions=... "
                "to pin the size"
            )
        store = self.store
        assert store is not None
        have = store.contains(keys)
        if not have.all():
            keep = np.flatnonzero(~have)
            await asyncio.to_thread(
                store.put, [keys[i] for i in keep.tolist()], np.ascontiguousarray(vectors[keep])
            )

    async def _clean(self, part: Part) -> None:
        for file_id in (part.input_file_id, part.output_file_id, part.error_file_id):
            if file_id:
                try:
                    await self.api.delete_file(file_id)
                except APIError as error:
                    log.warning("batch job %s: could not delete file %s: %s", self.state.id, file_id, error)
                    return
        part.cleaned = True
        self.save()


def _describe(error: dict[str, Any]) -> str:
    where = f" (line {error['line']})" if error.get("line") is not None else ""
    return f"{error.get('code') or 'error'}: {error.get('message') or 'no message'}{where}"
