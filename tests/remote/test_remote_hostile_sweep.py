"""A sweep of misbehaving HTTP servers over each kind of remote source lazyvol reads (a ``.nii``,
a ``.nii.gz``, a DICOM folder behind index pages, a lazyvol Zarr store, kerchunk references to a
``.nii``), each behaviour switched on after ``open`` so that the reads of ``compute`` meet it:
the voxels nibabel / pydicom read from the local files, or a typed lazyvol error naming the URL
and what the server did; never other values."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from hostile_server import HostileServer

import lazyvol as lv
from lazyvol.errors import RemoteReadError
from lazyvol.testing.dicom import write_dicom_series
from lazyvol.testing.nifti import write_phantom_nifti

#: Attempts of a request answered by a server error (lazyvol._retry.ATTEMPTS).
ATTEMPTS = 3
KINDS = ("nii", "niigz", "dicom", "zarr", "refs")


def _source(tmp_path: Path, server: HostileServer, kind: str) -> tuple[str, Any, np.ndarray, list]:
    """(URL, storage_options, the truth, the served names whose reads compute makes)."""
    server.index_pages = True
    if kind == "dicom":
        truth = write_dicom_series(tmp_path / "s", (12, 10, 4))
        names = [f"s/{os.path.basename(f)}" for f in truth.files]
        for name, f in zip(names, truth.files, strict=True):
            server.put(name, Path(f).read_bytes())
        return f"{server.url}/s/", None, truth.stored, names
    path = write_phantom_nifti(
        tmp_path / ("a.nii.gz" if kind == "niigz" else "a.nii"), (40, 30, 20)
    )
    truth = np.asarray(nib.load(path).dataobj.get_unscaled())
    if kind == "zarr":
        lv.open(path, scale=False).to_zarr(tmp_path / "a.zarr")
        names = []
        for f in sorted((tmp_path / "a.zarr").rglob("*")):
            if f.is_file():
                names.append(f"a.zarr/{f.relative_to(tmp_path / 'a.zarr')}")
                server.put(names[-1], f.read_bytes())
        return f"{server.url}/a.zarr", None, truth, [n for n in names if "/c/" in n]
    name = os.path.basename(path)
    url = server.put(name, Path(path).read_bytes())
    if kind != "refs":
        return url, None, truth, [name]
    fo = tmp_path / "refs.json"
    fo.write_text(json.dumps(lv.references(url)), encoding="utf-8")
    return "reference://", {"fo": str(fo)}, truth, [name]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_then_success_give_the_voxels(tmp_path, hostile_server, kind, status):
    """Two answers HTTP ``status`` for each file, then the file: tried again (bounded), the
    voxels. A 500 was not tried again (a Zarr store's chunk read, a ranged read: the compute
    failed on one transient Internal Server Error, where botocore and gcsfs retry it)."""
    url, opts, truth, names = _source(tmp_path, hostile_server, kind)
    vol = lv.open(url, scale=False, storage_options=opts)
    for name in names:
        obj = hostile_server.obj(name)
        obj.status_get, obj.status_times = status, obj.requests + ATTEMPTS - 1
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth)


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_failing_for_good_is_asked_a_bounded_number_of_times(
    tmp_path, hostile_server, kind
):
    url, opts, _truth, names = _source(tmp_path, hostile_server, kind)
    vol = lv.open(url, scale=False, storage_options=opts)
    before = {name: len(hostile_server.gets(name)) for name in names}
    for name in names:
        hostile_server.obj(name).status_get = 500
    with pytest.raises(RemoteReadError, match=r"HTTP 500"):
        vol.compute()
    asked = [len(hostile_server.gets(name)) - before[name] for name in names]
    assert 0 < max(asked) <= ATTEMPTS * 2  # (a gzip member's read and its follow-up at most)


#: Behaviours of :class:`hostile_server.Hostile` with what the compute must give: the voxels, or
#: a typed error whose message matches (after the URL of the file read).
SWEEP = {
    "range-ignored": ({"norange": True}, None),
    "other-bytes-206": ({"shift": 3}, None),  # (its Content-Range says so: the rest is asked)
    "capped-206": ({"cap": 997}, None),
    "longer-206": ({"more": 50}, None),
    "cut-once": ({"cut_times": 1}, None),
    "gzip-encoded": ({"gzip_body": True}, r"Content-Encoding: gzip"),
    "encoding-label": ({"encoding_label": "br"}, r"Content-Encoding: br"),
    "stalling": ({"stall": 2.0}, r"no response for 0\.5 s|LAZYVOL_REMOTE_DEADLINE"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(SWEEP))
def test_hostile_servers_give_the_voxels_or_a_typed_error(
    tmp_path, hostile_server, kind, case, monkeypatch
):
    from lazyvol import _io
    from lazyvol.errors import LazyvolError

    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "0.5")
    monkeypatch.setenv("LAZYVOL_REMOTE_DEADLINE", "3")
    _io.clear_filesystems()
    behaviour, refusal = SWEEP[case]
    url, opts, truth, names = _source(tmp_path, hostile_server, kind)
    vol = lv.open(url, scale=False, storage_options=opts)
    for name in names:
        for field, value in behaviour.items():
            setattr(hostile_server.obj(name), field, value)
    if refusal is None:
        np.testing.assert_array_equal(np.asarray(vol.compute()), truth)
        return
    with pytest.raises(LazyvolError, match=r"http://127\.0\.0\.1:\d+/\S+: .*" + f"({refusal})"):
        vol.compute()


@pytest.mark.parametrize("kind", KINDS)
def test_an_object_replaced_after_open_is_refused(tmp_path, hostile_server, kind):
    """Every file read by compute replaced by other bytes of the same size (a new ETag): a
    SourceChangedError (for a lazyvol store, an IntegrityError: its chunks fail the checksums
    its manifest holds), never the new bytes."""
    from lazyvol.errors import IntegrityError, SourceChangedError

    url, opts, _truth, names = _source(tmp_path, hostile_server, kind)
    vol = lv.open(url, scale=False, storage_options=opts)
    for name in names:
        obj = hostile_server.obj(name)
        data = bytearray(obj.data)
        data[-1] ^= 0xFF  # (the last voxel, or the last byte of a chunk or gzip member)
        obj.data = bytes(data)
    refused = IntegrityError if kind == "zarr" else SourceChangedError
    with pytest.raises(refused, match=r"c/0/0/0 fails its crc32c" if kind == "zarr" else "changed"):
        vol.compute()


@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_to_another_host_is_followed_without_the_credentials(
    tmp_path, hostile_server, kind
):
    """Each file redirected (302) to the same file on another server: the voxels; the
    Authorization header given in storage_options never reaches the other host (aiohttp drops
    it across origins)."""
    import hostile_server as hs
    from remote_servers import free_port, serving

    url, opts, truth, names = _source(tmp_path, hostile_server, kind)
    secret = {"headers": {"Authorization": "Bearer s3cr3t"}}
    if kind == "refs":
        opts = {**opts, "remote_options": secret}
    else:
        opts = secret
    vol = lv.open(url, scale=False, storage_options=opts)
    port = free_port()
    other = hs.HostileServer(url=f"http://127.0.0.1:{port}")
    seen: list[str] = []
    handler = hs._handler(other)

    class Recording(handler):  # type: ignore[misc,valid-type]
        def _serve(self, body: bool) -> None:
            seen.append(str(self.headers.get("Authorization")))
            super()._serve(body)

    with serving(Recording, port):
        for name in names:
            other.put(name, hostile_server.obj(name).data)
            hostile_server.obj(name).redirect_to = f"{other.url}/{name}"
        np.testing.assert_array_equal(np.asarray(vol.compute()), truth)
    assert seen and set(seen) == {"None"}
