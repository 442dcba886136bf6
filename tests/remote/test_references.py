"""Virtual Zarr references (lazyvol.references) read by zarr, xarray and fsspec's reference
filesystem, compared with nibabel, the synthetic truth and lazyvol.open."""

from __future__ import annotations

import itertools
import json

import fsspec
import nibabel as nib
import numpy as np
import pytest
import zarr
from remote_servers import S3, S3_SECRET, HttpServer

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import FormatError, UnsupportedError
from lazyvol.refs import references
from lazyvol.testing.dicom import write_dicom_series, write_enhanced_dicom
from lazyvol.testing.nifti import write_phantom_nifti

xr = pytest.importorskip("xarray", reason="xarray is in the test extra")


def _store(refs, remote_protocol=None, remote_options=None):
    """The recipe any zarr 3 user follows: fsspec's reference filesystem, made asynchronous for
    remote targets (zarr's FsspecStore needs an asynchronous filesystem)."""
    if remote_protocol is None:
        fs = fsspec.filesystem("reference", fo=refs)
        return fs.get_mapper("")
    fs = fsspec.filesystem(
        "reference",
        fo=refs,
        remote_protocol=remote_protocol,
        remote_options={**(remote_options or {}), "asynchronous": True},
        asynchronous=True,
    )
    return zarr.storage.FsspecStore(fs, read_only=True, path="")


def _group(refs, **remote):
    return zarr.open_group(_store(refs, **remote), mode="r", zarr_format=2)


def _dataset(refs, **remote):
    return xr.open_dataset(_store(refs, **remote), engine="zarr", consolidated=True)


def _ijk(a: np.ndarray) -> np.ndarray:
    """Stored axes (k, j, i, ...) back to lazyvol's (i, j, k, ...)."""
    return a.transpose(2, 1, 0, *range(3, a.ndim))


# -- NIfTI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize(
    ("shape", "dtype", "slope", "inter"),
    [((20, 24, 12), "int16", 2.5, -10.0), ((9, 7, 6, 3), "float32", 1.0, 0.0)],
)
def test_nifti_references_read_the_stored_and_scaled_values(
    tmp_path, shape, dtype, slope, inter, big_endian
):
    path = write_phantom_nifti(
        tmp_path / "a.nii", shape, dtype=dtype, slope=slope, inter=inter, big_endian=big_endian
    )
    img = nib.load(path)
    refs = references(path, chunk_bytes=shape[0] * shape[1] * np.dtype(dtype).itemsize * 4)
    json.dumps(refs)  # serialisable as it is
    g = _group(refs)
    arr = g["image"]
    want_dtype = np.dtype(dtype).newbyteorder(">" if big_endian else "<")
    assert arr.dtype == want_dtype
    assert arr.shape == (shape[2], shape[1], shape[0], *shape[3:])
    assert arr.fill_value is None or g["image"].metadata.fill_value is None
    stored = np.asarray(img.dataobj.get_unscaled())
    np.testing.assert_array_equal(_ijk(arr[...]), stored)
    np.testing.assert_array_equal(_ijk(arr[...]), lv.open(path, scale=False).compute())
    # Slabs divide k exactly (Zarr v2 stores edge chunks at full size).
    assert shape[2] % arr.chunks[0] == 0 and arr.chunks[1:3] == (shape[1], shape[0])
    # xarray applies the CF scale_factor/add_offset: the real values.
    ds = _dataset(refs)
    assert list(ds["image"].dims) == ["k", "j", "i", *(["t"] if len(shape) > 3 else [])]
    np.testing.assert_allclose(_ijk(ds["image"].values), img.get_fdata(), rtol=1e-6)
    np.testing.assert_allclose(_ijk(ds["image"].values), lv.open(path).compute(), rtol=1e-6)
    attrs = ds.attrs["lazyvol"]
    np.testing.assert_allclose(np.array(attrs["affine"]), img.affine)
    assert attrs["stored_axes"][:3] == ["k", "j", "i"]


def test_written_references_open_from_the_file(tmp_path):
    from lazyvol.refs import write_references

    path = write_phantom_nifti(tmp_path / "w.nii", (6, 5, 4), dtype="int16", slope=2.0)
    out = write_references(references(path), tmp_path / "w.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.nii"]  # no temp left
    g = zarr.open_group(
        fsspec.filesystem("reference", fo=out).get_mapper(""), mode="r", zarr_format=2
    )
    np.testing.assert_array_equal(
        _ijk(g["image"][...]), np.asarray(nib.load(path).dataobj.get_unscaled())
    )


def test_nifti_chunks_cover_exactly_the_data_bytes(tmp_path):
    shape = (5, 4, 7, 2)  # 7 slices: a prime, so one slice per chunk when 7 do not fit
    path = write_phantom_nifti(tmp_path / "p.nii", shape, dtype="uint16")
    refs = references(path, chunk_bytes=5 * 4 * 2 * 3)["refs"]
    chunks = sorted(v[1:] for k, v in refs.items() if k.startswith("image/") and "/." not in k)
    offset = int(nib.load(path).dataobj.offset)
    assert chunks[0][0] == offset
    assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(chunks))
    assert sum(n for _, n in chunks) == 5 * 4 * 7 * 2 * 2
    assert json.loads(refs["image/.zarray"])["chunks"] == [1, 4, 5, 1]


