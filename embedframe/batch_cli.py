"""``embedframe batch submit|status|collect|cancel``: batch mode from the command line.

``submit`` reads the input file, submits its column and prints the job id (stdout, one
line) at once; ``status`` prints where the job stands; ``collect`` writes the output
Parquet file once every batch has ended (exit 5 while they run; ``--wait`` to block);
``cancel`` cancels what has not run. The job's state is kept beside the vector cache, so
``--cache-dir`` must name the same cache at every step (the default cache needs nothing).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["EXIT_NOT_DONE", "add_batch_parser", "run_batch"]

EXIT_NOT_DONE = 5
"""``collect`` of a job whose batches still run: come back later (or pass ``--wait``)."""


def _job_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", help="the id `embedframe batch submit` printed")
    parser.add_argument(
        "--base-url", help="API root (default: $OPENAI_BASE_URL, or what the job was submitted to)"
    )
    parser.add_argument(
        "--api-key", help="API key (default: $OPENAI_API_KEY; prefer the variable: command lines are visible)"
    )
    parser.add_argument(
        "--cache-dir", help="the vector cache the job was submitted with (default: the user's)"
    )
    parser.add_argument(
        "--poll", type=float, default=30.0, help="seconds between checks with --wait (default 30)"
    )


def add_batch_parser(commands: Any, job_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``batch`` and its subcommands on the ``embedframe`` parser's ``commands``."""
    batch = commands.add_parser("batch", help="embed through the Batch API at half the price (within 24 h)")
    sub = batch.add_subparsers(dest="batch_command", required=True)
    submit = sub.add_parser("submit", help="submit a column of a file; prints the job id and exits")
    job_options(submit)
    submit.add_argument("-o", "--output", required=True, help="OUT.parquet, written by `collect`")
    submit.add_argument("--vector-column", help="name of the vector column (default: <column>_embedding)")
    submit.add_argument(
        "--details", action="store_true", help="per-row tokens, chunks, truncation and status"
    )
    submit.add_argument("--max-batch-inputs", type=int, help="inputs per batch (default and most: 50,000)")
    submit.add_argument("--max-batch-tokens", type=int, help="tokens per batch, e.g. your batch queue limit")
    for name, text in (
        ("status", "where a job stands: batches, counts, tokens, cost"),
        ("collect", "write the output file once every batch has ended"),
        ("cancel", "cancel the batches that have not run"),
    ):
        command = sub.add_parser(name, help=text)
        _job_flags(command)
        command.add_argument("--json", action="store_true", help="print the status as JSON")
        if name == "collect":
            command.add_argument("--wait", action="store_true", help="wait for the batches to end")
            command.add_argument("-o", "--output", help="write here instead of the path given at submit")


def run_batch(
    args: argparse.Namespace,
    config_options: Callable[[argparse.Namespace], dict[str, Any]],
    file_options: Callable[[argparse.Namespace], dict[str, Any]],
) -> int:
    """Run ``embedframe batch ...``; returns the exit code (errors are the caller's to map)."""
    from ._job.sync import run_sync
    from .batch import BatchOptions, asubmit, batch_job

    if args.batch_command == "submit":
        frame = _read_input(args, file_options(args))
        limits: dict[str, Any] = {}
        if args.max_batch_inputs is not None:
            limits["max_batch_inputs"] = args.max_batch_inputs
        if args.max_batch_tokens is not None:
            limits["max_batch_tokens"] = args.max_batch_tokens
        output = str(Path(args.output).resolve())
        job = run_sync(
            asubmit(
                frame,
                args.column,
                output=args.vector_column,
                details=args.details,
                batch=BatchOptions(**limits),
                extra={"output_path": output},
                **config_options(args),
            ),
        )
        state = job.state
        print(job.id)
        print(
            f"submitted {state.inputs:,} input(s) in {len(state.parts)} batch(es) ({state.cached:,} from the "
            f"cache); check with `embedframe batch status {job.id}`, then `embedframe batch collect {job.id}` "
            f"writes {output}",
            file=sys.stderr,
        )
        return 0
    options: dict[str, Any] = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.api_key:
        options["api_key"] = args.api_key
    if args.cache_dir:
        options["cache"] = args.cache_dir
    options["progress"] = False
    job = batch_job(
        args.job_id,
        batch=BatchOptions(poll_interval=args.poll, max_poll_interval=max(args.poll, 300.0)),
        **options,
    )
    if args.batch_command == "cancel":
        status = job.cancel()
    elif args.batch_command == "collect" and args.wait:
        status = job.wait()
    else:
        status = job.status()
    if args.batch_command == "collect" and status.finished:
        target = args.output or job.state.extra.get("output_path")
        if not target:
            from .errors import InputError

            raise InputError(f"job {job.id} has no output path; pass -o OUT.parquet")
        from .parquet import write_parquet

        write_parquet(job.result(), target)
        print(f"wrote {target}: {status.state}", file=sys.stderr)
    if args.json:
        print(json.dumps(asdict(status), indent=1, default=str))
    else:
        print(status)
    if args.batch_command == "collect" and not status.finished:
        print(
            f"job {job.id} is still {status.state}: run collect again later, or pass --wait", file=sys.stderr
        )
        return EXIT_NOT_DONE
    return 0


def _read_input(args: argparse.Namespace, options: dict[str, Any]) -> Any:
    import pandas as pd

    from ._storage.inputs import InputOptions, read_batches
    from .errors import InputError

    opts = InputOptions(
        format=options.get("format"),
        encoding=options.get("file_encoding"),
        delimiter=options.get("delimiter"),
        dtype=options.get("dtype") or {},
    )
    frames = list(read_batches(Path(args.input), batch_rows=1_000_000, text_column=args.column, options=opts))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if args.column not in frame.columns:
        raise InputError(f"no column {args.column!r} in {args.input}; its columns are {list(frame.columns)}")
    return frame
