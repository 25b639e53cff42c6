"""Embed a file larger than memory: stream it in batches of rows, write Parquet parts, resume.

The input (Parquet, CSV or JSON Lines) is read in batches of ``batch_rows`` rows; each
batch is embedded and written as one Parquet part, atomically, next to a manifest that
pins the input and the options. A rerun after a crash skips the parts already written
(and the cache makes the batch in progress cheap), so the output never gets duplicate
rows. With a ``.parquet`` destination the parts are merged into that one file at the end,
one part at a time, so peak memory stays bounded by the batch size.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.api.types import is_scalar

from ._job.sync import run_sync
from ._wire.limits import shared_limits
from .api import PROVENANCE_ATTR, aembed_column, output_name
from .config import EmbedConfig, resolve_config
from .errors import InputError
from .parquet import read_provenance, write_parquet, write_table

__all__ = ["FileStats", "aembed_file", "embed_file"]

MANIFEST = "_embedframe_manifest.json"


@dataclass
class FileStats:
    """What a file job did."""

    rows: int = 0
    parts_written: int = 0
    parts_skipped: int = 0
    requests: int = 0
    tokens: int = 0
    cache_hits: int = 0
    error_rows: int = 0
    seconds: float = 0.0
    usd: float | None = None
    model: str = ""
    outputs: list[str] = field(default_factory=list)


def _format(src: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    name = src.name.lower()
    for suffix, kind in (
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
    ):
        if name.endswith(suffix):
            return kind
    if src.is_dir():
        return "parquet"
    raise InputError(
        f"cannot tell the format of {str(src)!r} from its name; pass format='parquet'|'csv'|'jsonl'"
    )


def read_batches(
    src: Path, *, batch_rows: int, fmt: str | None = None, text_column: Hashable | None = None
) -> Iterator[pd.DataFrame]:
    """The input, ``batch_rows`` rows at a time (the last batch may be shorter).

    A CSV's ``text_column`` is read as strings, whatever its values look like (``"42"``
    stays a text, not an integer).
    """
    kind = _format(src, fmt)
    if not src.exists():
        raise InputError(f"input file {str(src)!r} does not exist")
    if kind == "parquet":
        try:
            dataset = pq.ParquetFile(src) if src.is_file() else None
        except pa.ArrowException as err:
            raise InputError(f"{str(src)!r} is not a readable Parquet file: {err}") from err
        if dataset is not None:
            for batch in dataset.iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        else:
            import pyarrow.dataset as ds

            for batch in ds.dataset(src, format="parquet").to_batches(batch_size=batch_rows):
                yield batch.to_pandas()
    elif kind == "csv":
        yield from _rebatch(_csv_frames(src, text_column), batch_rows)
    elif kind == "jsonl":
        with pd.read_json(src, lines=True, chunksize=batch_rows, dtype=False) as reader:
            yield from reader
    else:
        raise InputError(f"unknown format {kind!r}; use 'parquet', 'csv' or 'jsonl'")


def _csv_frames(src: Path, text_column: Hashable | None) -> Iterator[pd.DataFrame]:
    """The CSV's blocks as frames; column types are guessed from the first block."""
    types = {str(text_column): pa.string()} if text_column is not None else {}
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as err:
            raise InputError(
                f"cannot read {str(src)!r}: {err}. A CSV's column types are guessed from its first "
                "4 MiB; convert the file to Parquet or JSON Lines with the types you mean"
            ) from err
        yield batch.to_pandas()


