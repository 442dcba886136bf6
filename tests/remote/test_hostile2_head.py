"""Servers that answer a HEAD with 404 or 410 while a GET of the same URL serves the object (a
server or worker routing GET only, as fsspec's ``info`` allows for by asking again with a GET):
every kind of remote source gives the voxels nibabel / pydicom read from the local files; an
object that is not there is still "no such object", and a server known to answer HEADs is not
asked twice for an absent file."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_remote_hostile_sweep import KINDS, _source

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import SourceNotFoundError
from lazyvol.testing.nifti import write_phantom_nifti


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "refs"])
@pytest.mark.parametrize("status", [404, 410])
def test_a_server_answering_no_head_gives_the_voxels(tmp_path, hostile_server, kind, status):
    """Every HEAD answered ``status``: lv.open refused the .nii, .nii.gz, DICOM web folder and
    Zarr store as 'no such object' (a HEAD's 404 taken as final), which fsspec and zarr-python
    read."""
    url, opts, truth, _names = _source(tmp_path, hostile_server, kind)
    for obj in hostile_server.objects.values():
        obj.status_head = status
    vol = lv.open(url, scale=False, storage_options=opts)
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth)
    assert any(e[0] == "HEAD" and e[3] == status for e in hostile_server.log)


def test_references_made_and_read_from_such_a_server_give_the_voxels(tmp_path, hostile_server):
    path = write_phantom_nifti(tmp_path / "a.nii", (40, 30, 20))
    url = hostile_server.put("a.nii", Path(path).read_bytes(), status_head=404)
    fo = tmp_path / "refs.json"
    fo.write_text(json.dumps(lv.references(url)), encoding="utf-8")
    vol = lv.open("reference://", scale=False, storage_options={"fo": str(fo)})
    truth = np.asarray(nib.load(path).dataobj.get_unscaled())
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth)


def test_an_absent_object_on_such_a_server_is_still_not_found(hostile_server):
    hostile_server.put("a.bin", b"x" * 10, status_head=404)
    with pytest.raises(SourceNotFoundError, match=r"/b\.bin: no such object"):
        lv.open(f"{hostile_server.url}/b.bin")
    assert _io.stamp(_io.Location.of(f"{hostile_server.url}/a.bin")).size == 10


def test_a_server_that_answers_heads_is_asked_once_for_an_absent_object(hostile_server):
    url = hostile_server.put("a.bin", b"x" * 10)
    assert _io.stamp(_io.Location.of(url)).size == 10  # (a HEAD answered 200)
    hostile_server.log.clear()
    with pytest.raises(SourceNotFoundError):
        _io.stamp(_io.Location.of(f"{hostile_server.url}/b.bin"))
    assert [e[0] for e in hostile_server.log] == ["HEAD"]
