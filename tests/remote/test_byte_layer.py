"""The byte layer (lazyvol._io) against local files and real loopback servers (HTTP and S3)."""

from __future__ import annotations

import json
import os
import pickle
import traceback

import dask
import dask.array as da
import numpy as np
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET, HttpServer

from lazyvol import _io
from lazyvol.errors import FormatError, LazyvolError, SourceChangedError, SourceNotFoundError
from lazyvol.sources import SourceStamp, fingerprint

DATA = np.random.default_rng(7).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()


# -- local -----------------------------------------------------------------------------------------


@pytest.fixture
def local_file(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(DATA)
    return p


def test_local_read_exact_ranges(local_file):
    assert _io.read(str(local_file), 12345, 1000) == DATA[12345:13345]
    assert _io.read(str(local_file), 0, 0) == b""
    out = np.empty(250, dtype="<u4")
    _io.read_into(_io.Location.of(local_file), 4000, out)
    assert out.tobytes() == DATA[4000:5000]
    parts = _io.read_ranges([(str(local_file), 10, 5), (str(local_file), 1 << 19, 7)])
    assert parts == [DATA[10:15], DATA[1 << 19 : (1 << 19) + 7]]


def test_local_map_array_is_a_readonly_array(local_file):
    arr = _io.map_array(str(local_file), 1024, (16, 32), "<u2", order="F")
    want = np.frombuffer(DATA[1024 : 1024 + 16 * 32 * 2], "<u2").reshape((16, 32), order="F")
    np.testing.assert_array_equal(arr, want)
    assert not arr.flags.writeable


def test_local_errors(tmp_path, local_file):
    with pytest.raises(SourceNotFoundError, match="no such file"):
        _io.read(str(tmp_path / "nope.bin"), 0, 4)
    with pytest.raises(FormatError, match="truncated: wanted 100 bytes at offset"):
        _io.read(str(local_file), len(DATA) - 50, 100)
    with pytest.raises(FormatError, match="truncated"):
        _io.map_array(str(local_file), len(DATA) - 10, (10,), "<u2")
    with pytest.raises(ValueError, match="storage_options are for URLs"):
        _io.Location.of(local_file, {"anon": True})


def test_local_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.nii"
    os.mkfifo(fifo)  # no writer: a blocking open would hang
    with pytest.raises(FormatError, match=r"pipe\.nii: is a FIFO \(named pipe\), not a regular"):
        _io.read(str(fifo), 0, 10)
    with pytest.raises(FormatError, match="is a FIFO"):
        _io.map_array(str(fifo), 0, (10,), "u1")
    with pytest.raises(FormatError, match="is a directory"):
        _io.read(str(tmp_path), 0, 10)


def test_local_stamp_is_the_sources_stamp(local_file):
    loc = _io.Location.of(f"file://{local_file}")
    assert loc.url == str(local_file) and not loc.is_remote
    assert _io.stamp(loc) == SourceStamp.of(local_file)


# -- HTTP ------------------------------------------------------------------------------------------


def test_http_reads_exact_ranges_only(http_server: HttpServer):
    url = http_server.put("data/blob.bin", DATA)
    http_server.reset_counts()
    assert _io.read(url, 100_000, 4096) == DATA[100_000:104_096]
    # Exactly the range came over the wire: no 5 MiB block, no read-ahead.
    assert http_server.bytes_served == 4096
    assert [r[2] for r in http_server.requests if r[0] == "GET"] == ["bytes=100000-104095"]

    http_server.reset_counts()
    reqs = [(url, 0, 10), (url, 500_000, 3000), (url, len(DATA) - 7, 7)]
    assert _io.read_ranges(reqs) == [DATA[0:10], DATA[500_000:503_000], DATA[-7:]]
    assert http_server.bytes_served == 10 + 3000 + 7

    buf = bytearray(64)
    _io.read_into(url, 77, buf)
    assert bytes(buf) == DATA[77:141]


def test_http_stamp_has_size_etag_and_mtime(http_server: HttpServer):
    url = http_server.put("a.bin", DATA)
    st = _io.stamp(_io.Location.of(url))
    assert st.size == len(DATA)
    assert st.etag and st.etag in f'"{__import__("hashlib").md5(DATA).hexdigest()}"'
    assert st.mtime_ns == 1_700_000_000 * 10**9
    assert st.path == url and st.is_url
    # A changed object is noticed.
    _io.verify(_io.Location.of(url), st)
    http_server.put("a.bin", DATA[:-1] + b"x")
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        _io.verify(_io.Location.of(url), st)


def test_http_server_ignoring_range_still_gives_the_range(http_server: HttpServer):
    url = http_server.put("norange.bin", DATA[:5000], mode="norange")
    assert _io.read(url, 1000, 10) == DATA[1000:1010]


def test_http_missing_object(http_server: HttpServer):
    url = f"{http_server.url}/missing.nii"
    with pytest.raises(SourceNotFoundError, match=r"missing\.nii: no such object"):
        _io.read(url, 0, 10)
    with pytest.raises(SourceNotFoundError):
        _io.stamp(_io.Location.of(url))


def test_http_denied_is_typed_and_names_the_url(http_server: HttpServer):
    url = http_server.put("secret.nii", DATA[:100], mode="deny")
    with pytest.raises(_io.RemoteAccessError, match=r"secret\.nii: access denied") as info:
        _io.read(url, 0, 10)
    assert isinstance(info.value, PermissionError) and isinstance(info.value, LazyvolError)


def test_http_truncated_object_is_a_format_error(http_server: HttpServer):
    url = http_server.put("short.bin", DATA[:1000])
    with pytest.raises(FormatError, match="truncated: wanted 100 bytes at offset 950"):
        _io.read(url, 950, 100)
    with pytest.raises(FormatError, match="truncated"):
        _io.read(url, 5000, 100)  # starts past the end: HTTP 416


def test_http_server_stopping_mid_read(http_server: HttpServer):
    url = http_server.put("cut.bin", DATA, mode="cut")
    with pytest.raises(
        _io.RemoteReadError, match=r"closed the connection after 100000 of the 200000 bytes"
    ) as info:
        _io.read(url, 0, 200_000)
    assert "cut.bin" in str(info.value)


def test_http_stalled_server_times_out(http_server: HttpServer, monkeypatch):
    monkeypatch.setenv("LAZYVOL_REMOTE_TIMEOUT", "1")
    url = http_server.put("stall.bin", DATA, mode="stall")
    with pytest.raises(_io.RemoteTimeoutError, match=r"stall\.bin: no response for 1 s") as info:
        _io.read(url, 0, 500_000)
    assert isinstance(info.value, TimeoutError)


def test_http_server_errors_and_refused_connections(http_server: HttpServer):
    url = http_server.put("boom.bin", DATA, mode="error")
    with pytest.raises(_io.RemoteReadError, match=r"boom\.bin: reading bytes 0-9 failed.*500"):
        _io.read(url, 0, 10)
    from remote_servers import free_port

    nobody = f"http://127.0.0.1:{free_port()}/x.nii"
    with pytest.raises(_io.RemoteReadError, match=r"127\.0\.0\.1:\d+/x\.nii"):
        _io.read(nobody, 0, 10)


def test_reads_check_the_stamp_taken_at_open(tmp_path, http_server: HttpServer):
    # Local: one fstat of the descriptor the read uses.
    p = tmp_path / "f.bin"
    p.write_bytes(DATA[:1000])
    st = SourceStamp.of(p)
    assert _io.read(str(p), 0, 10, expect=st) == DATA[:10]
    p.write_bytes(DATA[1:1001])  # same size, new content
    os.utime(p, ns=(st.mtime_ns + 10**9, st.mtime_ns + 10**9))
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        _io.read(str(p), 0, 10, expect=st)
    with pytest.raises(SourceChangedError):
        _io.map_array(str(p), 0, (10,), "u1", expect=st)
    p.unlink()
    with pytest.raises(SourceChangedError, match="removed or moved"):
        _io.read(str(p), 0, 10, expect=st)
    with pytest.raises(SourceChangedError, match="removed or moved"):
        _io.map_array(str(p), 0, (10,), "u1", expect=st)
    with pytest.raises(SourceChangedError, match="removed or moved"):
        _io.read_into(str(p), 0, bytearray(10), expect=st)
    # HTTP: If-Match with the ETag, so the server refuses a replaced object, and each answer's
    # ETag compared with the stamp's: one request per read, no probe, no HEAD.
    url = http_server.put("v.bin", DATA[:1000])
    loc = _io.Location.of(url)
    stamp = _io.stamp(loc)
    http_server.reset_counts()
    assert _io.read(loc, 5, 5, expect=stamp) == DATA[5:10]
    assert len(http_server.requests) == 1
    http_server.put("v.bin", DATA[1:1001])
    with pytest.raises(SourceChangedError, match=r"v\.bin: the object changed"):
        _io.read(loc, 5, 5, expect=stamp)


def test_a_server_that_ignores_if_match_still_has_replaced_objects_refused(
    http_server: HttpServer,
):
    """A server that serves a ranged GET whatever its If-Match says would hand over a replaced
    object's bytes under the old ETag: each answer's ETag is compared with the stamp's, so the
    replaced object is refused by the read itself (no per-origin probe to trust; the
    end-to-end case is in test_remote_nifti)."""
    url = http_server.put("v.bin", DATA[:1000])
    loc = _io.Location.of(url)
    stamp = _io.stamp(loc)
    http_server.ignore_if_match = True
    assert _io.reads_check(loc, stamp)
    http_server.reset_counts()
    assert _io.read(loc, 5, 5, expect=stamp) == DATA[5:10]
    assert len(http_server.requests) == 1
    http_server.put("v.bin", DATA[1:1001])  # same size, other bytes, other ETag
    with pytest.raises(SourceChangedError, match=r"v\.bin: the object changed"):
        _io.read(loc, 5, 5, expect=stamp)
    with pytest.raises(SourceChangedError, match=r"v\.bin"):
        _io.read_ranges([(loc, 5, 5, stamp)])


def test_locations_work_in_other_processes(http_server: HttpServer):
    url = http_server.put("vol.bin", DATA)
    loc = _io.Location.of(url)
    assert pickle.loads(pickle.dumps(loc)) == loc

    def block(i: int) -> np.ndarray:
        return np.frombuffer(_io.read(loc, i * 4096, 4096), dtype=np.uint8)

    arr = da.concatenate(
        [da.from_delayed(dask.delayed(block)(i), (4096,), np.uint8) for i in range(4)]
    )
    got = arr.compute(scheduler="processes", num_workers=2)
    np.testing.assert_array_equal(got, np.frombuffer(DATA[: 4 * 4096], np.uint8))


# -- S3 (moto server) ------------------------------------------------------------------------------


def _put(s3: S3, bucket: str, key: str, data: bytes) -> str:
    s3.client.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def test_s3_exact_ranges_stamp_and_listing(s3_server: S3, s3_bucket: str):
    url = _put(s3_server, s3_bucket, "series/a.dcm", DATA)
    _put(s3_server, s3_bucket, "series/b.dcm", DATA[:1000])
    _put(s3_server, s3_bucket, "series/notes.txt", b"x")
    loc = _io.Location.of(url, s3_server.options())
    assert _io.read(loc, 123_456, 789) == DATA[123_456 : 123_456 + 789]
    other = _io.Location.of(f"s3://{s3_bucket}/series/b.dcm", s3_server.options())
    assert _io.read_ranges([(loc, 5, 5), (other, 990, 10)]) == [DATA[5:10], DATA[990:1000]]

    st = _io.stamp(loc)
    etag = s3_server.client.head_object(Bucket=s3_bucket, Key="series/a.dcm")["ETag"].strip('"')
    assert (st.size, st.etag) == (len(DATA), etag)
    assert st.mtime_ns > 0

    listed = _io.list_objects(
        _io.Location.of(f"s3://{s3_bucket}/series", s3_server.options()), suffix=".dcm"
    )
    assert [(lo.url, s.size) for lo, s in listed] == [
        (f"s3://{s3_bucket}/series/a.dcm", len(DATA)),
        (f"s3://{s3_bucket}/series/b.dcm", 1000),
    ]
    assert listed[0][1].etag == etag


def test_s3_errors(s3_server: S3, s3_bucket: str):
    url = _put(s3_server, s3_bucket, "short.bin", DATA[:100])
    loc = _io.Location.of(url, s3_server.options())
    with pytest.raises(FormatError, match="truncated"):
        _io.read(loc, 50, 100)
    missing = _io.Location.of(f"s3://{s3_bucket}/nope.nii", s3_server.options())
    with pytest.raises(SourceNotFoundError, match=r"nope\.nii"):
        _io.read(missing, 0, 10)
    with pytest.raises(SourceNotFoundError):
        _io.stamp(missing)
    # A bucket policy denying reads: S3 answers 403 AccessDenied.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{s3_bucket}/*",
            }
        ],
    }
    s3_server.client.put_bucket_policy(Bucket=s3_bucket, Policy=json.dumps(policy))
    with pytest.raises(_io.RemoteAccessError, match=rf"s3://{s3_bucket}/short\.bin: access denied"):
        _io.read(loc, 0, 10)