def _rebatch(frames: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Frames of exactly ``rows`` rows (the last may be shorter), whatever the reader's blocks."""
    held: list[pd.DataFrame] = []
    count = 0
    for frame in frames:
        held.append(frame)
        count += len(frame)
        while count >= rows:
            joined = pd.concat(held, ignore_index=True)
            yield joined.iloc[:rows].reset_index(drop=True)
            rest = joined.iloc[rows:].reset_index(drop=True)
            held, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield pd.concat(held, ignore_index=True)


def _signature(
    src: Path, column: Hashable, output: Hashable, batch_rows: int, cfg: EmbedConfig, details: bool
) -> dict[str, Any]:
    stat = src.stat()
    return {
        "source": str(src.resolve()),
        "source_size": stat.st_size if src.is_file() else None,
        "source_mtime_ns": stat.st_mtime_ns if src.is_file() else None,
        "column": str(column),
        "output": str(output),
        "batch_rows": batch_rows,
        "details": details,
        "model": cfg.model,
        "dimensions": cfg.dimensions,
        "encoding": cfg.encoding,
        "max_input_tokens": cfg.max_input_tokens,
        "long_text": cfg.long_text,
        "chunk_tokens": cfg.chunk_tokens,
        "chunk_overlap": cfg.chunk_overlap,
    }


def _open_parts_dir(parts: Path, signature: dict[str, Any], overwrite: bool) -> None:
    manifest = parts / MANIFEST
    if parts.exists() and manifest.exists() and not overwrite:
        previous = json.loads(manifest.read_text())
        if previous == signature:
            return
        if any(parts.glob("part-*.parquet")):
            changed = sorted(k for k in signature if previous.get(k) != signature[k])
            raise InputError(
                f"{str(parts)!r} holds parts of a different job (changed: {', '.join(changed)}); "
                "pass overwrite=True (--overwrite) to start again, or another destination"
            )
        overwrite = True  # a job that failed before writing a part: nothing to keep
    if parts.exists():
        if overwrite:
            shutil.rmtree(parts)
        elif any(parts.iterdir()):
            raise InputError(f"{str(parts)!r} exists and is not an embedframe output; pass overwrite=True")
    parts.mkdir(parents=True, exist_ok=True)
    tmp = parts / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(signature, indent=1))
    os.replace(tmp, manifest)


def _part_done(path: Path, rows: int) -> bool:
    if not path.exists():
        return False
    try:
        return bool(pq.ParquetFile(path).metadata.num_rows == rows)
    except (OSError, pa.ArrowException):
        return False


async def aembed_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    column: Hashable,
    output: Hashable | None = None,
    batch_rows: int = 20_000,
    format: str | None = None,
    details: bool = False,
    overwrite: bool = False,
    on_part: Callable[[int, int], None] | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> FileStats:
    """Embed ``column`` of the file ``src`` into ``dst``, carrying every other column through.

    ``dst`` ending in ``.parquet`` gives one file; any other ``dst`` is a directory of part
    files (``part-00000.parquet``, ...). Rerunning the same call after a crash resumes.
    ``on_part(part_number, rows)`` is called after each part is written.
    """
    import time

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise InputError(f"batch_rows must be a positive integer, got {batch_rows!r}")
    started = time.perf_counter()
    cfg = resolve_config(config, options)
    source, target = Path(src), Path(dst)
    _format(source, format)
    if not source.exists():
        raise InputError(f"input file {str(source)!r} does not exist")
    single = target.suffix.lower() in (".parquet", ".pq")
    parts = target.with_name(target.name + ".parts") if single else target
    if single and target.exists() and not overwrite:
        raise InputError(f"{str(target)!r} exists; pass overwrite=True (--overwrite) to replace it")
    vector_column = output if output is not None else output_name(column)
    _open_parts_dir(parts, _signature(source, column, vector_column, batch_rows, cfg, details), overwrite)
    stats = FileStats()
    # One budget for the whole file: each batch is its own job, and a fresh full bucket per
    # batch would let the file as a whole go over tokens_per_minute.
    with shared_limits():
        batches = read_batches(source, batch_rows=batch_rows, fmt=format, text_column=column)
        size: int | None = None  # of the vectors in the parts so far
        for number, frame in enumerate(batches):
            part = parts / f"part-{number:05d}.parquet"
            stats.rows += len(frame)
            if _part_done(part, len(frame)):
                stats.parts_skipped += 1
                size = size or _stored_size(part, vector_column)
                stats.model = stats.model or str(read_provenance(part).get("model") or "")
                continue
            batch_cfg = _config_for_batch(cfg, frame, column, size)
            out = await aembed_column(frame, column, output=output, details=details, config=batch_cfg)
            if size is None and out[vector_column].notna().any():
                size = _size_of(out[vector_column])
            summary = out.attrs.get("embedframe", {})
            stats.model = summary.get("model", "")
            stats.requests += summary.get("requests", 0)
            stats.tokens += summary.get("tokens", 0)
            stats.cache_hits += summary.get("cache_hits", 0)
            stats.error_rows += summary.get("error_rows", 0)
            if details:
                out[column] = _writable_texts(out[column])
            write_parquet(out, part, provenance=out.attrs[PROVENANCE_ATTR][str(vector_column)])
            stats.parts_written += 1
            if on_part is not None:
                on_part(number, len(frame))
    from .models import model_info

    price = model_info(stats.model).usd_per_million_tokens if stats.model else None
    stats.usd = stats.tokens * price / 1_000_000 if price is not None else None
    if single:
        _merge(parts, target)
        shutil.rmtree(parts)
        stats.outputs = [str(target)]
    else:
        stats.outputs = sorted(str(p) for p in parts.glob("part-*.parquet"))
    stats.seconds = time.perf_counter() - started
    return stats


