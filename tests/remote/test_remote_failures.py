"""Failures are named for what they are: a server error or a timeout at open is not "no such
object", a failed header read is not a bad header, an object deleted after open is a changed
source; transient HTTP errors are retried; a Zarr store served as static objects opens. Against
the loopback hostile server (and moto's S3 for the deletion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hostile_server import HostileServer
from remote_servers import S3

import lazyvol as lv
from lazyvol import _io
from lazyvol.errors import (
    FormatError,
    RemoteAccessError,
    RemoteReadError,
    RemoteTimeoutError,
    SourceChangedError,
    SourceNotFoundError,
)
from lazyvol.testing import ome_zarr_attributes, write_phantom_nifti

nib = pytest.importorskip("nibabel")

CHUNKS = (40, 30, 6)
#: Attempts of an HTTP request answered 429/502/503/504 (lazyvol.ATTEMPTS).
ATTEMPTS = 3


def _nifti(tmp_path: Path, name: str = "a.nii") -> tuple[bytes, np.ndarray]:
    path = write_phantom_nifti(tmp_path / name, (40, 30, 24), dtype="int16")
    return Path(path).read_bytes(), np.asanyarray(nib.load(path).dataobj)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_server_error_at_open_is_not_a_missing_object(tmp_path, hostile_server, status):
    """fsspec's HTTP info re-raises every failure as FileNotFoundError: a 503 was reported as
    "no such object"."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, status_get=status, status_head=status)
    with pytest.raises(RemoteReadError, match=rf"a\.nii: .*HTTP {status}") as info:
        lv.open(url)
    assert not isinstance(info.value, SourceNotFoundError)
    with pytest.raises(SourceNotFoundError, match=r"nope\.nii: no such object"):
        lv.open(f"{hostile_server.url}/nope.nii")


def test_a_redirect_loop_is_not_a_missing_object(tmp_path, hostile_server):
    """A server redirecting a URL to itself (aiohttp's TooManyRedirects, under fsspec's
    FileNotFoundError, with no status) was reported as "no such object"."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("loop.nii", raw, redirect_to="/loop.nii")
    with pytest.raises(RemoteReadError, match=r"loop\.nii: .*redirects in a loop") as info:
        lv.open(url)
    assert not isinstance(info.value, SourceNotFoundError)
    assert hostile_server.obj("loop.nii").requests > 1  # it was followed, then given up
    # a redirect that ends somewhere is followed
    hostile_server.put("data.nii", raw)
    moved = hostile_server.put("moved.nii", b"", redirect_to="/data.nii")
    np.testing.assert_array_equal(lv.open(moved, scale=False).compute(), _nifti(tmp_path)[1])


def test_a_server_hanging_up_at_open_is_not_a_missing_object(tmp_path, hostile_server):
    """A server that closes the connection without answering (aiohttp's ServerDisconnectedError,
    under fsspec's FileNotFoundError) failed to answer: it was reported as "no such object"."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, hangup=True)
    with pytest.raises(RemoteReadError, match=r"a\.nii: .*Disconnected") as info:
        lv.open(url)
    assert not isinstance(info.value, SourceNotFoundError)


def test_a_server_hanging_up_is_asked_again(tmp_path, hostile_server):
    """A server closing the connection without answering (a restarting server; aiohttp's
    ServerDisconnectedError) on a request and on aiohttp's own second try of it (aiohttp asks
    once more only on a reused keep-alive connection) failed the compute, where asking again
    gets the answer: ranged GETs are asked again as on a 503."""
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw)
    vol = lv.open(url, scale=False)
    obj = hostile_server.obj("a.nii")
    obj.hangup, obj.hangup_times = True, obj.requests + 2  # (the compute's first two requests)
    np.testing.assert_array_equal(vol.compute(), truth)
    assert obj.requests >= obj.hangup_times + 1  # (it was hung up on, then asked again)
    assert ("GET", "/a.nii", 206) in {(m, p, s) for m, p, _, s in hostile_server.log}