# -- credentials never shown ---------------------------------------------------------------------


def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def test_credentials_never_shown_hashed_or_in_errors(s3_server: S3, s3_bucket: str):
    url = _put(s3_server, s3_bucket, "x.bin", DATA[:100])
    opts = s3_server.options(token="session-token-XYZ-123")
    loc = _io.Location.of(url, opts)
    secrets = (S3_KEY, S3_SECRET, "session-token-XYZ-123")
    shown = [repr(loc), str(loc), repr(loc.options), loc.key(), str(_io.stamp(loc))]
    shown.append(dask.base.tokenize(loc))
    for text in shown:
        for s in secrets:
            assert s not in text
    # The token ignores credentials (same object, other keys -> same token) ...
    other = _io.Location.of(url, s3_server.options(token="another-token"))
    assert dask.base.tokenize(other) == dask.base.tokenize(loc)
    # ... but not what selects data.
    elsewhere = _io.Location.of(url, {**opts, "client_kwargs": {"endpoint_url": "http://x:1"}})
    assert dask.base.tokenize(elsewhere) != dask.base.tokenize(loc)
    assert fingerprint([_io.stamp(loc)]) == fingerprint([_io.stamp(other)])
    # Pickling carries the credentials to workers (needed), and the copy still reads.
    copy = pickle.loads(pickle.dumps(loc))
    assert copy.options["secret"] == S3_SECRET
    assert _io.read(copy, 0, 10) == DATA[:10]
    # Errors name the URL but no credential, in the whole formatted traceback.
    with pytest.raises(LazyvolError) as info:
        _io.read(_io.Location.of(f"s3://{s3_bucket}/missing", opts), 0, 10)
    text = _all_text(info.value)
    assert f"s3://{s3_bucket}/missing" in text
    for s in secrets:
        assert s not in text


