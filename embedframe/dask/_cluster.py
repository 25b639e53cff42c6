"""What only a cluster has: a share of the job's rate budget per worker process, a cap on
how many processes embed at once, and a 429 pause every worker sees.

The budget itself is the engine's (:class:`embedframe._wire.limits.RateLimiter`): each
worker process keeps one share of the job's requests and tokens per minute, across the
partitions it runs, and hands it to every partition's job through
:func:`~embedframe._wire.limits.shared_limits`, where the engine paces each request by it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._wire.limits import Gate, RateLimiter, shared_limits
from ..config import EmbedConfig
from ..errors import ConfigError

__all__ = ["Cluster", "cluster_workers", "share_limits", "start_pause"]

log = logging.getLogger("embedframe")

_PAUSE_POLL_S = 0.2
"""How often a worker reads the cluster-wide pause (one scheduler round trip each)."""
_PAUSE_TIMEOUT_S = 5.0
_PAUSE_IDLE_S = 5.0
"""A process stops reading the pause after this long without sending."""


@dataclass(frozen=True)
class Cluster:
    """A job's shared state on the cluster, by name; pickled into the graph.

    ``shares`` is how many equal shares the job's budget is split into: the client-side
    ``requests_per_minute`` / ``tokens_per_minute`` and what the server's headers report. A
    ``distributed.Semaphore`` with ``shares``
    leases lets at most that many processes embed at once, however many workers or threads
    the cluster has, and a process runs one partition of the job at a time.
    """

    name: str
    shares: int
    requests_per_minute: int | None
    """One share's budget (already divided)."""
    tokens_per_minute: int | None
    pause: str
    """The name of the job's 429 pause (a ``distributed.Variable`` when ``cluster_pause``)."""
    cluster_pause: bool

    @classmethod
    def start(cls, config: EmbedConfig, shares: int, workers: int | None = None) -> Cluster:
        """The state of a new job whose tasks run with ``config`` (rate limits already a
        share). With no client-side limits (``shares`` 0) the job still splits what the
        server's ``x-ratelimit-*`` headers report among ``workers`` (default: the cluster's),
        so N workers never each take the whole account's rate."""
        pause = f"embedframe-pause-{uuid.uuid4().hex}"
        return cls(
            name=f"embedframe-{uuid.uuid4().hex}",
            shares=shares or workers or cluster_workers() or 1,
            requests_per_minute=config.requests_per_minute,
            tokens_per_minute=config.tokens_per_minute,
            pause=pause,
            cluster_pause=start_pause(pause),
        )

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Within the job's pause and this process's share of its budget: the user's limits
        (already divided), and ``1/shares`` of what the server reports it allows."""
        with _in_process(self) as state, state.lock:
            state.semaphore.acquire()
            try:
                with shared_limits(gate=state.gate, limiter=state.limiter):
                    yield
            finally:
                state.semaphore.release()


def share_limits(cfg: EmbedConfig, workers: int | None) -> tuple[EmbedConfig, int]:
    """The per-task config with its share of the rate limits, and the number of shares (0: none)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    rpm, tpm = cfg.requests_per_minute, cfg.tokens_per_minute
    if rpm is None and tpm is None:
        return cfg, 0
    shares = workers if workers is not None else (cluster_workers() or 1)
    if rpm is not None:
        shares = min(shares, rpm)
    if tpm is not None:  # every share must still fit one input of the largest size
        shares = min(shares, max(1, tpm // cfg.input_limit))
    shares = max(1, shares)
    split = cfg.derive(
        requests_per_minute=None if rpm is None else rpm // shares,
        tokens_per_minute=None if tpm is None else tpm // shares,
    )
    return split, shares


def cluster_workers() -> int | None:
    """Workers of the current ``distributed`` client, if there is one."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        client = get_client()
        return len(client.nthreads()) or None  # type: ignore[no-untyped-call]
    except Exception:  # no client, or one that cannot answer now
        return None


def start_pause(name: str) -> bool:
    """Create the job's shared pause on the current ``distributed`` cluster; ``False`` if there is none."""
    try:
        from distributed import Variable, get_client
    except ImportError:
        return False
    try:
        client = get_client()
    except ValueError:  # no distributed client: the threaded or synchronous scheduler
        return False
    Variable(name, client=client).set(0.0)  # type: ignore[no-untyped-call]
    return True


# ------------------------------------------------------------------- one of each per process

_JOB_IDLE_S = 600.0
"""A process forgets a job it has not sent for in this long (a long-lived worker runs many)."""


@dataclass
class _JobState:
    """What one process keeps of a job across the partitions it runs."""

    lock: threading.Lock
    """One partition of the job at a time in this process."""
    semaphore: Any
    limiter: RateLimiter
    gate: Gate
    users: int = 0
    used: float = field(default_factory=time.monotonic)


_jobs: dict[str, _JobState] = {}
_jobs_lock = threading.Lock()


@contextlib.contextmanager
def _in_process(cluster: Cluster) -> Iterator[_JobState]:
    """This process's state of ``cluster``'s job, made on first use; other jobs unused for
    :data:`_JOB_IDLE_S` are forgotten (a later partition of one makes its state again:
    a fresh budget and pause, which an idle job has no use for)."""
    with _jobs_lock:
        _forget_idle(time.monotonic())
        state = _jobs.get(cluster.name)
        if state is None:
            state = _jobs[cluster.name] = _JobState(
                lock=threading.Lock(),
                semaphore=_make_semaphore(cluster.name, cluster.shares),
                limiter=RateLimiter(
                    cluster.requests_per_minute, cluster.tokens_per_minute, share=1 / cluster.shares
                ),
                gate=_make_gate(cluster.pause, cluster.cluster_pause),
            )
        state.users += 1
    try:
        yield state
    finally:
        with _jobs_lock:
            state.users -= 1
            state.used = time.monotonic()


def _forget_idle(now: float) -> None:
    """Drop the jobs no partition uses and none has used for :data:`_JOB_IDLE_S` (lock held)."""
    for name, state in list(_jobs.items()):
        if state.users == 0 and now - state.used >= _JOB_IDLE_S:
            del _jobs[name]
            _stop_refreshing(state.semaphore)


def _stop_refreshing(semaphore: Any) -> None:
    """Stop a ``distributed.Semaphore``'s lease refresh, a callback its worker's event loop
    would otherwise run every few seconds for as long as the process lives. The semaphore
    itself stays on the scheduler: other processes of the job may still use it."""
    refresh = getattr(semaphore, "refresh_callback", None)
    loop = getattr(semaphore, "loop", None)
    if refresh is not None and loop is not None:
        loop.add_callback(refresh.stop)


def _make_semaphore(name: str, leases: int) -> Any:
    try:
        from distributed import Semaphore, get_worker
    except ImportError:
        return threading.BoundedSemaphore(leases)
    try:
        get_worker()
    except ValueError:  # the threaded or synchronous scheduler: one process
        return threading.BoundedSemaphore(leases)
    semaphore = Semaphore(max_leases=leases, name=name)  # type: ignore[no-untyped-call]
    semaphore.register()  # type: ignore[no-untyped-call]
    return semaphore


def _make_gate(name: str, cluster: bool) -> Gate:
    if cluster:
        try:
            from distributed import Variable, get_client, get_worker

            get_worker()
        except (ImportError, ValueError):  # not on a worker: this process is the whole job
            pass
        else:
            # the client is bound here, in the task's thread: the gate's helper threads
            # could not find it themselves
            return _ClusterGate(Variable(name, client=get_client()))  # type: ignore[no-untyped-call]
    return Gate()


class _ClusterGate(Gate):
    """A 429 pause every worker of the job honours, through a ``distributed.Variable``.

    A worker told to wait (a 429, or ``x-ratelimit-remaining-*`` at zero) publishes the
    wall-clock time it waits until. While the job sends, a helper thread in each worker
    process reads it every :data:`_PAUSE_POLL_S` into the local pause, so sending never
    waits for the scheduler. Clocks of one cluster agree to far less than a pause under
    NTP, and the pause only spares the server: retries stay correct without it.
    """

    def __init__(self, variable: Any) -> None:
        super().__init__()
        self._variable = variable
        self._used = time.monotonic()
        self._poller: threading.Thread | None = None
        self._lock = threading.Lock()
        self._publishing = threading.Lock()

    def hold(self, seconds: float) -> None:
        super().hold(seconds)
        until = time.time() + seconds
        threading.Thread(target=self._publish, args=(until,), name="embedframe-pause", daemon=True).start()

    async def wait(self) -> None:
        self._used = time.monotonic()
        with self._lock:
            if self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll, name="embedframe-pause-poll", daemon=True)
                self._poller.start()
        await super().wait()

    def _poll(self) -> None:
        """Read the shared pause until the job has not sent for a while."""
        while time.monotonic() - self._used < _PAUSE_IDLE_S:
            until = self._read()
            if until is not None and until > time.time():
                super().hold(until - time.time())
            time.sleep(_PAUSE_POLL_S)

    def _read(self) -> float | None:
        try:
            return float(self._variable.get(timeout=_PAUSE_TIMEOUT_S))
        except Exception as exc:  # the scheduler is unreachable or slow: pause locally only
            log.debug("could not read the cluster-wide pause: %s", exc)
            return None

    def _publish(self, until: float) -> None:
        with self._publishing:
            try:
                if until > float(self._variable.get(timeout=_PAUSE_TIMEOUT_S)):
                    self._variable.set(until)
            except Exception as exc:
                log.debug("could not publish the cluster-wide pause: %s", exc)
