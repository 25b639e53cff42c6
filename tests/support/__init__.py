"""Test helpers, importable as ``tests.support``: the fake OpenAI-compatible server and friends."""

API_KEY = "sk-test-SECRET-0123456789abcdef"
"""The fake server's key (the secrets tests look for it in every artefact)."""
DIM = 32
"""The fake server's vector size in the shared fixtures."""
