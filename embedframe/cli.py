"""The ``embedframe`` command: ``embed``, ``estimate``, ``inspect`` and ``serve``.

Exit codes: 0 done; 2 bad input or options; 3 the API failed (error status, transport,
broken response, quota); 4 a rate limit stopped the job (run again later to resume);
130 interrupted (Ctrl-C; run the same command again to resume). The API key comes from
``OPENAI_API_KEY`` or ``--api-key`` and is never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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

__all__ = ["main"]

EXIT_OK, EXIT_INPUT, EXIT_API, EXIT_RATE_LIMIT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="Parquet, CSV or JSON Lines file (or a folder of Parquet files)")
    parser.add_argument("-c", "--column", required=True, help="the text column")
    parser.add_argument(
        "--format", choices=["parquet", "csv", "jsonl"], help="input format (default: from the name)"
    )
    parser.add_argument("--model", help="model name (default: text-embedding-3-small, or the local model)")
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
    parser.add_argument("--max-input-tokens", type=int, help="tokens per input (default: the model's limit)")
    parser.add_argument("--chunk-tokens", type=int, help="tokens per chunk (default: the input limit)")
    parser.add_argument("--chunk-overlap", type=int, help="tokens shared by consecutive chunks")
    parser.add_argument("--max-inputs-per-request", type=int)
    parser.add_argument("--max-tokens-per-request", type=int)
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the vector cache")
    parser.add_argument("--cache-dir", help="vector cache folder (default: the user cache dir)")


def _config_options(args: argparse.Namespace) -> dict[str, Any]:
    names = {
        "model": "model",
        "dimensions": "dimensions",
        "base_url": "base_url",
        "api_key": "api_key",
        "long_text": "long_text",
        "max_input_tokens": "max_input_tokens",
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
    return options


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
    return parser


def _fail(message: str, code: int) -> int:
    print(f"embedframe: {message}", file=sys.stderr)
    return code


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
        format=args.format,
        details=args.details,
        overwrite=args.overwrite,
        **options,
    )
    cost = "unknown" if stats.usd is None else f"${stats.usd:,.4f}"
    print(
        f"embedded {stats.rows:,} rows with {stats.model or 'the model'} into {args.output}: "
        f"{stats.tokens:,} tokens, {stats.requests:,} requests, {stats.cache_hits:,} cache hits, "
        f"{stats.parts_skipped:,} part(s) already done, {stats.error_rows:,} bad rows, "
        f"cost {cost}, {stats.seconds:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK


def _run_estimate(args: argparse.Namespace) -> int:
    import pandas as pd

    from .estimate import estimate
    from .files import read_batches

    options = _config_options(args)
    total: dict[str, Any] | None = None
    frames = read_batches(Path(args.input), batch_rows=1_000_000, fmt=args.format, text_column=args.column)
    for frame in frames:
        if args.column not in frame.columns:
            raise InputError(
                f"no column {args.column!r} in {args.input}; its columns are {list(frame.columns)}"
            )
        part = estimate(frame[args.column], column=args.column, **options).as_dict()
        if total is None:
            total = part
        else:
            for key, value in part.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "model":
                    total[key] = (total[key] or 0) + value
    if total is None:
        total = estimate(pd.Series([], dtype=object), **options).as_dict()
    if args.json:
        print(json.dumps(total, indent=1))
    else:
        from .estimate import Estimate

        print(Estimate(**total))
    return EXIT_OK


def inspect_file(path: str) -> dict[str, Any]:
    """Schema, provenance, rows, dimension and null count of each vector column of a Parquet file."""
    from .parquet import is_vector_type, read_provenance

    file = pq.ParquetFile(path)
    schema = file.schema_arrow
    vectors: dict[str, Any] = {}
    for field in schema:
        if is_vector_type(field.type):
            nulls = 0
            for batch in file.iter_batches(columns=[field.name], batch_size=65_536):
                nulls += batch.column(0).null_count
            vectors[field.name] = {"dimension": field.type.list_size, "nulls": nulls}
    return {
        "path": str(path),
        "rows": file.metadata.num_rows,
        "row_groups": file.metadata.num_row_groups,
        "columns": {f.name: str(f.type) for f in schema},
        "vector_columns": vectors,
        "provenance": read_provenance(path),
    }


def _run_inspect(args: argparse.Namespace) -> int:
    if not Path(args.path).is_file():
        raise InputError(f"no file {args.path!r}")
    try:
        info = inspect_file(args.path)
    except pa.ArrowException as err:
        raise InputError(f"{args.path!r} is not a readable Parquet file: {err}") from err
    if args.json:
        print(json.dumps(info, indent=1))
        return EXIT_OK
    print(f"{info['path']}: {info['rows']:,} rows in {info['row_groups']} row group(s)")
    print("columns:")
    for name, kind in info["columns"].items():
        print(f"  {name}: {kind}")
    for name, v in info["vector_columns"].items():
        print(f"vector column {name}: dimension {v['dimension']}, {v['nulls']:,} null(s)")
    if info["provenance"]:
        print("provenance:")
        for key, value in info["provenance"].items():
            print(f"  {key}: {value}")
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
        from .serve import run_serve

        return run_serve(args)
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
        return _fail(f"{exc}\nWhat was paid for is kept; run the same command again to resume.", EXIT_API)
    except EmbedFrameError as exc:
        return _fail(str(exc), EXIT_API)


def main_exit() -> None:
    """Console-script entry point: run and exit with the code."""
    raise SystemExit(main())


if __name__ == "__main__":
    main_exit()
