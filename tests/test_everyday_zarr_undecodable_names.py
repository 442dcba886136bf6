"""A store written from, or to, a file name that is not valid UTF-8 (an old archive's Latin-1
``caf\\xe9``, which Python holds with a lone surrogate) had that surrogate in its ``zarr.json``
(``"\\udce9"``): JSON text that no UTF-8 encoding can hold, which strict JSON readers (other Zarr
implementations) refuse. Every metadata document is valid UTF-8 JSON now, and lazyvol still finds
the source's files (their headers) under their exact names."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_phantom_nifti


def _strict_documents(store):
    """Each ``zarr.json`` of ``store`` parsed, after checking it is UTF-8 JSON whose strings
    a UTF-8 encoder can write (no lone surrogate escapes)."""
    docs = {}
    for root, _dirs, files in os.walk(store):
        for name in files:
            if name == "zarr.json":
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    raw = f.read()
                doc = json.loads(raw.decode("utf-8"))
                # (json.loads takes "\udce9"; re-encoding the parsed text as UTF-8 does not)
                json.dumps(doc, ensure_ascii=False).encode("utf-8")
                docs[os.path.relpath(path, store)] = doc
    return docs


@pytest.fixture
def latin1(tmp_path):
    folder = tmp_path / os.fsdecode(b"archiv\xe9")
    folder.mkdir()
    return folder


def test_nifti_source_with_a_latin1_name_to_a_latin1_store(latin1):
    src = write_phantom_nifti(latin1 / os.fsdecode(b"t\xeate.nii.gz"), (6, 5, 4))
    dest = str(latin1 / os.fsdecode(b"sortie\xe9.zarr"))
    vol = lv.open(src)
    vol.to_zarr(dest)
    docs = _strict_documents(dest)
    assert docs["zarr.json"]["attributes"]["ome"]["multiscales"][0]["name"] == "sortie\\xe9.zarr"
    back = lv.open(dest)
    assert back.source == os.path.abspath(src)  # the exact name, surrogate and all
    assert os.path.exists(back.source)
    np.testing.assert_array_equal(back.compute(), vol.compute())


def test_dicom_store_finds_its_latin1_files_headers(latin1, tmp_path):
    series = latin1 / "ct"
    write_dicom_series(series, (8, 6, 3))
    first = sorted(os.listdir(series))[0]
    os.rename(series / first, series / os.fsdecode(b"\xe9" + os.fsencode(first)))
    dest = str(tmp_path / "ct.zarr")
    lv.open(series).to_zarr(dest)
    _strict_documents(dest)
    back = lv.open(dest)
    assert any("\udce9" in f for f in back.meta["files"]), back.meta["files"]
    truth = {
        pydicom.dcmread(series / name, stop_before_pixels=True).SOPInstanceUID
        for name in os.listdir(series)
    }
    assert {back.dicom_header(k).SOPInstanceUID for k in range(3)} == truth


def test_cache_entry_of_a_latin1_source_is_strict_json_and_reused(latin1, tmp_path):
    src = write_phantom_nifti(latin1 / os.fsdecode(b"t\xeate.nii"), (6, 5, 4))
    cache = tmp_path / "cache"
    first = lv.open(src, cache=cache)
    entries = [os.path.join(r, d) for r, ds, _ in os.walk(cache) for d in ds]
    stores = {
        e for e in entries if os.path.isfile(os.path.join(e, "lazyvol-manifest", "zarr.json"))
    }
    assert stores, entries
    for store in stores:
        _strict_documents(store)
    again = lv.open(src, cache=cache)
    np.testing.assert_array_equal(again.compute(), first.compute())
    shutil.rmtree(cache)
