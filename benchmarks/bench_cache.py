"""The vector cache, measured: put, get (cold and warm), compact, and the first index build.

    python benchmarks/bench_cache.py [--rows 100000] [--dim 1536] [--batch 2048] [--index-keys 1000000]

* put: ``--rows`` x ``--dim`` float32 vectors committed in puts of ``--batch`` rows (one
  shard each, fsynced: a response at a time, when the disk keeps up);
* put_many: the same vectors, ``--group`` batches per shard (one file and one fsync for the
  group: what the job's cache writer does when answers wait for the disk); CPU seconds of
  the writing thread are shown too (the writer runs beside the event loop, so its CPU, not
  its wall time, is what it takes from a job);
* get cold: a new ``VectorCache`` on the directory looks every key up in random order (the
  index is built first, from the ``key`` columns; the files are in the OS page cache);
* get warm: the same lookup again on that instance;
* compact: the small shards merged into large ones, then get again;
* index build: a new instance over ``--index-keys`` keys in shards of ``--batch`` rows
  (4-d vectors: only the keys are read), its memory, and a ``contains`` of ``--rows`` keys.

MB/s counts vector bytes (rows x dim x 4). Runs in a temporary directory (``--dir`` to choose
where), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from embedframe.cache import VectorCache


def report(what: str, seconds: float, rows: int, dim: int, cpu: float | None = None) -> None:
    mb = rows * dim * 4 / 1e6
    line = f"{what:<34} {seconds:7.3f} s  {rows / seconds:>12,.0f} rows/s  {mb / seconds:>8,.0f} MB/s"
    print(line + (f"  ({cpu:.3f} s CPU)" if cpu is not None else ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=1536)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--group", type=int, default=8, help="batches per shard for put_many")
    parser.add_argument("--index-keys", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="parent of the temporary cache directory")
    args = parser.parse_args()
    rows, dim, batch = args.rows, args.dim, args.batch
    print(f"{platform.platform()}, python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"{rows:,} x {dim} float32 ({rows * dim * 4 / 1e6:,.0f} MB), puts of {batch:,} rows\n")

    root = Path(tempfile.mkdtemp(prefix="bench-cache-", dir=args.dir))
    try:
        namespace = VectorCache.namespace(
            base_url="https://api.openai.com/v1",
            model="text-embedding-3-small",
            dimensions=None,
            encoding="cl100k_base",
            long_text="chunk",
        )
        texts = [f"review number {i}: the product was fine" for i in range(rows)]
        started = time.perf_counter()
        keys = VectorCache.keys(namespace=namespace, texts=texts)
        elapsed = time.perf_counter() - started
        print(f"{'keys (SHA-256)':<34} {elapsed:7.3f} s  {rows / elapsed:>12,.0f} keys/s")
        vectors = np.random.default_rng(0).standard_normal((rows, dim), dtype=np.float32)

        grouped = VectorCache(root / "grouped")
        started, cpu = time.perf_counter(), time.thread_time()
        step = batch * args.group
        for lo in range(0, rows, step):
            parts = [
                (keys[a : a + batch], vectors[a : a + batch]) for a in range(lo, min(rows, lo + step), batch)
            ]
            grouped.put_many(parts, finite_checked=True)
        shards = grouped.shard_count()
        report(
            f"put_many ({shards} shards, 1 fsync each)",
            time.perf_counter() - started,
            rows,
            dim,
            time.thread_time() - cpu,
        )
        shutil.rmtree(root / "grouped")

        directory = root / "vectors"
        cache = VectorCache(directory)
        started, cpu = time.perf_counter(), time.thread_time()
        for lo in range(0, rows, batch):
            cache.put(keys[lo : lo + batch], vectors[lo : lo + batch])
        report("put (fsync per put)", time.perf_counter() - started, rows, dim, time.thread_time() - cpu)

        order = np.random.default_rng(1).permutation(rows)
        asked = [keys[i] for i in order.tolist()]
        cold = VectorCache(directory)
        started = time.perf_counter()
        n = len(cold)
        index_s = time.perf_counter() - started
        shards = len(list(directory.glob("shard-*.parquet")))
        print(f"{'  index build (' + str(shards) + ' shards)':<34} {index_s:7.3f} s  {n:>12,} keys")
        started = time.perf_counter()
        found, got = cold.get(asked)
        report("get cold (incl. index build)", time.perf_counter() - started + index_s, rows, dim)
        assert found.all() and got is not None and np.array_equal(got, vectors[order])
        del got
        started = time.perf_counter()
        found, got = cold.get(asked)
        report("get warm", time.perf_counter() - started, rows, dim)
        assert found.all() and got is not None and np.array_equal(got, vectors[order])
        del got

        started = time.perf_counter()
        VectorCache(directory, shard_rows=rows).compact()
        shards = len(list(directory.glob("shard-*.parquet")))
        report(f"compact (to {shards} shard(s))", time.perf_counter() - started, rows, dim)
        started = time.perf_counter()
        found, got = cold.get(asked)
        report("get after compact (re-list)", time.perf_counter() - started, rows, dim)
        assert found.all() and got is not None and np.array_equal(got, vectors[order])
        started = time.perf_counter()
        found, got = cold.get(asked[: rows // 100])
        report("get 1% of the keys", time.perf_counter() - started, rows // 100, dim)
        del got, vectors
        shutil.rmtree(directory)

        total = args.index_keys
        directory = root / "index"
        writer = VectorCache(directory)
        small = np.ones((batch, 4), dtype=np.float32)
        many = VectorCache.keys(namespace=namespace, texts=(f"t{i}" for i in range(total)))
        for lo in range(0, total, batch):
            part = many[lo : lo + batch]
            writer.put(part, small[: len(part)])
        shards = len(list(directory.glob("shard-*.parquet")))
        fresh = VectorCache(directory)
        started = time.perf_counter()
        n = len(fresh)
        elapsed = time.perf_counter() - started
        print(
            f"\n{'first index build':<34} {elapsed:7.3f} s  {n:>12,} keys in {shards:,} shards"
            f"  ({n / elapsed:,.0f} keys/s, ~{n * 44 / 1e6:,.0f} MB of index)"
        )
        probe = many[:: max(1, total // rows)][:rows]
        started = time.perf_counter()
        assert fresh.contains(probe).all()
        elapsed = time.perf_counter() - started
        print(f"{'contains (index only)':<34} {elapsed:7.3f} s  {len(probe) / elapsed:>12,.0f} keys/s")
        started = time.perf_counter()
        fresh.put(many[:1], small[:1])
        fresh.contains(probe)
        elapsed = time.perf_counter() - started
        print(f"{'put 1 + contains (index merge)':<34} {elapsed:7.3f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
