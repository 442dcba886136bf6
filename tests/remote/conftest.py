"""Fixtures of the remote-source tests: real servers on loopback (see remote_servers.py), and a
``dask.distributed`` cluster of 2 worker processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hostile_server import hostile_server
from remote_servers import http_server, s3_bucket, s3_server

from lazyvol import _io

__all__ = ["dist_client", "hostile_server", "http_server", "s3_bucket", "s3_server"]


@pytest.fixture(scope="module")
def dist_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of a local cluster of 2 worker processes (1 thread each), its own cache dir."""
    distributed = pytest.importorskip("distributed")
    old = os.environ.get("LAZYVOL_CACHE_DIR")
    os.environ["LAZYVOL_CACHE_DIR"] = str(tmp_path_factory.mktemp("dist-cache"))
    try:
        with (
            distributed.LocalCluster(
                processes=True,
                n_workers=2,
                threads_per_worker=1,
                dashboard_address=None,
                worker_dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as client,
        ):
            yield client
    finally:
        if old is None:
            os.environ.pop("LAZYVOL_CACHE_DIR", None)
        else:
            os.environ["LAZYVOL_CACHE_DIR"] = old


@pytest.fixture
def _deadline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stalling or dripping server's tests: LAZYVOL_REMOTE_TIMEOUT 1 s and
    LAZYVOL_REMOTE_DEADLINE 1.5 s, on filesystems made for them (none cached before or after)."""
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "1")
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", "1.5")
    _io.clear_filesystems()
    yield
    _io.clear_filesystems()
