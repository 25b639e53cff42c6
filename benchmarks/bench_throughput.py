"""Throughput and peak memory at the defaults: embedframe (cache on, and off) against the openai SDK.

    python benchmarks/bench_throughput.py [--rows 100000] [--dim 1536] [--repeat 3] [--sdk-rows N]

One fake OpenAI-compatible server (``tests/support/fakeserver.py``) runs as a subprocess on
127.0.0.1 for the whole run. It is warmed first (one pass of every text, so its vector
cache is hot and both contenders see the same, small, server cost); then each measured
run happens in its own fresh Python process, so ``ru_maxrss`` is that contender's peak
and nothing else's:

* ``sdk``: ``openai.OpenAI(base_url=..., max_retries=0)``, then
  ``client.embeddings.create(model=..., input=batch)`` over batches of 2048, one after
  the other, keeping ``[d.embedding for d in resp.data]`` (lists of floats) as a
  typical user does;
* ``cache on`` (the defaults, the headline): ``pd.Series(texts).embed(base_url=...,
  progress=False)`` then ``embedframe.to_numpy(...)``, with ``EMBEDFRAME_CACHE_DIR``
  pointed at a fresh, empty directory for each run: every vector comes over the wire and
  is written to the cache. The timed call includes waiting for the cache's last write;
  afterwards (untimed) a new ``VectorCache`` on that directory must hold every row;
* ``cache off``: the same call with ``cache=False``;
* ``raw`` (reference, not a contender): a minimal ``http.client`` client that posts
  pre-serialised bodies and reads the response bytes without parsing them; its time is
  what the server itself (plus loopback) costs, the floor for any client.

Each role runs ``--repeat`` times, interleaved (sdk, cache on, cache off, ...), so slow
spells on a shared machine hit all of them; the best and the median are reported. The
contenders must return the same vectors (a sample of rows is compared, and checked against
the fake server's own formula). The process exits non-zero if anything fails
(``--check-targets`` also fails it when a target below is missed), and the server
subprocess is stopped in all cases.

Targets (issue 12), cache on: rows/s >= 30x the SDK's, peak RSS <= 0.15x the SDK's; cache on
within 15% of cache off (rows/s); peak RSS <= the result matrix + 400 MiB in every run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FAKESERVER = REPO / "tests" / "support" / "fakeserver.py"
MODEL = "text-embedding-3-small"
API_KEY = "sk-bench-0000000000000000"
SDK_BATCH = 2048
SEED = 20240601
SPEED_TARGET = 30.0  # embedframe (cache on) rows/s >= 30x the SDK's
MEMORY_TARGET = 0.15  # embedframe (cache on) peak RSS <= 0.15x the SDK's
CACHE_COST_TARGET = 0.15  # cache on rows/s within 15% of cache off
HEADROOM_TARGET = 400  # MiB: peak RSS <= the result matrix + this, every run
MIB = 1024 * 1024
EMBEDFRAME_ROLES = ("cache-on", "cache-off")

# Starts tests/support/fakeserver.py's CLI with a vector cache big enough for every text of the
# run (its default keeps 10,000 entries, so a 100k-row pass would evict everything the
# warm-up computed and every measured run would pay the server's cold cost).
_SERVER_LAUNCHER = """
import sys
sys.path.insert(0, sys.argv[1])
import fakeserver
cache = int(sys.argv[2])
_init = fakeserver.FakeServer.__init__
def _init_big_cache(self, *args, **kwargs):
    kwargs.setdefault("cache_size", cache)
    _init(self, *args, **kwargs)
