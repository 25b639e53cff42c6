"""Parquet files of vector frames that pandas, pyarrow, polars and DuckDB all read.

A vector column is written as Arrow ``fixed_size_list<float32>[d]`` (a Parquet LIST of FLOAT;
the fixed size travels in the stored Arrow schema), without dictionary encoding or
statistics, with the byte-stream-split encoding and zstd (chosen by measurement: see
``benchmarks/PARQUET.md``). Writes are atomic. The embedding settings go in the footer under
the key ``embedframe`` (see :func:`provenance_for`); an API key never does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import InputError, InputTypeError
from .provenance import (
    PROVENANCE_ATTR,
    PROVENANCE_KEY,
    attached_provenance,
    provenance_by_column,
    provenance_for,
    provenance_json,
    read_provenance,
)

__all__ = [
    "DEFAULT_COMPRESSION",
    "PROVENANCE_KEY",
    "frame_to_table",
    "provenance_for",
    "read_parquet",
    "read_provenance",
    "write_parquet",
    "write_table",
]

DEFAULT_COMPRESSION = "zstd"
"""Codec for every column: with byte-stream-split, the smallest vector files for about pyarrow's CPU."""
BYTE_STREAM_SPLIT = True
"""Byte-stream-split the vector floats: lets the codec squeeze the sign/exponent bytes."""
ROW_GROUP_BYTES = 64 << 20
"""Vector bytes per row group by default: several groups for parallel readers, bounded memory."""
_READ_BATCH_BYTES = 8 << 20
_READ_BUFFER = 1 << 20


def is_vector_type(t: pa.DataType) -> bool:
    """Whether ``t`` is a vector type: ``fixed_size_list`` of floats."""
    return bool(pa.types.is_fixed_size_list(t) and pa.types.is_floating(t.value_type))


def _is_float_list(t: pa.DataType) -> bool:
    listlike = (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )
    return bool(listlike and pa.types.is_floating(t.value_type))


# --------------------------------------------------------------------------------------- write


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    provenance: Mapping[str, Any] | None = None,
    text_hash_column: Hashable | None = None,
    hash_column: str = "text_sha256",
    compression: str | Mapping[str, str] | None = DEFAULT_COMPRESSION,
    row_group_size: int | None = None,
    drop_null_vectors: bool = False,
    **kwargs: Any,
) -> None:
    """Write ``df`` to ``path`` atomically; any column of float lists is written as vectors.

    Float-list columns (vector ArrowDtype of any float width, variable-length lists, object
    columns of arrays) become ``fixed_size_list<float32>[d]``; rows of different lengths
    raise :class:`InputError`. ``provenance`` (JSON-able, e.g. from :func:`provenance_for`)
    is stored in the footer. ``text_hash_column`` adds (or replaces) ``hash_column``: the SHA-256 of each
    row's UTF-8 text as 64 lowercase hex digits (DuckDB's ``sha256(text)``), null for null
    text. ``row_group_size`` defaults to about 64 MiB of vectors per group; ``kwargs`` go to
    :func:`pyarrow.parquet.write_table` and override the vector settings.
    ``drop_null_vectors=True`` leaves out the rows with a null in any vector column (rows
    whose text was null or empty, or refused), for readers that take no null vector
    (LanceDB); the index of the rows kept is written as it is.

    Without ``provenance``, the one recorded in ``df.attrs`` when the frame was embedded is
    written (per vector column, under ``vector_columns`` when there are several).
    """
    if provenance is None:
        provenance = attached_provenance(df)
    table = frame_to_table(
        df,
        provenance=provenance,
        text_hash_column=text_hash_column,
        hash_column=hash_column,
        drop_null_vectors=drop_null_vectors,
    )
    write_table(table, path, compression=compression, row_group_size=row_group_size, **kwargs)


