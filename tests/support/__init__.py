"""Test helpers, importable as ``tests.support``: the fake OpenAI-compatible server and friends."""

import signal

API_KEY = "sk-test-SECRET-0123456789abcdef"
"""The fake server's key (the secrets tests look for it in every artefact)."""
DIM = 32
"""The fake server's vector size in the shared fixtures."""


def interruptible() -> None:
    """``preexec_fn`` for a child process a test sends SIGINT: Ctrl-C's action as in a
    terminal, even where the test run was started with SIGINT ignored (``cmd &`` in a
    script), which the child would otherwise inherit and, rightly, keep."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
