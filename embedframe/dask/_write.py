"""Writing a Dask frame as a directory of Parquet files, one per partition, in order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._storage.cachestore import is_remote, public_location, url_filesystem
from ..errors import InputError
from ..parquet import write_parquet

__all__ = [
    "MARKER",
    "finished",
    "job_marker",
    "prepare_local_dir",
    "prepare_remote_dir",
    "remove_marker",
    "write_marker",
    "write_part",
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
    if not is_remote(directory):
        path = Path(directory) / name
        write_parquet(part, path, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        return pd.DataFrame({"rows": [len(part)]}, dtype="int64")
    # An object store: write the file here, then store it as one whole object (a PUT, or a
    # multipart upload that appears only when complete), so a reader never sees half a part.
    fs, root = url_filesystem(directory, storage_options, what="to_parquet")
    with tempfile.TemporaryDirectory(prefix="embedframe-part-") as scratch:
        local = Path(scratch) / name
        write_parquet(part, local, provenance=provenance, text_hash_column=text_hash_column, **kwargs)
        fs.put_file(str(local), f"{root}/{name}")
    return pd.DataFrame({"rows": [len(part)]}, dtype="int64")


# ------------------------------------------------------------------ rerunning a finished job

MARKER = "_embedframe_job.json"
"""Written beside the part files once every part is written: what job made them."""
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


def finished(target: str, storage_options: Mapping[str, Any] | None, marker: Mapping[str, Any]) -> int | None:
    """The rows written when ``target`` already holds this same job, finished (every part
    there); ``None`` when it holds no finished job. Another job's output raises, naming what
    differs."""
    fs, root = _filesystem(target, storage_options)
    try:
        with fs.open(f"{root}/{MARKER}", "rb") as f:
            found = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    if found.get("job") != json.loads(json.dumps(marker, default=str)):
        changed = _changes(found.get("job", {}), json.loads(json.dumps(marker, default=str)))
        raise InputError(
            f"{public_location(target)!r} holds the output of another job ({', '.join(changed)} differ); "
            "pass overwrite=True to replace it, or write to another directory"
        )
    width = max(5, len(str(int(marker["parts"]) - 1)))
    names = {f"part.{i:0{width}d}.parquet" for i in range(int(marker["parts"]))}
    present = {str(p).rstrip("/").rpartition("/")[2] for p in fs.ls(root, detail=False)}
    return int(found["rows"]) if names <= present else None


def write_marker(
    rows: int, target: str, storage_options: Mapping[str, Any] | None, marker: Mapping[str, Any]
) -> int:
    """Record that ``target`` holds this job, finished (after every part is written)."""
    fs, root = _filesystem(target, storage_options)
    body = json.dumps({"job": marker, "rows": int(rows)}, default=str, sort_keys=True).encode()
    if is_remote(target):
        with fs.open(f"{root}/{MARKER}", "wb") as f:  # one PUT: appears whole or not at all
            f.write(body)
    else:
        tmp = Path(root) / f".{MARKER}.tmp"
        tmp.write_bytes(body)
        os.replace(tmp, Path(root) / MARKER)
    return int(rows)


def remove_marker(target: str, storage_options: Mapping[str, Any] | None) -> None:
    """Forget the finished job before its parts are replaced."""
    fs, root = _filesystem(target, storage_options)
    with contextlib.suppress(FileNotFoundError):
        fs.rm_file(f"{root}/{MARKER}")


def _changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new), key=str)
    out: list[str] = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _changes(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out or ["the job"]


def _filesystem(target: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    if is_remote(target):
        return url_filesystem(target, storage_options, what="to_parquet")
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(Path(target))
