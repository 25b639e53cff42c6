"""Writing a Dask frame as a directory of Parquet files, one per partition, in order."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .._storage.cachestore import is_remote, public_location, url_filesystem
from ..errors import InputError
from ..parquet import write_parquet

__all__ = [
    "MARKER",
    "WRITTEN_META",
    "Existing",
    "existing_job",
    "inputs_of",
    "job_marker",
    "prepare_local_dir",
    "prepare_remote_dir",
    "remove_marker",
    "series_digest",
    "text_columns",
    "write_marker",
    "write_part",
    "write_started",
]

_PART_FILE = re.compile(r"part\.[0-9]+\.parquet")


def prepare_local_dir(directory: Path, overwrite: bool) -> None:
    """Make ``directory``; refuse (or, with ``overwrite``, remove) the part files already there."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot write to {str(directory)!r}: it is a file; give a directory")
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in directory.iterdir() if _PART_FILE.fullmatch(p.name))
    _check_existing(str(directory), len(existing), overwrite)
    for stale in existing:
        stale.unlink()


def prepare_remote_dir(url: str, storage_options: Mapping[str, Any] | None, overwrite: bool) -> None:
    """As :func:`prepare_local_dir`, for an fsspec URL."""
    shown = public_location(url)
    fs, root = url_filesystem(url, storage_options, what="to_parquet")
    fs.invalidate_cache(root)
    if fs.isfile(root):
        raise InputError(f"cannot write to {shown!r}: it is a file; give a directory")
    fs.makedirs(root, exist_ok=True)
    fs.invalidate_cache(root)
    try:
        listed = fs.ls(root, detail=False)
    except FileNotFoundError:
        listed = []
    existing = sorted(p for p in map(str, listed) if _PART_FILE.fullmatch(p.rstrip("/").rpartition("/")[2]))
    _check_existing(shown, len(existing), overwrite)
    for stale in existing:
        fs.rm_file(stale)


def _check_existing(shown: str, count: int, overwrite: bool) -> None:
    if count and not overwrite:
        raise InputError(
            f"{shown!r} already holds {count} part file(s); pass overwrite=True "
            "to replace them, or write to another directory"
        )