def test_a_connection_dropped_mid_body_is_asked_again(tmp_path, hostile_server):
    """A connection closed after part of the body (a proxy or load balancer dropping it: aiohttp's
    ContentLengthError under ClientPayloadError) failed the compute, and a Zarr store's metadata
    read failed the open, where a hang-up before the answer was asked again: both are asked again
    now (GETs, safe to repeat); a server cutting every answer still fails, typed."""
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw)
    vol = lv.open(url, scale=False)
    obj = hostile_server.obj("a.nii")
    obj.cut_times = obj.requests + 1  # (the compute's first GET)
    np.testing.assert_array_equal(vol.compute(), truth)
    assert obj.requests > obj.cut_times
    store = lv.Volume(truth, np.eye(4)).to_zarr(tmp_path / "s.zarr")
    for path in sorted(Path(store).rglob("*")):
        if path.is_file():
            hostile_server.put(f"s.zarr/{path.relative_to(store).as_posix()}", path.read_bytes())
    meta = hostile_server.obj("s.zarr/zarr.json")
    meta.cut_times = meta.requests + 1
    np.testing.assert_array_equal(lv.open(f"{hostile_server.url}/s.zarr").compute(), truth)
    obj.cut_times = 10**6
    with pytest.raises(
        RemoteReadError, match=r"a\.nii: .*closed the connection after \d+ of the \d+ bytes"
    ):
        lv.open(url, scale=False).compute()


def test_a_request_the_client_cannot_make_is_not_a_missing_object(tmp_path, hostile_server):
    """Credentials both in the URL and in an Authorization header: aiohttp refuses to make the
    request (a ValueError, under fsspec's FileNotFoundError), which said "no such object"."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw).replace("http://", "http://u:p@")
    with pytest.raises(RemoteReadError, match="the request could not be made") as info:
        lv.open(url, storage_options={"headers": {"Authorization": "Bearer t"}})
    assert not isinstance(info.value, SourceNotFoundError)
    assert "u:p@" not in str(info.value)  # (credentials never shown)


def test_a_timeout_at_open_is_a_timeout(tmp_path, hostile_server, monkeypatch):
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "1")
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, stall=2.5)
    with pytest.raises(RemoteTimeoutError, match=r"a\.nii: no response for 1 s"):
        lv.open(url)


@pytest.mark.parametrize(
    ("status", "error"), [(403, RemoteAccessError), (503, RemoteReadError), (404, None)]
)
def test_a_failed_header_read_keeps_its_type(tmp_path, hostile_server, status, error):
    """The header GET failing (the HEAD answered) was a FormatError "cannot read the header"."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("h.nii", raw, status_get=status)
    with pytest.raises(error or SourceNotFoundError) as info:
        lv.open(url)
    assert "cannot read the header" not in str(info.value)
    assert "h.nii" in str(info.value)


@pytest.mark.parametrize("name", ["a.nii", "b.nii.gz"])
def test_an_object_deleted_after_open_is_a_changed_source(tmp_path, hostile_server, name):
    raw, _ = _nifti(tmp_path, name)
    url = hostile_server.put(name, raw)
    vol = lv.open(url, scale=False, chunks=CHUNKS)
    del hostile_server.objects["/" + name]
    with pytest.raises(SourceChangedError, match="removed after it was opened; open the source"):
        vol.compute()


def test_an_s3_object_deleted_after_open_is_a_changed_source(tmp_path, s3_server: S3, s3_bucket):
    raw, _ = _nifti(tmp_path)
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=raw)
    vol = lv.open(f"s3://{s3_bucket}/a.nii", storage_options=s3_server.options())
    s3_server.client.delete_object(Bucket=s3_bucket, Key="a.nii")
    with pytest.raises(SourceChangedError, match="removed after it was opened"):
        vol.compute()


