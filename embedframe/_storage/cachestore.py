"""Where the vector cache's shards live: a local directory, or any fsspec URL (object stores).

A store does five things with shard files, by name: list them, open one for reading
(something ``pq.ParquetFile`` accepts), write one atomically, delete one, and (local only)
take the exclusive compaction lock.

- :class:`_LocalStore`: a directory. A shard is written to a temporary file
  (``.shard-*.tmp``), fsynced and renamed into place, and the directory fsynced; compaction
  holds an ``flock``; ``compact`` removes temp files left by killed writers.
- :class:`_FsspecStore`: any fsspec URL (``s3://``, ``gs://``, ``az://``, ``memory://``, ...).
  A shard is built in memory and stored with one whole-object write (``pipe_file``: an S3
  PUT, or a multipart upload that appears only when completed), straight to its final
  unique name: a reader sees the whole object or none. There is no rename and no lock;
  compaction is lock-free (see :mod:`embedframe.cache`).

``file://`` URLs and plain paths are local. Credentials (in ``storage_options`` or in the
URL's ``user:password@``) are only handed to fsspec: :func:`public_location` is what may be
shown.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit
from urllib.request import url2pathname

from ..errors import ConfigError

__all__ = [
    "SHARD_NAME",
    "check_url",
    "is_remote",
    "is_url",
    "local_path",
    "open_store",
    "public_location",
    "url_filesystem",
]

SHARD_NAME = re.compile(r"shard-[0-9a-f]{32}-[0-9]+\.(?:arrow|parquet)")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
"""A URL scheme (two letters at least, so a Windows drive ``C:`` is a path)."""
_TMP_PREFIX = ".shard-"
_TMP_SUFFIX = ".tmp"
_LOCK_NAME = ".compact.lock"
_STALE_TMP_SECONDS = 3600.0

Source = str | BinaryIO
"""What a store opens a shard as: a local path or a readable binary file."""


# ------------------------------------------------------------------------------ locations


def is_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a ``scheme://`` URL (``file://`` included)."""
    return isinstance(location, str) and _URL.match(location.strip()) is not None


