"""Parquet writer settings for vector columns, measured: file size, write time, read time.

Writes 100,000 x 384 and 20,000 x 1536 random unit float32 vectors (plus a short text
column) with each candidate setting through ``embedframe.write_parquet`` and reads them
back with ``embedframe.read_parquet``; ratios are against pyarrow's defaults (snappy,
dictionary and statistics on, 1 Mi-row groups) measured in the same run. Times are the best
of ``--repeat`` interleaved rounds, wall clock and CPU (all threads; the steadier figure on
a shared machine, and the one the ratios use). Writes include the fsync of the atomic
write. Then, for the default setting: every reader's time, and the peak memory of reading
the 1536-d file with ``read_parquet`` against a plain ``pq.read_table(...).to_pandas()``,
each in a fresh process (reading only the text column shows the fixed cost).

    python benchmarks/bench_parquet.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import embedframe
from embedframe.parquet import read_parquet, write_parquet

DEFAULTS = "pyarrow defaults"
# name -> write_parquet options; unless named, the vector column has no dictionary and no
# statistics, byte-stream-split is on, and row groups hold about 64 MiB of vectors (ours).
CANDIDATES: dict[str, dict[str, Any]] = {
    DEFAULTS: {
        "compression": "snappy",
        "use_dictionary": True,
        "write_statistics": True,
        "use_byte_stream_split": False,
        "row_group_size": 1024 * 1024,
    },
    "none": {"compression": "none", "use_byte_stream_split": False},
    "snappy": {"compression": "snappy", "use_byte_stream_split": False},
    "lz4": {"compression": "lz4", "use_byte_stream_split": False},
    "zstd": {"compression": "zstd", "use_byte_stream_split": False},
    "snappy + bss": {"compression": "snappy"},
    "lz4 + bss": {"compression": "lz4"},
    "zstd + bss": {"compression": "zstd"},
    "zstd(3) + bss": {"compression": "zstd", "compression_level": 3},
    "zstd + bss + dictionary": {"compression": "zstd", "use_dictionary": True},
    "zstd + bss + statistics": {"compression": "zstd", "write_statistics": True},
}
DATASETS = [(100_000, 384), (20_000, 1536)]
WORDS = np.array(
    ["the", "a", "good", "bad", "film", "book", "phone", "screen", "works", "broke", "love", "fine"]
)


def make_frame(n: int, d: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random unit vectors of size ``d`` and a short text per row."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    picks = WORDS[rng.integers(0, len(WORDS), size=(n, 6))]
    text = [" ".join(row) for row in picks.tolist()]
    return pd.DataFrame({"text": text, "embedding": embedframe.from_numpy(m)})


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


Timing = tuple[float, float]  # (wall seconds, CPU seconds of all threads)


def timed(fn: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(df: pd.DataFrame, folder: Path, repeat: int) -> dict[str, tuple[int, Timing, Timing]]:
    """name -> (bytes, best write, best read), rounds interleaved across candidates."""
    writes: dict[str, list[Timing]] = {k: [] for k in CANDIDATES}
    reads: dict[str, list[Timing]] = {k: [] for k in CANDIDATES}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        for name, options in CANDIDATES.items():
            path = folder / f"{name.replace(' ', '_')}.parquet"
            writes[name].append(timed(partial(write_parquet, df, path, **options)))
            sizes[name] = path.stat().st_size
            reads[name].append(timed(partial(read_parquet, path)))
    best_of = {k: (sizes[k], _best(writes[k]), _best(reads[k])) for k in CANDIDATES}
    return best_of


def _best(timings: list[Timing]) -> Timing:
    return min(t[0] for t in timings), min(t[1] for t in timings)


def table(results: dict[str, tuple[int, Timing, Timing]], raw_mb: float) -> str:
    base_size, (_, base_wc), (_, base_rc) = results[DEFAULTS]
    lines = [
        "| setting | size MB | size / raw | size ratio | write s | write cpu s | write cpu ratio "
        "| read s | read cpu s | read cpu ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, (size, (w, wc), (r, rc)) in results.items():
        lines.append(
            f"| {name} | {size / 1e6:.1f} | {size / 1e6 / raw_mb:.3f} | {size / base_size:.3f} "
            f"| {w:.3f} | {wc:.3f} | {wc / base_wc:.2f} | {r:.3f} | {rc:.3f} | {rc / base_rc:.2f} |"
        )
    return "\n".join(lines)


def readers(path: Path, repeat: int) -> str:
    """Time each reader on one file written with the default settings."""
    import duckdb
    import polars as pl

    cases: dict[str, Callable[[], object]] = {
        "embedframe.read_parquet": lambda: read_parquet(path),
        "pd.read_parquet (plain: arrays in an object column)": lambda: pd.read_parquet(path),
        "pd.read_parquet(dtype_backend='pyarrow')": lambda: pd.read_parquet(path, dtype_backend="pyarrow"),
        "pq.read_table": lambda: pq.read_table(path),
        "pl.read_parquet": lambda: pl.read_parquet(path),
        "duckdb to_arrow_table()": lambda: duckdb.connect().sql(f"select * from '{path}'").to_arrow_table(),
    }
    lines = ["| reader | read s |", "| --- | ---: |"]
    for name, fn in cases.items():
        lines.append(f"| {name} | {best(fn, repeat):.3f} |")
    return "\n".join(lines)


_PEAK = """
import re, resource, sys
import pandas as pd, pyarrow.parquet as pq
import embedframe.parquet as ep