@pytest.mark.parametrize("how", ["no-key", "unknown-profile"])
def test_no_s3_credentials_anywhere_is_an_access_error_naming_the_fix(
    tmp_path, s3_server: S3, s3_bucket, monkeypatch, how
):
    """No key in storage_options, the environment or a config file (botocore's
    NoCredentialsError), or a profile that does not exist (ProfileNotFound): no HTTP status, and
    a plain RemoteReadError naming no fix."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    raw, _ = _nifti(tmp_path)
    s3_server.client.put_object(Bucket=s3_bucket, Key="a.nii", Body=raw)
    options = s3_server.options()
    del options["key"], options["secret"]
    if how == "unknown-profile":
        options["profile"] = "no-such-profile"
    with pytest.raises(RemoteAccessError, match="no usable credentials") as info:
        lv.open(f"s3://{s3_bucket}/a.nii", storage_options=options)
    assert "a.nii" in str(info.value)
    assert "storage_options" in str(info.value) and "anon" in str(info.value)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_http_errors_are_retried(tmp_path, hostile_server: HostileServer, status):
    from lazyvol._http_range import ATTEMPTS as attempts

    assert attempts == ATTEMPTS
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw)
    vol = lv.open(url, scale=False)
    obj = hostile_server.obj("a.nii")
    obj.requests, obj.status_get, obj.status_times = 0, status, ATTEMPTS - 1
    np.testing.assert_array_equal(vol.compute(), truth)
    assert obj.requests == ATTEMPTS  # (counted as each arrives; the log as each ends)
    # Failing for good: a typed error after the bounded attempts.
    obj.requests, obj.status_times = 0, None
    with pytest.raises(RemoteReadError, match=rf"a\.nii: .*HTTP {status}"):
        vol.compute()
    assert obj.requests == ATTEMPTS


@pytest.mark.parametrize("status", [429, 503])
def test_a_rate_limited_head_at_open_is_asked_again(tmp_path, hostile_server, status):
    """docs/remote.md says HTTP requests answered 429/502/503/504 are tried 3 times, but the HEAD
    stamping an object at open was not retried: one 429 burst failed lv.open at once."""
    from lazyvol import _io_remote

    raw, truth = _nifti(tmp_path)
    # the first HEAD and fsspec's GET after it are refused, then the server is back
    url = hostile_server.put("a.nii", raw, status_head=status, status_get=status, status_times=2)
    np.testing.assert_array_equal(lv.open(url, scale=False).compute(), truth)
    heads = [e[3] for e in hostile_server.log if e[:2] == ("HEAD", "/a.nii")]
    assert heads[:2] == [status, 200]
    # Refused for good: ATTEMPTS attempts (a HEAD each), then the typed error naming the status.
    url = hostile_server.put("b.nii", raw, status_head=status, status_get=status)
    with pytest.raises(RemoteReadError, match=rf"b\.nii: reading its size .*HTTP {status}"):
        lv.open(url)
    assert len([e for e in hostile_server.log if e[:2] == ("HEAD", "/b.nii")]) == ATTEMPTS
    # the wait the server asks for is read from the failure (Retry-After: 0 here)
    with pytest.raises(FileNotFoundError) as failed:  # (fsspec's word for every failure)
        _io.filesystem(_io.Location.of(url)).info(url)
    assert _io_remote._retry_after(failed.value) == "0"


def _served_store(tmp_path, server, faults) -> np.ndarray:
    """A lazyvol Zarr store of the test NIfTI served by ``server`` at ``/store.zarr``, each file
    with ``faults(path)`` as its misbehaviour; returns the stored values."""
    raw, truth = _nifti(tmp_path)
    (tmp_path / "a.nii").write_bytes(raw)
    store = tmp_path / "store.zarr"
    lv.open(tmp_path / "a.nii", scale=False).to_zarr(store, chunks=CHUNKS, shards=False)
    for file in store.rglob("*"):
        if file.is_file():
            server.put(str(file.relative_to(tmp_path)), file.read_bytes(), **faults(file))
    return truth


def test_a_rate_limited_zarr_metadata_read_is_asked_again(tmp_path, hostile_server):
    """A store's metadata documents, read by lazyvol itself, were not retried: one 503 on a
    zarr.json failed lv.open (its chunks: test_remote_zarr_ranges)."""
    faulty = {"status_get": 503, "status_times": 1}
    truth = _served_store(tmp_path, hostile_server, lambda f: faulty if f.suffix == ".json" else {})
    got = lv.open(f"{hostile_server.url}/store.zarr", scale=False).compute()
    np.testing.assert_array_equal(got, truth)
    assert any(e[3] == 503 and e[1].endswith("/0/zarr.json") for e in hostile_server.log)


@pytest.mark.parametrize("folder_status", [None, 403])
@pytest.mark.parametrize("slash", ["", "/"])
def test_a_zarr_store_served_as_static_objects_opens(
    tmp_path, hostile_server: HostileServer, folder_status, slash
):
    """An object server answers the store's folder URL with 404 (or 403, nginx without
    autoindex): lv.open refused a store zarr_io.open_zarr reads."""
    truth = _served_store(tmp_path, hostile_server, lambda f: {})
    if folder_status is not None:
        for name in ("store.zarr", "store.zarr/"):
            hostile_server.put(name, b"", status_get=folder_status, status_head=folder_status)
    got = lv.open(f"{hostile_server.url}/store.zarr{slash}", scale=False).compute()
    np.testing.assert_array_equal(got, truth)
    with pytest.raises(SourceNotFoundError):
        lv.open(f"{hostile_server.url}/other.zarr{slash}")


def test_open_errors_name_no_format_for_remote_failures(tmp_path, hostile_server):
    """A truncated object stays a FormatError (the object is there, its bytes are not)."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("t.nii", raw[:1000])
    with pytest.raises(FormatError):
        lv.open(url).compute()
    assert _io.read(url, 0, 10) == raw[:10]


