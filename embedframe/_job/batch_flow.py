"""Batch mode's flow: move a planned job (:mod:`embedframe._job.batch_plan`) on, one step at a time.

:func:`advance` takes the job's lock and does what can be done now: upload and create the
batches there is room for in the model's queue, poll the others, put finished batches'
vectors in the cache, send unfinished lines of expired batches again, delete the files.
Each step is recorded before it is taken, so a process killed anywhere resumes without
creating a batch twice (see :mod:`embedframe._job.batch_state`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from .._core.batchfile import UNFINISHED_CODES, keys_digest, parse_custom_id, read_result_line
from .._core.decode import decode_embeddings
from .._wire.batchapi import BatchAPI, is_queue_limit
from .._wire.http import make_client
from ..config import EmbedConfig
from ..errors import APIError, ResponseError
from .batch_plan import make_part
from .batch_state import TERMINAL, JobFiles, JobState, Part, job_lock, now
from .engine import open_cache

__all__ = ["advance", "cancel"]

log = logging.getLogger("embedframe")

_LOOKBACK_S = 600.0
"""Slack when looking for a batch made before a crash (clocks of client and server differ)."""


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
        if self.state.cancelled:
            await self._cancel_running()
        for part in list(self.state.parts):
            if part.stage == "submitted" and part.status not in TERMINAL:
                before = (part.status, part.counts, part.output_file_id, part.error_file_id, part.errors)
                self._adopt(part, await self.api.get(str(part.batch_id)))
                if (part.status, part.counts, part.output_file_id, part.error_file_id, part.errors) != before:
                    self.save()  # a poll that changes nothing writes nothing
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
        """Record the cancel first: a process killed halfway sends the rest on resume."""
        self.state.cancelled = True
        self.save()

    async def _cancel_running(self) -> None:
        for part in self.state.parts:
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
            p = make_part(
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
        left = [r for r in left if not self._cached(r)]  # embedded meanwhile (online, another job)
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
                    try:
                        await self._store(keys, line.body)
                    except ResponseError as exc:  # a broken answer: this line is sent again online
                        errors[cid.request] = f"a broken answer ({exc})"
                    else:
                        done.add(cid.request)
                elif line.code in UNFINISHED_CODES:
                    unfinished.add(cid.request)
                else:
                    errors[cid.request] = (
                        f"{line.status or ''} {line.code or ''}: {line.message or 'no message'}".strip()
                    )
        return done, errors, unfinished

    def _cached(self, request: int) -> bool:
        keys = self.files.request_keys(request)
        return self.store is not None and bool(self.store.contains(keys).all())

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