def test_slab_is_the_largest_divisor_within_the_budget(tmp_path, monkeypatch):
    from lazyvol import refs as refs_mod

    for nk in range(1, 80):
        for limit in (1, 2, 3, 7, 10, 100):
            want = max(d for d in range(1, nk + 1) if nk % d == 0 and d <= limit)
            assert refs_mod._slab(nk, 8, 8 * limit) == want
    assert refs_mod._slab(2**31 - 1, 1, 2**20) == 1  # a prime: fast, one slice per chunk
    # Too many chunk references for the budget: refused before building them.
    path = write_phantom_nifti(tmp_path / "n.nii", (2, 2, 7), dtype="uint8")
    monkeypatch.setattr(refs_mod, "MAX_CHUNK_REFS", 6)
    with pytest.raises(lv.ResourceLimitError, match="needs 7 chunk references"):
        references(path, chunk_bytes=4)


def test_analyze_pair_references_point_at_the_img(tmp_path):
    data = np.arange(6 * 5 * 4, dtype="<i2").reshape(6, 5, 4)
    nib.save(nib.Nifti1Pair(data, np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "pair.hdr")
    refs = references(tmp_path / "pair.hdr")
    urls = {v[0] for k, v in refs["refs"].items() if isinstance(v, list)}
    assert urls == {str(tmp_path / "pair.img")}
    g = _group(refs)
    np.testing.assert_array_equal(_ijk(g["image"][...]), data)


@pytest.mark.parametrize("name", ["pair.hdr", "pair.img", "PAIR.HDR"])
def test_pair_references_need_no_header_nibabel_can_load(tmp_path, name):
    """A pair whose .hdr holds an extension of esize 9 then zero padding (as niftilib writes and
    stops at) opens with lazyvol, but references() found the pair's files with nibabel.load,
    which refuses that header: a bare ValueError ("read length must be non-negative") escaped.
    The files are now found by their names, as lazyvol.open finds them."""
    data = np.arange(6 * 5 * 4, dtype="<i2").reshape(6, 5, 4)
    stem = name.split(".")[0]
    hdr = tmp_path / f"{stem}{'.HDR' if name.isupper() else '.hdr'}"
    nib.save(nib.Nifti1Pair(data, np.diag([2.0, 2.0, 3.0, 1.0])), tmp_path / "p.hdr")
    (tmp_path / "p.img").rename(hdr.with_suffix(".IMG" if name.isupper() else ".img"))
    raw = (tmp_path / "p.hdr").read_bytes()[:348]
    frame = np.array([9, 6], "<i4").tobytes() + b"x"  # esize 9, ecode 6 (comment), 1 byte
    hdr.write_bytes(raw + b"\x01\0\0\0" + frame + bytes(23))
    (tmp_path / "p.hdr").unlink()
    with pytest.raises(ValueError):  # (nibabel refuses the header)
        nib.load(hdr)
    np.testing.assert_array_equal(lv.open(tmp_path / name, scale=False).compute(), data)
    refs = references(tmp_path / name)
    urls = {v[0] for k, v in refs["refs"].items() if isinstance(v, list)}
    assert urls == {str(hdr.with_suffix(".IMG" if name.isupper() else ".img"))}
    np.testing.assert_array_equal(_ijk(_group(refs)["image"][...]), data)


@pytest.mark.parametrize("name", ["a.nii.gz", "a.img.gz"])
def test_gzip_is_refused_with_the_reason(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x1f\x8b" + b"\0" * 100)
    with pytest.raises(UnsupportedError, match=r"gzip .*cannot be entered at a byte offset"):
        references(path)


# -- DICOM -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "big"])
def test_dicom_references_equal_the_truth(tmp_path, syntax):
    truth = write_dicom_series(
        tmp_path / "s", (16, 20, 6), syntax=syntax, slope=2.0, intercept=-1024.0
    )
    refs = references(tmp_path / "s")
    g = _group(refs)
    arr = g["image"]
    assert arr.dtype == np.dtype(">i2" if syntax == "big" else "<i2")
    assert arr.chunks == (1, 20, 16)
    np.testing.assert_array_equal(_ijk(arr[...]), truth.stored)
    np.testing.assert_array_equal(_ijk(arr[...]), lv.open(tmp_path / "s", scale=False).compute())
    ds = _dataset(refs)
    np.testing.assert_allclose(_ijk(ds["image"].values), truth.stored * 2.0 - 1024.0)
    np.testing.assert_allclose(
        np.array(ds.attrs["lazyvol"]["affine"]), truth.affine, rtol=0, atol=1e-6
    )
    assert "files" not in ds.attrs["lazyvol"]["meta"]


@pytest.mark.parametrize(("dtype", "syntax"), [("float32", "explicit"), ("float64", "big")])
def test_dicom_float_pixel_data_references(tmp_path, dtype, syntax):
    # Float / Double Float Pixel Data: the references' dtype is the files' IEEE floats.
    truth = write_dicom_series(tmp_path / "s", (16, 20, 6), dtype=dtype, syntax=syntax)
    arr = _group(references(tmp_path / "s"))["image"]
    assert arr.dtype == np.dtype(dtype).newbyteorder(">" if syntax == "big" else "<")
    np.testing.assert_array_equal(_ijk(arr[...]), truth.stored)


def test_enhanced_multiframe_4d_references(tmp_path):
    truth = write_enhanced_dicom(tmp_path / "mf.dcm", (10, 12, 5), n_volumes=3, dtype="uint16")
    refs = references(tmp_path / "mf.dcm")
    g = _group(refs)
    assert g["image"].shape == (5, 12, 10, 3)
    np.testing.assert_array_equal(_ijk(g["image"][...]), truth.stored)


def test_dicom_per_slice_rescale_refused_or_expressed(tmp_path):
    slopes = [1.0, 1.0, 2.0, 0.5]
    inters = [0.0, -5.0, 3.0, 0.0]
    truth = write_dicom_series(tmp_path / "s", (8, 6, 4), slope=slopes, intercept=inters)
    with pytest.raises(UnsupportedError, match=r"RescaleSlope \(0028,1053\).*differ"):
        references(tmp_path / "s")
    refs = references(tmp_path / "s", per_slice_rescale="arrays")
    ds = _dataset(refs)
    assert "scale_factor" not in ds["image"].attrs
    real = ds["image"] * ds["rescale_slope"] + ds["rescale_intercept"]
    want = truth.stored * np.array(slopes) + np.array(inters)
    np.testing.assert_allclose(_ijk(real.transpose("k", "j", "i").values), want)


def test_dicom_unused_bits_checked(tmp_path):
    clean = write_dicom_series(tmp_path / "clean", (8, 6, 3), dtype="int16", bits_stored=12)
    refs = references(tmp_path / "clean")
    g = _group(refs)
    np.testing.assert_array_equal(_ijk(g["image"][...]), clean.stored)
    assert g.attrs["lazyvol"]["unused_bits_checked"] is True

    write_dicom_series(
        tmp_path / "dirty", (8, 6, 3), dtype="uint16", bits_stored=12, dirty_high_bits=True
    )
    with pytest.raises(UnsupportedError, match=r"unused high bits are set"):
        references(tmp_path / "dirty")
    refs = references(tmp_path / "dirty", check_unused_bits=False)
    assert json.loads(refs["refs"][".zattrs"])["lazyvol"]["unused_bits_checked"] is False


def _need_codecs() -> None:
    import numcodecs

    try:
        numcodecs.get_codec({"id": "imagecodecs_dicomrle", "dtype": "<u2"})
    except ValueError:
        pytest.skip("imagecodecs-numcodecs (in the test extra) is not installed")


def _recompress(files, syntax, encode, fragments_per_frame=1):
    """Re-encode each single-frame file with ``encode(pixel_array) -> bytes`` as ``syntax``."""
    import pydicom
    from pydicom.encaps import encapsulate

    for f in files:
        ds = pydicom.dcmread(f)
        frame = encode(ds.pixel_array)
        ds.PixelData = encapsulate([frame], fragments_per_frame=fragments_per_frame)
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        ds.save_as(f, enforce_file_format=True)


def test_compressed_dicom_rle_references_decode_with_the_codec(tmp_path):
    _need_codecs()
    truth = write_dicom_series(
        tmp_path / "rle", (8, 6, 3), compress="1.2.840.10008.1.2.5", slope=2.0, intercept=-3.0
    )
    refs = references(tmp_path / "rle")
    meta = json.loads(refs["refs"]["image/.zarray"])
    assert meta["compressor"]["id"] == "imagecodecs_dicomrle"
    g = _group(refs)
    np.testing.assert_array_equal(_ijk(g["image"][...]), truth.stored)
    ds = _dataset(refs)
    np.testing.assert_allclose(_ijk(ds["image"].values), truth.stored * 2.0 - 3.0)
    assert g.attrs["lazyvol"]["decoded_checked"] is True


def test_compressed_dicom_jpeg2000_and_multiframe(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    _need_codecs()
    truth = write_dicom_series(tmp_path / "j2k", (10, 7, 4), dtype="int16")
    _recompress(
        truth.files,
        "1.2.840.10008.1.2.4.90",
        lambda a: imagecodecs.jpeg2k_encode(a, level=0, reversible=True),
    )
    refs = references(tmp_path / "j2k")
    assert json.loads(refs["refs"]["image/.zarray"])["compressor"]["id"] == "imagecodecs_jpeg2k"
    np.testing.assert_array_equal(_ijk(_group(refs)["image"][...]), truth.stored)
    # A frame split over two fragments is not one byte range: refused, naming the reason.
    _recompress(
        truth.files[:1],
        "1.2.840.10008.1.2.4.90",
        lambda a: imagecodecs.jpeg2k_encode(a, level=0, reversible=True),
        fragments_per_frame=2,
    )
    with pytest.raises(UnsupportedError, match=r"stored in 2 fragments"):
        references(tmp_path / "j2k", use_index=False)
    # Enhanced multi-frame RLE, 4D: one fragment per frame inside one file.
    mf = write_enhanced_dicom(
        tmp_path / "mf.dcm", (6, 5, 3), n_volumes=2, compress="1.2.840.10008.1.2.5"
    )
    g = _group(references(tmp_path / "mf.dcm"))
    np.testing.assert_array_equal(_ijk(g["image"][...]), mf.stored)


def test_compressed_frames_whose_decode_differs_are_refused(tmp_path):
    _need_codecs()
    # Unused high bits set inside RLE data: pydicom clears them, the raw codec does not.
    write_dicom_series(
        tmp_path / "d",
        (8, 6, 3),
        dtype="uint16",
        bits_stored=12,
        dirty_high_bits=True,
        compress="1.2.840.10008.1.2.5",
    )
    with pytest.raises(UnsupportedError, match=r"slice k=0 \(.*\.dcm\) decoded through its Zarr"):
        references(tmp_path / "d")
    refs = references(tmp_path / "d", verify_decoded=False)  # the caller's explicit choice
    assert json.loads(refs["refs"][".zattrs"])["lazyvol"]["decoded_checked"] is False


def test_compressed_dicom_refused_without_a_codec(tmp_path, monkeypatch):
    import numcodecs

    write_dicom_series(tmp_path / "rle", (8, 6, 3), compress="1.2.840.10008.1.2.5")

    def missing(config):
        raise ValueError(f"codec not available: {config['id']!r}")

    monkeypatch.setattr(numcodecs, "get_codec", missing)
    with pytest.raises(UnsupportedError, match=r"pip install imagecodecs-numcodecs"):
        references(tmp_path / "rle")


# -- remote ----------------------------------------------------------------------------------------


def test_remote_nifti_references_over_http(tmp_path, http_server: HttpServer):
    shape = (16, 12, 8)
    path = write_phantom_nifti(tmp_path / "r.nii", shape, dtype="int16", slope=0.5, inter=1.0)
    url = http_server.put("vols/r.nii", open(path, "rb").read())
    http_server.reset_counts()
    refs = references(url, chunk_bytes=16 * 12 * 2 * 2)
    assert http_server.bytes_served <= 552  # the header only
    local = references(path, chunk_bytes=16 * 12 * 2 * 2)["refs"]
    remote = refs["refs"]
    chunk_keys = [k for k in local if k.startswith("image/") and "/." not in k]
    assert all(remote[k] == [url, *local[k][1:]] for k in chunk_keys)

    g = _group(refs, remote_protocol="http")
    http_server.reset_counts()
    one = g["image"][3]  # one slice: one chunk (2 slices) transferred, nothing more
    assert http_server.bytes_served == 2 * 16 * 12 * 2
    stored = np.asarray(nib.load(path).dataobj.get_unscaled())
    np.testing.assert_array_equal(one.T, stored[:, :, 3])
    ds = _dataset(refs, remote_protocol="http")
    np.testing.assert_allclose(_ijk(ds["image"].values), nib.load(path).get_fdata())


def test_remote_nifti_references_on_s3_hold_no_credentials(tmp_path, s3_server: S3, s3_bucket):
    path = write_phantom_nifti(tmp_path / "s.nii", (6, 5, 4), dtype="uint8")
    s3_server.client.put_object(Bucket=s3_bucket, Key="a/s.nii", Body=open(path, "rb").read())
    opts = s3_server.options()
    refs = references(f"s3://{s3_bucket}/a/s.nii", storage_options=opts)
    text = json.dumps(refs)
    assert S3_SECRET not in text and opts["key"] not in text
    g = _group(refs, remote_protocol="s3", remote_options=opts)
    np.testing.assert_array_equal(_ijk(g["image"][...]), np.asarray(nib.load(path).dataobj))


def test_references_to_an_object_key_holding_a_hash_name_that_object(
    tmp_path, s3_server: S3, s3_bucket
):
    """``s3://bucket/scan#2.nii`` is the object ``scan#2.nii`` (a key may hold "#"): the
    references named ``s3://bucket/scan`` (the "#..." taken for a URL fragment), so a reader got
    whatever object is stored there -- here a decoy of the same size."""
    path = write_phantom_nifti(tmp_path / "s.nii", (6, 5, 4), dtype="uint8", seed=1)
    decoy = write_phantom_nifti(tmp_path / "d.nii", (6, 5, 4), dtype="uint8", seed=2)
    s3_server.client.put_object(Bucket=s3_bucket, Key="scan#2.nii", Body=open(path, "rb").read())
    s3_server.client.put_object(Bucket=s3_bucket, Key="scan", Body=open(decoy, "rb").read())
    opts = s3_server.options()
    refs = references(f"s3://{s3_bucket}/scan#2.nii", storage_options=opts)
    targets = {v[0] for k, v in refs["refs"].items() if isinstance(v, list)}
    assert targets == {f"s3://{s3_bucket}/scan#2.nii"}
    g = _group(refs, remote_protocol="s3", remote_options=opts)
    np.testing.assert_array_equal(_ijk(g["image"][...]), np.asarray(nib.load(path).dataobj))


def test_a_query_that_selects_the_object_is_kept(tmp_path, http_server: HttpServer):
    """A download API serving ``/get?file=a.nii``, ``/get?file=b.nii`` (``/get`` alone: a default
    object): the references of B named ``/get`` (the query was dropped), so a Zarr reader got A's
    voxels; the identities of A and B were one. A parameter whose name a credential may have
    (``?key=1002``: a file's number, or an API key) is never shown nor saved, but the identities of
    two values differ (A's cache entry or dask keys never serve B), and references refuse it."""
    a = write_phantom_nifti(tmp_path / "a.nii", (6, 5, 4), dtype="int16", seed=1)
    b = write_phantom_nifti(tmp_path / "b.nii", (6, 5, 4), dtype="int16", seed=2)
    http_server.put("get", open(a, "rb").read())
    url_a = http_server.put("get?file=a.nii", open(a, "rb").read())
    url_b = http_server.put("get?file=b.nii", open(b, "rb").read())
    refs = references(url_b)
    targets = {v[0] for v in refs["refs"].values() if isinstance(v, list)}
    assert targets == {url_b}
    g = _group(refs, remote_protocol="http")
    np.testing.assert_array_equal(_ijk(g["image"][...]), np.asarray(nib.load(b).dataobj))
    # two objects, two identities (dask names, cache keys)
    assert _io.identity_url(url_a) != _io.identity_url(url_b)
    assert _io.Location.of(url_a).key() != _io.Location.of(url_b).key()
    np.testing.assert_array_equal(lv.open(url_b).compute(), nib.load(b).get_fdata())
    key_a = http_server.put("get?key=1001", open(a, "rb").read())
    key_b = http_server.put("get?key=1002", open(b, "rb").read())
    assert _io.identity_url(key_a) != _io.identity_url(key_b)
    for url in (key_a, key_b):
        for shown in (_io.identity_url(url), _io.display_url(url), repr(_io.Location.of(url))):
            assert "1001" not in shown and "1002" not in shown
    cached_a = lv.open(key_a, cache=True).compute()
    np.testing.assert_array_equal(cached_a, nib.load(a).get_fdata())
    np.testing.assert_array_equal(lv.open(key_b, cache=True).compute(), nib.load(b).get_fdata())
    with pytest.raises(UnsupportedError, match=r"may be credentials \(key\)") as info:
        references(key_b)
    assert "1002" not in str(info.value)


@pytest.mark.parametrize(
    "query",
    [
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAQ%2F1&X-Amz-Signature=c0ffee99",
        "sv=2022-11-02&sp=r&se=2030-01-01&sig=c0ffee99",  # an Azure SAS
        "key=r.nii&token=c0ffee99",
    ],
    ids=["s3-presigned", "azure-sas", "token"],
)
def test_references_refuse_a_url_that_needs_credentials_in_its_query(
    tmp_path, http_server: HttpServer, query: str
):
    """Without its credentials such a URL reaches no object, or another: refused before any
    read, and the message holds no credential."""
    path = write_phantom_nifti(tmp_path / "r.nii", (6, 5, 4), dtype="int16")
    url = http_server.put("r.nii", open(path, "rb").read()) + "?" + query
    http_server.reset_counts()
    with pytest.raises(UnsupportedError, match="references cannot hold credentials") as info:
        references(url)
    assert "c0ffee99" not in str(info.value) and "storage_options" in str(info.value)
    assert http_server.requests == []


def test_remote_truncated_nifti_refused(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "t.nii", (16, 12, 8), dtype="int16")
    url = http_server.put("t.nii", open(path, "rb").read()[:-10])
    with pytest.raises(FormatError, match=r"t\.nii: truncated"):
        references(url)


def _bad_sform_nifti(path, fix) -> str:
    img = nib.Nifti1Image(np.arange(24, dtype="i2").reshape(2, 3, 4), None)
    qform = np.array([[-2.0, 0, 0, 10], [0, 3, 0, -5], [0, 0, 4, 7], [0, 0, 0, 1]])
    img.header.set_qform(qform, 1)
    img.header.set_sform(qform, 2)
    fix(img.header)
    nib.save(img, path)
    return str(path)


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("damage", ["nan", "zeros"])
def test_remote_nifti_references_use_lazyvols_affine_rules(
    tmp_path, http_server: HttpServer, damage
):
    """A remote .nii whose sform is NaN or all zeros (its qform usable): the references took
    nibabel's get_best_affine() of the raw header -- a NaN affine (a bare NaN in .zattrs, which
    strict JSON parsers refuse) or a singular one -- where lazyvol.open and local references
    use the qform. Remote references now give the same affine as lazyvol.open."""

    def fix(h) -> None:
        if damage == "nan":
            h["srow_x"][0] = np.nan
        else:
            for row in ("srow_x", "srow_y", "srow_z"):
                h[row][:] = 0

    path = _bad_sform_nifti(tmp_path / "b.nii", fix)
    url = http_server.put("b.nii", open(path, "rb").read())
    with pytest.warns(RuntimeWarning, match="qform affine is used"):
        expected = lv.open(path).affine
    with pytest.warns(RuntimeWarning, match="qform affine is used"):
        refs = references(url)
    attrs = _strict_json(refs["refs"][".zattrs"])
    np.testing.assert_array_equal(np.asarray(attrs["lazyvol"]["affine"]), expected)


def test_remote_nifti_without_a_usable_affine_is_refused(tmp_path, http_server: HttpServer):
    def fix(h) -> None:
        h.set_sform(None, 0)
        h["pixdim"][2] = np.inf

    url = http_server.put("i.nii", open(_bad_sform_nifti(tmp_path / "i.nii", fix), "rb").read())
    with pytest.raises(FormatError, match=r"i\.nii: no usable affine"):
        references(url)


# -- real scanner data (skipped without ../shared/dicom-real) --------------------------------------


def _real_root():
    import os
    from pathlib import Path

    env = os.environ.get("LAZYVOL_REAL_DICOM")
    root = Path(env) if env else Path(__file__).parents[3] / "shared" / "dicom-real"
    if not root.is_dir():
        pytest.skip(f"real scanner DICOM not found at {root} (set LAZYVOL_REAL_DICOM)")
    return root


@pytest.mark.parametrize(
    "series", ["dcm_qa_nih/In/20180918GE/mr_0004", "dcm_qa_mosaic/In/ep2d_Asc_2"]
)
def test_real_series_references_match_the_files(series):
    import pydicom

    from lazyvol.errors import LazyvolError

    path = _real_root() / series
    try:
        vol = lv.open(path, scale=False)
    except LazyvolError as exc:
        pytest.skip(f"lazyvol.open cannot open {series} on this branch: {type(exc).__name__}")
    try:
        refs = references(path)
    except UnsupportedError as exc:
        # A layout chunks cannot address (e.g. mosaic tiles) must be refused by name, not guessed.
        assert "cannot be referenced" in str(exc) or "not supported" in str(exc)
        return
    arr = _group(refs)["image"]
    np.testing.assert_array_equal(_ijk(arr[...]), vol.compute())
    # Independent check: the file each chunk points at, decoded by pydicom.
    first = "image/" + ".".join("0" for _ in range(arr.ndim))
    url = refs["refs"][first][0]
    np.testing.assert_array_equal(
        arr[(0, slice(None), slice(None), *(0 for _ in range(arr.ndim - 3)))],
        pydicom.dcmread(url).pixel_array,
    )


def test_frame_plans_with_layouts_unknown_here_are_refused(tmp_path):
    # A plan carrying a layout this module does not know (as Siemens mosaic tiles would) must be
    # refused, never referenced as if each frame were a whole slice.
    import dataclasses

    from lazyvol import _refs_dicom
    from lazyvol.chunking import plan_to_dask
    from lazyvol.dicom.pixels import DicomPlan, read_block

    @dataclasses.dataclass(frozen=True)
    class TiledPlan(DicomPlan):
        tiles: tuple[int, ...] = ()

    base = dict(
        paths=("a", "b"), offsets=(0, 0), sizes=(10, 10), lengths=(-1, -1), slopes=(1.0, 1.0),
        inters=(0.0, 0.0), rows=1, columns=2, nk=2, bits_allocated=16, bits_stored=16,
        signed=False, little_endian=True, swap_ow8=False, out_dtype="<u2", scale=False,
    )  # fmt: skip

    class Vol:
        def __init__(self, plan):
            self.data = plan_to_dask(read_block, plan, (2, 1, 2), ((2,), (1,), (2,)), "<u2", "x")

    assert _refs_dicom._dicom_plan(Vol(TiledPlan(**base)), "s") is not None  # default: fine
    with pytest.raises(UnsupportedError, match=r"tiles=\(0, 1\).*one contiguous byte range"):
        _refs_dicom._dicom_plan(Vol(TiledPlan(**base, tiles=(0, 1))), "s")


def test_cli_writes_references_that_zarr_reads(tmp_path):
    """`lazyvol references` (the real console script) writes a file fsspec + zarr open in place."""
    import json
    import shutil
    import subprocess

    import fsspec
    import nibabel as nib
    import zarr

    from lazyvol.testing import write_phantom_nifti

    src = write_phantom_nifti(tmp_path / "p.nii", (12, 10, 8), dtype="int16")
    out = tmp_path / "refs.json"
    exe = shutil.which("lazyvol")
    assert exe, "the lazyvol console script is not installed"
    run = subprocess.run(
        [exe, "references", str(src), "-o", str(out)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "chunk references" in run.stdout
    refs = json.loads(out.read_text())
    assert refs["version"] == 1
    mapper = fsspec.filesystem("reference", fo=str(out)).get_mapper("")
    arr = zarr.open_group(mapper, mode="r", zarr_format=2)["image"][...]
    truth = np.asanyarray(nib.load(src).dataobj.get_unscaled())
    np.testing.assert_array_equal(arr.transpose(2, 1, 0), truth)
    again = subprocess.run(
        [exe, "references", str(src), "-o", str(out)], capture_output=True, text=True
    )
    assert again.returncode == 2 and "--overwrite" in again.stderr
    gz = write_phantom_nifti(tmp_path / "p.nii.gz", (4, 4, 4))
    refused = subprocess.run(
        [exe, "references", str(gz), "-o", str(tmp_path / "gz.json")],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "gzip" in refused.stderr
    assert not (tmp_path / "gz.json").exists()


def test_check_references_notices_a_dicom_file_rewritten_at_the_same_size(tmp_path):
    """References of a DICOM series recorded no identity of its files: one rewritten with other
    pixels at the same size passed check_references, and zarr read the new pixels silently."""
    import os

    import pydicom

    from lazyvol.errors import SourceChangedError
    from lazyvol.refs import check_references

    truth = write_dicom_series(tmp_path / "s", (12, 10, 4))
    refs = references(tmp_path / "s")
    assert check_references(refs) == 4
    victim = truth.files[2]
    ds = pydicom.dcmread(victim)
    stat = os.stat(victim)
    ds.PixelData = np.full_like(ds.pixel_array, 1234).tobytes()
    ds.save_as(victim)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its mtime put back
    assert os.stat(victim).st_size == stat.st_size
    with pytest.raises(
        SourceChangedError, match=rf"{os.path.basename(victim)}: the target changed"
    ):
        check_references(refs)


def test_check_references_notices_a_replaced_dicom_object(tmp_path, s3_server: S3, s3_bucket):
    """The same for a series under a bucket prefix: each object's ETag is recorded."""
    from lazyvol.errors import SourceChangedError
    from lazyvol.refs import check_references

    truth = write_dicom_series(tmp_path / "s", (12, 10, 3))
    for f in truth.files:
        body = open(f, "rb").read()
        s3_server.client.put_object(Bucket=s3_bucket, Key=f"ser/{f.split('/')[-1]}", Body=body)
    opts = s3_server.options()
    refs = references(f"s3://{s3_bucket}/ser/", storage_options=opts)
    assert check_references(refs, storage_options=opts) == 3
    key = f"ser/{truth.files[1].split('/')[-1]}"
    raw = bytearray(open(truth.files[1], "rb").read())
    raw[-4:] = bytes(4) if raw[-4:] != bytes(4) else b"\x01\x02\x03\x04"  # pixels only
    s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(raw))
    with pytest.raises(SourceChangedError, match=r"the target changed .*ETag"):
        check_references(refs, storage_options=opts)


def test_a_nifti_named_without_a_suffix_is_referenced_by_its_content(
    tmp_path, http_server: HttpServer
):
    """A NIfTI under a name without a suffix (a content-addressed key) opens with lazyvol.open,
    which knows it by its magic; references sent it to the DICOM reader ("not a DICOM file")."""
    import gzip

    path = write_phantom_nifti(tmp_path / "x.nii", (10, 8, 6), dtype="int16", slope=2.0)
    raw = open(path, "rb").read()
    blob = tmp_path / "blob"
    blob.write_bytes(raw)
    url = http_server.put("objects/3f9a2c", raw)
    stored = np.asarray(nib.load(path).dataobj.get_unscaled())
    for source, remote in ((blob, {}), (url, {"remote_protocol": "http"})):
        refs = references(source)
        g = _group(refs, **remote)
        np.testing.assert_array_equal(_ijk(g["image"][...]), stored)
        ds = _dataset(refs, **remote)
        np.testing.assert_allclose(_ijk(ds["image"].values), nib.load(path).get_fdata())
        np.testing.assert_allclose(g.attrs["lazyvol"]["affine"], nib.load(path).affine)
    # a gzip stream without a suffix: the compressed-file refusal, not "not a DICOM file"
    packed = tmp_path / "packed"
    packed.write_bytes(gzip.compress(raw))
    gz_url = http_server.put("objects/77aa01", gzip.compress(raw))
    for source in (packed, gz_url):
        with pytest.raises(UnsupportedError, match="a compressed file cannot be referenced"):
            references(source)


def test_references_to_a_server_ignoring_range_are_refused(tmp_path, http_server: HttpServer):
    """A server answering every ranged GET with the whole object (``python -m http.server``):
    lazyvol's reads take their range from it, but a reference reader takes the whole body as the
    chunk (a reshape error, or for a compressed frame lazyvol's decode check blaming the codec)."""
    path = write_phantom_nifti(tmp_path / "r.nii", (16, 12, 8), dtype="int16")
    url = http_server.put("r.nii", open(path, "rb").read(), mode="norange")
    with pytest.raises(UnsupportedError, match=r"r\.nii: the server ignores Range requests"):
        references(url)
    _need_codecs()
    write_dicom_series(tmp_path / "rle", (8, 6, 1), compress="1.2.840.10008.1.2.5")
    (dcm,) = sorted((tmp_path / "rle").iterdir())
    url = http_server.put("one.dcm", dcm.read_bytes(), mode="norange")
    with pytest.raises(UnsupportedError, match=r"one\.dcm: the server ignores Range requests"):
        references(url)


def test_a_server_that_honours_range_again_is_referenced(
    tmp_path, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
):
    """A ranged read once answered whole (a passing proxy, a server since fixed) is no refusal for
    ever: a later read answered 206 clears the record, and only the last URLs are remembered."""
    from lazyvol import _http_range

    path = write_phantom_nifti(tmp_path / "r.nii", (16, 12, 8), dtype="int16")
    url = http_server.put("r.nii", open(path, "rb").read(), mode="norange")
    loc = _io.Location.of(url)
    assert _io.read(loc, 100, 50) == open(path, "rb").read()[100:150]
    assert _io.ignores_range(loc)
    http_server.objects["/r.nii"].mode = ""  # (Range honoured from now on)
    refs = references(url)
    assert not _io.ignores_range(loc)
    arr = _group(refs, remote_protocol="http")["image"]
    stored = np.asarray(nib.load(path).dataobj.get_unscaled())
    np.testing.assert_array_equal(_ijk(arr[...]), stored)
    monkeypatch.setattr(_http_range, "NORANGE_KEPT", 3)
    for n in range(5):
        other = http_server.put(f"o{n}", b"x" * 64, mode="norange")
        _io.read(_io.Location.of(other), 1, 2)
    assert len(_http_range._NORANGE) == 3 and _io.ignores_range(_io.Location.of(other))


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "",
        "[1]",
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"version": 1, "refs": [1, 2]}),
        json.dumps({"version": 1, "refs": {".zattrs": "{"}}),
        json.dumps({"version": 1, "refs": {".zattrs": "[]"}}),
        json.dumps({"version": 1, "refs": {".zattrs": "{}", "image/0.0.0": ["f", "a", "b"]}}),
        json.dumps({"version": 1, "refs": {".zattrs": {"lazyvol": {"targets": {"f": 3}}}}}),
    ],
    ids=["cut", "empty", "list", "deep", "refs-list", "attrs-cut", "attrs-list", "range", "target"],
)
def test_check_references_refuses_a_file_that_holds_no_references(tmp_path, text):
    """check_references of a damaged or foreign JSON file let out whatever its parsing met
    (JSONDecodeError, AttributeError, RecursionError, int() of a byte range's text): it now
    raises a FormatError naming the file."""
    src = write_phantom_nifti(tmp_path / "a.nii", (4, 5, 6))
    text = text.replace('"f"', json.dumps(src))
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=r"r\.json"):
        lv.refs.check_references(path)