def test_urls_with_credentials_are_redacted():
    url = (
        "https://user:hunter22@example.org/data/x.nii?versionId=7"
        "&X-Amz-Credential=AKIAXXXX&X-Amz-Signature=deadbeef&token=abc123"
    )
    shown = _io.display_url(url)
    ident = _io.identity_url(url)
    for s in ("hunter22", "AKIAXXXX", "deadbeef", "abc123"):
        assert s not in shown and s not in ident
    assert "versionId=7" in shown and "versionId=7" in ident
    assert "X-Amz" not in ident and "example.org/data/x.nii" in ident
    # Two signatures of one object: one identity.
    assert ident == _io.identity_url(url.replace("deadbeef", "cafef00d"))
    loc = _io.Location.of(url)
    assert "hunter22" not in repr(loc) and "deadbeef" not in dask.base.tokenize(loc)


def test_query_parameters_are_credentials_by_their_exact_names():
    """Names that hold no credential word select data (``?file=b.nii``, ``?versionId=``):
    kept, as written, in display and identity; the names of credentials and of signed URLs'
    fields are hidden and left out of identities. Azure's short signed fields (sp, se, ...) count
    only beside a signature. A name a credential may have (``key``, ``accessToken``, ``tempauth``,
    ``pwd``...) is hidden, and kept in the identity as a hash of its value: two values, two
    identities, and the value never saved."""
    url = "https://h.org/get?file=b%20c.nii&versionId=3&sp=2"
    assert _io.identity_url(url) == url and _io.display_url(url) == url
    signed = {
        "a=1&X-Amz-Date=20240101T000000Z&X-Amz-Signature=SECRETA1": "a=1",
        "a=1&X-Goog-Credential=SECRETA1&X-Goog-Expires=60": "a=1",
        "a=1&sv=2022&sp=r&se=2030&sig=SECRETA1": "a=1",
        "a=1&Expires=9&Signature=SECRETA1&Key-Pair-Id=K": "a=1",
        "a=1&access_token=SECRETA1&API_KEY=SECRETA1": "a=1",
        "a=1&pwd=SECRETA1&pass=SECRETA1": "a=1",  # a password is left out, never hashed
    }
    for query, kept in signed.items():
        url = f"https://h.org/x.nii?{query}"
        assert _io.identity_url(url) == f"https://h.org/x.nii?{kept}"
        assert "SECRETA1" not in _io.display_url(url) and "a=1&" in _io.display_url(url)
        assert _io.identity_url(url.replace("SECRETA1", "OTHERSIG")) == _io.identity_url(url)
    for name in ("key", "accessToken", "X-Auth-Token", "security-token", "tempauth", "authKey"):
        for value in ("SECRETA1", "wJalr/K7MDENG.bPx", "b.nii"):
            url = f"https://h.org/x.nii?a=1&{name}={value}"
            ident, shown = _io.identity_url(url), _io.display_url(url)
            assert value not in ident and value not in shown and f"{name}=***" in shown
            assert ident != _io.identity_url(url.replace(value, value + "2"))
            assert ident == _io.identity_url(url) and "a=1&" in ident


