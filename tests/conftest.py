"""Shared fixtures: a real OpenAI-compatible server on loopback, and configs pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import embedframe
from tests.support import API_KEY, DIM
from tests.support.fakeserver import FakeServer


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenAI settings from the machine, and a fresh vector cache for every test."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EMBEDFRAME_CACHE_DIR", str(tmp_path / "vector-cache"))


@pytest.fixture(scope="session")
def shared_server() -> Iterator[FakeServer]:
    with FakeServer(dim=DIM, api_key=API_KEY) as srv:
        yield srv


@pytest.fixture
def server(shared_server: FakeServer) -> Iterator[FakeServer]:
    """The session's server, with its records and faults cleared for this test."""
    shared_server.reset()
    yield shared_server
    shared_server.reset()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """moto's S3 server on loopback (skips where moto or s3fs is not installed)."""
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    from tests.support.s3server import S3Server

    with S3Server() as srv:
        yield srv


@pytest.fixture
def config(server: FakeServer) -> embedframe.EmbedConfig:
    """A config for the loopback server with quick retries."""
    return embedframe.EmbedConfig(
        base_url=server.url, api_key=API_KEY, progress=False, wait_initial=0.01, wait_max=0.05
    )
