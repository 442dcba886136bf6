"""``lv.open("reference://", ...)`` against targets that changed since the references were made
and against misbehaving servers: the right values, or a typed lazyvol error naming the target;
never the bytes of another object or another range. Real loopback servers (the hostile HTTP
server, moto's S3); the truth is nibabel's and pydicom's reading of the local files."""

from __future__ import annotations

import json
import os

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hostile_server import HostileServer
from ome_refs import nifti_image_refs, ome_image_refs
from remote_servers import S3

import lazyvol as lv
from lazyvol.errors import RemoteReadError, RemoteTimeoutError, SourceChangedError
from lazyvol.testing.dicom import write_dicom_series
from lazyvol.testing.nifti import write_phantom_nifti

SHAPE = (7, 6, 5)


def _nifti(tmp_path, seed: int = 3):
    path = write_phantom_nifti(tmp_path / "a.nii", SHAPE, dtype="int16", seed=seed)
    return path, nib.load(path)


def _refs_file(tmp_path, refs: dict) -> str:
    fo = tmp_path / "refs.json"
    fo.write_text(json.dumps(refs), encoding="utf-8")
    return str(fo)


def _foreign(tmp_path, target: str, nii) -> str:
    """Another tool's kerchunk references (no identity recorded) to ``nii``'s voxels in
    ``target``, an OME-Zarr 0.4 image (z, y, x): one chunk per slice."""
    return _refs_file(tmp_path, nifti_image_refs(target, nii))


def _other_pixels(path: str) -> bytes:
    """The bytes of ``path`` with every voxel value changed, same size and header."""
    nii = nib.load(path)
    raw = bytearray(open(path, "rb").read())
    offset = int(nii.dataobj.offset)
    data = np.frombuffer(bytes(raw[offset:]), dtype=nii.get_data_dtype()).copy()
    raw[offset:] = (data + 1).tobytes()
    return bytes(raw)


# -- targets changed since the references were made ----------------------------------------------


def test_a_local_nifti_rewritten_after_its_references_is_refused(tmp_path):
    """Its references record its size, mtime, inode and ctime; zarr and fsspec never check them,
    so lv.open('reference://') read the new voxels at the old offsets without a word."""
    path, _ = _nifti(tmp_path)
    fo = _refs_file(tmp_path, lv.references(path))
    vol = lv.open("reference://", storage_options={"fo": fo})
    stat = os.stat(path)
    with open(path, "r+b") as f:  # same size, other voxels, even the mtime put back
        f.write(_other_pixels(path))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(SourceChangedError, match=r"a\.nii.*make the references again"):
        vol.compute()
    with pytest.raises(SourceChangedError, match=r"a\.nii"):  # opened again: the same
        lv.open("reference://", storage_options={"fo": fo}).compute()
    given = json.loads(open(fo, encoding="utf-8").read())  # (references given as a mapping)
    with pytest.raises(SourceChangedError, match=r"a target of the references is no longer"):
        lv.open("reference://", storage_options={"fo": given}).compute()


def test_a_dicom_file_rewritten_after_its_series_references_is_refused(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (12, 10, 4))
    fo = _refs_file(tmp_path, lv.references(tmp_path / "s"))
    vol = lv.open("reference://", storage_options={"fo": fo})
    expected = np.stack([pydicom.dcmread(f).pixel_array.T for f in truth.files], axis=-1)
    np.testing.assert_array_equal(np.asarray(vol[:, :, 0:1].compute())[..., 0], expected[..., 0])
    victim = truth.files[2]
    ds = pydicom.dcmread(victim)
    ds.PixelData = np.full_like(ds.pixel_array, 1234).tobytes()
    ds.save_as(victim)
    with pytest.raises(SourceChangedError, match=os.path.basename(victim)):
        vol.compute()


