"""Configuration: environment, validation, secrets kept out of reprs."""

from __future__ import annotations

from typing import Any

import pytest

from embedframe import ConfigError, EmbedConfig


def test_environment_fills_what_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID are read; arguments win."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    cfg = EmbedConfig()
    assert (cfg.api_key, cfg.base_url, cfg.organization, cfg.project) == (
        "sk-env",
        "http://127.0.0.1:9/v1",
        "org-1",
        "proj-1",
    )
    assert EmbedConfig(api_key="sk-arg").api_key == "sk-arg"
    assert cfg.endpoint == "http://127.0.0.1:9/v1/embeddings"


def test_repr_hides_the_key() -> None:
    """The API key and extra header values never show in repr."""
    cfg = EmbedConfig(api_key="sk-very-secret", headers={"x-token": "tok-secret"})
    assert "sk-very-secret" not in repr(cfg) and "tok-secret" not in repr(cfg)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"max_inputs_per_request": 4096}, "2048"),
        ({"long_text": "skip"}, "long_text"),
        ({"empty": "drop"}, "empty"),
        ({"timeout": -1}, "timeout"),
        ({"dimensions": 256, "model": "text-embedding-ada-002"}, "does not support"),
        ({"max_input_tokens": 500_000}, "max_tokens_per_request"),
        ({"chunk_tokens": 9000}, "chunk_tokens"),
        ({"chunk_overlap": 8191}, "chunk_overlap"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_options_are_refused_with_the_value(options: dict, match: str) -> None:
    """Each bad option raises ConfigError naming the option."""
    with pytest.raises(ConfigError, match=match):
        EmbedConfig(**options)


def test_replace_validates_and_refuses_unknown_options() -> None:
    """replace() applies changes through the same validation and rejects unknown names."""
    cfg = EmbedConfig(api_key="k")
    assert cfg.replace(dimensions=64).dimensions == 64
    with pytest.raises(ConfigError, match="unknown option"):
        cfg.replace(dimension=64)


def test_plain_http_to_a_remote_host_warns() -> None:
    """Sending a key over http:// to a non-loopback host warns; loopback does not."""
    with pytest.warns(UserWarning, match="unencrypted"):
        EmbedConfig(api_key="k", base_url="http://example.com/v1")
    EmbedConfig(api_key="k", base_url="http://127.0.0.1:8000/v1")


def test_azure_url_and_api_version() -> None:
    """An Azure deployment URL keeps its api-version on the endpoint and is detected as Azure."""
    cfg = EmbedConfig(
        api_key="k",
        base_url="https://res.openai.azure.com/openai/deployments/dep/embeddings?api-version=2024-02-01",
    )
    assert cfg.api_version == "2024-02-01" and cfg.is_azure
    assert (
        cfg.endpoint
        == "https://res.openai.azure.com/openai/deployments/dep/embeddings?api-version=2024-02-01"
    )


def test_urls_shown_drop_credentials_and_query() -> None:
    """User, password and query (which may hold tokens) never show in reprs or public URLs."""
    cfg = EmbedConfig(api_key="k", base_url="https://alice:pw-secret@host:8443/v1?token=qs-secret")
    assert cfg.endpoint == "https://alice:pw-secret@host:8443/v1/embeddings?token=qs-secret"
    assert cfg.public_endpoint == "https://host:8443/v1/embeddings"
    assert "pw-secret" not in repr(cfg) and "qs-secret" not in repr(cfg)


def test_tokens_per_minute_must_fit_one_input() -> None:
    """A TPM budget smaller than one input could never send it: refused up front."""
    with pytest.raises(ConfigError, match="tokens_per_minute"):
        EmbedConfig(tokens_per_minute=1000)


def test_options_typed_dict_mirrors_the_config() -> None:
    """EmbedOptions (what type checkers see for **options) has exactly EmbedConfig's fields and types."""
    import dataclasses
    import typing

    from embedframe.options import EmbedOptions

    fields = typing.get_type_hints(EmbedConfig)
    typed = typing.get_type_hints(EmbedOptions)
    assert typed == {f.name: fields[f.name] for f in dataclasses.fields(EmbedConfig)}


def test_options_the_user_set_are_recorded_not_guessed() -> None:
    """is_set tells an option given at its default value from one left unset, through replace and pickling."""
    import pickle

    cfg = EmbedConfig(concurrency=8)
    assert cfg.is_set("concurrency") and not cfg.is_set("timeout")
    cfg = cfg.replace(timeout=60.0)
    assert cfg.is_set("timeout") and cfg.is_set("concurrency")
    assert pickle.loads(pickle.dumps(cfg)).is_set("timeout")
    derived = cfg.derive(model="m")
    assert derived.model == "m" and not derived.is_set("model") and derived.is_set("timeout")


def test_help_lists_every_option_with_its_meaning() -> None:
    """help() of the public calls shows every option, its default and the meaning from EmbedConfig."""
    import dataclasses

    import embedframe

    for fn in (embedframe.embed, embedframe.embed_column, embedframe.estimate, embedframe.embed_file):
        doc = fn.__doc__ or ""
        for f in dataclasses.fields(EmbedConfig):
            assert f"``{f.name}``" in doc, (fn.__name__, f.name)
    assert "Requests in flight at once." in (embedframe.embed.__doc__ or "")


def test_parts_each_stage_receives() -> None:
    """A config resolves into the small parts stages take: text rules, retry policy, pacing, cache location."""
    cfg = EmbedConfig(
        max_input_tokens=100,
        chunk_tokens=50,
        chunk_overlap=5,
        max_retries=2,
        wait_initial=0.1,
        concurrency=3,
        tokens_per_minute=1000,
        cache=False,
    )
    assert (cfg.text.limit, cfg.text.window, cfg.text.overlap) == (100, 50, 5)
    assert (cfg.retry.max_retries, cfg.retry.wait_initial) == (2, 0.1)
    assert 0 < cfg.retry.backoff(0) <= cfg.retry.wait_max
    assert (cfg.pacing.concurrency, cfg.pacing.tokens_per_minute) == (3, 1000)
    assert cfg.storage.key is None  # no cache


def test_a_job_validates_its_options_once_plus_once_for_what_the_backend_found(server: Any) -> None:
    """A job's options are validated at the boundary and once more after the backend fills in model and window."""
    import embedframe
    from tests.support import API_KEY

    calls: list[int] = []
    original = EmbedConfig._validate

    def counting(self: EmbedConfig) -> None:
        calls.append(1)
        original(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EmbedConfig, "_validate", counting)
        embedframe.embed(["a", "b"], base_url=server.url, api_key=API_KEY, progress=False, cache=False)
    assert len(calls) == 2