def write_part(
    part: pd.DataFrame,
    directory: str,
    width: int,
    provenance: Mapping[str, Any] | None,
    text_hash_column: Hashable | None,
    kwargs: Mapping[str, Any],
    storage_options: Mapping[str, Any],
    partition_info: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    name = f"part.{number:0{width}d}.parquet"
    written = pd.DataFrame(
        {
            "rows": pd.Series([len(part)], dtype="int64"),
            "digest": [_frame_digest(part, text_columns(provenance))],
        }
    )
    if not is_remote(directory):
        path = Path(directory) / name
        write_parquet(part, path, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        return written
    # An object store: write the file here, then store it as one whole object (a PUT, or a
    # multipart upload that appears only when complete), so a reader never sees half a part.
    fs, root = url_filesystem(directory, storage_options, what="to_parquet")
    with tempfile.TemporaryDirectory(prefix="embedframe-part-") as scratch:
        local = Path(scratch) / name
        write_parquet(part, local, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        fs.put_file(str(local), f"{root}/{name}")
    return written


WRITTEN_META = pd.DataFrame({"rows": pd.Series([], dtype="int64"), "digest": pd.Series([], dtype=object)})
"""What :func:`write_part` returns for each partition: its rows, and its texts' digest."""


def inputs_of(provenance: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(text column, Dask token of the input column)`` of each vector column's provenance."""
    if not provenance:
        return []
    entries = provenance.get("vector_columns")
    found = list(entries.values()) if isinstance(entries, Mapping) else [provenance]
    return [
        (str(e["source_column"]), str(e["dask_input"]))
        for e in found
        if isinstance(e, Mapping) and "source_column" in e and "dask_input" in e
    ]


def text_columns(provenance: Mapping[str, Any] | None) -> list[str]:
    """The text columns the vectors were made from, sorted, each once."""
    return sorted({column for column, _ in inputs_of(provenance)})


def series_digest(series: pd.Series) -> str:
    """What a partition's text column holds, index included, as a hex digest (the same
    values, index and order give the same digest in any process)."""
    try:
        hashed = pd.util.hash_pandas_object(series, index=True).to_numpy()
    except TypeError:  # unhashable values (a list, a dict) kept as bad rows with details=True
        hashed = pd.util.hash_pandas_object(series.map(repr), index=True).to_numpy()
    return hashlib.sha256(len(hashed).to_bytes(8, "big") + hashed.tobytes()).hexdigest()


def _frame_digest(part: pd.DataFrame, columns: list[str]) -> str:
    by_name = {str(c): c for c in part.columns}
    return ",".join(series_digest(part[by_name[c]]) for c in columns if c in by_name)


# ------------------------------------------------------------------ rerunning a finished job

MARKER = "_embedframe_job.json"
"""Beside the part files: what job writes them (before the first part), then what job
made them (once every part is written)."""
_NOT_IDENTITY = ("created_at", "embedframe_version")


def job_marker(
    provenance: Mapping[str, Any] | None, parts: int, options: Mapping[str, Any]
) -> dict[str, Any]:
    """What identifies a directory's job: the vectors' provenance (resolved server host, model,
    size, tokenizer, window, chunking; the input's Dask token), the part count and the
    writer's options; not when or by which version it was written."""

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): strip(v) for k, v in value.items() if k not in _NOT_IDENTITY}
        return value

    return {"identity": strip(dict(provenance or {})), "parts": parts, "options": strip(dict(options))}


@dataclass(frozen=True)
class Existing:
    """This same job, found in the target directory."""

    rows: int | None
    """The rows it wrote, every part there; ``None``: started and never finished (a crash,
    a killed scheduler task), so its parts may be written again without ``overwrite=True``."""


def existing_job(
    target: str,
    storage_options: Mapping[str, Any] | None,
    marker: Mapping[str, Any],
    content: Callable[[], list[str] | None] | None = None,
) -> Existing | None:
    """This job as ``target`` already holds it (one read of the marker); ``None`` when it
    holds no job, or a finished one with parts missing. Another job's output raises,
    naming what differs.

    Dask's token of an input read from files changes with their modification times. When
    only that token differs, ``content()`` (the digests of the input's partitions, read now;
    ``None`` when it cannot tell) decides: the same texts are the same job (a touched or
    re-downloaded input), and the marker is brought up to date.
    """
    fs, root = _filesystem(target, storage_options)
    found = _read_marker(fs, root)
    if found is None:
        return None
    wanted = json.loads(json.dumps(marker, default=str))
    if found.get("job") != wanted:
        changed = _changes(found.get("job", {}), wanted)
        same_texts = (
            content is not None
            and all(c.rpartition(".")[2] == "dask_input" for c in changed)
            and found.get("content") is not None
            and content() == found["content"]
        )
        if not same_texts:
            raise InputError(
                f"{public_location(target)!r} holds the output of another job ({', '.join(changed)} "
                "differ); pass overwrite=True to replace it, or write to another directory"
            )
    if "rows" not in found:
        return Existing(rows=None)  # a started marker has no content: its job passed as equal
    width = max(5, len(str(int(marker["parts"]) - 1)))
    names = {f"part.{i:0{width}d}.parquet" for i in range(int(marker["parts"]))}
    present = {str(p).rstrip("/").rpartition("/")[2] for p in fs.ls(root, detail=False)}
    if not names <= present:
        return None
    if found.get("job") != wanted:
        _store_marker(fs, root, target, {**found, "job": wanted})
    return Existing(rows=int(found["rows"]))


def write_started(target: str, storage_options: Mapping[str, Any] | None, marker: Mapping[str, Any]) -> None:
    """Record that ``target`` is being written by this job (before any part is)."""
    fs, root = _filesystem(target, storage_options)
    _store_marker(fs, root, target, {"job": marker, "state": "started"})


def _read_marker(fs: Any, root: str) -> dict[str, Any] | None:
    try:
        with fs.open(f"{root}/{MARKER}", "rb") as f:
            found = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_marker(
    written: pd.DataFrame, target: str, storage_options: Mapping[str, Any] | None, marker: Mapping[str, Any]
) -> int:
    """Record that ``target`` holds this job, finished (after every part is written):
    ``written`` is what :func:`write_part` returned for each partition, in order. The rows."""
    fs, root = _filesystem(target, storage_options)
    rows = int(written["rows"].sum())
    _store_marker(
        fs, root, target, {"job": marker, "rows": rows, "content": [str(d) for d in written["digest"]]}
    )
    return rows


def _store_marker(fs: Any, root: str, target: str, record: Mapping[str, Any]) -> None:
    body = json.dumps(record, default=str, sort_keys=True).encode()
    if is_remote(target):
        with fs.open(f"{root}/{MARKER}", "wb") as f:  # one PUT: appears whole or not at all
            f.write(body)
    else:
        tmp = Path(root) / f".{MARKER}.tmp"
        tmp.write_bytes(body)
        os.replace(tmp, Path(root) / MARKER)


def remove_marker(target: str, storage_options: Mapping[str, Any] | None) -> None:
    """Forget the finished job before its parts are replaced."""
    fs, root = _filesystem(target, storage_options)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(f"{root}/{MARKER}")


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The dotted keys whose values differ (``["the job"]`` if none can be named)."""
    return _differing(old, new, "") or ["the job"]


def _differing(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for k in sorted(set(old) | set(new), key=str):
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differing(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


def _filesystem(target: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    if is_remote(target):
        return url_filesystem(target, storage_options, what="to_parquet")
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(Path(target))