def is_remote(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URL that is not ``file://`` (it goes through fsspec)."""
    return is_url(location) and _scheme(os.fspath(location)) != "file"


def _scheme(url: str) -> str:
    match = _URL.match(url.strip())
    return match.group(1).lower() if match else ""


def public_location(location: str | os.PathLike[str]) -> str:
    """``location`` as it may be shown: a URL without user, password, query or fragment."""
    text = os.fspath(location)
    if not is_url(text):
        return text
    parts = urlsplit(text.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def local_path(location: str | os.PathLike[str], *, what: str) -> pathlib.Path:
    """``location`` (a path or a ``file://`` URL) as an absolute local path."""
    text = os.fspath(location)
    if is_url(text):
        if _scheme(text) != "file":
            raise ConfigError(f"{what} must be a local path here, not {public_location(text)!r}")
        parts = urlsplit(text.strip())
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(f"{what}: file:// URLs must name a local path, got host {parts.hostname!r}")
        text = url2pathname(parts.path)
    return pathlib.Path(text).expanduser().absolute()


def check_url(url: str, *, what: str) -> None:
    """Raise :class:`ConfigError` now if no installed fsspec implementation serves ``url``.

    A missing package is named with its pip command (``s3://`` needs ``s3fs``), so a job
    fails before it sends anything.
    """
    scheme = _scheme(url)
    shown = public_location(url)
    if scheme == "file":
        local_path(url, what=what)
        return
    try:
        import fsspec
        from fsspec.registry import known_implementations
    except ImportError:
        raise ConfigError(
            f"{what} {shown!r} needs fsspec and the package for {scheme}:// "
            f"(for s3://: pip install 'embedframe[s3]', which installs s3fs and fsspec)"
        ) from None
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError:
        known = known_implementations.get(scheme, {})
        package = str(known.get("class", "")).partition(".")[0] or "the package that provides it"
        extra = " (or pip install 'embedframe[s3]')" if package == "s3fs" else ""
        raise ConfigError(
            f"{what} {shown!r} needs the {package} package for {scheme}:// URLs, which is not "
            f"installed: pip install {package}{extra}"
        ) from None
    except ValueError:
        raise ConfigError(
            f"{what} {shown!r}: no fsspec filesystem is installed for {scheme}:// URLs; install "
            "the package that provides it (s3fs for s3://, gcsfs for gs://, adlfs for az://), "
            "or give a local directory"
        ) from None


def url_filesystem(url: str, storage_options: Mapping[str, Any] | None, *, what: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` (with ``storage_options``) and the path in it, no trailing ``/``."""
    check_url(url, what=what)
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url.strip(), **dict(storage_options or {}))
    return fs, str(root).rstrip("/")


# --------------------------------------------------------------------------------- stores


class ShardStore(ABC):
    """The shard files of one cache location."""

    location: str
    """Where the shards are, as it may be shown (no credentials)."""
    single_compactor: bool
    memory_mapped: bool
    """Whether shards open as local paths (memory-mapped reads) rather than streams."""
    """Whether ``exclusive`` really excludes other processes (else compaction is lock-free)."""

    @abstractmethod
    def names(self) -> set[str]:
        """The shard names there now (temp files and other files left out)."""

    @abstractmethod
    def open(self, name: str) -> contextlib.AbstractContextManager[Source]:
        """The shard for reading; ``FileNotFoundError`` if it is gone."""

    @abstractmethod
    def write(self, name: str, fill: Callable[[Any], None]) -> None:
        """Make the shard ``name`` from what ``fill(target)`` writes into ``target``, atomically.

        ``target`` is a path or a binary file for ``pq.write_table``/``ParquetWriter``. If
        ``fill`` raises, nothing appears and the error propagates.
        """

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove the shard (nothing if it is already gone)."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """Whether the shard is there now."""

    @abstractmethod
    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """Hold the compaction lock if no other process does (True), else False."""

    def remove_stale_temps(self) -> None:  # noqa: B027  (a no-op where there are no temp files)
        """Remove temp files left by killed writers (only where there are temp files)."""

    def describe(self, name: str) -> str:
        """The shard's location as it may be shown."""
        return f"{self.location.rstrip('/')}/{name}"


class _LocalStore(ShardStore):
    """A local (or shared, POSIX) directory: temp file, fsync, rename; ``flock`` for compaction."""

    single_compactor = True
    memory_mapped = True

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.location = str(directory)
        directory.mkdir(parents=True, exist_ok=True)

    def names(self) -> set[str]:
        try:
            with os.scandir(self.directory) as entries:
                return {e.name for e in entries if SHARD_NAME.fullmatch(e.name)}
        except (FileNotFoundError, NotADirectoryError):  # gone (or replaced): nothing stored
            return set()

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[Source]:
        yield str(self.directory / name)

    def write(self, name: str, fill: Callable[[Any], None]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{name}{_TMP_SUFFIX}"  # .shard-<uuid>-<pid>.parquet.tmp
        try:
            fill(str(tmp))
            fd = os.open(tmp, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.directory / name)
            _fsync_dir(self.directory)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / name).unlink()

    def exists(self, name: str) -> bool:
        return (self.directory / name).exists()

    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        return _exclusive(self.directory / _LOCK_NAME)

    def remove_stale_temps(self) -> None:
        now = time.time()
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX) and entry.name.endswith(_TMP_SUFFIX):
                    with contextlib.suppress(OSError):
                        if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                            os.unlink(entry.path)

    def describe(self, name: str) -> str:
        return str(self.directory / name)


class _FsspecStore(ShardStore):
    """Any fsspec URL: each shard one whole-object write to its final name; no rename, no lock."""

    single_compactor = False
    memory_mapped = False

    def __init__(self, url: str, storage_options: Mapping[str, Any]) -> None:
        self.location = public_location(url).rstrip("/")
        self.fs, self.root = url_filesystem(url, storage_options, what="the vector cache")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def names(self) -> set[str]:
        self.fs.invalidate_cache(self.root)  # listings are cached by some filesystems (s3fs)
        try:
            found = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return set()
        names = (str(p).rstrip("/").rpartition("/")[2] for p in found)
        return {n for n in names if SHARD_NAME.fullmatch(n)}

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[Source]:
        # No read-ahead cache: pyarrow asks for exactly the footer and column chunks it needs.
        with self.fs.open(self._path(name), "rb", cache_type="none") as f:
            yield f

    def write(self, name: str, fill: Callable[[Any], None]) -> None:
        buffer = io.BytesIO()
        fill(buffer)
        data = buffer.getvalue()
        path = self._path(name)
        try:
            self.fs.pipe_file(path, data)
        except FileNotFoundError:  # a filesystem with directories, and this one not made yet
            self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(path, data)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(name))

    def exists(self, name: str) -> bool:
        path = self._path(name)
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        yield True  # no lock on an object store: compaction there is lock-free


def open_store(location: str | os.PathLike[str], storage_options: Mapping[str, Any] | None) -> ShardStore:
    """The store for ``location``: a local directory, or an fsspec URL with ``storage_options``."""
    if is_remote(location):
        return _FsspecStore(os.fspath(location), storage_options or {})
    if storage_options:
        raise ConfigError(
            "storage_options are for an fsspec URL cache (s3://, gs://, ...); "
            f"{public_location(location)!r} is a local directory"
        )
    if is_url(location):
        return _LocalStore(local_path(location, what="the vector cache"))
    return _LocalStore(pathlib.Path(os.fspath(location)))


def _fsync_dir(directory: pathlib.Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive(path: pathlib.Path) -> Iterator[bool]:
    """Hold an advisory lock on ``path`` if no other process does (True), else yield False."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cross-process lock
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
