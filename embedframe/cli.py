"""The ``embedframe`` command: ``embed``, ``estimate``, ``inspect`` and ``serve``.

Exit codes: 0 done; 2 bad input or options; 3 the API failed (error status, transport,
broken response, quota); 4 a rate limit stopped the job (run again later to resume);
130 interrupted (Ctrl-C; run the same command again to resume); 141 the reader of the
output went away (``| head``). Rerunning a finished ``embed`` does nothing and exits 0. Messages
name this command's flags (``--overwrite``) where the Python API's say ``overwrite=True``.
The API key comes from
``OPENAI_API_KEY`` or ``--api-key`` and is never printed.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from ._version import __version__
from .errors import (
    APIError,
    ConfigError,
    EmbedFrameError,
    InputError,
    RateLimitError,
    ResponseError,
    TransportError,
)

if TYPE_CHECKING:
    from .files import FileStats

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_API, EXIT_RATE_LIMIT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_BROKEN_PIPE = 141  # as a tool killed by SIGPIPE: the reader of the output went away


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Parquet, CSV or JSON Lines file (or a folder of Parquet files)")
    parser.add_argument("-c", "--column", required=True, help="the text column")
    parser.add_argument(
        "--format", choices=["parquet", "csv", "jsonl"], help="input format (default: from the name)"
    )
    parser.add_argument("--encoding", help="the file's text encoding, e.g. latin-1 (default: utf-8)")
    parser.add_argument("--delimiter", help="a CSV's field separator, e.g. ';' or tab (default: ',')")
    parser.add_argument(
        "--dtype",
        action="append",
        default=[],
        metavar="COLUMN=TYPE",
        help="a column's type, e.g. stars=int64 (repeatable; other CSV columns stay text)",
    )
    parser.add_argument(
        "--model",
        help="model name (default: the server's only model, text-embedding-3-small on OpenAI, or the local model)",
    )
    parser.add_argument("--dimensions", type=int, help="vector size (text-embedding-3 models)")
    parser.add_argument(
        "--base-url", help="API root, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)"
    )
    parser.add_argument(
        "--api-key", help="API key (default: $OPENAI_API_KEY; prefer the variable: command lines are visible)"
    )
    parser.add_argument(
        "--long-text", choices=["chunk", "truncate", "error"], help="texts over the input limit"
    )
    parser.add_argument(
        "--max-input-tokens",
        type=int,
        help="tokens of text per input (default: what the server reports, else the model table's)",
    )
    parser.add_argument(
        "--tokenizer",
        help="the model's tokenizer: a tokenizer.json or its folder, a Hugging Face id in the local "
        "cache, a tiktoken encoding, 'server' (its /tokenize) or 'bytes' (default: found for the model)",
    )
    parser.add_argument("--chunk-tokens", type=int, help="tokens per chunk (default: the input limit)")
    parser.add_argument("--chunk-overlap", type=int, help="tokens shared by consecutive chunks")
    parser.add_argument("--max-inputs-per-request", type=int)
    parser.add_argument("--max-tokens-per-request", type=int)
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the vector cache")
    parser.add_argument(
        "--cache-dir",
        help="vector cache folder or fsspec URL, e.g. s3://bucket/vectors "
        "(default: $EMBEDFRAME_CACHE_DIR, else the user cache dir)",
    )
    parser.add_argument(
        "--cache-storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec option for a URL cache, e.g. endpoint_url=http://minio:9000 (repeatable; "
        "VALUE is read as JSON where it parses: true, 3, {...}); pass credentials in the "
        "environment instead (AWS_*, FSSPEC_S3_*): command lines are visible",
    )


def _config_options(args: argparse.Namespace) -> dict[str, Any]:
    names = {
        "model": "model",
        "dimensions": "dimensions",
        "base_url": "base_url",
        "api_key": "api_key",
        "long_text": "long_text",
        "max_input_tokens": "max_input_tokens",
        "tokenizer": "tokenizer",
        "chunk_tokens": "chunk_tokens",
        "chunk_overlap": "chunk_overlap",
        "max_inputs_per_request": "max_inputs_per_request",
        "max_tokens_per_request": "max_tokens_per_request",
        "concurrency": "concurrency",
    }
    options = {
        dest: getattr(args, src) for src, dest in names.items() if getattr(args, src, None) is not None
    }
    if args.no_cache:
        options["cache"] = False
    elif args.cache_dir:
        options["cache"] = args.cache_dir
    if args.cache_storage_option:
        options["cache_storage_options"] = _storage_options(args.cache_storage_option)
    return options


def _storage_options(items: list[str]) -> dict[str, Any]:
    """``--cache-storage-option`` items as fsspec options: ``KEY=VALUE``, the value as JSON
    where it parses, else as text. Values are never echoed (they may be credentials)."""
    options: dict[str, Any] = {}
    for n, item in enumerate(items, 1):
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(
                f"--cache-storage-option #{n} must be KEY=VALUE with KEY an option name, "
                "e.g. --cache-storage-option endpoint_url=http://127.0.0.1:9000"
            )
        try:
            options[key] = json.loads(text)
        except ValueError:
            options[key] = text
    return options


def _file_options(args: argparse.Namespace) -> dict[str, Any]:
    """How to read the input: ``format``, ``file_encoding``, ``delimiter`` and ``dtype``."""
    types: dict[str, str] = {}
    for item in args.dtype:
        name, sep, kind = item.partition("=")
        if not sep or not name or not kind:
            raise InputError(f"--dtype takes COLUMN=TYPE, e.g. --dtype stars=int64; got {item!r}")
        types[name] = kind
    delimiter = args.delimiter
    if delimiter in ("tab", "\\t", "TAB"):
        delimiter = "\t"
    return {"format": args.format, "file_encoding": args.encoding, "delimiter": delimiter, "dtype": types}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedframe", description="Embed a text column through an OpenAI-compatible embeddings API."
    )
    parser.add_argument("--version", action="version", version=f"embedframe {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    embed = commands.add_parser("embed", help="embed a column of a file into Parquet (resumable)")
    _job_options(embed)
    embed.add_argument("-o", "--output", required=True, help="OUT.parquet, or a folder for part files")
    embed.add_argument("--vector-column", help="name of the vector column (default: <column>_embedding)")
    embed.add_argument("--batch-rows", type=int, default=20_000, help="rows read and written at a time")
    embed.add_argument("--concurrency", type=int, help="requests in flight (default: 8)")
    embed.add_argument("--details", action="store_true", help="per-row tokens, chunks, truncation and status")
    embed.add_argument(
        "--drop-null-vectors",
        action="store_true",
        help="write only the rows that have a vector (LanceDB refuses null vectors)",
    )
    embed.add_argument("--overwrite", action="store_true", help="replace an existing output")
    embed.add_argument("--no-progress", action="store_true", help="no progress bar")

    estimate = commands.add_parser("estimate", help="tokens, requests and cost, without sending anything")
    _job_options(estimate)
    estimate.add_argument("--json", action="store_true", help="print JSON")

    inspect = commands.add_parser(
        "inspect", help="schema, provenance, rows, dimension and nulls of a Parquet file"
    )
    inspect.add_argument("path")
    inspect.add_argument("--json", action="store_true", help="print JSON")

    serve = commands.add_parser("serve", help="serve the local model as an OpenAI-compatible API")
    from .serve import add_serve_arguments

    add_serve_arguments(serve)
    from .batch_cli import add_batch_parser

    add_batch_parser(commands, _job_options)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"embedframe: {for_cli(message)}", file=sys.stderr)
    return code


_FLAGS = {
    "overwrite": "--overwrite",
    "details": "--details",
    "drop_null_vectors": "--drop-null-vectors",
    "file_encoding": "--encoding",
    "delimiter": "--delimiter",
    "dtype": "--dtype",
    "format": "--format",
    "batch_rows": "--batch-rows",
    "column": "--column",
    "model": "--model",
    "dimensions": "--dimensions",
    "base_url": "--base-url",
    "api_key": "--api-key",
    "long_text": "--long-text",
    "max_input_tokens": "--max-input-tokens",
    "tokenizer": "--tokenizer",
    "chunk_tokens": "--chunk-tokens",
    "chunk_overlap": "--chunk-overlap",
    "max_inputs_per_request": "--max-inputs-per-request",
    "max_tokens_per_request": "--max-tokens-per-request",
    "concurrency": "--concurrency",
    "cache": "--cache-dir",
    "cache_dir": "--cache-dir",
    "cache_storage_options": "--cache-storage-option",
    "host": "--host",
    "port": "--port",
}
_PYTHON_OPTION = re.compile(
    r"\b(" + "|".join(_FLAGS) + r")=(True|\.\.\.|'[^']*'|\"[^\"]*\"|\{[^}]*\}|[\w.:/-]+)"
)


def for_cli(message: str) -> str:
    """``message`` with the Python options it advises (``overwrite=True``) as this command's
    flags (``--overwrite``): errors speak the interface in use."""

    def flag(found: re.Match[str]) -> str:
        name, value = _FLAGS[found.group(1)], found.group(2)
        if found.group(1) == "cache" and value == "False":
            return "--no-cache"
        if value == "True":
            return name
        if value.startswith("{"):
            try:
                pairs = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return found.group(0)
            return " ".join(f"{name} {shlex.quote(f'{k}={v}')}" for k, v in dict(pairs).items())
        if value[0] in "'\"":
            value = ast.literal_eval(value)
            value = "tab" if value == "\t" else shlex.quote(value)
        return f"{name} {value}"

    return _PYTHON_OPTION.sub(flag, message)


def _run_embed(args: argparse.Namespace) -> int:
    from .files import embed_file

    options = _config_options(args)
    if args.no_progress:
        options["progress"] = False
    stats = embed_file(
        args.input,
        args.output,
        column=args.column,
        output=args.vector_column,
        batch_rows=args.batch_rows,
        details=args.details,
        drop_null_vectors=args.drop_null_vectors,
        overwrite=args.overwrite,
        **_file_options(args),
        **options,
    )
    print(job_summary(stats, args.output), file=sys.stderr)
    return EXIT_OK


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def job_summary(stats: FileStats, output: str) -> str:
    """The line ``embedframe embed`` prints when it is done."""
    model = stats.model or "the model"
    if stats.already_done:
        return (
            f"{output} already holds this job, finished ({_count(stats.rows, 'row')} embedded with "
            f"{model}): nothing sent, nothing rewritten, {stats.seconds:.1f} s"
        )
    cost = "unknown" if stats.usd is None else f"${stats.usd:,.4f}"
    sent = ""
    if stats.tokens_sent > stats.tokens:
        sent = f" ({stats.tokens_sent:,} sent at most: an upper bound, retries and splits included)"
    return (
        f"embedded {_count(stats.rows, 'row')} with {model} into {output}: "
        f"{_count(stats.tokens, 'token')} billed{sent}, {_count(stats.requests, 'request')}, "
        f"{_count(stats.cache_hits, 'cache hit')}, {_count(stats.parts_skipped, 'part')} already done, "
        f"{_count(stats.null_vectors, 'row')} with a null vector ({_count(stats.error_rows, 'bad row')}), "
        f"cost {cost}, {stats.seconds:.1f} s"
    )


def _run_estimate(args: argparse.Namespace) -> int:
    from .files import estimate_file

    found = estimate_file(args.input, column=args.column, **_file_options(args), **_config_options(args))
    print(json.dumps(found.as_dict(), indent=1) if args.json else found)
    sys.stdout.flush()  # a reader gone (`| head`) shows here, not in the interpreter's exit
    return EXIT_OK


def inspect_file(path: str) -> dict[str, Any]:
    """Schema, provenance, rows, dimension and null count of each vector column of a Parquet
    file, or of a folder of Parquet files (the part files ``embedframe embed`` writes)."""
    from .parquet import is_vector_type, read_provenance

    root = Path(path)
    files = (
        sorted(p for p in root.rglob("*.parquet") if not p.name.startswith((".", "_")))
        if root.is_dir()
        else [root]
    )
    if not files:
        raise InputError(f"the folder {path!r} holds no Parquet file")
    schema = pq.read_schema(files[0])
    vectors = {f.name: {"dimension": f.type.list_size, "nulls": 0} for f in schema if is_vector_type(f.type)}
    rows = groups = 0
    for name in files:
        file = pq.ParquetFile(name)
        if not file.schema_arrow.remove_metadata().equals(schema.remove_metadata()):
            raise InputError(
                f"{str(name)!r} has another schema than {str(files[0])!r}; the folder is not one dataset"
            )
        rows += file.metadata.num_rows
        groups += file.metadata.num_row_groups
        for column, found in vectors.items():
            for batch in file.iter_batches(columns=[column], batch_size=65_536):
                found["nulls"] += batch.column(0).null_count
    info: dict[str, Any] = {"path": str(path)}
    if root.is_dir():
        info["files"] = len(files)
    info |= {
        "rows": rows,
        "row_groups": groups,
        "columns": {f.name: str(f.type) for f in schema},
        "vector_columns": vectors,
        "provenance": read_provenance(files[0]),
    }
    return info


def _run_inspect(args: argparse.Namespace) -> int:
    if not Path(args.path).exists():
        raise InputError(f"no file or folder {args.path!r}")
    try:
        info = inspect_file(args.path)
    except pa.ArrowException as err:
        raise InputError(f"{args.path!r} is not a readable Parquet file: {err}") from err
    if args.json:
        print(json.dumps(info, indent=1))
        sys.stdout.flush()
        return EXIT_OK
    where = f" in {info['files']} file(s)" if "files" in info else ""
    print(f"{info['path']}: {info['rows']:,} rows{where} in {info['row_groups']} row group(s)")
    print("columns:")
    for name, kind in info["columns"].items():
        print(f"  {name}: {kind}")
    for name, v in info["vector_columns"].items():
        print(f"vector column {name}: dimension {v['dimension']}, {v['nulls']:,} null(s)")
    if info["provenance"]:
        print("provenance:")
        for key, value in info["provenance"].items():
            print(f"  {key}: {value}")
    sys.stdout.flush()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "embed":
            return _run_embed(args)
        if args.command == "estimate":
            return _run_estimate(args)
        if args.command == "inspect":
            return _run_inspect(args)
        if args.command == "batch":
            from .batch_cli import run_batch

            return run_batch(args, _config_options, _file_options)
        from .serve import run_serve

        return run_serve(args)
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        return _fail(
            "interrupted. Every response received so far is kept in the vector cache (and every "
            "finished part on disk): run the same command again to resume without paying twice",
            EXIT_INTERRUPTED,
        )
    except (InputError, ConfigError) as exc:
        return _fail(str(exc), EXIT_INPUT)
    except RateLimitError as exc:
        if exc.code == "insufficient_quota":
            return _fail(str(exc), EXIT_API)
        return _fail(
            f"{exc}\nWhat was paid for is kept; run the same command again to resume.", EXIT_RATE_LIMIT
        )
    except (APIError, TransportError, ResponseError) as exc:
        if not exc.resumable:  # a wrong key, model, request or host: the same command fails the same way
            return _fail(str(exc), EXIT_API)
        return _fail(f"{exc}\nWhat was paid for is kept; run the same command again to resume.", EXIT_API)
    except EmbedFrameError as exc:
        return _fail(str(exc), EXIT_API)


def _reader_gone() -> int:
    """The reader of stdout went away (``| head``): stop quietly, as other command-line tools do.

    stdout is pointed at /dev/null so the interpreter's own flush at exit cannot fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass
    return EXIT_BROKEN_PIPE


def main_exit() -> None:
    """Console-script entry point: run and exit with the code."""
    raise SystemExit(main())


if __name__ == "__main__":
    main_exit()
