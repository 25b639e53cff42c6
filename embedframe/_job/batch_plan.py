"""Batch mode's plan: a column into request lines and batch files, recorded, nothing sent.

:func:`prepare` plans exactly as an online job does (the same planner, cache lookup and
packing), writes every request line and the job's state beside the cache, and sends
nothing; :mod:`embedframe._job.batch_flow` then moves the job on.
"""

from __future__ import annotations

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

from .._core.batchfile import MAX_INPUTS_PER_BATCH, custom_id, request_line, split_parts
from .._core.plan import Labels, Plan
from .._wire.http import request_payload
from ..config import OPENAI_BASE_URL, EmbedConfig
from ..errors import ConfigError
from .backend import Backend
from .batch_state import JobFiles, JobState, Part, job_lock, now
from .engine import open_cache, pack_pieces, piece_keys, plan_for

__all__ = [
    "AZURE_NOT_SUPPORTED",
    "PLANNING_FIELDS",
    "Submission",
    "check_batch_config",
    "jobs_root",
    "make_part",
    "plan_job",
    "prepare",
    "public_fields",
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
                body = request_payload(config, [plan.pieces[i] for i in ids])
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
                state.parts.append(make_part(state.next_part_number(), g.tolist(), inputs, nbytes, tokens))
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


def make_part(
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