def test_a_refused_valid_range_is_not_blamed_on_the_file(tmp_path, hostile_server):
    """A server or proxy answering 416 to a range inside the object, its Content-Range naming
    the whole object: the file was called truncated ("shorter than its header says")."""
    raw, _ = _nifti(tmp_path)
    url = hostile_server.put("p.nii", raw, refuse_ranges=True)
    with pytest.raises(RemoteReadError, match="refused a valid range") as info:
        lv.open(url)
    text = str(info.value)
    assert not isinstance(info.value, FormatError)
    assert f"{url}: " in text and f"of an object of {len(raw)} bytes" in text
    assert "reading bytes 0-" in text


def test_a_refused_range_of_a_replaced_object_is_a_changed_source(tmp_path, hostile_server):
    """A read past the end of an object replaced since open gets 416, whose Content-Range (a
    shorter object) or ETag (another of the same size) says so: a changed source ("open the
    source again"), not a truncated file; only an unchanged object is truncated."""
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("r.nii", raw, ignore_if_match=True)
    vol = lv.open(url, chunks=CHUNKS)
    np.testing.assert_array_equal(vol[:, :, -1:].compute(), truth[:, :, -1:])
    hostile_server.obj("r.nii").get_data = raw[: len(raw) // 2]
    with pytest.raises(SourceChangedError, match=r"size \d+ -> \d+ bytes.*416.*open the source"):
        vol[:, :, -1:].compute()  # starts past the new end
    # the same size, other bytes: the ETag of the 416 tells
    short = hostile_server.put("s.bin", raw[:1000], ignore_if_match=True)
    stamp = _io.stamp(_io.Location.of(short))
    with pytest.raises(FormatError, match=r"truncated.*1000 bytes"):
        _io.read(short, 1500, 10, expect=stamp)
    hostile_server.obj("s.bin").get_data = raw[1:1001]
    with pytest.raises(SourceChangedError, match=r"ETag .* -> .*416"):
        _io.read(short, 1500, 10, expect=stamp)


def test_a_refused_range_of_a_replaced_s3_object_is_a_changed_source(s3_server: S3, s3_bucket):
    """S3 states the object's size in its 416 (InvalidRange): a shorter replacement is a changed
    source, an unchanged object read past its end is truncated."""
    s3_server.client.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"a" * 1000)
    loc = _io.Location.of(f"s3://{s3_bucket}/x.bin", s3_server.options())
    stamp = _io.stamp(loc)
    with pytest.raises(FormatError, match=r"truncated.*1000 bytes"):
        _io.read(loc, 1200, 10, expect=stamp)
    s3_server.client.put_object(Bucket=s3_bucket, Key="x.bin", Body=b"b" * 500)
    with pytest.raises(SourceChangedError, match=r"size 1000 -> 500 bytes.*416"):
        _io.read(loc, 700, 10, expect=stamp)


_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    b"<body><form>Please sign in to continue</form></body></html>\n" * 8
)


@pytest.mark.parametrize("name", ["scan.nii", "scan.nii.gz", "im.dcm", "noext", "img.zarr/"])
@pytest.mark.parametrize("norange", [False, True])
def test_an_html_page_served_with_200_is_named_as_such(hostile_server, name, norange):
    """A login or error page a server (or a proxy, a captive portal, a single-page-app host
    answering every path) sends with status 200 in place of the file was refused as a damaged
    file ("NIfTI field sizeof_hdr = 1836345404", "named .gz but the file is not compressed",
    "unreadable Zarr metadata: Expecting value"), sending the user to look at a file that is
    fine. The error now says the server answered with an HTML page, naming the URL and what to
    check."""
    if name.endswith("/"):  # a Zarr store whose every metadata file is answered by the page
        for meta in ("zarr.json", ".zgroup", ".zattrs", ".zarray"):
            hostile_server.put(name + meta, _PAGE, norange=norange)
    url = hostile_server.put(name.rstrip("/"), _PAGE, norange=norange)
    with pytest.raises(FormatError) as info:
        lv.open(url)
    text = str(info.value)
    assert "HTML page" in text and hostile_server.url in text, text
    assert "status 200" in text, text


