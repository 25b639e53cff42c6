"""Where a file job's output stands: its identity, its manifest and the parts already written.

A file job writes each batch as one part next to a manifest (``_embedframe_manifest.json``)
that holds the job's signature, and puts the same signature in the footer of every file it
writes (key ``embedframe_job``). A rerun compares signatures: the same job resumes (or, when
it had finished, does nothing); another job is refused, naming what changed, unless the
caller overwrites. :func:`job_identity` is the part of the signature that says which vectors
a job makes; Dask's ``to_parquet`` uses it too.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import EmbedConfig
from ..errors import InputError
from .inputs import InputOptions

__all__ = [
    "JOB_KEY",
    "MANIFEST",
    "job_changes",
    "job_identity",
    "job_signature",
    "open_parts_dir",
    "part_done",
    "stored_job",
    "write_manifest",
]

MANIFEST = "_embedframe_manifest.json"
JOB_KEY = b"embedframe_job"
"""Key of the job's signature in the footer of each file a file job writes."""
_NOT_COMPARED = frozenset({"source_mtime_ns", "finished"})


def job_identity(
    config: EmbedConfig, *, column: Hashable, vector_column: Hashable, details: bool = False
) -> dict[str, Any]:
    """What makes two embedding jobs the same: the *resolved* backend, server, model,
    dimensions, tokenizer and chunking, and the columns. JSON-able, with no secret.

    Vectors made under different identities must never share one output: a job resumed
    into an output written under another identity is refused (see :func:`job_changes`).
    The server is resolved as the job resolves it (``OPENAI_BASE_URL``/``OPENAI_API_KEY``
    included; ``"local"`` for the in-process model), so a job started on the local model and
    resumed with a key in the environment is another job.
    """
    from .._job.backend import LOCAL_BASE_URL, resolve_backend

    cfg = resolve_backend(config, announce=False).config
    local = cfg.base_url == LOCAL_BASE_URL
    return {
        "server": "local" if local else cfg.public_endpoint,
        "api_version": cfg.api_version,
        "model": cfg.model,
        "dimensions": cfg.expected_dimensions,  # the model's size when not given
        "tokenizer": cfg.tokenizer_name,
        "max_input_tokens": cfg.input_limit,
        "long_text": cfg.long_text,
        "chunk_tokens": cfg.window,
        "chunk_overlap": cfg.chunk_overlap,
        "column": str(column),
        "output": str(vector_column),
        "details": bool(details),
    }


def job_changes(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between two signatures (``[]``: the same job)."""
    keys = (set(previous) | set(current)) - _NOT_COMPARED
    return sorted(k for k in keys if previous.get(k) != current.get(k))


def job_signature(
    identity: Mapping[str, Any], source: Mapping[str, Any], batch_rows: int, kind: str, opts: InputOptions
) -> dict[str, Any]:
    return {
        **identity,
        "source_size": source["size"],
        "source_sha256": source["sha256"],
        "source_mtime_ns": source["mtime_ns"],  # to skip hashing an untouched input; not compared
        "format": kind,
        "file_encoding": opts.encoding,
        "delimiter": opts.delimiter,
        "dtype": dict(opts.dtype),
        "batch_rows": batch_rows,
    }


def stored_job(single: bool, target: Path, parts: Path) -> dict[str, Any] | None:
    """The signature recorded by an earlier run: in the finished file's footer, or the parts' manifest."""
    try:
        if single and target.is_file():
            raw = (pq.read_schema(target).metadata or {}).get(JOB_KEY)
            return dict(json.loads(raw)) if raw else None
        manifest = parts / MANIFEST
        if manifest.is_file():
            return dict(json.loads(manifest.read_text()))
    except (OSError, ValueError, TypeError, pa.ArrowException):
        return None
    return None


def open_parts_dir(
    parts: Path, signature: dict[str, Any], previous: dict[str, Any] | None, overwrite: bool
) -> bool:
    """Make (or keep, for a resume) the parts folder; whether this run created it."""
    if parts.exists() and previous is not None and not overwrite:
        changed = job_changes(previous, signature)
        if not changed:
            return False
        if any(parts.glob("part-*.parquet")):
            raise InputError(
                f"{str(parts)!r} holds parts of a different job (changed: {', '.join(changed)}); "
                "pass overwrite=True to start again, or choose another destination"
            )
        overwrite = True  # a job that failed before writing a part: nothing to keep
    if parts.exists():
        if overwrite:
            shutil.rmtree(parts)
        elif any(parts.iterdir()):
            raise InputError(
                f"{str(parts)!r} exists and is not an embedframe output; pass overwrite=True to "
                "replace it, or choose another destination"
            )
    created = not parts.exists()
    parts.mkdir(parents=True, exist_ok=True)
    write_manifest(parts, signature)
    return created


def write_manifest(parts: Path, signature: Mapping[str, Any]) -> None:
    tmp = parts / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(signature, indent=1))
    os.replace(tmp, parts / MANIFEST)


def part_done(path: Path, rows: int) -> bool:
    if not path.exists():
        return False
    try:
        return bool(pq.ParquetFile(path).metadata.num_rows == rows)
    except (OSError, pa.ArrowException):
        return False