def _config_for_batch(
    cfg: EmbedConfig, frame: pd.DataFrame, column: Hashable, size: int | None
) -> EmbedConfig:
    """``cfg``, or for a batch with no text to send, ``cfg`` sized like the parts so far.

    Nothing is sent for such a batch, so its null vectors would otherwise take the model
    table's size (which a server may not match), or fail for a model whose size is not known.
    """
    if size is None or cfg.dimensions is not None or not cfg.model_info.supports_dimensions:
        return cfg
    if column not in frame.columns or _has_text(frame[column]):
        return cfg
    return cfg.replace(dimensions=size)


def _has_text(values: pd.Series) -> bool:
    """Whether any value is a string with something other than whitespace: something to send."""
    return any(isinstance(v, str) and v and not v.isspace() for v in values.tolist())


def _size_of(vectors: pd.Series) -> int | None:
    dtype = vectors.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_fixed_size_list(dtype.pyarrow_dtype):
        return int(dtype.pyarrow_dtype.list_size)
    return None


def _stored_size(part: Path, vector_column: Hashable) -> int | None:
    """The size of the vectors in a part file written earlier."""
    schema = pq.read_schema(part)
    if str(vector_column) not in schema.names:
        return None
    t = schema.field(str(vector_column)).type
    return int(t.list_size) if pa.types.is_fixed_size_list(t) else None


def _writable_texts(texts: pd.Series) -> pd.Series:
    """The text column with each value that is not a string (a bad row, reported as such) as its ``str()``.

    Parquet cannot store a column that mixes strings with numbers, bytes or lists.
    """
    if texts.dtype != object:
        return texts
    values = texts.tolist()
    bad = [i for i, v in enumerate(values) if not isinstance(v, str) and not (is_scalar(v) and pd.isna(v))]
    if not bad:
        return texts
    for i in bad:
        values[i] = str(values[i])
    return pd.Series(values, index=texts.index, name=texts.name, dtype=object)


def _merge(parts: Path, target: Path) -> None:
    """Concatenate the parts into ``target`` one part at a time (atomic: temp file, then rename)."""
    files = sorted(parts.glob("part-*.parquet"))
    if not files:
        raise InputError(f"the input had no rows; nothing was written to {str(target)!r}")
    write_table(files, target)


def embed_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    column: Hashable,
    output: Hashable | None = None,
    batch_rows: int = 20_000,
    format: str | None = None,
    details: bool = False,
    overwrite: bool = False,
    on_part: Callable[[int, int], None] | None = None,
    config: EmbedConfig | None = None,
    **options: Any,
) -> FileStats:
    """Sync :func:`aembed_file`."""
    return run_sync(
        aembed_file(
            src,
            dst,
            column=column,
            output=output,
            batch_rows=batch_rows,
            format=format,
            details=details,
            overwrite=overwrite,
            on_part=on_part,
            config=config,
            **options,
        )
    )
