"""Server URLs: the API root a user gives, normalised; what of it may be shown; whether a
key would cross the network in clear text."""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._warn import warn
from ..errors import ConfigError

__all__ = ["check_key_transport", "is_loopback", "normalise_url", "public_host"]


def normalise_url(url: str) -> tuple[str, str | None]:
    """The API root without a trailing ``/embeddings``, and an ``api-version`` found in its query."""
    if not isinstance(url, str):
        raise ConfigError(f"base_url must be a string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    query = parse_qsl(parts.query, keep_blank_values=True)
    version = next((v for k, v in query if k == "api-version"), None)
    rest = urlencode([(k, v) for k, v in query if k != "api-version"])
    path = parts.path.rstrip("/")
    if path.endswith("/embeddings"):
        path = path[: -len("/embeddings")]
    url = urlunsplit((parts.scheme, parts.netloc, path, rest, ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL such as https://api.openai.com/v1, got {url!r}")
    return url, version


def public_host(url: str) -> str:
    """``host[:port]`` of ``url``: no user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_transport(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        warn(
            f"the API key will be sent unencrypted over plain http to {parts.hostname}; "
            "use an https:// base_url"
        )
