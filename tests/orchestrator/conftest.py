"""Fixtures shared by the orchestrator tests."""

from __future__ import annotations

import pytest
from fake_openai import KEY_ENV, FakeOpenAI


@pytest.fixture
def llm_server(monkeypatch):
    """A local OpenAI-compatible server (its replies scripted by the test) and an API key in KEY_ENV."""
    monkeypatch.setenv(KEY_ENV, "sk-graphtest-0123456789abcdef")
    s = FakeOpenAI()
    yield s
    s.stop()
