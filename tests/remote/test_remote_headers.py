"""``vol.header`` of a NIfTI / Analyze volume opened from a URL: read again from the object (the
header and its extensions), equal to nibabel's reading of the same file, checked against the
object's stamp at open. Real loopback servers (http.server, moto's S3)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.openers import ImageOpener
from remote_servers import S3, HttpServer
from test_remote_cli_references import flags, run

import lazyvol as lv
from lazyvol.errors import SourceChangedError
from lazyvol.headers import HeaderError


def _image(tmp_path: Path, name: str, seed: int = 0) -> Path:
    """A small image of the kind ``name`` says (NIfTI-1/2 with an extension, a pair, Analyze)."""
    arr = np.random.default_rng(seed).integers(0, 900, (6, 5, 4)).astype(np.int16)
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    if name.startswith("analyze"):
        img: nib.spatialimages.SpatialImage = nib.AnalyzeImage(arr, affine)
    elif name.startswith("two"):
        img = nib.Nifti2Image(arr, affine)
    elif name.endswith(".hdr"):
        img = nib.Nifti1Pair(arr, affine)
    else:
        img = nib.Nifti1Image(arr, affine)
    if isinstance(img, nib.Nifti1Pair):  # (NIfTI-1 and -2, one file or a pair)
        img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"lazyvol test comment"))
    path = tmp_path / name
    nib.save(img, path)
    return path


def _nibabel_header(path: Path) -> nib.spatialimages.SpatialHeader:
    """nibabel's own reading of the header file, as stored (nib.load's header class)."""
    img = nib.load(path)
    holder = img.file_map.get("header") or img.file_map["image"]
    with ImageOpener(holder.filename) as f:
        return type(img.header).from_fileobj(f, check=False)


def _same(got: nib.spatialimages.SpatialHeader, want: nib.spatialimages.SpatialHeader) -> None:
    assert type(got) is type(want)
    assert got.binaryblock == want.binaryblock
    exts = [(e.get_code(), e.get_content()) for e in getattr(want, "extensions", [])]
    assert [(e.get_code(), e.get_content()) for e in getattr(got, "extensions", [])] == exts


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz", "two.nii", "p.hdr", "analyze.hdr"])
def test_header_of_a_nifti_over_http_equals_nibabels(tmp_path, http_server: HttpServer, name):
    """The header of a remote NIfTI said "the NIfTI source of this volume is gone"."""
    path = _image(tmp_path, name)
    for f in tmp_path.iterdir():
        http_server.put(f.name, f.read_bytes())
    vol = lv.open(f"{http_server.url}/{name}")
    want = _nibabel_header(path)
    _same(vol.header, want)
    _same(vol[:, :, 1:3].header, want)  # a cut volume: its source's header


def test_header_of_a_replaced_object_is_refused(tmp_path, http_server: HttpServer):
    url = http_server.put("c.nii", _image(tmp_path, "c.nii", seed=1).read_bytes())
    vol = lv.open(url)
    http_server.put("c.nii", _image(tmp_path, "o.nii", seed=2).read_bytes())
    with pytest.raises(SourceChangedError, match=r"c\.nii: the object changed"):
        _ = vol.header
    computed = lv.Volume(vol.data + 1, vol.affine, meta=vol.meta, source=vol.source)
    with pytest.raises(HeaderError, match="computed from a remote NIfTI"):
        _ = computed.header


def test_header_of_a_nifti_on_s3_and_on_the_command_line(tmp_path, s3_server: S3, s3_bucket):
    path = _image(tmp_path, "s.nii")
    s3_server.client.put_object(Bucket=s3_bucket, Key="s.nii", Body=path.read_bytes())
    url = f"s3://{s3_bucket}/s.nii"
    vol = lv.open(url, storage_options=s3_server.options())
    _same(vol.header, _nibabel_header(path))
    r = run(tmp_path, "info", url, "--header", *flags(s3_server))
    assert r.returncode == 0, r.stderr
    assert r.stdout == run(tmp_path, "info", path, "--header").stdout  # (nibabel's, local)
    assert "magic           : b'n+1'" in r.stdout
    # the object replaced since: refused, not another object's header
    s3_server.client.put_object(Bucket=s3_bucket, Key="s.nii", Body=path.read_bytes()[:-2])
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        _ = vol.header


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz", "two.nii", "p.hdr"])
def test_header_of_a_url_whose_extensions_pass_the_cap(tmp_path, http_server, monkeypatch, name):
    """Extensions past the header bytes open reads (16 MiB; 4 KiB here) are valid, and open
    reads the image: its header raised "nibabel cannot read the header: failed to read
    extension content" (the bytes read cut the extension). Now: the fields and the extensions
    before the cut, with a warning naming the rest unread."""
    import lazyvol.nifti_header as lvh

    monkeypatch.setattr(lvh, "MAX_HEADER_BYTES", 4096)
    path = _image(tmp_path, name)
    img = nib.load(path, mmap=False)  # (a pair's .img is rewritten: not read through a map)
    img = type(img)(np.asanyarray(img.dataobj), img.affine, img.header)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"y" * 9000))
    nib.save(img, path)
    for f in tmp_path.iterdir():
        http_server.put(f.name, f.read_bytes())
    want = _nibabel_header(path)
    assert len(want.extensions) == 2
    vol = lv.open(f"{http_server.url}/{name}")
    with pytest.warns(RuntimeWarning, match=r"extensions past its first .*1 before them"):
        got = vol.header
    assert got.binaryblock == want.binaryblock
    first = want.extensions[0]
    assert [(e.get_code(), e.get_content()) for e in got.extensions] == [
        (first.get_code(), first.get_content())
    ]
