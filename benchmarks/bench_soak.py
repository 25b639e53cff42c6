"""Soak: a 100,000-row job through a server that fails 20% of requests, under a tight TPM limit.

    python benchmarks/bench_soak.py [--rows 100000] [--dim 8] [--fault-rate 0.2] [--seed 7]
                                    [--budget-minutes 0.25] [--inputs-per-request 256]

The loopback fake server (``tests/support/fakeserver.py``, in this process) fails a random
``--fault-rate`` of the requests, each with a kind drawn from every fault a job recovers
from: 429 with ``retry-after``, with ``retry-after-ms`` and with neither (the message's
"try again in 1s"), 500, an HTML 502, 503, a dropped connection, a request that never gets
an answer (cut by the 1 s per-request timeout), truncated JSON, a wrong number of
embeddings, NaN, infinity, a vector of the wrong size, and data in shuffled order (legal).
``tokens_per_minute`` is set so the clean job needs ``--budget-minutes`` minutes of budget
(the client paces smoothly: its bucket holds half a second, not a minute), so the limit binds.

It prints the figures recorded in ``benchmarks/SOAK.md`` and exits non-zero if a row is
lost or wrong, an answered input was sent again, or the server saw more tokens in any
stretch of time than the budget allows. ``tests/test_soak.py`` runs the same function.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the repo root: tests.support is importable

import embedframe  # noqa: E402
from embedframe._wire.limits import BURST_S  # noqa: E402
from tests.support.fakeserver import Fault, encoding, vector_for_tokens  # noqa: E402
from tests.support.hookserver import HookedServer  # noqa: E402

KINDS = [
    Fault("429", retry_after="0"),
    Fault("429", retry_after_ms="50"),
    Fault("429"),
    Fault("500"),
    Fault("502_html"),
    Fault("503"),
    Fault("drop"),
    Fault("hang", hang_s=3.0),
    Fault("bad_json"),
    Fault("wrong_count"),
    Fault("nan"),
    Fault("inf"),
    Fault("wrong_dim"),
    Fault("shuffle"),
]
"""Every recoverable fault kind, with and without a server-given wait."""

STAMP_SLACK_S = 0.25
"""Refill allowed for when the server stamps an arrival (after reading the request)."""

WORDS = [
    "the",
    "a",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "sphinx",
    "black",
    "quartz",
    "judge",
    "my",
    "vow",
    "pack",
    "box",
]


def soak_texts(rows: int, seed: int) -> list[str]:
    """``rows`` distinct short texts (3 to 9 tokens)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, rows)
    picks = rng.integers(0, len(WORDS), int(counts.sum()))
    out, k = [], 0
    for i, c in enumerate(counts.tolist()):
        out.append(f"row {i} " + " ".join(WORDS[j] for j in picks[k : k + c].tolist()))
        k += c
    return out