def test_an_http_object_replaced_after_its_references_is_refused(
    tmp_path, hostile_server: HostileServer
):
    path, nii = _nifti(tmp_path)
    url = hostile_server.put("v/a.nii", open(path, "rb").read())
    fo = _refs_file(tmp_path, lv.references(url))
    vol = lv.open("reference://", storage_options={"fo": fo})
    np.testing.assert_array_equal(np.asarray(vol.compute()), nii.dataobj.get_unscaled())
    hostile_server.obj("v/a.nii").data = _other_pixels(path)  # its ETag with it
    with pytest.raises(SourceChangedError, match=r"v/a\.nii.*make the references again"):
        vol.compute()


def test_an_s3_object_replaced_after_its_references_is_refused(tmp_path, s3_server: S3, s3_bucket):
    path, nii = _nifti(tmp_path)
    s3_server.client.put_object(Bucket=s3_bucket, Key="v/a.nii", Body=open(path, "rb").read())
    opts = s3_server.options()
    fo = _refs_file(tmp_path, lv.references(f"s3://{s3_bucket}/v/a.nii", storage_options=opts))
    options = {"fo": fo, "remote_protocol": "s3", "remote_options": opts}
    vol = lv.open("reference://", storage_options=options)
    np.testing.assert_array_equal(np.asarray(vol.compute()), nii.dataobj.get_unscaled())
    s3_server.client.put_object(Bucket=s3_bucket, Key="v/a.nii", Body=_other_pixels(path))
    with pytest.raises(SourceChangedError, match=r"v/a\.nii.*ETag"):
        vol.compute()


# -- servers that misbehave ---------------------------------------------------------------------


def test_a_206_of_other_bytes_is_refused_naming_the_target(tmp_path, hostile_server):
    """A server answering a range with other bytes (its Content-Range saying so) had those bytes
    decoded as the chunk: fsspec's HTTP reads never look at Content-Range."""
    path, nii = _nifti(tmp_path)
    url = hostile_server.put("v/a.nii", open(path, "rb").read(), shift=2)
    vol = lv.open("reference://", storage_options={"fo": _foreign(tmp_path, url, nii)})
    with pytest.raises(RemoteReadError, match=r"v/a\.nii"):
        vol.compute()


@pytest.mark.parametrize(
    "behaviour", [{"norange": True}, {"halve": True}, {"status_get": 503, "status_times": 2}]
)
def test_servers_ignoring_range_cutting_answers_or_failing_at_first_give_the_values(
    tmp_path, hostile_server, behaviour
):
    """A whole-object 200, 206s of half the bytes asked, two 503s: the chunk's bytes (cut from
    the whole, the rest fetched, tried again), where fsspec's read gave zarr the whole object or
    half a chunk (a RemoteReadError quoting zarr's "cannot reshape", blaming no server) or failed."""
    path, nii = _nifti(tmp_path)
    url = hostile_server.put("v/a.nii", open(path, "rb").read(), **behaviour)
    vol = lv.open("reference://", storage_options={"fo": _foreign(tmp_path, url, nii)})
    got = np.asarray(vol.compute())
    np.testing.assert_array_equal(got, nii.dataobj.get_unscaled())


def test_a_stalling_target_times_out_without_remote_protocol(tmp_path, hostile_server, monkeypatch):
    """Targets named only in the references (no remote_protocol: fsspec makes their filesystem
    from the first URL) got none of lazyvol's timeouts: a stalling server held a read for as
    long as it stalled (aiohttp's five minutes)."""
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "0.2")
    path, nii = _nifti(tmp_path)
    url = hostile_server.put("v/a.nii", open(path, "rb").read())
    vol = lv.open("reference://", storage_options={"fo": _foreign(tmp_path, url, nii)})
    hostile_server.obj("v/a.nii").stall = 3.0
    with pytest.raises(RemoteTimeoutError, match=r"v/a\.nii"):
        vol.compute()