def peak_mib():  # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak
    try:
        status = open("/proc/self/status").read()
        return int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

before = peak_mib()
if sys.argv[2] == "read_parquet":
    df = ep.read_parquet(sys.argv[1])
elif sys.argv[2] == "read_parquet(columns=['text'])":
    df = ep.read_parquet(sys.argv[1], columns=["text"])
else:
    df = pq.read_table(sys.argv[1]).to_pandas(types_mapper=pd.ArrowDtype)
print(peak_mib() - before)
"""


def peak_memory(path: Path) -> str:
    """Peak RSS growth while reading ``path``, each way in a fresh process."""
    column_mb = pq.ParquetFile(path).metadata.num_rows * 1536 * 4 / 2**20
    lines = [
        f"vector column: {column_mb:.0f} MiB",
        "",
        "| reader | peak RSS growth MiB | x column |",
        "| --- | ---: | ---: |",
    ]
    for how in ("read_parquet(columns=['text'])", "read_parquet", "pq.read_table().to_pandas()"):
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, str(path), how], capture_output=True, text=True, check=True
        )
        mb = float(out.stdout.strip())
        lines.append(f"| {how} | {mb:.0f} | {mb / column_mb:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best time is kept")
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows (a smoke test)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(
        f"python {platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}, "
        f"{os.cpu_count()} CPUs, best of {args.repeat}"
    )
    with tempfile.TemporaryDirectory(prefix="embedframe-bench-parquet-") as tmp:
        folder = Path(tmp)
        for n, d in DATASETS:
            n = n // 10 if args.quick else n
            df = make_frame(n, d)
            raw_mb = n * d * 4 / 1e6
            print(f"\n### {n:,} x {d} float32 ({raw_mb:.1f} MB of vectors) + text\n")
            print(table(measure(df, folder, args.repeat), raw_mb))
        chosen = folder / "chosen.parquet"
        write_parquet(df, chosen)
        print(f"\n### readers, {n:,} x {d}, default settings\n")
        print(readers(chosen, args.repeat))
        print(f"\n### peak memory of a read, {n:,} x {d}\n")
        print(peak_memory(chosen))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\ntotal {time.perf_counter() - started:.0f} s; {peak} MiB peak")


if __name__ == "__main__":
    main()