def test_a_zarr_store_on_a_host_answering_missing_files_with_a_page_opens(tmp_path, hostile_server):
    """A web host that answers every path it does not have with its start page and status 200
    (a single-page-app fallback) made a plain OME-Zarr look like a lazyvol store whose
    metadata was edited ("lazyvol-manifest/zarr.json is present": an IntegrityError blaming the
    store); such a page is no manifest, and the store opens as what it is."""
    zarr = pytest.importorskip("zarr")
    data = np.arange(6 * 7 * 8, dtype="uint16").reshape(6, 7, 8)
    path = tmp_path / "s.zarr"
    g = zarr.open_group(str(path), mode="w", zarr_format=3)
    g.create_array("0", shape=data.shape, chunks=(3, 4, 5), dtype="uint16", compressors=None)[:] = (
        data
    )
    g.attrs.update(ome_zarr_attributes(scale=[2.0, 1.5, 1.0]))
    for f in path.rglob("*"):
        if f.is_file():
            hostile_server.put(f"s.zarr/{f.relative_to(path).as_posix()}", f.read_bytes())
    for missing in ("lazyvol-manifest/zarr.json", "lazyvol-manifest.json"):
        hostile_server.put(f"s.zarr/{missing}", _PAGE)
    vol = lv.open(f"{hostile_server.url}/s.zarr")
    np.testing.assert_array_equal(np.asarray(vol.compute()), data.transpose(2, 1, 0))


@pytest.mark.parametrize("name", ["scan.nii", "im.dcm", "noext"])
def test_references_of_an_html_page_served_with_200_name_it(hostile_server, name):
    """lv.references of a URL a server answers with a sign-in page and status 200 blamed the
    file as lv.open did ("NIfTI field sizeof_hdr = ...", "no DICOM image volume found"); it now
    says the server sent an HTML page, as lv.open says."""
    url = hostile_server.put(name, _PAGE)
    with pytest.raises(FormatError) as info:
        lv.references(url)
    text = str(info.value)
    assert "HTML page" in text and "status 200" in text and hostile_server.url in text, text


@pytest.mark.parametrize(
    "body", [b"x" * 500, b"x" * 50, b"", b"\0" * 128 + b"DICM" + b"\xff" * 300, _PAGE]
)
def test_a_signed_urls_signature_is_not_in_the_error_of_an_object_that_is_no_dicom(
    hostile_server, body
):
    """lv.open of a pre-signed URL (its signature a credential) whose object is no DICOM image
    said so listing the object as it was given: "...?X-Amz-Signature=***: no DICOM image volume
    found. Skipped: ...?X-Amz-Signature=<the signature>: not a DICOM file", the message's head
    redacted, the skipped file's URL not. Each skipped file is now shown as every source is."""
    secret = "s1gnatureVALUE0123456789abcdef"
    query = f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAX%2F1&X-Amz-Signature={secret}"
    url = hostile_server.put("obj.dcm", body) + query
    with pytest.raises(FormatError) as info:
        lv.open(url)
    assert secret not in str(info.value) and "obj.dcm" in str(info.value), str(info.value)


def test_a_dicom_volume_of_a_signed_url_shows_no_signature(tmp_path, hostile_server):
    """A DICOM object opened by its pre-signed URL kept that URL, signature and all, as
    ``vol.source``: in ``repr(vol)`` (a notebook's output, a log line), in plot titles and in an
    xarray Dataset's attrs (saved with it), where a NIfTI volume's showed it redacted. It is
    now the URL as messages show it, and the pixels are read as pydicom reads the file."""
    from lazyvol.testing import write_enhanced_dicom

    truth = write_enhanced_dicom(tmp_path / "m.dcm", (8, 6, 3))
    secret = "s1gnatureVALUE0123456789abcdef"
    query = f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAX%2F1&X-Amz-Signature={secret}"
    url = hostile_server.put("m.dcm", (tmp_path / "m.dcm").read_bytes()) + query
    vol = lv.open(url)
    np.testing.assert_array_equal(np.asarray(vol.compute()), truth.stored)
    assert secret not in repr(vol) and secret not in str(vol.source)
    assert "m.dcm" in str(vol.source)


def test_a_web_folder_whose_files_are_html_pages_says_so(hostile_server, tmp_path):
    """A web folder whose every file the server answers with a sign-in page and status 200 (a
    session expired) was refused listing each file as "not a DICOM file (no 'DICM' marker and
    no plausible dataset start)"; each is now named an HTML page, locally too."""
    hostile_server.index_pages = True
    for i in range(3):
        hostile_server.put(f"ser/IM{i}.dcm", _PAGE)
    with pytest.raises(FormatError, match=r"IM0\.dcm: not a DICOM file: an HTML page"):
        lv.open(f"{hostile_server.url}/ser/")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "IM0.dcm").write_bytes(_PAGE)
    with pytest.raises(FormatError, match=r"IM0\.dcm: not a DICOM file: an HTML page"):
        lv.open(tmp_path / "s")