def test_references_read_from_a_stalling_server_time_out(tmp_path, hostile_server, monkeypatch):
    """References read from a URL (``fo`` an https:// file) were fetched with fsspec's defaults
    (aiohttp's five minutes), whatever LAZYVOL_REMOTE_TIMEOUT said: a stalling server held the
    open as long as it stalled."""
    path, nii = _nifti(tmp_path)
    url = hostile_server.put("v/a.nii", open(path, "rb").read())
    fo = hostile_server.put("refs.json", json.dumps(lv.references(url)).encode())
    vol = lv.open("reference://", storage_options={"fo": fo}, scale=False)
    np.testing.assert_array_equal(np.asarray(vol.compute()), nii.dataobj.get_unscaled())
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "0.2")
    hostile_server.obj("refs.json").stall = 3.0
    with pytest.raises(RemoteTimeoutError, match=r"refs\.json"):
        lv.open("reference://", storage_options={"fo": fo})


def test_references_to_a_dicom_series_on_a_server_ignoring_range_are_refused(
    tmp_path, hostile_server
):
    """A native series' files are read whole by the scan, so a server answering every ranged GET
    with the whole file went unseen, and references were written whose chunks any reference
    reader (fsspec, zarr) fetches as whole files (a reshape error, or other bytes)."""
    from lazyvol.errors import UnsupportedError

    truth = write_dicom_series(tmp_path / "s", (12, 10, 4))
    hostile_server.index_pages = True
    for f in truth.files:
        hostile_server.put(f"s/{os.path.basename(f)}", open(f, "rb").read(), norange=True)
    with pytest.raises(UnsupportedError, match=r"IM\d+\.dcm: the server ignores Range requests"):
        lv.references(f"{hostile_server.url}/s/")
    for f in truth.files:  # (one that honours Range: the references, read by zarr's recipe)
        hostile_server.obj(f"s/{os.path.basename(f)}").norange = False
    refs = lv.references(f"{hostile_server.url}/s/")
    vol = lv.open("reference://", storage_options={"fo": _refs_file(tmp_path, refs)})
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)


def _whole_file_refs(tmp_path, urls: list[str], shape: tuple[int, int], dtype: str) -> str:
    """kerchunk references whose chunks are whole files (``[url]``: one 2D slice a file), an
    OME-Zarr 0.4 image (z, y, x)."""
    refs = ome_image_refs((len(urls), *shape), dtype, [[u] for u in urls])
    return _refs_file(tmp_path, refs)


def test_whole_file_references_are_read_by_the_byte_layer(tmp_path, hostile_server, monkeypatch):
    """References whose chunks are whole files (``[url]``) were fetched by fsspec's target
    filesystem: no lazyvol timeout without remote_protocol (a stalling server held the read as
    long as it stalled). Local targets too now: a missing one is named."""
    slices = np.random.default_rng(4).integers(-900, 900, (3, 5, 6)).astype("<i2")
    urls = [hostile_server.put(f"z{z}.raw", slices[z].tobytes()) for z in range(3)]
    fo = _whole_file_refs(tmp_path, urls, (5, 6), "<i2")
    vol = lv.open("reference://", storage_options={"fo": fo})
    np.testing.assert_array_equal(np.asarray(vol.compute()), slices.transpose(2, 1, 0))
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "0.2")
    hostile_server.obj("z1.raw").stall = 3.0
    with pytest.raises(RemoteTimeoutError, match=r"z1\.raw"):
        lv.open("reference://", storage_options={"fo": fo}).compute()

    paths = []
    for z in range(3):
        paths.append(str(tmp_path / f"z{z}.raw"))
        (tmp_path / f"z{z}.raw").write_bytes(slices[z].tobytes())
    fo = _whole_file_refs(tmp_path, paths, (5, 6), "<i2")
    vol = lv.open("reference://", storage_options={"fo": fo})
    np.testing.assert_array_equal(np.asarray(vol.compute()), slices.transpose(2, 1, 0))
    os.remove(paths[2])
    with pytest.raises(lv.LazyvolError, match=r"z2\.raw"):
        vol.compute()
