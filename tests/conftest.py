"""Shared fixtures: every test gets its own lazyvol cache directory; fuzz tests get a bounded
environment (:func:`fuzz_env`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs every property test on the same examples (a red CI must mean a change broke something,
# not that a random draw found an old edge); local runs keep drawing new ones. The fuzz tests set
# their own profiles (LAZYVOL_FUZZ=long draws at random everywhere).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI") and os.environ.get("LAZYVOL_FUZZ") != "long":
    settings.load_profile("ci")


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


class Dcm2niix:
    """dcm2niix, run on a DICOM folder into a new folder; the test skips from a run on when
    dcm2niix is not installed (its checks before the call still run)."""

    def __init__(self) -> None:
        import shutil
        import sys

        here = os.path.join(os.path.dirname(sys.executable), "dcm2niix")
        self.exe = shutil.which("dcm2niix") or here

    def run(
        self, src: Path, out: Path, *, name: str = "vol", sidecar: bool = False, check: bool = False
    ) -> str:
        """Convert ``src`` into the new folder ``out`` (uncompressed NIfTI, files named by the
        ``-f`` pattern ``name``, BIDS sidecars when ``sidecar``); dcm2niix's log."""
        import subprocess

        if not os.path.exists(self.exe):
            pytest.skip("dcm2niix not installed (pip install dcm2niix; in the test extra)")
        out.mkdir(parents=True)
        args = ["-o", str(out), "-f", name, "-z", "n", "-b", "y" if sidecar else "n", str(src)]
        done = subprocess.run(
            [self.exe, *args], check=check, capture_output=True, text=True, timeout=120
        )
        return done.stdout + done.stderr

    def __call__(self, src: Path, out: Path) -> list[Path]:
        """dcm2niix's NIfTI files of ``src`` (no sidecar), sorted."""
        self.run(src, out, check=True)
        return sorted(out.glob("*.nii"))


@pytest.fixture
def dcm2niix() -> Dcm2niix:
    """dcm2niix as :class:`Dcm2niix` runs it: ``dcm2niix(src, out)`` gives its NIfTI files,
    ``dcm2niix.run(src, out, ...)`` its log."""
    return Dcm2niix()


@pytest.fixture
def gzip_cache(_isolated_cache: Path) -> Iterator[Path]:
    """The per-test lazyvol cache directory, with this process's gzip handles closed before and
    after the test (a handle kept from another test would read through that test's seek index)."""
    from lazyvol.nifti import clear_gzip_handles

    clear_gzip_handles()
    yield _isolated_cache
    clear_gzip_handles()


class ExampleTimeout(BaseException):
    """A fuzz example ran past its ``signal.alarm`` bound (a hang). A BaseException, so that no
    ``except Exception`` in lazyvol can turn it into a typed error; the fuzz tests' own
    ``except BaseException`` reports it as a failure naming it."""


def _example_timeout(signum: int, frame: Any) -> None:
    raise ExampleTimeout("the example ran past its time bound (signal.alarm): a hang")


@pytest.fixture
def fuzz_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder for fuzz examples: volumes capped at 64 MiB (``LAZYVOL_MAX_VOLUME_BYTES``, so a
    lying header cannot make a runaway allocation pass), and SIGALRM raising
    :class:`ExampleTimeout` for the ``signal.alarm(seconds)`` each example sets."""
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", str(64 * 2**20))
    old = signal.signal(signal.SIGALRM, _example_timeout)
    yield tmp_path
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def lazyvol_cli(_isolated_cache: Path) -> Any:
    """``run(*args)``: the ``lazyvol`` command (``python -m lazyvol``, this source tree) run in a
    subprocess with the test's cache directory; returns the ``CompletedProcess`` (text output)."""
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")

    def run(*args: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lazyvol", *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