def frame_to_table(
    df: pd.DataFrame,
    *,
    provenance: Mapping[str, Any] | None = None,
    text_hash_column: Hashable | None = None,
    hash_column: str = "text_sha256",
    drop_null_vectors: bool = False,
) -> pa.Table:
    """The Arrow table :func:`write_parquet` writes; vector columns share the frame's memory."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if text_hash_column is not None:
        if text_hash_column not in df.columns:
            raise InputError(
                f"no column {text_hash_column!r} to hash; the columns are {list(df.columns[:20])}"
            )
        df = df.copy(deep=False)  # no data is copied; the caller's frame is left alone
        df[hash_column] = text_hashes(df[text_hash_column])
    table, vectors = _table_of(df)
    if drop_null_vectors and vectors:
        keep = np.ones(table.num_rows, dtype=bool)
        for name in vectors:
            keep &= table.column(name).is_valid().to_numpy(zero_copy_only=False)
        if not keep.all():  # filtered as a frame, so the index is written as pandas keeps it
            table, vectors = _table_of(df[keep])
    return table.replace_schema_metadata(_metadata(table.schema.metadata, vectors, provenance))


def _table_of(df: pd.DataFrame) -> tuple[pa.Table, set[str]]:
    try:
        table = pa.Table.from_pandas(df)  # ArrowDtype columns are taken as they are: no copy
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as err:
        raise InputError(f"the frame cannot be written to Parquet: {err}") from err
    return _as_vectors(table)


def write_table(
    source: pa.Table | Iterable[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    compression: str | Mapping[str, str] | None = DEFAULT_COMPRESSION,
    row_group_size: int | None = None,
    **kwargs: Any,
) -> None:
    """Write an Arrow table, or the Parquet files ``source`` one after another, atomically.

    The vector settings of :func:`write_parquet` apply; the table is written as given (no
    casts, no metadata changes). Files are read one at a time, so memory stays bounded by
    the largest; the schema and metadata are the first file's.
    """
    if isinstance(source, pa.Table):
        tables: Iterable[pa.Table] = [source]
        schema = source.schema
    else:
        files = [os.fspath(f) for f in source]
        if not files:
            raise InputError(f"no Parquet files to write to {os.fspath(path)!r}")
        schema = pq.read_schema(files[0])
        tables = (pq.read_table(f, schema=schema) for f in files)
    vectors = [i for i, field in enumerate(schema) if is_vector_type(field.type)]
    options = _writer_options(schema, vectors, compression, kwargs)
    if row_group_size is None:
        row_bytes = sum(schema.field(i).type.list_size * 4 for i in vectors)
        row_group_size = max(1, ROW_GROUP_BYTES // row_bytes) if row_bytes else None
    with _atomic(path) as tmp:
        try:
            with pq.ParquetWriter(tmp, schema, **options) as writer:
                for table in tables:
                    writer.write_table(table, row_group_size=row_group_size)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            raise InputError(f"cannot write {os.fspath(path)!r}: {err}") from err


def _as_vectors(table: pa.Table) -> tuple[pa.Table, set[str]]:
    """``table`` with every float-list column as ``fixed_size_list<float32>[d]``, and their names."""
    names: set[str] = set()
    for i, field in enumerate(table.schema):
        t = field.type
        if not _is_float_list(t):
            continue
        column = table.column(i)
        if pa.types.is_fixed_size_list(t):
            d = t.list_size
        else:
            lengths = pc.min_max(pc.list_value_length(column))
            lo, hi = lengths["min"].as_py(), lengths["max"].as_py()
            if lo is None:  # no vector at all: the dimension is unknown, leave the column be
                continue
            if lo != hi or lo == 0:
                raise InputError(
                    f"column {field.name!r} holds vectors of different lengths ({lo} to {hi}); "
                    "every vector of a column must have the same, non-zero dimension"
                )
            d = lo
        target = pa.list_(pa.float32(), d)
        if not t.equals(target):
            table = table.set_column(i, pa.field(field.name, target, field.nullable), column.cast(target))
        names.add(field.name)
    return table, names


def _metadata(
    metadata: Mapping[bytes, bytes] | None, vectors: set[str], provenance: Mapping[str, Any] | None
) -> dict[bytes, bytes]:
    out = dict(metadata or {})
    if b"pandas" in out:
        out[b"pandas"] = _readable_pandas_metadata(out[b"pandas"], vectors)
    if provenance is not None:
        out[PROVENANCE_KEY] = provenance_json(provenance)
    return out


def _readable_pandas_metadata(raw: bytes, vectors: set[str]) -> bytes:
    """pandas' metadata with every dtype string pandas cannot parse back replaced by ``object``.

    pandas records a vector column's dtype as ``fixed_size_list<item: float>[4][pyarrow]``,
    which ``pd.read_parquet`` cannot parse back (NotImplementedError: no pyarrow type
    parameters in dtype strings), so a plain read fails. With ``object`` it reads the column
    as pandas reads any list column: arrays of float32, ``None`` for null rows. The index
    description is kept, so the index round-trips.
    """
    meta = json.loads(raw)
    for column in meta.get("columns", []):
        name = column.get("field_name", column.get("name"))
        if name in vectors or not _parses(column.get("numpy_type")):
            column["numpy_type"] = "object"
    return json.dumps(meta).encode()


def _parses(dtype: object) -> bool:
    if not isinstance(dtype, str):
        return True
    try:
        pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError, NotImplementedError):
        return False
    return True


def _writer_options(
    schema: pa.Schema,
    vectors: list[int],
    compression: str | Mapping[str, str] | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``ParquetWriter`` options: pyarrow's for ordinary columns, ours for vectors."""
    options: dict[str, Any] = {"compression": "none" if compression is None else compression}
    if vectors:
        compliant = bool(kwargs.get("use_compliant_nested_type", True))
        leaves = _leaf_paths(schema, compliant)
        vector_leaves = [p for i in vectors for p in leaves[i]]
        other_leaves = [p for i, ps in enumerate(leaves) if i not in vectors for p in ps]
        options["use_dictionary"] = other_leaves  # random floats never dictionary-encode
        options["write_statistics"] = other_leaves  # min/max of a float list filter nothing
        options["use_byte_stream_split"] = vector_leaves if BYTE_STREAM_SPLIT else False
    options.update(kwargs)
    return options


