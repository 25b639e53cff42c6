"""Writing a Dask frame as a directory of Parquet files, one per partition, in order."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._storage.cachestore import is_remote, public_location, url_filesystem
from ..errors import InputError
from ..parquet import write_parquet

__all__ = ["prepare_local_dir", "prepare_remote_dir", "write_part"]

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
