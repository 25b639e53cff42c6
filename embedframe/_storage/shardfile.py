"""One shard file of the vector cache: written, opened, checked and read, in either format.

A shard holds rows of two non-null columns, ``key`` (``fixed_size_binary(32)``) and
``vector`` (``fixed_size_binary(4*d)``: the vector as little-endian float32), in groups of
about 1 MiB of vectors (a lookup reads whole groups). Its schema's metadata records the
format and ``d``.

- Format 2, ``shard-*.arrow`` (what is written): an Arrow IPC file, one record batch per
  group, each batch's custom metadata holding the CRC32C of its key bytes and of its
  vector bytes. Reads are memory-mapped where the shard is a local file, and every group read is
  checked against its CRCs, so a damaged shard is refused instead of giving a wrong vector.
- Format 1, ``shard-*.parquet`` (written by earlier versions; read, and merged into format 2
  by compaction): Parquet, uncompressed, page CRCs verified on read.

Measured reason for format 2 (``benchmarks/bench_throughput.py``, 100,000 texts at 1536-d, 2
vCPUs, the writer thread beside the event loop): writing the job's 614 MB cost the writer
thread about 0.7 s of CPU as Parquet (PLAIN encoding copies every value into page buffers,
then CRCs and writes them) and about 0.5 s as Arrow IPC with zlib's CRC32 (the buffers are
written from where they are, 1 MiB at a time, after one CRC pass), less again with CRC32C
in hardware; and the event loop shares those two cores.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import crc32c
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from .cachestore import Source

__all__ = ["FORMAT", "KEY_BYTES", "SUFFIX", "Damaged", "ShardReader", "open_shard", "write_shard"]

KEY_BYTES = 32
FORMAT = 2
"""The format written."""
SUFFIX = ".arrow"
"""The file name suffix of the format written (``.parquet``: format 1, read only)."""
META_KEY = b"embedframe.cache"
_CRC_KEY = b"embedframe.crc32c"
_GROUP_BYTES = 1 << 20
"""Vector bytes per group: a lookup reads (and checks) whole groups of the shards it touches."""
_PARQUET_OPTIONS: dict[str, object] = {
    "compression": "none",
    "use_dictionary": False,
    "write_statistics": False,
    "write_page_checksum": True,
}


class Damaged(Exception):
    """A shard that fails validation."""


Part = tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]
"""Keys as ``(n, 4)`` uint64 words, and their ``(n, d)`` float32 vectors."""


def schema(dim: int, fmt: int = FORMAT) -> pa.Schema:
    """The schema (with its metadata) of a ``dim``-d shard of format ``fmt``."""
    meta = json.dumps({"format": fmt, "dtype": "<f4", "dim": dim}, sort_keys=True)
    return pa.schema(
        [
            pa.field("key", pa.binary(KEY_BYTES), nullable=False),
            pa.field("vector", pa.binary(4 * dim), nullable=False),
        ],
        metadata={META_KEY: meta.encode()},
    )


def group_rows(dim: int) -> int:
    """Rows per group for ``dim``-d vectors (about 1 MiB of vectors)."""
    return max(1, _GROUP_BYTES // (4 * dim))


def write_shard(target: Any, dim: int, parts: Iterable[Part]) -> list[int]:
    """Write ``parts`` (all ``dim``-d) into ``target`` (a path or a binary file) as a format-2
    shard; the rows of each group written. The vectors are written from their own memory
    (copied only where a part is not contiguous)."""
    step = group_rows(dim)
    sizes: list[int] = []
    with ipc.new_file(target, schema(dim)) as writer:
        for words, vectors in parts:
            keys = np.ascontiguousarray(words, dtype=np.uint64)
            data = np.ascontiguousarray(vectors, dtype="<f4")
            for lo in range(0, len(keys), step):
                k, v = keys[lo : lo + step], data[lo : lo + step]
                crcs = f"{_crc(k)},{_crc(v)}"
                writer.write_batch(_batch(k, v, dim), custom_metadata={_CRC_KEY: crcs.encode()})
                sizes.append(len(k))
    return sizes


def write_parquet_shard(target: Any, dim: int, parts: Iterable[Part]) -> list[int]:
    """Write ``parts`` as a format-1 (Parquet) shard, as earlier versions did (for tests of
    the older format); the rows of each group."""
    collected: list[pq.FileMetaData] = []
    with pq.ParquetWriter(target, schema(dim, 1), metadata_collector=collected, **_PARQUET_OPTIONS) as writer:
        for words, vectors in parts:
            table = pa.Table.from_batches([_batch(words, np.ascontiguousarray(vectors, dtype="<f4"), dim)])
            writer.write_table(table, row_group_size=group_rows(dim))
    meta = collected[0]
    return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]


def _crc(array: npt.NDArray[Any]) -> int:
    """CRC32C of a contiguous array's bytes: in hardware where the CPU has it (14 GB/s
    measured against 2.4 for zlib's CRC32), without the GIL for large buffers."""
    return int(crc32c.crc32c(array.data))


def _batch(words: npt.NDArray[np.uint64], vectors: npt.NDArray[np.float32], dim: int) -> pa.RecordBatch:
    rows = len(words)
    return pa.RecordBatch.from_arrays(
        [
            pa.FixedSizeBinaryArray.from_buffers(pa.binary(KEY_BYTES), rows, [None, pa.py_buffer(words)]),
            pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 * dim), rows, [None, pa.py_buffer(vectors)]),
        ],
        schema=schema(dim),
    )


