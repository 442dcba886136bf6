"""Shared fixtures. DICOM fixtures are prefixed ``dicom_``."""

from __future__ import annotations

import pytest


@pytest.fixture
def dicom_cache(tmp_path_factory, monkeypatch):
    """A private lazyvol cache directory (scan index etc.) for one test."""
    path = tmp_path_factory.mktemp("lazyvol-cache")
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(path))
    return path