@dataclass
class Soak:
    """What a soak run did, as the server saw it and as the client reported it."""

    rows: int
    dim: int
    fault_rate: float
    tokens_per_minute: int
    seconds: float
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    """429s the client received."""
    retries: int = 0
    tokens_minimum: int = 0
    """Tokens of the distinct texts: what a fault-free job pays."""
    tokens_answered: int = 0
    """Tokens in requests the server answered correctly."""
    tokens_at_server: int = 0
    """Tokens in every request the server received."""
    tokens_sent: int = 0
    """The client's own count of tokens put on the wire (``attrs['embedframe']['tokens_sent']``)."""
    tokens_resent_after_success: int = 0
    """Tokens of inputs sent again after the server had answered them correctly."""
    lost_rows: int = 0
    wrong_rows: int = 0
    over_budget: float = 0.0
    """Most tokens that had arrived by any moment beyond the client's burst (half a second of the
    budget) plus the refill since the first arrival (<= 0 is within). Arrivals are stamped once the server has read the body, so a few
    milliseconds of refill (:data:`STAMP_SLACK_S`) are allowed."""
    first_to_last_s: float = 0.0
    """From the first request's arrival to the last's."""

    @property
    def tokens_wasted(self) -> int:
        """Tokens of attempts that failed (and were sent again): the price of the faults."""
        return self.tokens_at_server - self.tokens_answered

    def ideal_seconds(self, tokens: int) -> float:
        """The least time the limit allows for ``tokens``: all of them at the budget's rate."""
        return tokens / (self.tokens_per_minute / 60)

    def ok(self) -> bool:
        return (
            self.lost_rows == 0
            and self.wrong_rows == 0
            and self.tokens_resent_after_success == 0
            and self.tokens_answered == self.tokens_minimum
            and self.over_budget <= self.tokens_per_minute / 60 * STAMP_SLACK_S
        )

    def report(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        answered_over = 100 * (self.tokens_answered / self.tokens_minimum - 1)
        lines = [
            f"rows                          {self.rows:,} (dim {self.dim})",
            f"requests at the server        {self.requests:,}; faults injected {sum(self.faults.values()):,} "
            f"({faults}; a shuffle is legal and kept)",
            f"429s received                 {self.rate_limited:,}",
            f"retries                       {self.retries:,}",
            f"tokens: minimum (distinct)    {self.tokens_minimum:,}",
            f"tokens answered correctly     {self.tokens_answered:,} ({answered_over:+.2f}% over the minimum)",
            f"tokens re-sent after success  {self.tokens_resent_after_success:,}",
            f"tokens wasted on faults       {self.tokens_wasted:,} "
            f"({100 * self.tokens_wasted / self.tokens_minimum:.1f}% of the minimum)",
            f"tokens at the server (all)    {self.tokens_at_server:,}; client's tokens_sent {self.tokens_sent:,}",
            f"tokens_per_minute             {self.tokens_per_minute:,}",
            f"most tokens over the budget   {max(self.over_budget, 0):,.0f} at any moment (burst + refill; "
            f"{1000 * max(self.over_budget, 0) / (self.tokens_per_minute / 60):.0f} ms of refill)",
            f"time                          {self.seconds:.1f} s job, {self.first_to_last_s:.1f} s first to last request",
            f"ideal for the tokens sent     {self.ideal_seconds(self.tokens_sent):.1f} s "
            f"(time / ideal = {self.first_to_last_s / max(self.ideal_seconds(self.tokens_sent), 1e-9):.2f})",
            f"ideal with no faults          {self.ideal_seconds(self.tokens_minimum):.1f} s",
            f"lost rows / wrong rows        {self.lost_rows} / {self.wrong_rows}",
        ]
        return "\n".join(lines)


def run_soak(
    *,
    rows: int = 100_000,
    dim: int = 8,
    fault_rate: float = 0.2,
    seed: int = 7,
    budget_minutes: float = 0.25,
    inputs_per_request: int = 256,
    concurrency: int = 8,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Soak:
    """Run the soak job and measure it (see the module docstring)."""
    texts = soak_texts(rows, seed)
    enc = encoding()
    token_lists = enc.encode_ordinary_batch(texts)
    minimum = sum(len(t) for t in token_lists)
    tpm = int(minimum / budget_minutes)
    with HookedServer(dim=dim, cache_size=rows + 10) as srv:
        srv.inject_random(fault_rate, KINDS, seed=seed)
        cfg = embedframe.EmbedConfig(
            base_url=srv.url,
            api_key="sk-soak-0000000000000000",
            progress=False,
            tokens_per_minute=tpm,
            max_input_tokens=512,
            max_inputs_per_request=inputs_per_request,
            concurrency=concurrency,
            timeout=1.0,
            max_retries=12,
            wait_initial=0.05,
            wait_max=1.0,
            cache=cache_dir if cache_dir is not None else True,
        )
        df = pd.DataFrame({"text": texts})
        started = time.perf_counter()
        out = df.embed("text", config=cfg)
        seconds = time.perf_counter() - started
        time.sleep(0.1)
        records = list(srv.requests)
        arrivals = sorted((t, rec.total_tokens) for t, rec in srv.arrivals)

    attrs: dict[str, Any] = out.attrs["embedframe"]
    soak = Soak(rows=rows, dim=dim, fault_rate=fault_rate, tokens_per_minute=tpm, seconds=seconds)
    soak.requests = len(records)
    soak.faults = Counter(r.fault for r in records if r.fault is not None)
    soak.rate_limited = attrs["rate_limited"]
    soak.retries = attrs["retries"]
    soak.tokens_minimum = minimum
    soak.tokens_sent = attrs["tokens_sent"]
    soak.tokens_at_server = sum(r.total_tokens for r in records)
    answered: set[str] = set()
    for rec in records:
        for item, count in zip(rec.inputs, rec.token_counts, strict=True):
            if item in answered:
                soak.tokens_resent_after_success += count
        if rec.status == 200 and rec.fault in (None, "shuffle"):
            soak.tokens_answered += rec.total_tokens
            answered.update(str(i) for i in rec.inputs)

    m = embedframe.to_numpy(out["text_embedding"])
    soak.lost_rows = int(out["text_embedding"].isna().sum())
    expected = np.stack([vector_for_tokens(t, dim) for t in token_lists])
    soak.wrong_rows = int((~(m == expected).all(axis=1)).sum())

    t0 = arrivals[0][0]
    total = 0
    worst = -float("inf")
    for t, amount in arrivals:
        total += amount
        worst = max(worst, total - (tpm / 60 * BURST_S + tpm / 60 * (t - t0)))
    soak.over_budget = worst
    soak.first_to_last_s = arrivals[-1][0] - t0
    return soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=8)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget-minutes", type=float, default=0.25)
    parser.add_argument("--inputs-per-request", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        soak = run_soak(
            rows=args.rows,
            dim=args.dim,
            fault_rate=args.fault_rate,
            seed=args.seed,
            budget_minutes=args.budget_minutes,
            inputs_per_request=args.inputs_per_request,
            concurrency=args.concurrency,
            cache_dir=cache,
        )
    print(soak.report())
    print("OK" if soak.ok() else "FAILED")
    return 0 if soak.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