class ShardReader(Protocol):
    """An open, validated shard."""

    dim: int
    sizes: list[int]
    """Rows in each group."""

    def keys(self) -> npt.NDArray[np.uint64]:
        """Every key, checked, as an owned ``(rows, 4)`` uint64 array."""
        ...

    def vectors(self, group: int) -> npt.NDArray[np.float32]:
        """Group ``group``'s vectors, checked, as a ``(rows, d)`` array (valid while open)."""
        ...


@contextlib.contextmanager
def open_shard(name: str, source: Source, *, mapped: bool = False) -> Iterator[ShardReader]:
    """The shard ``name`` from ``source`` (a local path, or a readable binary file), opened and
    validated (``Damaged`` if it is not a whole shard of its format).

    ``mapped``: memory-map a local IPC shard, for reading its keys (only their pages are
    touched). Vectors are better read without it: a group read is a 1 MiB buffer freed after
    use, where mapped pages would stay resident (and counted in RSS) until the shard closes.
    """
    if name.endswith(".parquet"):
        yield _ParquetShard(source)
        return
    with contextlib.ExitStack() as stack:
        if isinstance(source, str):
            opener = pa.memory_map if mapped else pa.OSFile
            source_file: Any = stack.enter_context(opener(source, "r"))
        else:
            source_file = source
        try:
            reader = ipc.open_file(source_file)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise Damaged(f"not an Arrow IPC file ({exc})") from None
        yield _ArrowShard(reader)


def _dim_of(found: pa.Schema, fmt: int) -> int:
    vector_type = found.field("vector").type if found.names == ["key", "vector"] else None
    if vector_type is None or not pa.types.is_fixed_size_binary(vector_type) or vector_type.byte_width % 4:
        raise Damaged(f"unexpected schema {found.names}")
    dim = int(vector_type.byte_width) // 4
    if dim < 1 or not found.equals(schema(dim, fmt), check_metadata=True):
        raise Damaged("unexpected schema or format")
    return dim


def _words(array: pa.Array, rows: int) -> npt.NDArray[np.uint64]:
    if len(array) != rows or array.null_count:
        raise Damaged(f"{len(array)} keys (or nulls) for {rows} rows")
    raw = array.buffers()[1]
    if raw is None:
        raise Damaged("no key data")
    return np.frombuffer(raw, dtype=np.uint64, count=4 * rows, offset=array.offset * KEY_BYTES).reshape(-1, 4)


def _matrix(array: pa.Array, rows: int, dim: int) -> npt.NDArray[np.float32]:
    if len(array) != rows or array.null_count:
        raise Damaged(f"{len(array)} vectors (or nulls) for {rows} rows")
    raw = array.buffers()[1]
    if raw is None:
        raise Damaged("no vector data")
    view = np.frombuffer(raw, dtype="<f4", count=dim * rows, offset=array.offset * 4 * dim)
    return view.reshape(rows, dim)


class _ArrowShard:
    def __init__(self, reader: ipc.RecordBatchFileReader) -> None:
        self._reader = reader
        self.dim = _dim_of(reader.schema, FORMAT)
        # Batch g's rows, from its message header (memory-mapped: no data is read here).
        self.sizes = [reader.get_batch(g).num_rows for g in range(reader.num_record_batches)]

    def _group(self, g: int) -> tuple[pa.RecordBatch, int, int]:
        batch, meta = self._reader.get_batch_with_custom_metadata(g)
        try:
            key_crc, vector_crc = (int(x) for x in meta[_CRC_KEY].decode().split(","))
        except (TypeError, KeyError, AttributeError, ValueError):
            raise Damaged(f"group {g} has no checksums") from None
        if batch.num_rows != self.sizes[g]:
            raise Damaged(f"group {g} changed size")
        return batch, key_crc, vector_crc

    def keys(self) -> npt.NDArray[np.uint64]:
        out = np.empty((sum(self.sizes), 4), dtype=np.uint64)
        at = 0
        for g in range(len(self.sizes)):
            batch, key_crc, _ = self._group(g)
            words = _words(batch.column(0), batch.num_rows)
            if _crc(words) != key_crc:
                raise Damaged(f"group {g}'s keys fail their checksum")
            out[at : at + len(words)] = words
            at += len(words)
        return out

    def vectors(self, group: int) -> npt.NDArray[np.float32]:
        batch, _, vector_crc = self._group(group)
        matrix = _matrix(batch.column(1), batch.num_rows, self.dim)
        if _crc(matrix) != vector_crc:
            raise Damaged(f"group {group}'s vectors fail their checksum")
        return matrix


class _ParquetShard:
    def __init__(self, source: Source) -> None:
        try:
            self._file = pq.ParquetFile(
                source, memory_map=isinstance(source, str), page_checksum_verification=True
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise Damaged(f"not a Parquet file ({exc})") from None
        self.dim = _dim_of(self._file.schema_arrow, 1)
        meta = self._file.metadata
        self.sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        if sum(self.sizes) != meta.num_rows:
            raise Damaged("row group sizes do not add up")

    def keys(self) -> npt.NDArray[np.uint64]:
        column = self._file.read(columns=["key"]).column(0).combine_chunks()
        return _words(column, sum(self.sizes)).copy()

    def vectors(self, group: int) -> npt.NDArray[np.float32]:
        column = self._file.read_row_group(group, columns=["vector"]).column(0)
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        return _matrix(array, self.sizes[group], self.dim)


def concat_parts(parts: Sequence[Part]) -> npt.NDArray[np.uint64]:
    """The keys of ``parts``, in order, as one array."""
    return parts[0][0] if len(parts) == 1 else np.concatenate([w for w, _ in parts])
