"""A real S3-compatible server on loopback (moto's ThreadedMotoServer), for s3fs tests offline."""

from __future__ import annotations

import logging
import socket
import uuid
from types import TracebackType
from typing import Any


class S3Server:
    """moto's S3 server on ``127.0.0.1`` and a free port; ``options`` point s3fs at it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @property
    def options(self) -> dict[str, Any]:
        """s3fs storage options for this server (dummy credentials: moto accepts any)."""
        return {
            "endpoint_url": self.endpoint,
            "key": "AKIA-TEST-KEY-SECRET",
            "secret": "test-secret-SECRET",
            "client_kwargs": {"region_name": "us-east-1"},
        }

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        import boto3

        name = f"embedframe-{uuid.uuid4().hex[:16]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        return name

    def __enter__(self) -> S3Server:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()