def _foreign_references(target: str, data: np.ndarray, form: str) -> dict:
    """References to the raw C-order bytes of ``data`` in ``target`` as another tool writes
    them to kerchunk's version-1 spec: one chunk per row of axis 0, given plainly, through a
    template (``{{u}}``) or generated (``gen``, offsets computed from the index)."""
    n, nb = data.shape[0], data[0].nbytes
    zarray = {
        "zarr_format": 2,
        "shape": list(data.shape),
        "chunks": [1, *data.shape[1:]],
        "dtype": data.dtype.str,
        "compressor": None,
        "fill_value": None,
        "filters": None,
        "order": "C",
    }
    refs: dict = {".zgroup": '{"zarr_format": 2}', "a/.zarray": json.dumps(zarray)}
    doc: dict = {"version": 1, "refs": refs}
    tail = ".0" * (data.ndim - 1)
    if form == "plain":
        refs.update({f"a/{i}{tail}": [target, i * nb, nb] for i in range(n)})
    elif form == "templates":
        doc["templates"] = {"u": target}
        refs.update({f"a/{i}{tail}": ["{{u}}", i * nb, nb] for i in range(n)})
    else:
        doc["gen"] = [
            {
                "key": "a/{{i}}" + tail,
                "url": target,
                "offset": "{{i * " + str(nb) + "}}",
                "length": str(nb),
                "dimensions": {"i": {"stop": n}},
            }
        ]
    return doc


