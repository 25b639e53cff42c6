"""Self-hosted servers measured right: discovery (TEI, vLLM), the model's own tokenizer and
window, the model picked when none is given, and no silent truncation."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import embedframe
from embedframe import ConfigError, EmbedConfig, InputError, local, to_numpy
from embedframe._core.tokenizer import ByteTokenizer, HFTokenizer, LazyTokenizer
from embedframe._job import discover
from embedframe._job.backend import resolve_backend
from embedframe._job.tokenizers import RemoteTokenizer
from embedframe.parquet import provenance_for
from tests.support import API_KEY
from tests.support.asgi import running
from tests.support.fakeserver import FakeServer, encoding, vector_for_tokens

DIM = 8
LONG = " ".join(f"word{i} about things" for i in range(120))  # ~600 cl100k tokens

needs_local = pytest.mark.skipif(not local.is_available(), reason="embedframe[local] is not installed")


@pytest.fixture(autouse=True)
def fresh_discovery() -> Iterator[None]:
    """Servers in these tests come and go on reused ports: nothing learned is kept between tests."""
    discover.forget()
    yield
    discover.forget()


def cfg(server: FakeServer, **options: Any) -> EmbedConfig:
    return EmbedConfig(base_url=server.url, api_key=API_KEY, cache=False, progress=False, **options)


def tokens(text: str) -> list[int]:
    return encoding().encode_ordinary(text)


def mean_of_sent(server: FakeServer, leave_out: tuple[str, ...] = ()) -> np.ndarray:
    """The token-weighted, re-normalised mean of the fake's vectors of the inputs it embedded."""
    inputs = [t for t in server.ok_inputs() if isinstance(t, str) and t not in leave_out]
    vecs = np.stack([vector_for_tokens(tokens(t), DIM) for t in inputs])
    weights = np.array([len(tokens(t)) for t in inputs], dtype=np.float64)
    mean = (vecs * weights[:, None]).sum(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def test_tei_info_and_tokenize_give_window_batch_size_and_exact_chunks() -> None:
    """TEI: /info's max_input_length less 2 special tokens is the window, its batch size caps requests,
    /tokenize cuts chunks at the server's own token boundaries; the model is the server's only one."""
    with FakeServer(dim=DIM, dialect="tei", context=64, max_inputs=4, models=["acme/tei-model"]) as server:
        backend = resolve_backend(cfg(server))
        assert backend.config.model == "acme/tei-model"
        assert backend.config.input_limit == 62 and backend.server_window == 62
        assert backend.config.max_inputs_per_request == 4
        assert isinstance(backend.tokenizer, RemoteTokenizer) and backend.tokenizer.special_tokens == 2
        assert "GET /info" in backend.window_source
        out = embedframe.embed(pd.Series(["short", LONG]), config=cfg(server))
        sent = server.ok_inputs()
        assert max(len(tokens(t)) for t in sent if isinstance(t, str)) == 62  # windows filled exactly
        assert all(len(r.inputs) <= 4 for r in server.requests)
        vec = to_numpy(out)[1]
        np.testing.assert_allclose(vec, mean_of_sent(server, leave_out=("short",)), atol=1e-6)


def test_vllm_max_model_len_and_several_models() -> None:
    """vLLM: /v1/models' max_model_len sets the window; with several models and no model= the error lists them."""
    with FakeServer(dim=DIM, dialect="vllm", context=100, models=["BAAI/model-a", "org/model-b"]) as server:
        with pytest.raises(ConfigError, match=r"serves 2 models: 'BAAI/model-a', 'org/model-b'; pass model="):
            embedframe.embed(pd.Series(["x"]), config=cfg(server))
        assert server.requests == []
        backend = resolve_backend(cfg(server, model="org/model-b"))
        assert backend.config.input_limit == 98 and "max_model_len" in backend.window_source
        embedframe.embed(pd.Series([LONG]), config=cfg(server, model="org/model-b"))
        assert all(len(tokens(t)) <= 98 for t in server.ok_inputs() if isinstance(t, str))
        assert server.tokenize_requests > 0


def test_explicit_options_win_over_discovery() -> None:
    """max_input_tokens=, max_inputs_per_request= and tokenizer= given by the user beat what the server says."""
    with FakeServer(dim=DIM, dialect="tei", context=64, max_inputs=4, models=["m"]) as server:
        options = {"max_input_tokens": 30, "max_inputs_per_request": 2, "tokenizer": "cl100k_base"}
        backend = resolve_backend(cfg(server, **options))
        assert backend.config.input_limit == 30 and backend.config.max_inputs_per_request == 2
        assert isinstance(backend.tokenizer, LazyTokenizer) and backend.window_source == "max_input_tokens="
        server.tokenize_requests = 0
        embedframe.embed(pd.Series([LONG]), config=cfg(server, **options))
        assert server.tokenize_requests == 0
        assert max(len(tokens(t)) for t in server.ok_inputs() if isinstance(t, str)) <= 30


def test_a_truncating_server_never_gets_a_text_over_its_window() -> None:
    """max_input_tokens= over the window the server reports: the long text is refused before it is sent
    (naming the row and a value that works), never embedded by its start; details=True marks the row."""
    with FakeServer(dim=DIM, dialect="tei", context=64, truncate=True, models=["m"]) as server:
        options = {"max_input_tokens": 200, "tokenizer": "cl100k_base"}
        text = " ".join(["alpha"] * 150)  # 150 tokens: one piece under 200, over the server's 62
        with pytest.raises(InputError, match=r"row position\(s\) 1: .*pass max_input_tokens=62"):
            embedframe.embed(pd.Series(["short", text]), config=cfg(server, **options))
        assert all(len(tokens(t)) <= 62 for t in server.ok_inputs() if isinstance(t, str))
        out = pd.DataFrame({"text": ["short", text]}).embed(
            "text", config=cfg(server, **options), details=True
        )
        assert out["text_status"].tolist()[0] == "ok"
        assert (
            out["text_status"].tolist()[1].startswith("error: refused by the server: 150 tokens, over the 62")
        )
        assert out["text_embedding"].isna().tolist() == [False, True]
        # leaving max_input_tokens unset (or =62, as the message says) chunks it to fit
        fixed = embedframe.embed(pd.Series([text]), config=cfg(server, tokenizer="cl100k_base"))
        assert fixed.attrs["embedframe"]["chunked_texts"] == 1


def test_a_truncating_server_that_says_nothing_with_an_unknown_model() -> None:
    """Unknown model, no discovery: texts that might exceed 254 tokens raise before any request, naming
    rows and max_input_tokens=; with details=True they are marked and the rest are embedded."""
    with FakeServer(dim=DIM, truncate=True, context=64, models=["mystery-model"]) as server:
        long = "x " * 400
        with pytest.raises(
            InputError, match=r"row label\(s\) 'b'.*window of 'mystery-model' is not known.*max_input_tokens="
        ):
            embedframe.embed(pd.Series(["fine", long], index=["a", "b"]), config=cfg(server))
        assert server.requests == []
        frame = pd.DataFrame({"text": ["fine", long]}, index=["a", "b"])
        out = frame.embed("text", config=cfg(server), details=True)
        assert out["text_status"]["a"] == "ok" and "max_input_tokens=" in out["text_status"]["b"]
        assert [r.inputs for r in server.requests] == [["fine"]]
        backend = resolve_backend(cfg(server))
        assert isinstance(backend.tokenizer, ByteTokenizer) and not backend.config.window_known


def test_the_hint_for_a_refused_input_names_a_value_that_works() -> None:
    """A server that refuses an input over its context: the hint's max_input_tokens (its limit less the
    special tokens it counts) makes the same job succeed."""
    with FakeServer(dim=DIM, context=64, models=["m"]) as server:  # counts 2 special tokens; says 64
        text = " ".join(["beta"] * 80)
        with pytest.raises(embedframe.BadRequestError, match=r"pass max_input_tokens=62 ") as caught:
            embedframe.embed(
                pd.Series([text]), config=cfg(server, max_input_tokens=100, tokenizer="cl100k_base")
            )
        assert "maximum context length is 64" in str(caught.value)
        out = embedframe.embed(
            pd.Series([text]), config=cfg(server, max_input_tokens=62, tokenizer="cl100k_base")
        )
        assert out.attrs["embedframe"]["chunked_texts"] == 1


def _hf_cache(root: Path, repo: str) -> Path:
    """A Hugging Face cache holding ``repo``'s tokenizer.json (the local model's file) at refs/main."""
    org, name = repo.split("/")
    repo_dir = root / f"models--{org}--{name}"
    snap = repo_dir / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    shutil.copy(local.tokenizer_path(), snap / "tokenizer.json")
    (snap / "sentence_bert_config.json").write_text('{"max_seq_length": 128}')
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("0123abc")
    return snap / "tokenizer.json"


@needs_local
def test_the_tokenizer_comes_from_the_hugging_face_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table model's tokenizer.json is found in $HF_HUB_CACHE (never downloaded) under its short name;
    an unknown model's folder gives its window (sentence_bert_config.json) too."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    file = _hf_cache(tmp_path, "BAAI/bge-small-en-v1.5")
    _hf_cache(tmp_path, "acme/private-embedder")
    with FakeServer(dim=DIM, models=["bge-small-en-v1.5", "acme/private-embedder"]) as server:
        backend = resolve_backend(cfg(server, model="bge-small-en-v1.5"))
        tok = backend.tokenizer
        assert (
            isinstance(tok, HFTokenizer)
            and tok.name == "BAAI/bge-small-en-v1.5"
            and tok.path == file.resolve()
        )
        assert backend.config.input_limit == 510 and backend.byte_bound
        other = resolve_backend(cfg(server, model="private-embedder"))
        assert other.tokenizer.name == "acme/private-embedder"
        assert other.config.input_limit == 126 and "sentence_bert_config" in other.window_source
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
        assert isinstance(resolve_backend(cfg(server, model="bge-small-en-v1.5")).tokenizer, ByteTokenizer)


@needs_local
def test_tokenizer_option_takes_a_file_a_folder_or_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tokenizer= a file, its folder or a cached repository id; a missing one says how to get it."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    file = _hf_cache(tmp_path, "BAAI/bge-base-en-v1.5")
    with FakeServer(dim=DIM, models=["m"]) as server:
        for spec in (file, file.parent, "BAAI/bge-base-en-v1.5", "bge-base-en-v1.5"):
            tok = resolve_backend(cfg(server, tokenizer=spec, max_input_tokens=100)).tokenizer
            assert isinstance(tok, HFTokenizer) and tok.path == file.resolve(), spec
        with pytest.raises(ConfigError, match=r"huggingface-cli download acme/nothing tokenizer\.json"):
            resolve_backend(cfg(server, tokenizer="acme/nothing"))
        with pytest.raises(ConfigError, match="no tokenize endpoint"):
            resolve_backend(cfg(server, tokenizer="server"))
        with pytest.raises(ConfigError, match="either encoding="):
            cfg(server, tokenizer="cl100k_base", encoding="cl100k_base")


@needs_local
def test_provenance_and_cache_keys_record_tokenizer_and_window() -> None:
    """The resolved tokenizer's name and file hash and the window are in provenance and the cache key."""
    with FakeServer(dim=DIM, models=["all-MiniLM-L6-v2"]) as server:
        a = resolve_backend(cfg(server)).config
        b = resolve_backend(cfg(server, max_input_tokens=100)).config
        sha = HFTokenizer(local.tokenizer_path()).sha256
        assert a.tokenizer_name == f"sentence-transformers/all-MiniLM-L6-v2@sha256:{sha}"
        assert a.tokenizer_key.endswith("window=254") and b.tokenizer_key.endswith("window=100")
        from embedframe._job.engine import piece_keys

        assert piece_keys(a, ["x"]) != piece_keys(b, ["x"])
        prov = provenance_for(a, dimensions=DIM, column="text")
        assert prov["encoding"] == a.tokenizer_name and prov["tokenizer_sha256"] == sha
        assert prov["max_input_tokens"] == 254
        # OpenAI's models keep the keys they had (tiktoken name alone)
        openai = resolve_backend(cfg(server, model="text-embedding-3-small")).config
        assert openai.tokenizer_key == "cl100k_base"


@needs_local
def test_estimate_counts_with_the_model_tokenizer_and_says_which() -> None:
    """estimate() counts with the same tokenizer as the job and reports it and the window."""
    with FakeServer(dim=DIM, models=["all-MiniLM-L6-v2"]) as server:
        texts = ["Hello world", "Ünïcödé 각 🙂", LONG]
        est = embedframe.estimate(texts, config=cfg(server))
        tok = local.local_tokenizer()
        assert est.tokenizer.startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")
        assert est.max_input_tokens == 254
        assert est.tokens == sum(len(tok.encode_ordinary(t)) for t in texts[:2]) + sum(
            len(tok.encode_ordinary(c)) for c in _chunks(LONG, 254)
        )
        assert "tokenizer      sentence-transformers/all-MiniLM-L6-v2@sha256:" in str(est)


def _chunks(text: str, window: int) -> list[str]:
    from embedframe._core.chunk import split_tokens

    tok = local.local_tokenizer()
    return [c.text for c in split_tokens(tok.encode_ordinary(text), tok, window=window)]


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its API root (``.../v1``)."""
    with running(app) as url:
        yield f"{url}/v1"


@needs_local
def test_the_readme_row_for_embedframe_serve_works_without_a_model(caplog: pytest.LogCaptureFixture) -> None:
    """base_url of `embedframe serve` and nothing else: its model is found, said once, and a long text is
    chunked at its 254-token window (the server refuses anything longer, so success proves the cut)."""
    from embedframe.serve import create_app

    with serving(create_app()) as url:
        texts = pd.Series(["A short sentence.", LONG * 3])
        out = embedframe.embed(texts, base_url=url, cache=False, progress=False)
        assert out.attrs["embedframe"]["model"] == "all-MiniLM-L6-v2"
        assert out.attrs["embedframe"]["chunked_texts"] == 1
        local_vectors = embedframe.embed(texts, cache=False, progress=False)
        np.testing.assert_allclose(to_numpy(out), to_numpy(local_vectors), atol=1e-5)
        said = [r for r in caplog.records if "serves one model" in r.getMessage()]
        assert len(said) <= 1


def test_the_command_line_takes_model_tokenizer_and_window(tmp_path: Path) -> None:
    """`embedframe estimate --tokenizer ... --max-input-tokens ...` counts with them and says so."""
    import json

    from embedframe.cli import main

    src = tmp_path / "in.csv"
    pd.DataFrame({"text": ["short", LONG]}).to_csv(src, index=False)
    with FakeServer(dim=DIM, models=["acme/m"]) as server:
        out = tmp_path / "estimate.json"
        import contextlib as _c
        import io

        buffer = io.StringIO()
        with _c.redirect_stdout(buffer):
            code = main(
                [
                    *("estimate", str(src), "-c", "text", "--base-url", server.url, "--api-key", API_KEY),
                    *("--tokenizer", "cl100k_base", "--max-input-tokens", "50", "--json", "--no-cache"),
                ]
            )
        assert code == 0
        found = json.loads(buffer.getvalue())
        out.write_text(buffer.getvalue())
        assert found["tokenizer"] == "cl100k_base" and found["max_input_tokens"] == 50
        assert found["model"] == "acme/m" and found["long_pieces"] == -(-len(tokens(LONG)) // 50)


def test_no_model_given_prefers_embedding_models_and_openais_default() -> None:
    """A proxy listing OpenAI's default model uses it (as before); with several others it is an error."""
    with FakeServer(dim=DIM, models=["gpt-4o", "text-embedding-3-small", "text-embedding-3-large"]) as server:
        assert resolve_backend(cfg(server)).config.model == "text-embedding-3-small"


def test_a_window_over_the_tables_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """max_input_tokens= above a known model's window is kept (explicit wins) but warned about once."""
    from embedframe._job import backend as backend_module

    backend_module._announced.clear()
    with FakeServer(dim=DIM, models=["all-MiniLM-L6-v2"]) as server:
        backend = resolve_backend(cfg(server, max_input_tokens=500))
        assert backend.config.input_limit == 500
    warned = [r.getMessage() for r in caplog.records if "max_input_tokens=500 is over" in r.getMessage()]
    assert len(warned) == 1 and "leave max_input_tokens unset for 254" in warned[0]


def test_the_fake_speaks_tei_and_vllm_and_truncates_like_them() -> None:
    """The fake's TEI /tokenize gives UTF-8 byte offsets and special tokens on request, vLLM's gives
    ids and max_model_len, and truncate=True embeds an over-long input by its first tokens."""
    import httpx

    text = "café 🙂 über"
    with FakeServer(dim=DIM, dialect="tei", context=8, truncate=True, models=["m"]) as server:
        root = server.url.removesuffix("/v1")
        info = httpx.get(f"{root}/info").json()
        assert info["max_input_length"] == 8 and info["model_id"] == "m"
        plain = httpx.post(f"{root}/tokenize", json={"inputs": text, "add_special_tokens": False}).json()[0]
        raw = text.encode("utf-8")
        assert b"".join(raw[t["start"] : t["stop"]] for t in plain) == raw
        with_special = httpx.post(f"{root}/tokenize", json={"inputs": [text]}).json()[0]
        assert len(with_special) == len(plain) + 2
        long = " ".join(["gamma"] * 20)
        body = {"model": "m", "input": [long], "encoding_format": "float"}
        answer = httpx.post(f"{server.url}/embeddings", json=body).json()
        expected = vector_for_tokens(tokens(long)[:6], DIM)
        np.testing.assert_allclose(answer["data"][0]["embedding"], expected, atol=1e-6)
        assert answer["usage"]["prompt_tokens"] == 6 + 2  # what it read, special tokens included
    with FakeServer(dim=DIM, dialect="vllm", context=100, models=["m"]) as server:
        root = server.url.removesuffix("/v1")
        models = httpx.get(f"{server.url}/models").json()["data"]
        assert models[0]["max_model_len"] == 100
        found = httpx.post(
            f"{root}/tokenize", json={"model": "m", "prompt": text, "add_special_tokens": False}
        ).json()
        assert found["tokens"] == tokens(text) and found["count"] == len(tokens(text))


class _Canned:
    """A loopback server answering GET/POST paths with canned JSON (404 for the rest), as
    llama.cpp's and Ollama's servers answer discovery."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        canned = routes
        self.posted: list[tuple[str, Any]] = []
        posted = self.posted

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, method: str) -> None:
                import json

                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if method == "POST":
                    posted.append((self.path, body))
                found = canned.get((method, self.path))
                data = json.dumps(found if found is not None else {"error": "not found"}).encode()
                self.send_response(200 if found is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_llama_cpp_props_and_tokenize() -> None:
    """llama.cpp: GET /props n_ctx is the window (less the model's special tokens), POST /tokenize counts."""
    routes = {
        ("GET", "/v1/models"): {"data": [{"id": "local-gguf"}]},
        ("GET", "/props"): {"default_generation_settings": {"n_ctx": 512}},
        ("POST", "/tokenize"): {"tokens": [1, 2, 3]},
    }
    with _Canned(routes) as url:
        backend = resolve_backend(EmbedConfig(base_url=url, cache=False))
        assert backend.config.model == "local-gguf" and "GET /props n_ctx" in backend.window_source
        assert isinstance(backend.tokenizer, RemoteTokenizer) and backend.tokenizer.kind == "llama.cpp"
        # the canned /tokenize gives 3 tokens with or without special tokens: none are added
        assert backend.config.input_limit == 512 and backend.tokenizer.special_tokens == 0


def test_ollama_show_gives_the_context_it_runs_with() -> None:
    """Ollama: POST /api/show; num_ctx in the parameters wins, else min(context_length, 2048); the table's tokenizer."""
    show = {"model_info": {"nomic-bert.context_length": 8192}, "parameters": "num_ctx 1024\nstop x"}
    with _Canned({("POST", "/api/show"): show}) as url:
        backend = resolve_backend(EmbedConfig(base_url=url, model="nomic-embed-text:latest", cache=False))
        assert backend.config.input_limit == 1024 - 2 and "num_ctx" in backend.window_source
    with _Canned({("POST", "/api/show"): {"model_info": {"bert.context_length": 8192}}}) as url:
        backend = resolve_backend(EmbedConfig(base_url=url, model="acme-embed", cache=False))
        assert backend.config.input_limit == 2048 - 2 and "context_length" in backend.window_source
        assert backend.config.window_known


def test_a_server_that_reads_less_than_it_says_is_caught_by_its_usage() -> None:
    """TEI says 64 positions but reads 20 tokens: its usage falls short of the inputs' tokens, which is
    an error (no vector is kept) whose max_input_tokens makes the job right."""
    with FakeServer(dim=DIM, dialect="tei", context=64, truncate_at=20, models=["m"]) as server:
        with pytest.raises(
            embedframe.ResponseError, match=r"cut some short.*pass max_input_tokens=(\d+)"
        ) as caught:
            embedframe.embed(pd.Series([LONG]), config=cfg(server, tokenizer="cl100k_base"))
        import re

        works = int(re.findall(r"max_input_tokens=(\d+)", str(caught.value))[-1])
        assert 16 <= works <= 20
        server.reset()
        out = embedframe.embed(
            pd.Series([LONG]), config=cfg(server, tokenizer="cl100k_base", max_input_tokens=works)
        )
        np.testing.assert_allclose(to_numpy(out)[0], mean_of_sent(server), atol=1e-6)
        # short texts are read whole: no error
        embedframe.embed(pd.Series(["short", "texts"]), config=cfg(server))


def test_the_unknown_window_hint_names_a_value_that_works() -> None:
    """The value the unknown-window error names (max_input_tokens=254) makes the same job chunk and succeed."""
    import re

    with FakeServer(dim=DIM, models=["mystery-model"]) as server:
        with pytest.raises(InputError) as caught:
            embedframe.embed(pd.Series([LONG]), config=cfg(server, tokenizer="cl100k_base"))
        value = int(re.findall(r"pass max_input_tokens=(\d+)", str(caught.value), re.I)[0])
        out = embedframe.embed(
            pd.Series([LONG]), config=cfg(server, tokenizer="cl100k_base", max_input_tokens=value)
        )
        assert value == 254 and out.attrs["embedframe"]["chunked_texts"] == 1
