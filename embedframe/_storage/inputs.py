"""Input files read as they are: Parquet, CSV and JSON Lines, in batches, with errors that name the line.

A CSV's columns are read as strings (``01234`` stays ``"01234"``), with its empty fields and
pandas' null markers (``NA``, ``null``, ...) as nulls, exactly as ``pd.read_csv`` reads them;
columns given in ``dtype`` are converted, and a value that does not convert names its line.
JSON Lines keep their JSON types (``dtype=False``: no guessing). :func:`check_input` reads
the whole input once, before anything is sent, so a bad line or a type problem is found
before it can cost money; :func:`fingerprint` identifies an input by its content, so a
``touch`` or a re-download does not make it another job.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError

__all__ = [
    "InputOptions",
    "InputSummary",
    "check_column",
    "check_input",
    "fingerprint",
    "input_format",
    "read_batches",
]

_SEPARATORS = {";": "';'", "\t": "'\\t'", "|": "'|'"}


@dataclass(frozen=True)
class InputOptions:
    """How to read an input file: its format, text encoding, CSV delimiter and column types."""

    format: str | None = None
    encoding: str | None = None
    """The file's text encoding (CSV, JSON Lines); default UTF-8."""
    delimiter: str | None = None
    """The CSV field separator; default ``,``."""
    dtype: Mapping[str, str] = field(default_factory=dict)
    """Types of columns to convert (pandas dtype names); every other CSV column stays text."""

    def __post_init__(self) -> None:
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise InputError(
                    f"unknown file_encoding={self.encoding!r}; use a Python codec name such as "
                    "'utf-8', 'latin-1' or 'cp1252'"
                ) from None
        if self.delimiter is not None and (not isinstance(self.delimiter, str) or len(self.delimiter) != 1):
            raise InputError(f"delimiter must be one character, got {self.delimiter!r}")
        if not isinstance(self.dtype, Mapping):
            raise InputError(f"dtype must map column names to types, got {type(self.dtype).__name__}")
        for name, kind in self.dtype.items():
            try:
                pd.api.types.pandas_dtype(kind)
            except (TypeError, ValueError):
                raise InputError(
                    f"dtype={{{name!r}: {kind!r}}}: {kind!r} is not a pandas type; use e.g. "
                    "'int64', 'Int64', 'float64', 'boolean' or 'str'"
                ) from None
        object.__setattr__(self, "dtype", dict(self.dtype))

    @property
    def text_encoding(self) -> str:
        return self.encoding or "utf-8"

    def as_dict(self) -> dict[str, Any]:
        """What changes the rows read (for a job's identity)."""
        return {"encoding": self.encoding, "delimiter": self.delimiter, "dtype": dict(self.dtype)}


