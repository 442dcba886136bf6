"""Shared fixtures: every test gets its own lazyvol cache directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("lazyvol-cache")
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def dicom_cache(_isolated_cache: Path) -> Path:
    """The per-test lazyvol cache directory (DICOM tests name it explicitly)."""
    return _isolated_cache
