"""Soak: 100,000 rows through a server failing 20% of requests, under a tight tokens-per-minute limit."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_soak import STAMP_SLACK_S, run_soak


def test_soak_100k_rows_random_faults_tight_tpm(tmp_path: Path) -> None:
    """No row lost or wrong, nothing re-sent after an answer, tokens at the minimum, budget held, time near the ideal."""
    soak = run_soak(rows=100_000, dim=8, fault_rate=0.2, seed=7, budget_minutes=0.25, cache_dir=tmp_path)
    print("\n" + soak.report())
    assert soak.lost_rows == 0 and soak.wrong_rows == 0
    assert sum(soak.faults.values()) >= 0.15 * soak.requests, "the faults really happened"
    assert len(soak.faults) >= 12, "(nearly) every kind of fault happened"
    assert soak.rate_limited > 0 and soak.retries > 0
    assert soak.tokens_resent_after_success == 0
    assert soak.tokens_answered == soak.tokens_minimum  # within 1% of the minimum: exactly it
    assert soak.tokens_sent == soak.tokens_at_server == soak.tokens_answered + soak.tokens_wasted
    assert soak.over_budget <= soak.tokens_per_minute / 60 * STAMP_SLACK_S
    ideal = soak.ideal_seconds(soak.tokens_sent)
    assert ideal > 10, "the limit binds"
    assert ideal * 0.95 <= soak.first_to_last_s <= ideal * 1.2 + 5
