"""Running ``embedframe serve``: bind the socket (before the model loads, so a port in use
fails at once), warn about exposure, and run uvicorn; and its command line.

The app itself is :func:`embedframe.serve.create_app`.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Iterable, Sequence

from ._wire.urls import is_loopback
from .config import SERVE_API_KEY_ENV, environment
from .errors import ConfigError

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_INPUTS",
    "add_serve_arguments",
    "main_serve",
    "run_serve",
    "serve",
]

API_KEY_ENV = SERVE_API_KEY_ENV
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_INPUTS = 2048


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    api_key: str | None = None,
    model_aliases: Iterable[str] = (),
    max_inputs: int = DEFAULT_MAX_INPUTS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    preload: bool = True,
    log_level: str = "info",
) -> None:
    """Serve the local model over HTTP with uvicorn until interrupted.

    Binds loopback by default; binding any other address without ``api_key`` prints a
    warning. ``preload`` loads the model before accepting requests.
    """
    import uvicorn

    listening = _listen(host, port)  # before the model loads: a port in use fails at once
    from .local import LocalModel
    from .serve import create_app

    model = LocalModel()
    app = create_app(
        model=model,
        api_key=api_key,
        model_aliases=model_aliases,
        max_inputs=max_inputs,
        max_body_bytes=max_body_bytes,
    )
    warning = _exposure_warning(host, api_key)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if preload:
        print(f"embedframe serve: loading {model.name} ...", file=sys.stderr, flush=True)
        model.load()
    print(
        f"embedframe serve: model {model.name} ({model.dimensions}-d, at most {model.max_tokens} tokens "
        f"per input); API key {'required' if api_key else 'not required'}; routes /v1/embeddings, "
        "/v1/models, /health",
        file=sys.stderr,
        flush=True,
    )
    bound = listening.getsockname()[1]  # the port the system chose for --port 0
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    print(
        f"embedframe serve: running on http://{shown}:{bound} (Ctrl-C to stop)", file=sys.stderr, flush=True
    )
    config = uvicorn.Config(app, host=host, port=bound, log_level=log_level, server_header=False)
    uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds it), or :class:`ConfigError` saying why not."""
    name = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in name else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((name, port))
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        hint = (
            "another program is using it; pick another with port=..."
            if err.errno == errno.EADDRINUSE
            else "check host=... and port=..."
        )
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}; {hint}") from err
    sock.set_inheritable(True)
    return sock


def _exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning for serving beyond this machine without a key, or None."""
    if api_key or is_loopback(host.strip("[]")):
        return None
    return (
        f"WARNING: embedframe serve is listening on {host} without an API key: anyone who can reach "
        f"this address can use it. Pass --api-key (or set {API_KEY_ENV}), or bind 127.0.0.1."
    )


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``embedframe serve``'s options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind; 0 picks a free one (default: 8000)"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"require 'Authorization: Bearer KEY' on /v1 routes (default: ${API_KEY_ENV}; "
        "prefer the variable: command lines are visible to other users)",
    )
    parser.add_argument(
        "--max-inputs",
        type=_positive,
        default=DEFAULT_MAX_INPUTS,
        help="most inputs per request (default: 2048)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=_positive,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body accepted; larger ones get 413 (default: 16 MiB)",
    )
    parser.add_argument(
        "--model-alias",
        action="append",
        default=[],
        metavar="NAME",
        help="another model name to answer to (repeatable), e.g. text-embedding-3-small",
    )
    parser.add_argument(
        "--lazy", action="store_true", help="load the model on the first request instead of at startup"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default: info)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def run_serve(args: argparse.Namespace) -> int:
    """Run the server for parsed ``embedframe serve`` arguments; the exit status."""
    api_key = args.api_key or environment(API_KEY_ENV)
    try:
        serve(
            args.host,
            args.port,
            api_key=api_key,
            model_aliases=args.model_alias,
            max_inputs=args.max_inputs,
            max_body_bytes=args.max_body_bytes,
            preload=not args.lazy,
            log_level=args.log_level,
        )
    except ConfigError as exc:
        from .cli import for_cli

        print(f"embedframe serve: {for_cli(str(exc))}", file=sys.stderr)
        return 2
    return 0


def main_serve(argv: Sequence[str] | None = None) -> int:
    """``embedframe serve [options]`` as a function: parse ``argv`` and serve."""
    parser = argparse.ArgumentParser(
        prog="embedframe serve", description="Serve the local model as an OpenAI-compatible embeddings API."
    )
    add_serve_arguments(parser)
    return run_serve(parser.parse_args(argv))