def _leaf_paths(schema: pa.Schema, compliant: bool) -> list[list[str]]:
    """The Parquet leaf column paths (``v.list.element``) of each field of ``schema``."""
    sink = pa.BufferOutputStream()
    pq.ParquetWriter(sink, schema.remove_metadata(), use_compliant_nested_type=compliant).close()
    meta = pq.read_metadata(pa.BufferReader(sink.getvalue()))
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    out, start = [], 0
    for field in schema:
        count = _leaf_count(field.type)
        out.append(paths[start : start + count])
        start += count
    return out


def _leaf_count(t: pa.DataType) -> int:
    if isinstance(t, pa.ExtensionType):
        return _leaf_count(t.storage_type)
    if pa.types.is_struct(t):
        return sum(_leaf_count(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _leaf_count(t.key_type) + _leaf_count(t.item_type)
    if hasattr(t, "value_type") and not pa.types.is_dictionary(t):
        return _leaf_count(t.value_type)
    return 1


@contextlib.contextmanager
def _atomic(path: str | os.PathLike[str]) -> Iterator[str]:
    """A temporary path next to ``path``, moved onto it when the block succeeds, else removed."""
    target = Path(os.path.expanduser(os.fspath(path)))
    directory = target.parent
    if not directory.is_dir():
        raise InputError(f"cannot write {str(target)!r}: the directory {str(directory)!r} does not exist")
    if target.is_dir():
        raise InputError(f"cannot write {str(target)!r}: it is a directory")
    tmp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        yield str(tmp)
        with open(tmp, "rb+") as f:  # on disk before the rename, so a crash cannot expose a stub
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform (Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------- text hash


def text_hashes(texts: pd.Series) -> pd.Series:
    """SHA-256 of each text's UTF-8 bytes, as 64 hex digits; null for a null text.

    A lone surrogate is hashed as U+FFFD, the character embedframe sends in its place.
    """
    values = texts.to_numpy(dtype=object)
    missing = pd.isna(values)
    out = np.full(len(values), None, dtype=object)
    for i in np.flatnonzero(~missing).tolist():
        text = values[i]
        if not isinstance(text, str):
            raise InputTypeError(
                f"column {texts.name!r} holds a {type(text).__name__} at row label "
                f"{texts.index[i]!r}; only strings (or nulls) can be hashed"
            )
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
        out[i] = hashlib.sha256(data).hexdigest()
    return pd.Series(out, index=texts.index, dtype=object)


# ---------------------------------------------------------------------------------- provenance


# ---------------------------------------------------------------------------------------- read


def read_parquet(path: str | os.PathLike[str], *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The frame in ``path``, each vector column as a one-chunk ``fixed_size_list`` ArrowDtype.

    Other columns come back as ``pd.read_parquet`` gives them, and so does the index.
    ``embedframe.to_numpy`` on a vector column gives the matrix without a copy. A missing
    file raises ``FileNotFoundError``; an unknown name in ``columns``, :class:`InputError`.
    """
    pf = pq.ParquetFile(os.path.expanduser(os.fspath(path)), buffer_size=_READ_BUFFER, pre_buffer=False)
    schema = pf.schema_arrow
    names = _columns_to_read(schema, columns)
    fields = [schema.field(name) for name in names]
    vectors = {i for i, field in enumerate(fields) if is_vector_type(field.type)}
    if vectors:
        arrays = _read_streaming(pf, fields, vectors)
    else:
        table = pf.read(columns=names)
        arrays = [table.column(name) for name in names]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=schema.metadata))
    frame: pd.DataFrame = table.to_pandas(types_mapper=_vector_dtype)
    if PROVENANCE_ATTR not in frame.attrs:  # a file written from Arrow, not from a frame
        by_column = provenance_by_column(
            schema.metadata, [f.name for i, f in enumerate(fields) if i in vectors]
        )
        if by_column:
            frame.attrs[PROVENANCE_ATTR] = by_column
    return frame


def _vector_dtype(t: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(t) if is_vector_type(t) else None


def _columns_to_read(schema: pa.Schema, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return list(schema.names)
    if isinstance(columns, str):
        raise InputError(f"columns must be a list of names, got the string {columns!r}")
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise InputError(f"no column(s) {missing} in the file; its columns are {schema.names}")
    names = list(dict.fromkeys(columns))
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas", b"{}"))
    for index in pandas_meta.get("index_columns", []):  # as pandas does: the index comes along
        if isinstance(index, str) and index in schema.names and index not in names:
            names.append(index)
    return names


def _read_streaming(
    pf: pq.ParquetFile, fields: list[pa.Field], vectors: set[int]
) -> list[pa.Array | pa.ChunkedArray]:
    """Read in small batches, copying each vector batch into one preallocated matrix.

    Reading a whole nested column makes the Parquet reader hold its definition and
    repetition levels and growing buffers: about 3 to 5 times the column at peak, and
    ``combine_chunks`` on top would add one more copy. Copying batch by batch into the
    final buffer keeps the peak near the column's own size plus one batch, and leaves each
    vector column as one chunk, so ``to_numpy`` is a view.
    """
    n = pf.metadata.num_rows
    sinks = {i: _VectorSink(fields[i].type, n) for i in vectors}
    others: dict[int, list[pa.Array]] = {i: [] for i in range(len(fields)) if i not in vectors}
    row_bytes = sum(s.d * s.values.itemsize for s in sinks.values())
    batches = pf.iter_batches(
        batch_size=max(1, _READ_BATCH_BYTES // row_bytes), columns=[f.name for f in fields]
    )
    for batch in batches:
        for i, sink in sinks.items():
            sink.add(batch.column(i))
        for i, chunks in others.items():
            chunks.append(batch.column(i))
    out: list[pa.Array | pa.ChunkedArray] = []
    for i, field in enumerate(fields):
        out.append(sinks[i].finish() if i in sinks else pa.chunked_array(others[i], type=field.type))
    return out


class _VectorSink:
    """One vector column being filled batch by batch."""

    def __init__(self, t: pa.DataType, n: int) -> None:
        self.d: int = t.list_size
        self.values: npt.NDArray[Any] = np.empty(n * self.d, dtype=t.value_type.to_pandas_dtype())
        self.valid = np.ones(n, dtype=bool)
        self.child_valid: npt.NDArray[np.bool_] | None = None
        self.row = 0

    def add(self, batch: pa.FixedSizeListArray) -> None:
        k, d, start = len(batch), self.d, self.row
        if k == 0:
            return
        flat = batch.values.slice(batch.offset * d, k * d)
        data = np.frombuffer(flat.buffers()[1], dtype=self.values.dtype)[flat.offset : flat.offset + k * d]
        rows = self.values[start * d : (start + k) * d].reshape(k, d)
        rows[:] = data.reshape(k, d)
        if batch.null_count:
            valid = batch.is_valid().to_numpy(zero_copy_only=False)
            self.valid[start : start + k] = valid
            rows[~valid] = 0  # null rows hold no values in the file
        if flat.null_count:  # null floats inside vectors: rare, never made by embedframe
            inner = flat.is_valid().to_numpy(zero_copy_only=False).reshape(k, d)
            inner[~self.valid[start : start + k]] = True
            if not inner.all():
                if self.child_valid is None:
                    self.child_valid = np.ones(len(self.values), dtype=bool)
                self.child_valid[start * d : (start + k) * d] = inner.reshape(-1)
        self.row += k

    def finish(self) -> pa.FixedSizeListArray:
        mask = None if self.child_valid is None else ~self.child_valid
        values = pa.array(self.values, mask=mask)  # wraps the buffer: no copy
        rows = None if self.valid.all() else pa.array(~self.valid)
        return pa.FixedSizeListArray.from_arrays(values, self.d, mask=rows)
