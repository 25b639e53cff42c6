"""A persistent, content-addressed store of embedding vectors, safe to share between processes.

Longer than most modules: lookup, writing, indexing and compaction all work on the one
shard layout described below; the shard file format and the writer thread already live in
``_storage/shardfile.py`` and ``_storage/cachewriter.py``.

Embedding work that was paid for is kept: a job looks its texts up before sending and hands
each response's vectors, as they arrive, to a writer thread that commits them while sending
goes on (``embedframe._storage.cachewriter``: grouped into one shard per write, bounded).

Layout: a directory of immutable shards named ``shard-<uuid>-<pid>.<format>``, each with
two non-null columns, ``key`` (``fixed_size_binary(32)``: SHA-256 of the namespace and the
text) and ``vector`` (``fixed_size_binary(4*d)``: the vector as little-endian float32), in
groups of about 1 MiB of vectors. The schema's metadata records the format and ``d``;
shards of different ``d`` coexist. A directory gets Arrow IPC shards (``.arrow``, written
from the job's buffers and read memory-mapped, a CRC32C per group's keys and vectors), an
object store Parquet shards (``.parquet``, page CRCs; a lookup's ranged reads fetch only
their ``key`` column), and both formats are read everywhere
(``embedframe._storage.shardfile``). Every group read is checked, so a damaged shard is
skipped with a warning instead of giving a wrong vector.

Where the shards live (``embedframe._storage.cachestore``):

- a local or shared-filesystem directory. A shard is written to a temporary file
  (``.shard-*.tmp``, ignored by readers), fsynced and renamed into place. Only one process
  compacts at a time (``flock`` on ``.compact.lock``);
- any fsspec URL (``s3://bucket/cache``, ``gs://``, ``az://``, ``memory://``; credentials
  and endpoint in ``storage_options``). A shard is built in memory and stored with one
  whole-object write straight to its final name (an object PUT is atomic: readers see all
  of it or nothing). There is no rename and no lock.

Names are unique per write, so processes never write the same file. ``compact`` merges
small shards into a new one and removes them only after the new one is written; a reader
that finds a shard gone lists again and retries.

Compaction on an object store is lock-free. Several processes may compact at once and
merge the same shards; a compactor removes only shards whose rows it read in full and
wrote into a new shard that was stored, and drops a duplicate key only when another copy
of it is in that same new shard. So every key stays in some shard whatever the
interleaving; concurrent compactors at worst leave duplicate rows (same key, same vector),
which a later compaction merges. Under the local lock, a key already stored in any other
shard is dropped too.

The in-memory index (key → shard, row) is built lazily from the ``key`` columns only and is
refreshed at each lookup with the shards that appeared or disappeared since the last one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from ._storage.cachestore import ShardStore, open_store
from ._storage.shardfile import (
    SUFFIX,
    Damaged,
    Part,
    ShardReader,
    concat_parts,
    open_shard,
    write_parquet_shard,
    write_shard,
)
from ._warn import warn
from .config import CACHE_DIR_ENV, default_cache, default_cache_dir

__all__ = ["CACHE_DIR_ENV", "CacheWarning", "VectorCache", "default_cache", "default_cache_dir"]

KEY_BYTES = 32

_READ_TRIES = 4
_HASH_CHUNK = 4096
_FULL_SHARD_BYTES = 32 << 20
_THREADS = min(8, os.cpu_count() or 1)
Keys = Sequence[bytes] | npt.NDArray[np.uint64]
"""Keys: 32-byte values, or the ``(n, 4)`` uint64 array :meth:`VectorCache.key_array` gives."""
_T = TypeVar("_T")
_R = TypeVar("_R")


class CacheWarning(RuntimeWarning):
    """A cache shard was skipped because it is damaged or unreadable."""


_Damaged = Damaged


@dataclass(frozen=True)
class _Shard:
    id: int
    name: str
    dim: int
    rows: int
    starts: npt.NDArray[np.int64]
    """First row of each row group, then the row count."""


@dataclass(frozen=True)
class _Entries:
    """Index entries: full keys as four native uint64 words, and where each one is stored."""

    words: npt.NDArray[np.uint64]
    shard: npt.NDArray[np.int32]
    row: npt.NDArray[np.int64]

    @staticmethod
    def empty() -> _Entries:
        return _Entries(
            np.empty((0, 4), dtype=np.uint64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        )

    def take(self, which: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> _Entries:
        return _Entries(self.words[which], self.shard[which], self.row[which])

    @staticmethod
    def concat(parts: Sequence[_Entries]) -> _Entries:
        return _Entries(
            np.concatenate([p.words for p in parts]),
            np.concatenate([p.shard for p in parts]),
            np.concatenate([p.row for p in parts]),
        )


class VectorCache:
    """Embedding vectors by key, stored in ``directory``; thread-safe and multi-process safe.

    ``directory`` is a local or shared-filesystem directory, or an fsspec URL
    (``s3://bucket/cache``, ``gs://...``, ``memory://...``) with ``storage_options`` for
    fsspec (endpoint, credentials; never shown). ``shard_rows`` is the size ``compact``
    merges small shards up to (a merged shard holds fewer than ``2 * shard_rows`` rows); a
    shard of 32 MiB of vectors or more counts as full whatever its rows, so compaction never
    rewrites large shards (a big job's answers arrive as shards of 12-64 MiB).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        shard_rows: int = 32_768,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(shard_rows, bool) or not isinstance(shard_rows, int) or shard_rows < 1:
            raise ValueError(f"shard_rows must be a positive integer, got {shard_rows!r}")
        self._store: ShardStore = open_store(directory, storage_options)
        self.location = self._store.location
        """Where the shards are, as it may be shown (a URL without its credentials)."""
        self.directory: pathlib.Path | None = getattr(self._store, "directory", None)
        """The local directory, or ``None`` for a URL cache."""
        self.shard_rows = shard_rows
        self._lock = threading.RLock()
        self._reset()

    def __repr__(self) -> str:
        return f"VectorCache({self.location!r})"

    # keys and namespaces

    @staticmethod
    def namespace(*, base_url: str, model: str, dimensions: int | None, encoding: str, long_text: str) -> str:
        """The canonical string of what makes a vector differ (JSON, sorted keys).

        It holds exactly these five fields and never a credential: user and password, query
        and fragment are removed from ``base_url``.
        """
        fields = {
            "base_url": _public_url(base_url),
            "model": model,
            "dimensions": dimensions,
            "encoding": encoding,
            "long_text": long_text,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def key(*, namespace: str, text: str) -> bytes:
        """SHA-256 of the length-prefixed UTF-8 of ``namespace`` and ``text`` (32 bytes)."""
        return VectorCache.keys(namespace=namespace, texts=(text,))[0]

    @staticmethod
    def keys(*, namespace: str, texts: Iterable[str]) -> list[bytes]:
        """``key`` of each text in ``texts`` (hashes the namespace once)."""
        words = VectorCache.key_array(namespace=namespace, texts=texts)
        raw = words.tobytes()
        return [raw[i : i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)]

    @staticmethod
    def key_array(*, namespace: str, texts: Iterable[str]) -> npt.NDArray[np.uint64]:
        """The ``key`` of each text as one ``(n, 4)`` array of native uint64 words.

        What :meth:`get`, :meth:`contains` and :meth:`put` take in place of a list of keys:
        one buffer for a job's keys instead of one Python object each.
        """
        ns = namespace.encode("utf-8", "surrogatepass")
        copy = hashlib.sha256(len(ns).to_bytes(8, "big") + ns).copy
        chunks: list[bytes] = []
        digests: list[bytes] = []
        append = digests.append
        for text in texts:
            data = text.encode("utf-8", "surrogatepass")
            h = copy()
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
            append(h.digest())
            if len(digests) == _HASH_CHUNK:  # joined as we go: no Python object per key is kept
                chunks.append(b"".join(digests))
                digests.clear()
        chunks.append(b"".join(digests))
        return np.frombuffer(b"".join(chunks), dtype=np.uint64).reshape(-1, 4)

    # reading

    def get(self, keys: Keys) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32] | None]:
        """Which ``keys`` are stored, and an ``(n, d)`` matrix with their rows filled.

        The matrix is ``None`` when none is found; rows not found are zeros. Raises
        ``ValueError`` if the found vectors differ in size (keys of several namespaces).
        """
        query = _key_words(keys)
        n = len(query)
        found = np.zeros(n, dtype=bool)
        out: npt.NDArray[np.float32] | None = None
        todo = np.arange(n)
        for _ in range(_READ_TRIES):
            if not len(todo):
                break
            with self._lock:
                self._refresh()
                hit = self._lookup(query[todo])
                qpos = todo[hit >= 0]
                where = self._main.take(hit[hit >= 0])
                shards = {int(s): self._shards[int(s)] for s in np.unique(where.shard)}
            if not len(qpos):
                break
            dims = {s.dim for s in shards.values()} | ({out.shape[1]} if out is not None else set())
            if len(dims) > 1:
                raise ValueError(
                    f"the keys' vectors have different sizes {sorted(dims)}; look up one namespace at a time"
                )
            if out is None:
                out = np.zeros((n, dims.pop()), dtype=np.float32)
            order = np.argsort(where.shard, kind="stable")
            parts = np.split(order, np.flatnonzero(np.diff(where.shard[order])) + 1)
            jobs = [(shards[int(where.shard[p[0]])], where.row[p], qpos[p], out) for p in parts]
            errors = _each(lambda job: self._read_rows(*job), jobs)
            retry: list[npt.NDArray[np.intp]] = []
            gone: list[int] = []
            for (shard, _, dest, _), error in zip(jobs, errors, strict=True):
                if error is None:
                    found[dest] = True
                    continue
                if not self._gone(shard.name, error):
                    self._damaged(shard.name, error)
                gone.append(shard.id)
                retry.append(dest)
            if not retry:
                break
            with self._lock:
                self._drop(gone)
            todo = np.concatenate(retry)
        return found, (out if found.any() else None)

    def contains(self, keys: Keys) -> npt.NDArray[np.bool_]:
        """Which ``keys`` are stored, from the index alone (no vector is read)."""
        query = _key_words(keys)
        with self._lock:
            self._refresh()
            return self._lookup(query) >= 0

    def shard_count(self) -> int:
        """Shard files in the cache (many small ones make lookups slower: see :meth:`compact`)."""
        return len(self._store.names())

    def is_empty(self) -> bool:
        """Whether no shard is stored (so a lookup would find nothing)."""
        with self._lock:
            self._refresh()
            return not self._shards

    def __len__(self) -> int:
        """How many distinct keys are stored."""
        with self._lock:
            self._refresh()
            words = self._main.words
            first = self._first
            same = np.flatnonzero(first[1:] == first[:-1]) + 1
            if not len(same):
                return len(words)
            if bool((words[same] == words[same - 1]).all()):
                return len(words) - len(same)
            # Distinct keys share their first 64 bits: count exactly.
            return len(np.unique(np.ascontiguousarray(words).view(np.dtype((np.void, KEY_BYTES)))))

    # writing

    def put(self, keys: Keys, vectors: npt.NDArray[np.float32]) -> None:
        """Store ``vectors[i]`` under ``keys[i]``, durably and atomically (one new shard)."""
        self.put_many([(keys, vectors)])

    def put_many(
        self, parts: Iterable[tuple[Keys, npt.NDArray[np.float32]]], *, finite_checked: bool = False
    ) -> None:
        """Store several ``(keys, vectors)`` parts as one shard: one file, one fsync, all or nothing.

        Parts of different vector sizes go to one shard per size. The vectors are written
        from where they are (a view of a larger matrix is not copied first).
        ``finite_checked=True`` skips the NaN/infinity check, for vectors the caller has
        checked already (a job's decoded answers).
        """
        by_dim: dict[int, list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]]] = {}
        for keys, vectors in parts:
            words = _key_words(keys)
            _check_vectors(vectors, len(words), finite=not finite_checked)
            if len(words):
                by_dim.setdefault(vectors.shape[1], []).append((words, vectors))
        for dim, checked in by_dim.items():
            self._write_shard(dim, checked)

    def _write_shard(
        self, dim: int, parts: Sequence[tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]]
    ) -> None:
        """Write ``parts`` (checked, all ``dim``-d) as one new shard.

        A local shard is indexed by the next lookup, from its file (its key pages are still
        in the page cache): a job writing into the cache does not hold an index of what it
        writes (4.4 MiB per 100,000 keys). A shard on an object store is indexed now, so
        that no lookup downloads its keys again.
        """
        name, write = self._writer()
        sizes: list[int] = []

        def fill(target: Any) -> None:
            sizes.extend(write(target, dim, parts))

        self._store.write(name, fill)
        if not self._store.memory_mapped:
            with self._lock:
                self._add(name, dim, sizes, concat_parts(parts))

    def _writer(self) -> tuple[str, Callable[[Any, int, Iterable[Part]], list[int]]]:
        """A new shard's name, and how to write it: format 2 (Arrow IPC, read memory-mapped) in
        a directory; Parquet on an object store, where a lookup's ranged reads fetch only the
        ``key`` column of a Parquet shard but whole groups of an IPC one."""
        if self._store.memory_mapped:
            return _new_name(SUFFIX), write_shard
        return _new_name(".parquet"), write_parquet_shard

    def compact(self) -> None:
        """Merge shards smaller than ``shard_rows`` into larger ones; remove stale temp files.

        Safe while other processes read, write and compact. In a directory, only one
        process compacts at a time (a call made while another compacts returns at once); on
        an object store, compaction is lock-free (see the module's docstring).
        """
        with self._store.exclusive() as held:
            if not held:
                return
            self._store.remove_stale_temps()
            with self._lock:
                self._refresh()
                small = [s for s in self._shards.values() if not self._full(s.rows, s.dim)]
                keep = self._canonical_rows({s.id for s in small}) if self._store.single_compactor else None
            by_dim: dict[int, list[_Shard]] = {}
            for shard in sorted(small, key=lambda s: s.name):
                by_dim.setdefault(shard.dim, []).append(shard)
            for group in by_dim.values():
                batch: list[_Shard] = []
                total = 0
                for shard in group:
                    batch.append(shard)
                    total += shard.rows
                    if self._full(total, shard.dim):
                        self._merge(batch, keep)
                        batch, total = [], 0
                if len(batch) > 1:
                    self._merge(batch, keep)

    def _full(self, rows: int, dim: int) -> bool:
        """Whether a shard of ``rows`` ``dim``-d vectors needs no merging."""
        return rows >= self.shard_rows or rows * 4 * dim >= _FULL_SHARD_BYTES

    def clear(self) -> None:
        """Remove every stored vector (and stale temp files)."""
        with self._lock:
            for name in self._store.names():
                self._store.delete(name)
            self._store.remove_stale_temps()
            self._reset()

    # the index

    def _reset(self) -> None:
        self._shards: dict[int, _Shard] = {}
        self._by_name: dict[str, int] = {}
        self._bad: set[str] = set()
        self._next_id = 0
        self._main = _Entries.empty()
        self._first: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._pending: list[_Entries] = []

    def _refresh(self) -> None:
        """Index the shards written since the last look; forget those removed (lock held)."""
        names = self._store.names()
        gone = [sid for name, sid in self._by_name.items() if name not in names]
        if gone:
            # A listing that raced a compaction can miss its new shard; it exists by now.
            names |= self._store.names()
            self._drop([sid for name, sid in self._by_name.items() if name not in names])
        new = sorted(names - self._by_name.keys() - self._bad)
        for name, loaded in zip(new, _each(self._load_keys, new), strict=True):
            if isinstance(loaded, Exception) and self._gone(name, loaded):
                continue  # removed since the listing
            if isinstance(loaded, Exception):
                self._damaged(name, loaded)
                continue
            self._add(name, *loaded)
        self._consolidate()

    def _add(self, name: str, dim: int, sizes: list[int], words: npt.NDArray[np.uint64]) -> None:
        starts = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])
        sid = self._next_id
        self._next_id += 1
        self._shards[sid] = _Shard(sid, name, dim, len(words), starts)
        self._by_name[name] = sid
        self._pending.append(
            _Entries(words, np.full(len(words), sid, dtype=np.int32), np.arange(len(words), dtype=np.int64))
        )

    def _consolidate(self) -> None:
        """Fold pending entries into the main index, sorted by the keys' first word (lock held)."""
        if not self._pending:
            return
        merged = _Entries.concat([self._main, *self._pending])
        # The main index is one sorted run: a stable sort (timsort) merges the new part into it.
        order = np.argsort(merged.words[:, 0], kind="stable")
        self._main = merged.take(order)
        self._first = np.ascontiguousarray(self._main.words[:, 0])
        self._pending = []

    def _lookup(self, query: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
        """Per query key, its position in the main index, or -1 (lock held, index consolidated)."""
        left = np.searchsorted(self._first, query[:, 0], side="left")
        count = np.searchsorted(self._first, query[:, 0], side="right") - left
        hit = np.full(len(query), -1, dtype=np.intp)
        # Usually one candidate; more when a key is stored twice or first words collide.
        for j in range(int(count.max(initial=0))):
            open_ = np.flatnonzero((count > j) & (hit < 0))
            if not len(open_):
                break
            pos = left[open_] + j
            same = (self._main.words[pos] == query[open_]).all(axis=1)
            hit[open_[same]] = pos[same]
        return hit

    def _drop(self, sids: Sequence[int]) -> None:
        """Forget shards (removed or damaged) and their entries (lock held)."""
        if not sids:
            return
        for sid in sids:
            shard = self._shards.pop(sid, None)
            if shard is not None:
                self._by_name.pop(shard.name, None)
        ids = np.asarray(sids, dtype=np.int32)
        self._consolidate()
        keep = ~np.isin(self._main.shard, ids)
        self._main = self._main.take(keep)
        self._first = np.ascontiguousarray(self._main.words[:, 0])

    def _damaged(self, name: str, exc: BaseException) -> None:
        with self._lock:
            if name in self._bad:
                return
            self._bad.add(name)
            sid = self._by_name.get(name)
        warn(
            f"embedframe cache: skipping damaged shard {self._store.describe(name)} ({exc}); "
            "its vectors will be embedded again",
            CacheWarning,
        )
        if sid is not None:
            with self._lock:
                self._drop([sid])

    def _gone(self, name: str, exc: BaseException) -> bool:
        """Whether a shard that failed to read was removed (by a compaction), not damaged."""
        if isinstance(exc, FileNotFoundError):
            return True
        if isinstance(exc, _Damaged):
            return False
        try:  # an object removed while it was read can fail in other ways
            return not self._store.exists(name)
        except Exception:
            return False

    # files

    def _load_keys(self, name: str) -> tuple[int, list[int], npt.NDArray[np.uint64]]:
        """The shard's vector size, group sizes and keys (checked)."""
        with self._store.open(name) as source, open_shard(name, source, mapped=True) as shard:
            return shard.dim, shard.sizes, shard.keys()

    def _read_rows(
        self,
        shard: _Shard,
        rows: npt.NDArray[np.int64],
        dest: npt.NDArray[np.intp],
        out: npt.NDArray[np.float32],
    ) -> None:
        """Copy ``shard``'s ``rows`` into ``out[dest]``, reading only the groups they are in."""
        with self._store.open(shard.name) as source, open_shard(shard.name, source) as opened:
            self._read_rows_from(opened, shard, rows, dest, out)

    @staticmethod
    def _read_rows_from(
        opened: ShardReader,
        shard: _Shard,
        rows: npt.NDArray[np.int64],
        dest: npt.NDArray[np.intp],
        out: npt.NDArray[np.float32],
    ) -> None:
        if opened.dim != shard.dim or opened.sizes != np.diff(shard.starts).tolist():
            raise _Damaged("the file changed since it was indexed")
        order = np.argsort(rows, kind="stable")
        rows, dest = rows[order], dest[order]
        cuts = np.searchsorted(rows, shard.starts)
        for g in range(len(shard.starts) - 1):
            lo, hi = int(cuts[g]), int(cuts[g + 1])
            if lo == hi:
                continue
            expected = int(shard.starts[g + 1] - shard.starts[g])
            matrix = opened.vectors(g)
            local = rows[lo:hi] - shard.starts[g]
            if hi - lo == expected and np.array_equal(local, np.arange(expected)):
                out[dest[lo:hi]] = matrix  # the whole group, in order: no gather copy
            else:
                out[dest[lo:hi]] = matrix[local]

    def _canonical_rows(self, sids: set[int]) -> dict[int, npt.NDArray[np.int64]]:
        """Per shard in ``sids``, the rows that hold the first stored copy of their key (lock held)."""
        words, first = self._main.words, self._first
        canonical = np.ones(len(words), dtype=bool)
        canonical[1:] = ~((first[1:] == first[:-1]) & (words[1:] == words[:-1]).all(axis=1))
        chosen = canonical & np.isin(self._main.shard, np.fromiter(sids, dtype=np.int32, count=len(sids)))
        shard, row = self._main.shard[chosen], self._main.row[chosen]
        order = np.lexsort((row, shard))
        shard, row = shard[order], row[order]
        cuts = np.flatnonzero(np.diff(shard)) + 1
        found = {
            int(part[0]): rows
            for part, rows in zip(np.split(shard, cuts), np.split(row, cuts), strict=True)
            if len(part)
        }
        return {sid: found.get(sid, np.empty(0, dtype=np.int64)) for sid in sids}

    def _merge(self, batch: list[_Shard], keep: dict[int, npt.NDArray[np.int64]] | None) -> None:
        """Write the rows of ``batch`` into one new shard, then remove the old shards.

        ``keep`` holds, per shard, the rows whose key has no earlier copy in the cache (only
        under the compaction lock); without it, a key is dropped only when an earlier copy
        is in this merge, so the new shard holds every key of the shards it replaces.
        """
        dim = batch[0].dim
        merged: list[_Shard] = []
        kept: list[npt.NDArray[np.uint64]] = []
        seen: set[bytes] = set()
        sizes: list[int] = []
        name, write = self._writer()

        def parts() -> Iterator[Part]:
            for shard in batch:
                try:
                    with self._store.open(shard.name) as source, open_shard(shard.name, source) as opened:
                        if opened.dim != dim or sum(opened.sizes) != shard.rows:
                            raise _Damaged("the file changed since it was indexed")
                        words = opened.keys()
                        vectors = np.concatenate([opened.vectors(g) for g in range(len(opened.sizes))])
                except Exception as exc:
                    if not self._gone(shard.name, exc):
                        self._damaged(shard.name, exc)
                    continue
                rows = keep[shard.id] if keep is not None else _unseen_rows(words, seen)
                if len(rows) < len(words):
                    words, vectors = words[rows], vectors[rows]
                if len(words):
                    kept.append(words)
                    yield words, vectors
                merged.append(shard)

        def fill(target: Any) -> None:
            sizes.extend(write(target, dim, parts()))
            if len(merged) < 2 or not kept:
                raise _NothingToWrite

        try:
            self._store.write(name, fill)
        except _NothingToWrite:
            if len(merged) < 2:
                return
        with self._lock:
            if kept:
                self._add(name, dim, sizes, np.concatenate(kept))
            self._drop([s.id for s in merged])
        for shard in merged:
            with contextlib.suppress(OSError):
                self._store.delete(shard.name)


class _NothingToWrite(Exception):
    """A merge that needs no new shard (too few shards read, or no row left)."""


def _new_name(suffix: str) -> str:
    """A shard name no other write uses."""
    return f"shard-{uuid.uuid4().hex}-{os.getpid()}{suffix}"


def _unseen_rows(words: npt.NDArray[np.uint64], seen: set[bytes]) -> npt.NDArray[np.int64]:
    """Rows of ``words`` whose key is not in ``seen`` (nor earlier in ``words``); adds them to it."""
    raw = words.tobytes()
    rows = []
    for i in range(len(words)):
        key = raw[i * KEY_BYTES : (i + 1) * KEY_BYTES]
        if key not in seen:
            seen.add(key)
            rows.append(i)
    return np.asarray(rows, dtype=np.int64)


def _public_url(url: str) -> str:
    """``url`` without user, password, query or fragment."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _key_words(keys: Keys) -> npt.NDArray[np.uint64]:
    """32-byte keys (or an array from :meth:`VectorCache.key_array`) as an ``(n, 4)`` array
    of native uint64 words."""
    if isinstance(keys, np.ndarray):
        if keys.dtype != np.uint64 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES // 8:
            raise ValueError(
                f"a key array must be (n, {KEY_BYTES // 8}) uint64 (VectorCache.key_array(...)), "
                f"got {keys.shape} {keys.dtype}"
            )
        return keys
    if isinstance(keys, (bytes, bytearray, memoryview, str)):
        raise TypeError("keys must be a sequence of 32-byte keys, not a single value")
    if keys and set(map(len, keys)) != {KEY_BYTES}:
        raise ValueError(f"every key must be {KEY_BYTES} bytes (VectorCache.key(...))")
    try:
        joined = b"".join(keys)
    except TypeError:
        raise TypeError("keys must be bytes (VectorCache.key(...))") from None
    return np.frombuffer(joined, dtype=np.uint64).reshape(-1, 4)


def _check_vectors(vectors: Any, rows: int, *, finite: bool = True) -> None:
    """Raise unless ``vectors`` is a ``(rows, d)`` float32 matrix (and finite, if ``finite``)."""
    if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32:
        raise TypeError(
            f"vectors must be a float32 numpy array, got {getattr(vectors, 'dtype', type(vectors))}"
        )
    if vectors.ndim != 2 or vectors.shape[0] != rows or vectors.shape[1] < 1:
        raise ValueError(f"vectors must have shape ({rows}, d) with d >= 1, got {vectors.shape}")
    # One summing pass: a finite sum proves every value finite (NaN and infinity propagate);
    # only a sum that is not finite (or overflowed) needs the element-wise check.
    if finite and rows and not np.isfinite(vectors.sum()) and not np.isfinite(vectors).all():
        raise ValueError("vectors must be finite; refusing to cache NaN or infinity")


def _each(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R | Exception]:
    """``fn`` of each item, on up to ``_THREADS`` threads (pyarrow and numpy release the GIL);
    an item whose call raised gets its exception."""

    def call(item: _T) -> _R | Exception:
        try:
            return fn(item)
        except Exception as exc:
            return exc

    workers = min(len(items), _THREADS)
    if workers < 2:
        return [call(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="embedframe-cache") as pool:
        return list(pool.map(call, items))
