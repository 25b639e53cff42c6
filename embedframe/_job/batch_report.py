"""A batch job's report and result: its status from the saved state, and the frame put
together from the cache (error lines sent online, lost rows reported).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._core.batchfile import batch_usd
from ..config import EmbedConfig
from ..errors import BatchError
from ..models import model_info
from .backend import resolve_backend
from .batch_plan import plan_job
from .batch_state import JobFiles, JobState
from .engine import open_cache, piece_keys

__all__ = ["BatchStatus", "ProgressBar", "assemble", "status_of"]


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch job stands."""

    job_id: str
    state: str
    """``in_progress``, ``completed``, ``completed_with_errors`` (some lines failed; they are
    sent online, or reported per row, by ``result()``), ``failed``, ``cancelling`` or ``cancelled``."""
    batches: tuple[dict[str, Any], ...]
    """Per batch: part number, batch id, server status, requests, inputs, tokens, counts."""
    requests: int
    """Requests (JSON lines) the job sends, each up to 2,048 inputs."""
    requests_done: int
    """Requests answered 200 (collected, or reported done by a running batch)."""
    requests_failed: int
    """Lines in error files (sent online, or reported per row, by ``result()``)."""
    inputs: int
    """Inputs submitted (texts already in the cache excluded; duplicates once)."""
    cached: int
    """Inputs found in the cache at submit time (not sent)."""
    tokens: int
    """Tokens of the inputs submitted."""
    usd: float | None
    """Batch price of ``tokens``."""
    online_usd: float | None
    """What the same tokens cost online."""
    errors: tuple[str, ...] = field(default_factory=tuple)
    """The server's errors: failed batches, failed lines (first few)."""

    @property
    def finished(self) -> bool:
        """Whether every batch has ended (``result()`` can be asked for)."""
        return self.state not in ("in_progress", "cancelling")

    def __str__(self) -> str:
        price = (
            "unknown price" if self.usd is None else f"${self.usd:,.4f} (online ${self.online_usd or 0:,.4f})"
        )
        lines = [
            f"job        {self.job_id}: {self.state}",
            f"requests   {self.requests_done:,} done, {self.requests_failed:,} failed, of {self.requests:,}",
            f"inputs     {self.inputs:,} sent, {self.cached:,} from the cache",
            f"tokens     {self.tokens:,}, batch cost {price}",
        ]
        for b in self.batches:
            lines.append(
                f"  part {b['part']:>3} {b['batch_id'] or '-':<28} {b['status'] or b['stage']:<12} "
                f"{b['requests']:,} requests, {b['inputs']:,} inputs, {b['tokens']:,} tokens"
            )
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def status_of(state: JobState) -> BatchStatus:
    """The status of a job from its saved state (no request)."""
    parts = [p for p in state.parts if p.stage != "replaced"]
    batches = tuple(
        {
            "part": p.n,
            "batch_id": p.batch_id,
            "stage": p.stage,
            "status": p.outcome or p.status,
            "requests": len(p.requests),
            "inputs": p.inputs,
            "tokens": p.tokens,
            "counts": dict(p.counts),
            "attempt": p.attempt,
        }
        for p in parts
    )
    outcome: dict[int, str] = {}
    running = 0
    for p in sorted(parts, key=lambda q: q.n):  # a part sent again comes after the one that expired
        for r in p.requests:
            if r in p.unfinished:
                outcome[r] = "unfinished"
            elif str(r) in p.line_errors:
                outcome[r] = "error"
            else:
                outcome[r] = "done" if p.stage == "collected" else "pending"
        if p.stage == "submitted":
            running += p.counts.get("completed", 0)
    values = list(outcome.values())
    done, failed_lines, unfinished = (
        values.count("done") + running,
        values.count("error"),
        values.count("unfinished"),
    )
    errors = [e for p in parts for e in p.errors]
    errors += [f"request {r}: {m}" for p in parts for r, m in list(p.line_errors.items())[:3]]
    errors += [
        f"batch {p.n}: {len(p.unfinished)} request(s) not run: {p.reason}" for p in parts if p.unfinished
    ]
    reasons = {p.reason for p in parts if p.unfinished}
    if not state.finished:
        name = "cancelling" if state.cancelled else "in_progress"
    elif unfinished and (state.cancelled or reasons <= {"cancelled", "cancelled before it was submitted"}):
        name = "cancelled"
    elif unfinished:
        name = "failed"
    elif failed_lines:
        name = "completed_with_errors"
    else:
        name = "completed"
    price = model_info(state.model).usd_per_million_tokens
    online = None if price is None else state.tokens * price / 1_000_000
    return BatchStatus(
        job_id=state.id,
        state=name,
        batches=batches,
        requests=state.requests,
        requests_done=done,
        requests_failed=failed_lines,
        inputs=state.inputs,
        cached=state.cached,
        tokens=state.tokens,
        usd=batch_usd(online),
        online_usd=online,
        errors=tuple(errors[:10]),
    )


