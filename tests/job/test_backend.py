"""Which backend a job uses: the local model only when nothing is configured."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import EmbedConfig, to_numpy
from embedframe._job.backend import LOCAL_BASE_URL, resolve_backend
from tests.support import API_KEY
from tests.support.fakeserver import FakeServer

pytest.importorskip("sentence_transformers")


def test_nothing_configured_uses_the_local_model(caplog: pytest.LogCaptureFixture) -> None:
    """With no key and no base_url the job runs on the local model in-process and says so."""
    with caplog.at_level(logging.WARNING, logger="embedframe"):
        backend = resolve_backend(EmbedConfig())
    assert backend.config.model == "all-MiniLM-L6-v2" and backend.config.base_url == LOCAL_BASE_URL
    assert backend.transport is not None and backend.config.input_limit == 254


def test_a_key_or_base_url_goes_to_the_server(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    """OPENAI_API_KEY or a base_url selects the server; explicit arguments win over the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000")
    assert resolve_backend(EmbedConfig()).transport is None
    assert resolve_backend(EmbedConfig()).config.model == "text-embedding-3-small"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    out = embedframe.embed(["hello"], api_key=API_KEY, progress=False)
    assert out.attrs["embedframe"]["backend"].startswith("server 127.0.0.1")
    assert len(server.requests) == 1


def test_local_defaults_keep_explicit_settings() -> None:
    """Request sizes tuned for the CPU model apply only where the user left the default."""
    cfg = resolve_backend(EmbedConfig(concurrency=5)).config
    assert cfg.concurrency == 5 and cfg.max_inputs_per_request == 128
    default = EmbedConfig.__dataclass_fields__["max_inputs_per_request"].default
    asked = resolve_backend(EmbedConfig(max_inputs_per_request=default)).config
    assert asked.max_inputs_per_request == default  # set explicitly to the default value: kept


def test_local_vectors_are_real_and_match_serve() -> None:
    """The default backend gives unit 384-d vectors, related texts closer, identical to the served app."""
    texts = pd.Series(
        ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell today."]
    )
    out = texts.embed(progress=False)
    m = to_numpy(out)
    assert m.shape == (3, 384) and np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5)
    assert m[0] @ m[1] > m[0] @ m[2]
    from embedframe.local import LocalModel

    direct = LocalModel().embed(list(texts))
    assert np.allclose(m, direct, atol=1e-5)


def test_local_long_text_is_chunked_not_cut() -> None:
    """A text over the model's 254-token window is chunked, not silently truncated."""
    long = "The blender is loud but powerful and easy to clean. " * 60
    out = pd.DataFrame({"t": [long]}).embed("t", details=True, progress=False)
    assert out["t_chunks"].iloc[0] > 1 and not out["t_truncated"].iloc[0]
