"""Batch mode, measured: collecting finished batches into the cache and the frame, against
embedding the same rows online, both from the fake server on loopback.

    python benchmarks/bench_batch.py [--rows 50000] [--dim 1536]

* online: ``df.embed("text")`` with a fresh cache (the baseline, same run, same server);
* batch collect: ``job.wait(); job.result()`` with a fresh cache once every batch has
  completed on the (fake) server: downloading the output files, checking each line's
  custom_id, decoding the base64 vectors into the cache, and putting the frame together.

The fake server's own time to "run" a batch is left out (on OpenAI that is hours); what is
measured is embedframe's side. Also printed: the batch files' count and size and what the
job would cost at OpenAI's list price, online and batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedframe import BatchOptions
from tests.support import API_KEY
from tests.support.fakebatch import batch_api
from tests.support.fakeserver import FakeServer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=1536)
    args = parser.parse_args()
    print(
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; rows={args.rows:,} dim={args.dim}"
    )
    df = pd.DataFrame(
        {"text": [f"review {i}: the product arrived on time and works well" for i in range(args.rows)]}
    )
    with (
        FakeServer(dim=args.dim, api_key=API_KEY, cache_size=args.rows + 10) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        fake = batch_api(server)
        fake.validate_s = fake.run_s = fake.finalize_s = 0.0
        options = {"base_url": server.url, "api_key": API_KEY, "progress": False}

        started = time.perf_counter()
        df.embed("text", cache=str(Path(tmp) / "online"), **options)
        online = time.perf_counter() - started

        job = df.embed.submit(
            "text", cache=str(Path(tmp) / "batch"), batch=BatchOptions(poll_interval=0.05), **options
        )
        state = job.state
        for batch_id in fake.created:  # let the fake finish every batch before the clock starts
            fake.route("GET", f"/v1/batches/{batch_id}", {}, b"", "")
        started = time.perf_counter()
        status = job.wait()
        out = job.result()
        collect = time.perf_counter() - started
        assert status.state == "completed" and out["text_embedding"].notna().all()

    size = sum(p.bytes for p in state.parts)
    print(
        f"batch files      {len(state.parts)} ({size / 1e6:,.1f} MB of request lines, {state.requests:,} requests)"
    )
    print(f"online           {online:7.2f} s  {args.rows / online:>10,.0f} rows/s   (baseline)")
    print(
        f"batch collect    {collect:7.2f} s  {args.rows / collect:>10,.0f} rows/s   {online / collect:5.2f}x the online rate"
    )
    print(
        f"cost at list price: online ${status.online_usd or 0:,.4f}, batch ${status.usd or 0:,.4f} ({status.tokens:,} tokens)"
    )


if __name__ == "__main__":
    main()
