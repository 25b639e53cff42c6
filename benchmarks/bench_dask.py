"""Throughput on a Dask LocalCluster: 1 vs 2 worker processes, then 2 under a token limit that binds.

    python benchmarks/bench_dask.py [--rows 16000] [--latency-ms 200] [--per-request 25]
                                    [--concurrency 2] [--partitions 16] [--json out.json]

The fake OpenAI-compatible server (``tests/support/fakeserver.py``) runs in this process on
127.0.0.1 with a fixed latency per request, so one job's throughput is bound by
``concurrency * per_request / latency``, not by the CPU (the machine may have 2 cores).
It notes the arrival time and token count of every request, so rates are measured on the
server's side. Every run embeds the same distinct texts into a fresh vector cache, so
everything goes over the wire:

* ``pandas``: ``df.embed.column("text")`` run whole in one worker process (the baseline);
* ``dask, 1 worker`` and ``dask, 2 workers``: ``ddf.embed.column("text").compute()`` on a
  ``LocalCluster`` of that many processes (one thread each);
* ``dask, 2 workers, TPM``: the same with ``tokens_per_minute`` set to 30% of what the two
  workers reached unlimited (``--tpm`` to choose). The budget is paced as on one machine
  (buckets holding half a second of it, see docs/rate-limits.md), so the limit binds from
  the start: the table shows the tokens per second at the server against TPM/60, and how
  far the cumulative tokens at the server ever went over half a second's budget plus the
  refill since the first request (0 when it holds).

Vectors are checked against the server's formula on a sample of rows. Cluster start-up is
not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repo root: tests.support is importable

import embedframe  # noqa: E402
import embedframe.dask  # noqa: E402  (ddf.embed)
from embedframe._wire.limits import BURST_S, REQUEST_S  # noqa: E402
from tests.support.fakeserver import vector_for_text  # noqa: E402
from tests.support.hookserver import HookedServer as TimedServer  # noqa: E402  (records arrival times)

MODEL = "bench-model"
API_KEY = "sk-bench-0000000000000000"


def texts_for(rows: int) -> list[str]:
    return [f"bench row {i}: a short review of item {i * 7919 % 100_003}" for i in range(rows)]


def pandas_job(df: pd.DataFrame, config: embedframe.EmbedConfig) -> float:
    """Runs in a worker process: the pandas accessor on the whole frame; its seconds."""
    started = time.perf_counter()
    df.embed.column("text", config=config)
    return time.perf_counter() - started


def server_rates(server: TimedServer, tpm: int | None) -> dict[str, Any]:
    """Token figures measured at the server for the last run."""
    got = sorted((t, r.total_tokens) for t, r in server.arrivals if r.status == 200)
    times = np.array([t for t, _ in got])
    tokens = np.cumsum([n for _, n in got])
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    out: dict[str, Any] = {
        "requests": len(got),
        "tokens": int(tokens[-1]),
        "tokens_per_s": tokens[-1] / span if span else float("nan"),
        "statuses": sorted({r.status for _, r in server.arrivals}),
    }
    if tpm is not None:
        rate = tpm / 60
        # what the paced budget lets through by each arrival: half a second's worth (the
        # bucket), the refill since the first request, and one request's tokens in flight
        allowed = rate * (BURST_S + REQUEST_S) + rate * (times - times[0] + 0.25)
        out["worst_excess_tokens"] = int(max(0.0, float((tokens - allowed).max())))
    return out


def run(
    label: str,
    workers: int,
    df: pd.DataFrame,
    server: TimedServer,
    args: argparse.Namespace,
    tpm: int | None = None,
    whole_pandas: bool = False,
) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    cache = tempfile.mkdtemp(prefix="bench-dask-cache-")
    config = embedframe.EmbedConfig(
        base_url=server.url,
        api_key=API_KEY,
        model=MODEL,
        tokenizer="cl100k_base",  # the fake server's (a model off the table is counted in bytes)
        max_inputs_per_request=args.per_request,
        concurrency=args.concurrency,
        cache=cache,
        progress=False,
        tokens_per_minute=tpm,
    )
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",  # a free port, never the default 8787
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)  # workers up
        server.reset()
        started = time.perf_counter()
        if whole_pandas:
            client.submit(pandas_job, df, config, pure=False).result()
            out = None
        else:
            ddf = dd.from_pandas(df, npartitions=args.partitions)
            out = ddf.embed.column("text", config=config, vector_size=args.dim).compute()
        seconds = time.perf_counter() - started
    if out is not None:
        sample = np.random.default_rng(0).choice(len(df), 50, replace=False)
        vectors = embedframe.to_numpy(out["text_embedding"].iloc[sample])
        expected = np.stack([vector_for_text(df["text"].iloc[i], args.dim) for i in sample])
        np.testing.assert_array_equal(vectors, expected)
    result = {
        "run": label,
        "workers": workers,
        "tpm": tpm,
        "seconds": seconds,
        "rows_per_s": len(df) / seconds,
    }
    result.update(server_rates(server, tpm))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16_000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--per-request", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument(
        "--tpm", type=int, default=None, help="token limit of the last run (default: 30%% of 2 workers)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ["EMBEDFRAME_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-dask-default-")
    df = pd.DataFrame({"text": texts_for(args.rows)})
    results = []
    with TimedServer(
        dim=args.dim, api_key=API_KEY, latency_s=args.latency_ms / 1000, cache_size=args.rows + 10
    ) as server:
        results.append(run("pandas, 1 process", 1, df, server, args, whole_pandas=True))
        results.append(run("dask, 1 worker", 1, df, server, args))
        results.append(run("dask, 2 workers", 2, df, server, args))
        tpm = args.tpm or int(0.3 * results[-1]["tokens_per_s"] * 60 / 1000) * 1000
        results.append(run("dask, 2 workers, TPM", 2, df, server, args, tpm=tpm))

    cores = os.cpu_count()
    print(
        f"\n{args.rows:,} distinct rows, {results[0]['tokens']:,} tokens; server latency {args.latency_ms:g} ms; "
        f"{args.per_request} inputs a request, concurrency {args.concurrency} per job; "
        f"{args.partitions} partitions; {cores} CPU cores\n"
    )
    print(
        "| run | tokens/min limit | seconds | rows/s | tokens/s at the server "
        "| limit / s | over half a second's budget + refill |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        limit = f"{r['tpm']:,} ({r['tpm'] / 60:,.0f}/s)" if r["tpm"] else "none"
        sustained = "-" if not r["tpm"] else f"{r['tpm'] / 60:,.0f}"
        excess = f"{r['worst_excess_tokens']:,} tokens" if r["tpm"] else "-"
        print(
            f"| {r['run']} | {limit} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['tokens_per_s']:,.0f} "
            f"| {sustained} | {excess} |"
        )
    speedup = results[2]["rows_per_s"] / results[1]["rows_per_s"]
    print(f"\n2 workers / 1 worker: {speedup:.2f}x")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    failed = [r["run"] for r in results if r.get("worst_excess_tokens", 0) > 0 or r["statuses"] != [200]]
    if failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
