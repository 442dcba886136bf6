"""``lazyvol info STORE`` for a Zarr store lazyvol wrote: the store keeps its source's metadata,
and info showed the source's facts as the store's (``format DICOM``, ``files 150`` and the size of
the DICOM files on disk for a store written from a DICOM series). It describes the store now (its
own size on disk), naming the format it was written from."""

from __future__ import annotations

import json
import os

import numpy as np

import lazyvol as lv
from lazyvol.cli import main
from lazyvol.testing import write_dicom_series, write_ome_zarr, write_phantom_nifti


def _bytes_under(folder):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)


def _info(capsys, *argv):
    assert main(["info", *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_a_store_written_from_dicom_is_described_as_the_store(tmp_path, capsys):
    series = tmp_path / "ct"
    write_dicom_series(series, (16, 12, 5))
    store = tmp_path / "ct.zarr"
    lv.open(series).to_zarr(store)
    assert _bytes_under(store) != _bytes_under(series)
    info = json.loads(_info(capsys, store, "--json"))
    assert info["format"] == "zarr" and info["source_format"] == "DICOM", info["format"]
    assert info["files"] is None
    assert info["size_on_disk"] == _bytes_under(store)
    text = _info(capsys, store)
    assert "format          zarr (written from DICOM)\n" in text, text
    assert "\nfiles " not in text, text
    # the series itself is still described as DICOM files
    assert json.loads(_info(capsys, series, "--json"))["files"] == len(os.listdir(series))


def test_a_store_written_from_nifti_and_a_foreign_ome_store(tmp_path, capsys):
    src = write_phantom_nifti(tmp_path / "p.nii.gz", (8, 7, 6))
    store = tmp_path / "p.zarr"
    lv.open(src).to_zarr(store)
    info = json.loads(_info(capsys, store, "--json"))
    assert (info["format"], info["source_format"]) == ("zarr", "nifti1")
    assert info["size_on_disk"] == _bytes_under(store)
    # an OME-Zarr image another tool wrote: its own format, nothing written from
    foreign = tmp_path / "foreign.zarr"
    write_ome_zarr(foreign, np.ones((4, 5, 6), "uint8"), scale=[1.0, 1.0, 1.0])
    info = json.loads(_info(capsys, foreign, "--json"))
    assert info["format"] == "ome-zarr" and "source_format" not in info