def test_credential_option_names_are_recognised_at_any_depth():
    opts = {
        "key": "k-1",
        "secret": "s-2",
        "token": "t-3",
        "anon": False,
        "client_kwargs": {"endpoint_url": "http://e:9", "aws_secret_access_key": "s-4"},
        "headers": {"Authorization": "Bearer b-5", "Cookie": "c-6", "User-Agent": "ua"},
        "connection_string": "AccountName=x;AccountKey=k-7",
        "sas_token": "sv=1&sig=k-8",
        "account_key": "k-9",
        "password": "p-10",
    }
    loc = _io.Location.of("s3://b/k", opts)
    shown = repr(loc) + str(loc.options.redacted()) + str(dask.base.tokenize(loc)) + loc.key()
    for value in ("k-1", "s-2", "t-3", "s-4", "b-5", "c-6", "k-7", "k-8", "k-9", "p-10"):
        assert value not in shown
    red = loc.options.redacted()
    assert red["client_kwargs"]["endpoint_url"] == "http://e:9"
    assert red["headers"]["User-Agent"] == "ua" and red["anon"] is False


def test_remote_stamp_keys_differ_by_etag_and_local_keys_unchanged(tmp_path):
    a = SourceStamp("s3://b/k.nii", 10, 0, etag="e1")
    b = SourceStamp("s3://b/k.nii", 10, 0, etag="e2")
    assert a.key() != b.key()
    assert a.key_bytes().startswith(b"s3://b/k.nii\0")
    p = tmp_path / "f"
    p.write_bytes(b"1")
    st = SourceStamp.of(p)
    assert st.etag == "" and b"etag" not in st.key_bytes()
    with pytest.raises(TypeError, match=r"_io\.verify"):
        a.verify()


