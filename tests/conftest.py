"""Fixtures shared by the whole suite. Tests run on the real default model; nothing is mocked."""

from __future__ import annotations

import pytest

from course_lib.runtime import model_path


@pytest.fixture(scope="session")
def gemma_path():
    """The real default GGUF (Gemma 3 270M Q4_K_M), assembled once."""
    return model_path(progress=False)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """A private model cache and no model override, so provisioning starts from nothing."""
    monkeypatch.setenv("LLM_COURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LLM_COURSE_MODEL", raising=False)
    return tmp_path / "cache"


def pytest_collection_modifyitems(session, config, items):
    """Run the real-browser tests last.

    Playwright's sync API keeps an event loop running in the main thread for as
    long as its session-scoped browser lives; tests that call `asyncio.run`
    would otherwise fail after it, depending on order alone.
    """
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
