"""Peak memory of embed_file stays flat as the input grows (100k vs 1M rows).

Each size runs in its own fresh process (so ru_maxrss is that run's own peak) against a
loopback fake server started as a subprocess. The input is a Parquet file of short texts
plus two carried columns; the output is one Parquet file. As a baseline in the same run,
the in-memory path (read the whole file, ``df.embed``, ``to_parquet``) runs on the same
inputs, so the ratio shows what streaming saves.

    python benchmarks/bench_files.py                 # 100k and 1M rows, 256-d (a few minutes)
    python benchmarks/bench_files.py --rows 20000 100000 --dim 64   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _make_input(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(rows)
    words = np.array(
        [
            "good",
            "bad",
            "fast",
            "slow",
            "cheap",
            "pricey",
            "sturdy",
            "flimsy",
            "bright",
            "dull",
            "soft",
            "loud",
            "quiet",
            "big",
        ]
    )
    picks = rng.integers(0, len(words), size=(rows, 6))
    text = [f"{i}: " + " ".join(words[p]) for i, p in enumerate(picks)]
    pd.DataFrame({"id": np.arange(rows), "stars": rng.integers(1, 6, rows), "text": text}).to_parquet(path)


def _child(mode: str, src: str, dst: str, url: str, batch_rows: int) -> None:
    import embedframe

    start = time.perf_counter()
    if mode in ("stream", "no-cache"):
        embedframe.embed_file(
            src,
            dst,
            column="text",
            batch_rows=batch_rows,
            base_url=url,
            api_key="sk-bench",
            progress=False,
            cache=mode == "stream",
        )
    else:
        df = embedframe.read_parquet(src)
        out = df.embed("text", base_url=url, api_key="sk-bench", progress=False)
        out.embed.to_parquet(dst)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


def _run(mode: str, src: Path, dst: Path, url: str, batch_rows: int, cache: Path) -> dict[str, float]:
    env = dict(os.environ, EMBEDFRAME_CACHE_DIR=str(cache))
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(src), str(dst), url, str(batch_rows)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-memory path")
    parser.add_argument("--no-cache-too", action="store_true", help="also stream with the cache off")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, src, dst, url, batch = args.child
        _child(mode, src, dst, url, int(batch))
        return 0
    server = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "fakeserver.py"),
            "--port",
            "0",
            "--dim",
            str(args.dim),
            "--cache-size",
            "1000",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[1]
        print(f"server {url}, dim {args.dim}, batch_rows {args.batch_rows}, 2 CPUs shared")
        print(f"{'rows':>10} {'mode':>10} {'seconds':>8} {'rows/s':>9} {'peak MiB':>9}")
        with tempfile.TemporaryDirectory() as tmp:
            for rows in args.rows:
                src = Path(tmp) / f"in-{rows}.parquet"
                _make_input(src, rows)
                modes = ["stream"] if args.no_baseline else ["stream", "in-memory"]
                if args.no_cache_too:
                    modes.insert(1, "no-cache")
                for mode in modes:
                    dst = Path(tmp) / f"out-{rows}-{mode}.parquet"
                    r = _run(mode, src, dst, url, args.batch_rows, Path(tmp) / f"cache-{rows}-{mode}")
                    print(
                        f"{rows:>10,} {mode:>10} {r['seconds']:>8.1f} {rows / r['seconds']:>9,.0f} "
                        f"{r['peak_mib']:>9,.0f}"
                    )
                    dst.unlink()
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