def test_no_storage_options_leak_in_env_file(tmp_path):
    # os.environ is never written by the byte layer.
    before = dict(os.environ)
    _io.Location.of("s3://bucket/key", {"key": "k", "secret": "s"})
    assert dict(os.environ) == before


def test_local_listing_matches_the_folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name, size in (("a/1.dcm", 3), ("a/b/2.DCM", 5), ("a/notes.txt", 1)):
        (tmp_path / name).write_bytes(b"x" * size)
    listed = _io.list_objects(_io.Location.of(tmp_path / "a"), suffix=".dcm")
    assert [(lo.url, st.size) for lo, st in listed] == [
        (str(tmp_path / "a" / "1.dcm"), 3),
        (str(tmp_path / "a" / "b" / "2.DCM"), 5),
    ]
    assert listed[0][1] == SourceStamp.of(tmp_path / "a" / "1.dcm")
    with pytest.raises(SourceNotFoundError):
        _io.list_objects(_io.Location.of(tmp_path / "missing"))


@pytest.mark.parametrize("scheme", ["S3", "S3A", "s3A"])
def test_a_url_scheme_in_capitals_reads_the_object(tmp_path, s3_server: S3, s3_bucket: str, scheme):
    """URL schemes are case-insensitive (RFC 3986), but ``S3://bucket/key`` reached s3fs as a
    path it did not strip, read as bucket "S3:" ("reading its size and ETag failed: Invalid
    bucket name"); the scheme is now lower-cased, so the object is read (as nibabel reads the
    same file), and its references and cache identity are those of ``s3://``."""
    import nibabel as nib

    import lazyvol as lv
    from lazyvol.testing import write_phantom_nifti

    path = write_phantom_nifti(tmp_path / "a.nii", (6, 5, 4), slope=2.0)
    s3_server.client.put_object(Bucket=s3_bucket, Key="d/a.nii", Body=open(path, "rb").read())
    url = f"{scheme}://{s3_bucket}/d/a.nii"
    vol = lv.open(url, storage_options=s3_server.options())
    np.testing.assert_allclose(vol.compute(), nib.load(path).get_fdata())
    refs = lv.references(url, storage_options=s3_server.options())
    targets = {v[0] for v in refs["refs"].values() if isinstance(v, list)}
    assert targets == {f"{scheme.lower()}://{s3_bucket}/d/a.nii"}
