"""Shared fixtures: every test gets its own lazyvol cache directory."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def gzip_cache(_isolated_cache: Path) -> Iterator[Path]:
    """The per-test lazyvol cache directory, with this process's gzip handles closed before and
    after the test (a handle kept from another test would read through that test's seek index)."""
    from lazyvol.nifti import clear_gzip_handles

    clear_gzip_handles()
    yield _isolated_cache
    clear_gzip_handles()
