"""Against a real third-party server: Infinity (infinity-emb from PyPI) serving the local model's
weights from their folder on loopback, offline. It truncates over-long input silently and says
nothing about its window, so only embedframe's own model table and tokenizer keep vectors right.

Infinity lives in its own venv (``bash tests/infinity/setup.sh`` makes ``.venv-infinity``;
``.ci/run`` does so and sets ``EMBEDFRAME_REQUIRE_INFINITY=1`` so a missing server fails CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import local, to_numpy
from embedframe._job import discover

ROOT = Path(__file__).resolve().parents[2]
INFINITY = ROOT / ".venv-infinity" / "bin" / "infinity_emb"
MODEL = "all-MiniLM-L6-v2"

pytestmark = pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def infinity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Infinity on 127.0.0.1 (a free port) serving the packaged all-MiniLM-L6-v2; yields its /v1 URL."""
    if not INFINITY.exists():
        if os.environ.get("EMBEDFRAME_REQUIRE_INFINITY"):
            pytest.fail(f"{INFINITY} is missing: run `bash tests/infinity/setup.sh`")
        pytest.skip("Infinity is not installed here: `bash tests/infinity/setup.sh` installs it")
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
        "DO_NOT_TRACK": "1",
        "HF_HOME": str(tmp_path_factory.mktemp("hf")),
    }
    log = tmp_path_factory.mktemp("infinity") / "server.log"
    args = [str(INFINITY), "v2", "--model-id", str(local.model_dir()), "--served-model-name", MODEL]
    args += ["--host", "127.0.0.1", "--port", str(port), "--engine", "torch", "--device", "cpu"]
    args += ["--url-prefix", "/v1", "--no-model-warmup", "--batch-size", "32"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Infinity exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"Infinity did not start:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        discover.forget()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def served(url: str, texts: list[str]) -> np.ndarray:
    """Infinity's own vectors of ``texts`` (one request, floats)."""
    body = {"model": MODEL, "input": texts, "encoding_format": "float"}
    answer = httpx.post(f"{url}/embeddings", json=body, timeout=120).json()
    data = sorted(answer["data"], key=lambda d: d["index"])
    return np.array([d["embedding"] for d in data], dtype=np.float32)


def _long_text() -> str:
    """520 words about one subject, then 4,000 about another (the issue's example): ~5,000 tokens."""
    rng = np.random.default_rng(11)
    garden = [
        "garden",
        "soil",
        "compost",
        "tomato",
        "seedling",
        "watering",
        "mulch",
        "pruning",
        "harvest",
        "greenhouse",
    ]
    engine = [
        "engine",
        "piston",
        "cylinder",
        "crankshaft",
        "torque",
        "gearbox",
        "clutch",
        "exhaust",
        "turbo",
        "camshaft",
    ]
    first = " ".join(rng.choice(garden, size=520).tolist())
    second = " ".join(rng.choice(engine, size=4000).tolist())
    return f"{first}. {second}."


def test_the_common_name_works_with_no_other_option_and_matches_the_server(infinity: str) -> None:
    """model="all-MiniLM-L6-v2" alone works; short texts come back as the server's own vectors."""
    texts = ["A man is playing guitar.", "Ünïcödé café — 中文 🙂", "The stock market fell today."]
    out = embedframe.embed(pd.Series(texts), base_url=infinity, api_key="x", model=MODEL, cache=False)
    np.testing.assert_allclose(to_numpy(out), served(infinity, texts), atol=1e-6)


def test_no_model_given_uses_the_servers_only_model(infinity: str) -> None:
    """With no model=, the server's one model (GET /v1/models) is used."""
    out = embedframe.embed(pd.Series(["hello"]), base_url=infinity, api_key="x", cache=False)
    assert out.attrs["embedframe"]["model"] == MODEL


def test_a_long_text_is_chunked_at_the_real_window(infinity: str) -> None:
    """A ~5,000-token text is cut into windows of at most 254 of the model's tokens; its vector is the
    token-weighted, re-normalised mean of the server's vectors of those windows, and the local backend's."""
    text = _long_text()
    tok = local.local_tokenizer()
    assert len(tok.encode_ordinary(text)) > 4000
    chunks = embedframe.embed_chunks(
        pd.Series([text]), base_url=infinity, api_key="x", model=MODEL, cache=False
    )
    pieces = chunks["text"].tolist()
    counts = np.array([len(tok.encode_ordinary(p)) for p in pieces], dtype=np.float64)
    assert len(pieces) > 15 and counts.max() <= 254 and counts[:-1].min() >= 240
    assert "".join(pieces) == text
    out = embedframe.embed(pd.Series([text]), base_url=infinity, api_key="x", model=MODEL, cache=False)
    assert out.attrs["embedframe"]["chunked_texts"] == 1
    vectors = served(infinity, pieces)
    mean = (vectors.astype(np.float64) * counts[:, None]).sum(axis=0)
    expected = (mean / np.linalg.norm(mean)).astype(np.float32)
    got = to_numpy(out)[0]
    np.testing.assert_allclose(got, expected, atol=2e-6)
    local_vector = to_numpy(embedframe.embed(pd.Series([text]), cache=False))[0]
    np.testing.assert_allclose(got, local_vector, atol=1e-4)
    # the whole text counts: the engine half of it dominates, as it should
    head, tail = served(infinity, [" ".join(text.split()[:200]), " ".join(text.split()[-200:])])
    assert float(got @ tail) > float(got @ head)


def test_estimate_counts_the_models_tokens(infinity: str) -> None:
    """estimate() against Infinity counts with the model's tokenizer and its 254-token window."""
    text = _long_text()
    est = embedframe.estimate([text, "short"], base_url=infinity, api_key="x", model=MODEL, cache=False)
    assert est.tokenizer.startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")
    assert est.max_input_tokens == 254 and est.long_rows == 1 and est.long_pieces > 15