def input_format(src: Path, fmt: str | None) -> str:
    """``fmt``, or the format the name of ``src`` says."""
    if fmt:
        if fmt not in ("parquet", "csv", "jsonl"):
            raise InputError(f"unknown format {fmt!r}; use format='parquet', 'csv' or 'jsonl'")
        return fmt
    name = src.name.lower()
    for suffix, kind in (
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
        (".tsv", "csv"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
    ):
        if name.endswith(suffix):
            return kind
    if src.is_dir():
        return "parquet"
    raise InputError(
        f"cannot tell the format of {str(src)!r} from its name; pass format='parquet', 'csv' or 'jsonl'"
    )


def read_batches(
    src: Path,
    *,
    batch_rows: int,
    fmt: str | None = None,
    text_column: Hashable | None = None,
    options: InputOptions | None = None,
) -> Iterator[pd.DataFrame]:
    """The input, ``batch_rows`` rows at a time (the last batch may be shorter).

    An input with a header and no rows gives one empty frame with its columns. A CSV's
    ``text_column`` is always text, whatever ``dtype`` says.
    """
    opts = options or InputOptions(format=fmt)
    kind = input_format(src, fmt or opts.format)
    _check_exists(src)
    if kind == "parquet":
        yield from _parquet_batches(src, batch_rows)
    elif kind == "csv":
        yield from _csv_batches(src, batch_rows, text_column, opts)
    else:
        yield from _jsonl_batches(src, batch_rows, text_column, opts)


def _check_exists(src: Path) -> None:
    if not src.exists():
        raise InputError(f"input file {str(src)!r} does not exist")
    if src.is_file() and src.stat().st_size == 0:
        raise InputError(
            f"{str(src)!r} is empty (0 bytes): it has no header, so not even its columns are known; "
            "check the step that wrote it"
        )


def _parquet_batches(src: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    try:
        if src.is_file():
            file = pq.ParquetFile(src)
            batches = file.iter_batches(batch_size=batch_rows)
            schema = file.schema_arrow
        else:
            import pyarrow.dataset as ds

            dataset = ds.dataset(src, format="parquet", schema=_dataset_schema(src))
            batches = dataset.to_batches(batch_size=batch_rows)
            schema = dataset.schema
        empty = True
        for batch in batches:
            if batch.num_rows:
                empty = False
                yield batch.to_pandas()
        if empty:
            yield schema.empty_table().to_pandas()
    except pa.ArrowException as err:
        raise InputError(f"{str(src)!r} is not a readable Parquet file: {err}") from err


def _csv_batches(
    src: Path, batch_rows: int, text_column: Hashable | None, opts: InputOptions
) -> Iterator[pd.DataFrame]:
    sep = opts.delimiter or ("\t" if src.name.lower().endswith(".tsv") else ",")
    done = 0
    try:
        reader = pd.read_csv(
            src, dtype=str, sep=sep, encoding=opts.text_encoding, chunksize=batch_rows, engine="c"
        )
        with reader:
            for frame in reader:
                yield _convert(frame, opts, text_column, src, first_row=done)
                done += len(frame)
    except UnicodeDecodeError as err:
        raise _encoding_error(src, opts, err) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{str(src)!r} holds no header line: nothing to read") from None
    except pd.errors.ParserError as err:
        raise _csv_error(src, str(err), sep) from None


def _convert(
    frame: pd.DataFrame, opts: InputOptions, text_column: Hashable | None, src: Path, *, first_row: int
) -> pd.DataFrame:
    """``frame`` with the columns named in ``dtype`` converted; a value that does not convert is named."""
    for name, kind in opts.dtype.items():
        if name == text_column or name not in frame.columns:
            continue
        try:
            frame[name] = frame[name].astype(pd.api.types.pandas_dtype(kind))
        except (TypeError, ValueError, OverflowError):
            row, value = _first_unconvertible(frame[name], kind)
            raise InputError(
                f"cannot read {str(src)!r}: column {name!r} holds {value!r} at data row "
                f"{first_row + row + 1:,}, which is not {kind}; fix that value, or leave the column "
                f"out of dtype to keep it as text"
            ) from None
    return frame


def _first_unconvertible(values: pd.Series, kind: str) -> tuple[int, object]:
    for i, value in enumerate(values.tolist()):
        try:
            pd.Series([value], dtype=object).astype(pd.api.types.pandas_dtype(kind))
        except (TypeError, ValueError, OverflowError):
            return i, value
    return 0, values.iloc[0] if len(values) else None


def _encoding_error(src: Path, opts: InputOptions, err: UnicodeDecodeError) -> InputError:
    """The line of ``src`` that is not valid in its encoding, named with the fix."""
    decoder = codecs.getincrementaldecoder(opts.text_encoding)()
    where = ""
    with src.open("rb") as f:
        for number, line in enumerate(f, 1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as bad:
                byte = line[bad.start : bad.start + 1]
                where = f" at line {number:,} (byte 0x{byte.hex()})"
                break
    return InputError(
        f"cannot read {str(src)!r}: it is not valid {opts.text_encoding} text{where}; if the file "
        "was saved in another encoding, pass file_encoding='latin-1' (or the encoding it was saved in)"
    )


def _csv_error(src: Path, message: str, sep: str) -> InputError:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        want, line, saw = (int(g) for g in found.groups())
        return InputError(
            f"cannot read {str(src)!r}: line {line:,} has {saw} fields where the header has {want}; "
            f"quote the fields that contain {sep!r}, or pass delimiter=... if the file uses another "
            "separator"
        )
    return InputError(f"cannot read {str(src)!r} as CSV: {message.strip()}; check the quoting near there")


def _jsonl_batches(
    src: Path, batch_rows: int, text_column: Hashable | None, opts: InputOptions
) -> Iterator[pd.DataFrame]:
    done = 0
    try:
        with pd.read_json(
            src, lines=True, chunksize=batch_rows, dtype=False, encoding=opts.text_encoding
        ) as reader:
            for frame in reader:
                yield _convert(frame, opts, text_column, src, first_row=done)
                done += len(frame)
    except UnicodeDecodeError as err:
        raise _encoding_error(src, opts, err) from None
    except InputError:
        raise
    except ValueError as err:
        raise _json_error(src, opts, err) from None
    if done == 0:
        raise InputError(
            f"{str(src)!r} holds no JSON line: not even its columns are known; check the step that wrote it"
        )


def _json_error(src: Path, opts: InputOptions, err: ValueError) -> InputError:
    """The first line of ``src`` that is not a JSON object, named with the reason."""
    with src.open("r", encoding=opts.text_encoding, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as bad:
                reason = getattr(bad, "msg", str(bad))
                column = getattr(bad, "colno", None)
                at = f" at column {column}" if column else ""
                return InputError(
                    f"cannot read {str(src)!r}: line {number:,} is not valid JSON ({reason}{at}); "
                    "fix or remove that line (each line of a JSON Lines file is one JSON object)"
                )
            if not isinstance(value, dict):
                return InputError(
                    f"cannot read {str(src)!r}: line {number:,} holds a JSON {type(value).__name__}, "
                    "not an object; each line of a JSON Lines file must be one object"
                )
    return InputError(f"cannot read {str(src)!r} as JSON Lines: {err}")


# ------------------------------------------------------------------------------ whole-input check


@dataclass(frozen=True)
class InputSummary:
    """What a full read of the input found."""

    rows: int
    columns: list[str]
    schema: pa.Schema | None
    """Arrow types of the columns, unified over every batch (None for Parquet: already typed)."""


def check_input(src: Path, *, column: Hashable, batch_rows: int, options: InputOptions) -> InputSummary:
    """Read the whole input once, before anything is sent: every line parses, ``column``
    exists, and each column has one type throughout. Raises :class:`InputError` naming the
    line and the fix.
    """
    kind = input_format(src, options.format)
    _check_exists(src)
    if kind == "parquet":
        try:
            schema = pq.read_schema(src) if src.is_file() else _dataset_schema(src)
        except pa.ArrowException as err:
            raise InputError(f"{str(src)!r} is not a readable Parquet file: {err}") from err
        names = list(schema.names)
        check_column(src, column, names)
        rows = pq.ParquetFile(src).metadata.num_rows if src.is_file() else -1
        return InputSummary(rows, names, None)
    count = 0
    found: list[str] | None = None
    unified: pa.Schema | None = None
    first: dict[str, tuple[int, pa.DataType]] = {}
    for frame in read_batches(src, batch_rows=batch_rows, text_column=column, options=options):
        if found is None:
            found = [str(c) for c in frame.columns]
            check_column(src, column, list(frame.columns))
            unknown = sorted(set(options.dtype) - set(found))
            if unknown:
                raise InputError(
                    f"dtype names column(s) {unknown} that {str(src)!r} does not have; its columns "
                    f"are {found[:20]}"
                )
        schema = _frame_schema(frame)
        unified = schema if unified is None else _unify(src, unified, schema, first, count, len(frame))
        for f in schema:
            if not pa.types.is_null(f.type):
                first.setdefault(f.name, (count, f.type))
        count += len(frame)
    return InputSummary(count, found or [], unified)


def _dataset_schema(src: Path) -> pa.Schema:
    """The schema of a folder of Parquet files, unified over every file (footers only).

    A file whose columns cannot share a type with the others' is refused by name, before
    anything is sent, rather than failing when its batch comes.
    """
    files = sorted(p for p in src.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise InputError(f"the folder {str(src)!r} holds no Parquet file")
    unified = pq.read_schema(files[0])
    for file in files[1:]:
        schema = pq.read_schema(file)
        try:
            unified = pa.unify_schemas([unified, schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            other = [
                f"{f.name} ({f.type} here, {unified.field(f.name).type} before)"
                for f in schema
                if f.name in unified.names and not f.type.equals(unified.field(f.name).type)
            ]
            raise InputError(
                f"{str(file)!r} does not fit the other files of {str(src)!r}: column(s) "
                f"{', '.join(other) or schema.names}; give every file the same types"
            ) from None
    return unified


def check_column(src: Path, column: Hashable, names: list[Any]) -> None:
    if column in names:
        return
    shown = [str(n) for n in names[:20]]
    hint = ""
    if len(names) == 1:
        for sep, shown_sep in _SEPARATORS.items():
            if sep in str(names[0]) and str(column) in str(names[0]).split(sep):
                hint = f". The header looks {shown_sep}-separated: pass delimiter={shown_sep}"
                break
    raise InputError(f"no column {column!r} in {str(src)!r}; its columns are {shown}{hint}")


def _frame_schema(frame: pd.DataFrame) -> pa.Schema:
    try:
        return pa.Schema.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fields = []
        for name in frame.columns:
            try:
                t = pa.Schema.from_pandas(frame[[name]], preserve_index=False).field(0).type
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                t = pa.string()  # mixed values: the writer reports them with their row
            fields.append(pa.field(str(name), t))
        return pa.schema(fields)


def _unify(
    src: Path,
    unified: pa.Schema,
    schema: pa.Schema,
    first: dict[str, tuple[int, pa.DataType]],
    rows: int,
    count: int,
) -> pa.Schema:
    try:
        return pa.unify_schemas([unified, schema], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    for f in schema:
        if f.name not in unified.names:
            continue
        try:
            pa.unify_schemas(
                [pa.schema([unified.field(f.name)]), pa.schema([f])], promote_options="permissive"
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            row, kind = first.get(f.name, (0, unified.field(f.name).type))
            raise InputError(
                f"cannot read {str(src)!r}: column {f.name!r} holds {kind} values from data row "
                f"{row + 1:,} and {f.type} values in data rows {rows + 1:,} to {rows + count:,}; "
                f"give it one type, e.g. dtype={{{f.name!r}: 'str'}}"
            ) from None
    return pa.unify_schemas([unified, schema], promote_options="permissive")


# ---------------------------------------------------------------------------------- fingerprint


def fingerprint(src: Path, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The input's size, modification time and SHA-256 of its content (of every file in a folder).

    When ``previous`` (an earlier fingerprint) has the same size and modification time,
    its hash is reused: the file is read again only when it may have changed.
    """
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
    size = sum(p.stat().st_size for p in files)
    mtime = max((p.stat().st_mtime_ns for p in files), default=0)
    if previous and previous.get("size") == size and previous.get("mtime_ns") == mtime:
        return {"size": size, "mtime_ns": mtime, "sha256": previous.get("sha256")}
    digest = hashlib.sha256()
    for p in files:
        if src.is_dir():
            digest.update(str(p.relative_to(src)).encode() + b"\0")
        with p.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return {"size": size, "mtime_ns": mtime, "sha256": digest.hexdigest()}