fakeserver.FakeServer.__init__ = _init_big_cache
sys.argv = [str(sys.argv[1]) + "/fakeserver.py", *sys.argv[3:]]
sys.exit(fakeserver.main(sys.argv[1:]))
"""


# --------------------------------------------------------------------------- texts

_OPENERS = [
    "Honestly,",
    "Overall,",
    "To be fair,",
    "After two weeks,",
    "For the price,",
    "Sadly,",
    "I have to say",
    "Update:",
    "Five stars:",
    "Two stars:",
    "As a gift,",
    "Out of the box,",
    "My husband thinks",
    "My daughter says",
    "In my experience,",
    "Compared to my old one,",
]
_NOUNS = [
    "blender",
    "vacuum",
    "backpack",
    "phone case",
    "coffee maker",
    "desk lamp",
    "keyboard",
    "water bottle",
    "air fryer",
    "charger",
    "tent",
    "jacket",
    "pair of boots",
    "mattress",
    "router",
    "kettle",
    "headset",
    "monitor",
    "stroller",
    "toaster",
    "drill",
    "umbrella",
    "yoga mat",
    "frying pan",
    "smart watch",
    "speaker",
    "mouse",
    "pillow",
    "suitcase",
    "printer",
]
_ADJS = [
    "sturdy",
    "flimsy",
    "quiet",
    "loud",
    "cheap",
    "overpriced",
    "comfortable",
    "gorgeous",
    "disappointing",
    "solid",
    "lightweight",
    "heavy",
    "reliable",
    "useless",
    "decent",
    "excellent",
    "mediocre",
    "well made",
    "poorly packaged",
    "easy to clean",
    "hard to assemble",
]
_VERBS = [
    "works",
    "broke",
    "arrived",
    "stopped working",
    "performs",
    "holds up",
    "feels",
    "looks",
    "charges",
    "heats up",
    "fits",
    "smells",
    "leaks",
    "rattles",
    "runs",
]
_ADVS = [
    "perfectly",
    "terribly",
    "surprisingly well",
    "as expected",
    "after a week",
    "right away",
    "every single time",
    "most of the time",
    "better than advertised",
    "way too fast",
    "just fine",
    "in the rain",
    "on the first day",
    "without any issues",
]
_TAILS = [
    "would buy again",
    "returned it the next day",
    "highly recommend it",
    "would not recommend",
    "customer service was helpful",
    "shipping took forever",
    "the instructions were useless",
    "the battery lasts for days",
    "my kids love it",
    "worth every penny",
    "not worth the money",
    "the color is not as pictured",
    "it was a great deal",
    "packaging was damaged",
    "the seller replaced it quickly",
    "I expected more for the price",
]
_QTY = ["two", "three", "four", "five", "six", "ten", "a couple of", "several"]
_TIME = ["days", "weeks", "months", "uses", "trips", "washes"]


def _clause(rng: random.Random) -> str:
    noun = rng.choice(_NOUNS)
    kind = rng.randrange(5)
    if kind == 0:
        return f"the {noun} {rng.choice(_VERBS)} {rng.choice(_ADVS)}"
    if kind == 1:
        return f"this {noun} is {rng.choice(_ADJS)} and {rng.choice(_ADJS)}"
    if kind == 2:
        return f"it {rng.choice(_VERBS)} {rng.choice(_ADVS)}"
    if kind == 3:
        return f"after {rng.choice(_QTY)} {rng.choice(_TIME)} the {noun} {rng.choice(_VERBS)} {rng.choice(_ADVS)}"
    return rng.choice(_TAILS)


def _review(rng: random.Random) -> str:
    target = rng.randint(5, 30)
    words: list[str] = []
    if rng.random() < 0.3:
        words += rng.choice(_OPENERS).split()
    while len(words) < target:
        if words:
            words.append(rng.choice(["and", "but", "so", "although", "because", "and", "but"]))
        words += _clause(rng).split()
    words = words[:target]
    while words[-1] in ("and", "but", "so", "although", "because", "the", "a", "this", "is", "it"):
        words.pop()
    if len(words) < 5:  # cut too short: pad with a short tail
        words += rng.choice(["great value", "works fine", "no complaints", "big mistake"]).split()
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "!!", " :)", "..."])


def make_texts(n: int, seed: int = SEED) -> list[str]:
    """``n`` distinct review-like sentences of 5 to 30 words; the same for the same ``n`` and ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < n:
        text = _review(rng)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def texts_digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def sample_rows(n: int, k: int = 128) -> list[int]:
    """Row numbers to compare: spread evenly plus a seeded random scatter, always first and last."""
    rng = random.Random(SEED + 1)
    rows = {0, n - 1, *(round(i * (n - 1) / (k // 2)) for i in range(k // 2 + 1))}
    rows |= {rng.randrange(n) for _ in range(k // 2)}
    return sorted(r for r in rows if 0 <= r < n)


# --------------------------------------------------------------------------- children


def _rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def machine_steal_seconds() -> float:
    """CPU seconds the hypervisor took from this VM's vCPUs (all of them), from /proc/stat:
    time the client and the server wanted to run and could not, invisible to every CPU
    count above."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    return (fields[7] if len(fields) > 7 else 0) / os.sysconf("SC_CLK_TCK")


def _child(args: argparse.Namespace) -> int:
    """One measured run, in a fresh process: prints one JSON line."""
    import numpy as np

    role, url, n = args.child, args.url, args.rows
    if role in (*EMBEDFRAME_ROLES, "warm"):
        import pandas as pd

        import embedframe
    elif role == "sdk":
        import openai
    texts = make_texts(args.all_rows)[:n]
    digest = texts_digest(texts)
    base_rss, base_peak = _rss_now(), _peak_rss()
    busy0, steal0 = machine_busy_seconds(), machine_steal_seconds()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}

    if role in (*EMBEDFRAME_ROLES, "warm"):
        options: dict[str, Any] = {}
        if args.concurrency:
            options["concurrency"] = args.concurrency
        if role != "cache-on":
            options["cache"] = False  # the warm-up must not fill a cache either
        series = pd.Series(texts).embed(base_url=url, api_key=API_KEY, progress=False, **options)
        matrix = embedframe.to_numpy(series)
        wall = time.perf_counter() - t0
        cpu = _cpu() - cpu0
        busy = machine_busy_seconds() - busy0
        steal = machine_steal_seconds() - steal0
        if role == "cache-on":
            extra.update(_check_cache(n))
        if matrix.shape != (n, args.dim) or matrix.dtype != np.float32:
            raise SystemExit(
                f"embedframe returned shape {matrix.shape} {matrix.dtype}, expected ({n}, {args.dim})"
            )
        norms = np.einsum("ij,ij->i", matrix, matrix)
        if not np.allclose(norms, 1.0, atol=1e-4):
            bad = np.flatnonzero(~np.isclose(norms, 1.0, atol=1e-4))
            raise SystemExit(f"embedframe returned non-unit vectors at rows {bad[:5].tolist()}")
        extra["module"] = f"embedframe {embedframe.__version__} from {Path(embedframe.__file__).parent}"
        summary = series.attrs.get("embedframe", {})
        extra["requests"] = summary.get("requests")
        if summary.get("cache_hits"):
            raise SystemExit(
                f"embedframe took {summary['cache_hits']} vectors from its cache, not the server"
            )
        sample = matrix[sample_rows(args.sample_of)]
    elif role == "sdk":
        client = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0)
        vectors: list[list[float]] = []
        requests = 0
        for start in range(0, n, SDK_BATCH):
            resp = client.embeddings.create(model=MODEL, input=texts[start : start + SDK_BATCH])
            vectors.extend(d.embedding for d in resp.data)
            requests += 1
        wall = time.perf_counter() - t0
        cpu = _cpu() - cpu0
        busy = machine_busy_seconds() - busy0
        steal = machine_steal_seconds() - steal0
        if len(vectors) != n or any(len(v) != args.dim for v in vectors):
            raise SystemExit(f"the SDK returned {len(vectors)} vectors, expected {n} of {args.dim}")
        extra["requests"] = requests
        extra["module"] = openai.__version__
        sample = np.array([vectors[i] for i in sample_rows(args.sample_of)], dtype=np.float32)
    elif role in ("raw", "raw8"):
        wall, extra = _raw_client(url, texts, threads=8 if role == "raw8" else 1)
        cpu = _cpu() - cpu0
        busy = machine_busy_seconds() - busy0
        steal = machine_steal_seconds() - steal0
        sample = None
    else:
        raise SystemExit(f"unknown role {role!r}")

    if sample is not None:
        np.save(args.out, sample)
    print(
        "RESULT "
        + json.dumps(
            {
                "role": role,
                "rows": n,
                "wall": wall,
                "cpu": cpu,
                "busy": busy,
                "steal": steal,
                "base_rss": base_rss,
                "base_peak": base_peak,
                "peak": _peak_rss(),
                "digest": digest,
                **extra,
            }
        ),
        flush=True,
    )
    return 0


def _check_cache(n: int) -> dict[str, Any]:
    """After a cache-on run (untimed): the cache directory holds every row, from shards that read."""
    import shutil
    import warnings

    from embedframe import VectorCache

    directory = Path(os.environ["EMBEDFRAME_CACHE_DIR"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a damaged shard fails the run
        cache = VectorCache(directory)
        stored = len(cache)
    if stored != n:
        raise SystemExit(f"the cache holds {stored} vectors after the run, expected {n}")
    found = {"cached": stored, "shards": cache.shard_count()}
    shutil.rmtree(directory, ignore_errors=True)  # 0.6 GB a run: do not let them pile up
    return found


def _raw_client(url: str, texts: list[str], threads: int) -> tuple[float, dict[str, Any]]:
    """Post pre-built bodies with http.client and read the bytes unparsed: the server's floor."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/embeddings"
    headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
    bodies = [
        json.dumps({"model": MODEL, "input": texts[i : i + SDK_BATCH], "encoding_format": "base64"}).encode()
        for i in range(0, len(texts), SDK_BATCH)
    ]
    todo = list(range(len(bodies)))
    lock = threading.Lock()
    received = [0]
    errors: list[str] = []

    def work() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            while True:
                with lock:
                    if not todo or errors:
                        return
                    i = todo.pop(0)
                conn.request("POST", path, body=bodies[i], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    received[0] += len(data)
                    if resp.status != 200:
                        errors.append(f"status {resp.status}: {data[:200]!r}")
        finally:
            conn.close()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"raw client: {errors[0]}")
    return wall, {"requests": len(bodies), "bytes": received[0], "threads": threads}


# --------------------------------------------------------------------------- parent


def _die_with_parent() -> None:
    """Child-side: get SIGTERM if the benchmark process dies (Linux), so no server outlives it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    def __init__(self, dim: int, cache: int) -> None:
        help_text = subprocess.run(
            [sys.executable, str(FAKESERVER), "--help"], capture_output=True, text=True, timeout=60
        ).stdout
        if "--cache-size" in help_text:
            cmd = [sys.executable, str(FAKESERVER), "--cache-size", str(cache)]
        else:
            cmd = [sys.executable, "-c", _SERVER_LAUNCHER, str(FAKESERVER.parent), str(cache)]
        cmd += ["--port", "0", "--dim", str(dim)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, preexec_fn=_die_with_parent
        )
        self.url = self._wait_ready(60.0)

    def _wait_ready(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the fake server exited with status {self.proc.returncode} before READY")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("READY "):
                    return line.split()[1]
                if not line:
                    raise RuntimeError("the fake server closed its stdout before READY")
        raise RuntimeError(f"the fake server did not say READY within {timeout:.0f} s (last line {line!r})")

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@dataclass
class Run:
    role: str
    rows: int
    wall: float
    cpu: float
    base_rss: int
    peak: int
    server_cpu: float
    sample: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def other_cpu(self) -> float:
        """CPU seconds other processes (not this client, not the server) used during the timed run."""
        return max(0.0, self.info["busy"] - self.cpu - self.server_cpu)

    @property
    def rate(self) -> float:
        return self.rows / self.wall

    @property
    def growth(self) -> int:
        return self.peak - self.base_rss


def run_child(
    role: str,
    server: Server,
    args: argparse.Namespace,
    rows: int,
    sample_of: int,
    workdir: Path,
    k: int,
) -> Run:
    out = workdir / f"{role}-{k}.npy"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        role,
        "--url",
        server.url,
        "--rows",
        str(rows),
        "--all-rows",
        str(args.rows),
        "--dim",
        str(args.dim),
        "--out",
        str(out),
        "--sample-of",
        str(sample_of),
    ]
    if args.concurrency:
        cmd += ["--concurrency", str(args.concurrency)]
    env = dict(os.environ, EMBEDFRAME_CACHE_DIR=str(workdir / f"cache-{role}-{k}"))
    cpu0 = server.cpu_seconds()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=_die_with_parent,
    )
    try:
        stdout, _ = proc.communicate(timeout=args.timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    server_cpu = server.cpu_seconds() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"the {role} run failed (exit status {proc.returncode}); see its output above")
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if len(lines) != 1:
        raise RuntimeError(f"the {role} run printed no result: {stdout[-500:]!r}")
    info = json.loads(lines[0][len("RESULT ") :])
    sample = None
    if out.exists():
        import numpy as np

        sample = np.load(out)
    return Run(
        role=role,
        rows=info["rows"],
        wall=info["wall"],
        cpu=info["cpu"],
        base_rss=info["base_rss"],
        peak=info["peak"],
        server_cpu=server_cpu,
        sample=sample,
        info=info,
    )


def _mib(b: float) -> str:
    return f"{b / MIB:,.0f}"


def _row(label: str, r: Run, memory: bool = True) -> str:
    line = (
        f"{label:<11} {r.rows:>7,} {r.wall:>7.2f} {r.rate:>9,.0f} {r.cpu:>8.2f} {r.server_cpu:>8.2f} "
        f"{r.other_cpu:>8.2f}"
    )
    if memory:
        line += f" {_mib(r.peak):>9} {_mib(r.base_rss):>9} {_mib(r.growth):>9}"
    return line


def check_vectors(ef: Run, sdk: Run, args: argparse.Namespace, label: str) -> list[str]:
    """Problems found comparing sample rows (empty when all is well)."""
    import numpy as np

    problems: list[str] = []
    rows = sample_rows(sdk.rows)  # both runs saved these rows (all within the SDK's rows)
    for name, r in ((label, ef), ("the SDK", sdk)):
        if r.sample is None or r.sample.shape != (len(rows), args.dim):
            shape = None if r.sample is None else r.sample.shape
            problems.append(f"{name} saved sample rows of shape {shape}, expected {(len(rows), args.dim)}")
    if problems:
        return problems
    ef_by_row = dict(zip(rows, ef.sample, strict=True))
    common = list(zip(rows, sdk.sample, strict=True))
    for i, v in common:
        if not np.allclose(ef_by_row[i], v, rtol=0, atol=1e-6):
            diff = np.abs(ef_by_row[i] - v).max()
            problems.append(f"row {i}: {label} and the SDK disagree (max diff {diff:.3g})")
    exact = all(np.array_equal(ef_by_row[i], v) for i, v in common)
    # Ground truth: the fake server's own formula, for a few rows.
    sys.path.insert(0, str(FAKESERVER.parent))
    try:
        import fakeserver

        texts = make_texts(args.rows)
        for i in rows[:: max(1, len(rows) // 12)]:
            want = fakeserver.vector_for_text(texts[i], args.dim)
            if not np.allclose(ef_by_row[i], want, rtol=0, atol=1e-6):
                problems.append(f"row {i}: {label}'s vector is not the server's vector for {texts[i]!r}")
    finally:
        sys.path.remove(str(FAKESERVER.parent))
    print(
        f"vectors: {len(common)} sample rows compared, {label} vs SDK "
        f"{'identical' if exact and not problems else 'allclose' if not problems else 'MISMATCH'}; "
        f"checked against the server's formula: {'ok' if not problems else 'see errors'}"
    )
    return problems


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(runs: dict[str, list[Run]], args: argparse.Namespace, texts: list[str]) -> int:
    """Print the table and the targets (best and median of the runs); the exit status."""
    best = {role: max(rs, key=lambda r: r.rate) for role, rs in runs.items() if rs}
    for role, rs in runs.items():
        for r in rs:
            if r.info["digest"] != texts_digest(texts[: r.rows]):
                raise RuntimeError(f"the {role} run embedded different texts")
            least = -(-r.rows // SDK_BATCH)
            if r.info.get("requests") is not None and r.info["requests"] < least:
                raise RuntimeError(
                    f"the {role} run made {r.info['requests']} requests for {r.rows:,} rows "
                    f"(at least {least} expected): it did not get its vectors from the server"
                )
    sdk, on, off = best["sdk"], best["cache-on"], best["cache-off"]
    print(f"{on.info['module']}; SDK openai {sdk.info['module']}")
    print()
    print(
        f"best of {args.repeat} (by rows/s); rows/s = rows / wall seconds of the embedding call (for "
        "cache on: until its last write is on disk); peak = ru_maxrss of the contender's own process; "
        "base = RSS after imports and building the texts; cpu = user+system seconds during the timed "
        "call of the client, the server, and every other process on the machine (noise)"
    )
    print(
        f"{'':<11} {'rows':>7} {'wall s':>7} {'rows/s':>9} {'cli cpu':>8} {'srv cpu':>8} "
        f"{'oth cpu':>8} {'peak MiB':>9} {'base MiB':>9} {'+MiB':>9}"
    )
    print(_row("sdk", sdk))
    print(_row("cache on", on))
    print(_row("cache off", off))
    for role, label in (("raw", "raw 1 conn"), ("raw8", "raw 8 conn")):
        if role in best:
            print(_row(label, best[role], memory=False))

    sdk_rate = _median([r.rate for r in runs["sdk"]])
    sdk_peak = _median([r.peak for r in runs["sdk"]])
    result_mib = args.rows * args.dim * 4 / MIB
    print()
    print(
        f"{'':<28} {'best':>8} {'median':>8}   target (judged on the best; median for honesty)\n"
        f"{'-' * 28} {'-' * 8} {'-' * 8}"
    )
    failed = False

    def line(label: str, best_value: float, median_value: float, target: str, ok: bool | None) -> None:
        nonlocal failed
        failed |= ok is False
        verdict = "" if ok is None else f": {_verdict(ok)}"
        print(f"{label:<28} {best_value:8.2f} {median_value:8.2f}   {target}{verdict}")

    for role, name in (("cache-on", "cache on"), ("cache-off", "cache off")):
        rates = [r.rate for r in runs[role]]
        speed_best, speed_med = best[role].rate / best["sdk"].rate, _median(rates) / sdk_rate
        peaks = [r.peak for r in runs[role]]
        mem_best, mem_med = min(peaks) / best["sdk"].peak, _median(peaks) / sdk_peak
        headline = role == "cache-on"
        line(
            f"{name}: rows/s vs SDK (x)",
            speed_best,
            speed_med,
            f">= {SPEED_TARGET:g}x" if headline else "(reference)",
            speed_best >= SPEED_TARGET if headline else None,
        )
        line(
            f"{name}: peak RSS vs SDK (x)",
            mem_best,
            mem_med,
            f"<= {MEMORY_TARGET:g}x" if headline else "(reference)",
            mem_best <= MEMORY_TARGET if headline else None,
        )
        worst_extra = max(peaks) / MIB - result_mib
        line(
            f"{name}: peak - result (MiB)",
            min(peaks) / MIB - result_mib,
            _median(peaks) / MIB - result_mib,
            f"every run <= {HEADROOM_TARGET} (worst {worst_extra:,.0f}; result {result_mib:,.0f})",
            worst_extra <= HEADROOM_TARGET,
        )
    paired = [a.rate / b.rate for a, b in zip(runs["cache-on"], runs["cache-off"], strict=True)]
    cost_best = on.rate / off.rate
    line(
        "cache on / cache off rows/s",
        cost_best,
        _median(paired),
        f">= {1 - CACHE_COST_TARGET:.2f} (median of {len(paired)} paired runs)",
        cost_best >= 1 - CACHE_COST_TARGET,
    )
    print()
    sdk_us, on_us, off_us = (r.cpu / r.rows * 1e6 for r in (sdk, on, off))
    print(
        f"client CPU per row (all threads): SDK {sdk_us:.1f} us, cache on {on_us:.1f} us, cache off "
        f"{off_us:.1f} us (less sensitive than wall time to other load on the machine)"
    )
    if "raw" in best:
        floor = best["raw"].wall * off.rows / best["raw"].rows
        print(
            f"server floor (raw, 1 conn) is {floor / on.wall:.0%} of cache on's wall, {floor / off.wall:.0%} of cache off's"
        )
    problems = check_vectors(on, sdk, args, "cache on") + check_vectors(off, sdk, args, "cache off")
    for p in problems:
        print(f"ERROR: {p}", file=sys.stderr)
    if problems:
        return 1
    return 1 if args.check_targets and failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="texts to embed (default 100000)")
    parser.add_argument("--dim", type=int, default=1536, help="vector size the server returns (default 1536)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per contender, interleaved; best and median reported"
    )
    parser.add_argument(
        "--sdk-rows", type=int, default=None, help="rows for the SDK run (default --rows); rates are compared"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="embedframe concurrency (default: its own)"
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw-client server-floor measurement")
    parser.add_argument(
        "--check-targets",
        action="store_true",
        help="exit 1 when a target is missed (cache on: 30x the SDK's rows/s, 0.15x its peak RSS; "
        "within 15%% of cache off; peak <= result + 400 MiB)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for one child run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--all-rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--sample-of", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)

    if args.rows < 1 or args.dim < 1 or args.repeat < 1:
        parser.error("--rows, --dim and --repeat must be at least 1")
    sdk_rows = min(args.sdk_rows or args.rows, args.rows)

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = time.perf_counter()
    server: Server | None = None
    try:
        t0 = time.perf_counter()
        texts = make_texts(args.rows)
        print(
            f"{args.rows:,} distinct texts ({min(map(len, texts))}-{max(map(len, texts))} chars, "
            f"digest {texts_digest(texts)}) made in {time.perf_counter() - t0:.1f} s; e.g. {texts[0]!r}"
        )
        print(
            f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
            f"Python {sys.version.split()[0]}"
        )
        server = Server(args.dim, cache=args.rows + 1000)
        print(f"fake server pid {server.proc.pid} at {server.url} (dim {args.dim})")
        with tempfile.TemporaryDirectory(prefix="embedframe-bench-") as tmp:
            workdir = Path(tmp)
            warm = run_child("warm", server, args, args.rows, sdk_rows, workdir, 0)
            print(
                f"warm-up (cold server): {warm.wall:.2f} s, {warm.rate:,.0f} rows/s, server CPU "
                f"{warm.server_cpu:.2f} s; server RSS now {_mib(server.rss())} MiB"
            )
            roles = ["sdk", *EMBEDFRAME_ROLES] + ([] if args.no_raw else ["raw", "raw8"])
            runs: dict[str, list[Run]] = {role: [] for role in roles}
            for k in range(args.repeat):
                for role in roles:
                    rows = sdk_rows if role == "sdk" else args.rows
                    r = run_child(role, server, args, rows, sdk_rows, workdir, k)
                    runs[role].append(r)
                    cached = (
                        f"; cache {r.info['cached']:,} rows in {r.info['shards']} shards"
                        if "cached" in r.info
                        else ""
                    )
                    print(
                        f"  run {k + 1}/{args.repeat} {role:<10} {r.wall:7.2f} s {r.rate:>9,.0f} rows/s  "
                        f"cpu: client {r.cpu:.2f} s, server {r.server_cpu:.2f} s, others {r.other_cpu:.2f} s, "
                        f"stolen {r.info.get('steal', float('nan')):.2f} s"
                        + (f"; peak {_mib(r.peak)} MiB" if role in ("sdk", *EMBEDFRAME_ROLES) else "")
                        + cached,
                        flush=True,
                    )
            status = report(runs, args, texts)
            print(f"total {time.perf_counter() - started:.0f} s")
            return status
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc})", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"ERROR: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