async def assemble(files: JobFiles, config: EmbedConfig) -> pd.DataFrame:
    from .. import api

    state = files.load()
    status = status_of(state)
    if not state.finished:
        raise BatchError(
            f"batch job {state.id} is still {status.state}: call job.wait() first (or job.status() to check)"
        )
    payload = files.read_input()
    frame: pd.DataFrame = payload["frame"]
    column: Hashable = payload["column"]
    output: Hashable = payload["output"]
    series = frame[column]
    lost = _lost_rows(files, state, config, series)
    if lost and not state.details:
        reasons = sorted({reason for reason in lost.values()})
        raise BatchError(
            f"batch job {state.id}: {len(lost)} row(s) have no vector ({'; '.join(reasons)}). Pass "
            f"details=True at submit to get them as null rows with the reason, or submit the frame "
            "again to send them in a new batch (what is done is in the cache and is not sent again)"
        )
    source = frame
    if lost:
        source = frame.copy(deep=False)
        values = series.to_numpy(dtype=object, copy=True)
        values[list(lost)] = None
        source[column] = pd.Series(values, index=series.index, dtype=object)
    out = await api.aembed_column(source, column, output=output, details=state.details, config=config)
    if lost:
        out[column] = series
        name = f"{column}_status"
        status_col = out[name].astype(object).to_numpy(copy=True)
        for row, reason in lost.items():
            status_col[row] = f"error: not embedded: {reason}"
        out[name] = pd.array(status_col, dtype="string")
    from ..provenance import PROVENANCE_ATTR

    provenance = dict(out.attrs.get(PROVENANCE_ATTR, {}))
    record = dict(provenance.get(str(output), {}))
    stats = out.attrs.get("embedframe", {})
    record.update({"api": "batch", "batch_job": state.id, "online_requests": int(stats.get("requests", 0))})
    provenance[str(output)] = record
    out.attrs[PROVENANCE_ATTR] = provenance
    batch = {
        k: getattr(status, k) for k in ("job_id", "state", "requests", "inputs", "cached", "tokens", "usd")
    }
    out.attrs["embedframe"] = {**stats, "batch": batch}  # the online figures: error lines sent again
    return out


def _lost_rows(files: JobFiles, state: JobState, config: EmbedConfig, series: pd.Series) -> dict[int, str]:
    """Rows (positions) whose text needs a piece that never ran (cancelled, failed or
    expired batches) and is not in the cache, with the reason."""
    reason_of: dict[bytes, str] = {}
    for part in state.parts:
        for r in part.unfinished:
            for key in files.request_keys(r):
                reason_of[key] = part.reason or "not run"
    if not reason_of:
        return {}
    backend = resolve_backend(config, announce=False)
    values = series.to_numpy(dtype=object)
    plan = plan_job(values, series.index, backend, column=series.name, details=state.details)
    keys = piece_keys(backend.config, plan.pieces)
    store = open_cache(backend.config)
    cached = store.contains(keys) if store is not None and keys else np.zeros(len(keys), dtype=bool)
    bad = {p: reason_of[k] for p, k in enumerate(keys) if k in reason_of and not cached[p]}
    lost: dict[int, str] = {}
    if not bad:
        return lost
    for t in range(len(plan.texts)):
        refs = plan.ref_piece[plan.ref_start[t] : plan.ref_start[t + 1]].tolist()
        hit = next((bad[p] for p in refs if p in bad), None)
        if hit is not None:
            for row in np.flatnonzero(plan.row_text == t).tolist():
                lost[row] = hit
    return lost


class ProgressBar:
    """A progress bar over a job's requests, with its batches' states."""

    def __init__(self, state: JobState, enabled: bool | None) -> None:
        import warnings

        with warnings.catch_warnings():  # Jupyter without ipywidgets falls back to text: fine
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm

        self._bar: Any = None
        if enabled is not False:
            self._bar = tqdm(
                total=state.requests, unit="request", desc=f"batch {state.id}", delay=0 if enabled else 2.0
            )

    def show(self, status: BatchStatus) -> None:
        if self._bar is None:
            return
        self._bar.update(max(0, status.requests_done + status.requests_failed - self._bar.n))
        states: dict[str, int] = {}
        for b in status.batches:
            key = str(b["status"] or b["stage"])
            states[key] = states.get(key, 0) + 1
        self._bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(states.items())))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
