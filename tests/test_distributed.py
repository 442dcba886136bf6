"""Statistics on a dask.distributed cluster of worker processes equal the threaded result.

One module-scoped ``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)``. Sources are
a parametrised list: adding a reader (DICOM native/compressed, Zarr) is one entry in ``SOURCES``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_phantom_nifti

distributed = pytest.importorskip("distributed")

SHAPE = (48, 40, 30)


def _nifti(d: Path) -> str:
    return write_phantom_nifti(d / "p.nii", SHAPE, dtype="int16")


def _nifti_gz(d: Path) -> str:
    return write_phantom_nifti(d / "p.nii.gz", SHAPE, dtype="int16")


def _nifti_float_4d(d: Path) -> str:
    return write_phantom_nifti(d / "f.nii.gz", (24, 20, 12, 3), dtype="float32")


# name -> function writing the source into a folder and returning the path to open.
SOURCES: dict[str, Callable[[Path], str]] = {
    "nifti": _nifti,
    "nifti-gz": _nifti_gz,
    "nifti-gz-float32-4d": _nifti_float_4d,
}


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    # Workers are spawned with this environment: the gzip index cache lives in a temp folder.
    old = os.environ.get("LAZYVOL_CACHE_DIR")
    os.environ["LAZYVOL_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("LAZYVOL_CACHE_DIR", None)
    else:
        os.environ["LAZYVOL_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def client(cache_env):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            processes=True,
            n_workers=2,
            threads_per_worker=1,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("dist")


def _same(a: lv.VolumeStats, b: lv.VolumeStats) -> None:
    da_, db_ = a.to_dict(), b.to_dict()
    assert da_ == db_


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_distributed_equals_threads(name, client, folder, cache_env):
    import nibabel as nib

    (folder / name).mkdir()
    path = SOURCES[name](folder / name)
    hdr_shape = lv.open(path).shape
    chunks = (*hdr_shape[:2], 5, *([1] if len(hdr_shape) == 4 else []))
    vol = lv.open(path, chunks=chunks)  # several slab reads per volume
    axis = (0, 1, 2) if vol.ndim == 4 else None
    kwargs = {"axis": axis, "exact_percentiles": True, "bins": 64}
    with lv_scheduler("threads"):
        ref = lv.stats(vol, **kwargs)
    with client.as_current():
        got = lv.stats(vol, **kwargs)
    _same(ref, got)
    # independent check of the reference, and the work really ran in the worker processes
    x = np.asarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(ref.max, x.max(axis=axis))
    assert os.getpid() not in client.run(os.getpid).values()


def lv_scheduler(name: str):
    import dask

    return dask.config.set(scheduler=name)


def test_processes_scheduler_equals_threads(folder, cache_env):
    d = folder / "proc"
    d.mkdir()
    path = _nifti_gz(d)
    vol = lv.open(path, chunks=(SHAPE[0], SHAPE[1], 8))
    with lv_scheduler("threads"):
        ref = lv.stats(vol, bins=32)
    with lv_scheduler("processes"):
        got = lv.stats(vol, bins=32)
    _same(ref, got)


def _open_cached_in_task(path: str, cache: str) -> tuple[float, list[str]]:
    import warnings

    import lazyvol.cache

    lazyvol.cache.LOCK_TIMEOUT = 30.0  # (the old code's waiters gave up after it, uncached)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        vol = lv.open(path, cache=cache)
        total = float(vol.data.astype("float64").sum().compute(scheduler="sync"))
    return total, [str(w.message) for w in seen]


def test_tasks_opening_one_source_through_the_cache_do_not_starve_its_build(client, folder):
    # Four tasks on two one-thread workers open one source through one cache: the first builds
    # the entry (its write's tasks run on the cluster), the others wait for its lock. They used to
    # wait in their thread slots, so the build's tasks got none until the waiters timed out.
    import nibabel as nib

    d = folder / "cached-in-tasks"
    d.mkdir()
    path = _nifti(d)
    cache = str(d / "cache")
    futures = [
        client.submit(_open_cached_in_task, path, cache, pure=False, key=f"open-cached-{i}")
        for i in range(4)
    ]
    results = client.gather(futures)
    want = float(np.asarray(nib.load(path).dataobj, dtype=np.float64).sum())
    assert [r[0] for r in results] == [want] * 4
    assert [r[1] for r in results] == [[]] * 4  # none waited out the lock and read uncached
