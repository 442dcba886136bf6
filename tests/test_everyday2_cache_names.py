"""``lazyvol cache list`` showed a Zarr entry whose source is named in Latin-1 (not valid UTF-8)
as ``caf\\xe9`` text (the manifest's form) while the scan index of the same kind of name, and every
other command's text output, show the name's own bytes; ``lv.cache.list_entries()`` gave that
text, a name no file has. Entries give the exact name now (the store's attributes keep its bytes);
``--json`` shows it as ``\\xNN``, as every command's JSON does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_phantom_nifti

_SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def short_dir():
    """A folder with a short path (the table shows 60 characters of a source)."""
    path = tempfile.mkdtemp(prefix="lv", dir="/tmp" if os.path.isdir("/tmp") else None)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_cache_list_names_latin1_sources_by_their_bytes(short_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(cache))
    nii = os.fsdecode(os.fsencode(short_dir) + b"/caf\xe9.nii")
    folder = os.fsdecode(os.fsencode(short_dir) + b"/s\xe9rie")
    write_phantom_nifti(nii, (6, 5, 4))
    write_dicom_series(folder, (6, 5, 3))
    for source in (nii, folder):
        lv.open(source, cache=True).compute()
    assert np.array_equal(
        lv.open(nii, cache=True).compute(), np.asarray(nib.load(nii).dataobj)
    )  # (served from the entry)

    entries = {e.source for e in lv.cache.list_entries()}
    assert entries == {nii, folder}  # the names the files have (os.fsdecode of their bytes)
    assert all(os.path.exists(s) for s in entries)
    scans = {e.source for e in lv.cache.list_index_files() if e.kind == "scan"}
    assert scans == {folder}

    env = {**os.environ, "LAZYVOL_CACHE_DIR": str(cache), "PYTHONIOENCODING": "utf-8"}
    env["PYTHONPATH"] = os.pathsep.join([_SRC, env.get("PYTHONPATH", "")])
    run = [sys.executable, "-m", "lazyvol", "cache", "list"]
    out = subprocess.run(run, env=env, capture_output=True, timeout=120, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith((b"zarr", b"scan"))]
    assert len(rows) >= 3
    assert b"\\xe9" not in out  # (the text form of no file name)
    assert sum(os.fsencode(nii) in r for r in rows) == 1
    assert sum(os.fsencode(folder) in r for r in rows) == len(rows) - 1

    out = subprocess.run([*run, "--json"], env=env, capture_output=True, timeout=120, check=True)
    shown = {row["source"] for row in json.loads(out.stdout.decode("utf-8"))}
    assert shown == {
        os.fsencode(s).decode("utf-8", "backslashreplace") for s in (nii, folder)
    }  # (\xNN, docs/cli.md)