@pytest.mark.parametrize("form", ["plain", "templates", "gen"])
def test_check_references_expands_templates_and_generated_references(tmp_path, form):
    """References another tool wrote with kerchunk's templates (``["{{u}}", offset, length]``)
    were checked with the template's text as a file name ("{{u}}: a target of the references
    was removed" of valid references), and generated ones (``gen``) were not checked at all:
    check_references returned 0 for references whose file had been cut short since. Both are
    now expanded as the spec says, checked as the plain form is, and refuse a target cut short."""
    data = np.arange(4 * 5 * 6, dtype="<i2").reshape(4, 5, 6)
    target = tmp_path / "raw.bin"
    target.write_bytes(data.tobytes())
    doc = _foreign_references(str(target), data, form)
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    # an independent reader gets the data through these references
    fs = fsspec.filesystem("reference", fo=str(path), simple_templates=form != "gen")
    got = zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)["a"][...]
    np.testing.assert_array_equal(got, data)
    assert lv.refs.check_references(path) == 1
    assert lv.refs.check_references(doc) == 1
    target.write_bytes(data.tobytes()[: data.nbytes // 2])
    with pytest.raises(lv.SourceChangedError, match=r"raw\.bin"):
        lv.refs.check_references(path)


def test_check_references_refuses_what_it_cannot_read_with_a_typed_error(tmp_path):
    """A references version the spec does not define was read as version 1, and a folder of
    kerchunk's Parquet references let out IsADirectoryError: both are typed refusals now."""
    data = np.arange(24, dtype="<i2").reshape(2, 3, 4)
    target = tmp_path / "raw.bin"
    target.write_bytes(data.tobytes())
    doc = _foreign_references(str(target), data, "plain")
    with pytest.raises(UnsupportedError, match="version 2"):
        lv.refs.check_references({**doc, "version": 2})
    for url in ("{{ i * }}", "{{ ().__class__.__mro__ }}"):  # (Jinja's own errors: typed)
        bad = {**doc, "templates": {"u": str(target)}, "refs": {"a/0.0.0": [url, 0, 8]}}
        with pytest.raises(FormatError, match="does not render"):
            lv.refs.check_references(bad)
    folder = tmp_path / "refs.parq"
    folder.mkdir()
    (folder / ".zmetadata").write_text("{}")
    with pytest.raises(UnsupportedError, match="Parquet"):
        lv.refs.check_references(folder)


def _write_ome_references(path, raw, data: np.ndarray, scale: list[float]) -> None:
    """kerchunk references (version 1) at ``path`` of an OME-Zarr 0.4 image (z, y, x) of
    ``data``, its voxels in the raw file ``raw`` (written here), as another tool writes them."""
    raw.write_bytes(data.tobytes())
    refs = {
        k.replace("a/", "0/", 1): v
        for k, v in _foreign_references(str(raw), data, "plain")["refs"].items()
    }
    axes = [{"name": x, "type": "space", "unit": "millimeter"} for x in "zyx"]
    transforms = [{"type": "scale", "scale": scale}]
    ms = {
        "version": "0.4",
        "axes": axes,
        "datasets": [{"path": "0", "coordinateTransformations": transforms}],
    }
    refs[".zattrs"] = json.dumps({"multiscales": [ms]})
    path.write_text(json.dumps({"version": 1, "refs": refs}), encoding="utf-8")


def test_foreign_references_of_an_ome_zarr_open_through_the_reference_filesystem(tmp_path):
    """kerchunk references another tool wrote of an OME-Zarr image (version 1, metadata inline,
    chunks ``[url, offset, length]`` into a raw file), opened as fsspec's reference filesystem
    (``lv.open("reference://", storage_options={"fo": ...})``), were refused as "no DICOM image
    volume found" listing the store's ``.zattrs`` as hidden files: joining a key to the root
    URL ``reference://`` dropped a slash (``reference:/.zgroup``), so the store's metadata was
    never found. The root now joins as ``reference://.zgroup``, and the image opens with the
    values and scale the references give."""
    data = np.arange(4 * 5 * 6, dtype="<u2").reshape(4, 5, 6)  # (z, y, x), as OME-Zarr stores
    path = tmp_path / "refs.json"
    _write_ome_references(path, tmp_path / "raw.bin", data, [3.0, 2.0, 1.0])
    vol = lv.open("reference://", storage_options={"fo": str(path)})
    np.testing.assert_array_equal(np.asarray(vol.compute()), data.transpose(2, 1, 0))
    np.testing.assert_allclose(np.diag(vol.affine)[:3], [1.0, 2.0, 3.0])


def test_references_written_again_are_read_again_through_the_reference_filesystem(tmp_path):
    """The reference filesystem reads its references file once, when it is made, and lazyvol
    kept one per process and options: references written again at the same path (their source
    changed) and opened again gave the old references' bytes, silently; fsspec's reference
    filesystem made again gives the new ones. The references file's stamp now keys the
    filesystem and the store's identity: the new open reads the new references, and a volume
    opened on the old ones is refused (the store was replaced), not read from either."""
    a = np.arange(4 * 5 * 6, dtype="<u2").reshape(4, 5, 6)
    b = a[::-1] + 1000
    path = tmp_path / "refs.json"

    def write(data: np.ndarray, name: str) -> None:
        _write_ome_references(path, tmp_path / name, data, [1.0, 1.0, 1.0])

    write(a, "a.bin")
    first = lv.open("reference://", storage_options={"fo": str(path)})
    np.testing.assert_array_equal(np.asarray(first.compute()), a.transpose(2, 1, 0))
    write(b, "b.bin")
    fs = fsspec.filesystem("reference", fo=str(path))  # (an independent reader: the new bytes)
    np.testing.assert_array_equal(zarr.open_group(fs.get_mapper(""), mode="r")["0"][...], b)
    again = lv.open("reference://", storage_options={"fo": str(path)})
    np.testing.assert_array_equal(np.asarray(again.compute()), b.transpose(2, 1, 0))
    with pytest.raises(FormatError, match="replaced"):
        first.compute()
