"""NIfTI from URLs (S3 and HTTP on loopback): values and affine equal nibabel's on the local file,
slices cost a small part of the object, typed errors, no credential anywhere, distributed reads."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import dask
import numpy as np
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET, HttpServer

import lazyvol as lv
from lazyvol import _io, gz_remote
from lazyvol.errors import (
    FormatError,
    RemoteAccessError,
    SourceChangedError,
    SourceNotFoundError,
    UnsupportedError,
)
from lazyvol.gzcheck import ChecksumError
from lazyvol.nifti import build_gzip_index, clear_gzip_handles
from lazyvol.testing import write_phantom_nifti

nib = pytest.importorskip("nibabel")

SECRETS = (S3_KEY, S3_SECRET)


@pytest.fixture(autouse=True)
def _fresh_handles():
    clear_gzip_handles()
    yield
    clear_gzip_handles()


def _reference(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(str(path))
    return np.asanyarray(img.dataobj), img.affine


def _put_s3(s3: S3, bucket: str, key: str, data: bytes) -> str:
    s3.client.put_object(Bucket=bucket, Key=key, Body=data)
    return f"s3://{bucket}/{key}"


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# -- values and geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_s3_nifti_equals_nibabel(tmp_path, s3_server: S3, s3_bucket: str, suffix: str):
    path = write_phantom_nifti(tmp_path / ("a" + suffix), (20, 18, 14, 2), dtype="int16")
    url = _put_s3(s3_server, s3_bucket, "sub/a" + suffix, Path(path).read_bytes())
    want, affine = _reference(path)
    vol = lv.open(url, storage_options=s3_server.options(), chunks=(20, 18, 5, 1))
    np.testing.assert_array_equal(vol.compute(), want)
    np.testing.assert_allclose(vol.affine, affine)
    np.testing.assert_array_equal(vol[:, :, 7:9, 1].compute(), want[:, :, 7:9, 1])
    # A block that is not contiguous in the file (a sub-rectangle): several ranges at once.
    np.testing.assert_array_equal(vol[3:9, 2:5, 4:10, :].compute(), want[3:9, 2:5, 4:10, :])
    _no_secret(repr(vol))


@pytest.mark.parametrize("key", ["scan#2.nii.gz", "run?x=1.nii.gz", "store#1.zarr"])
def test_object_keys_holding_hash_or_query_open_by_their_suffix(
    tmp_path, s3_server: S3, s3_bucket: str, key: str
):
    """An object key may hold "#" and "?" (s3fs reads s3://b/run?x=1.nii.gz as that object):
    the name lazyvol sniffed by was cut at them (a URL's fragment and query), so a .nii.gz or a
    Zarr store under such a key was taken for DICOM and refused ("not a DICOM file")."""
    path = write_phantom_nifti(tmp_path / "a.nii.gz", (8, 7, 6), dtype="int16")
    want, affine = _reference(path)
    if key.endswith(".zarr"):
        store = lv.open(path).to_zarr(tmp_path / "z.zarr")
        for root, _dirs, names in os.walk(store):
            for n in names:
                rel = os.path.relpath(os.path.join(root, n), store)
                _put_s3(s3_server, s3_bucket, f"{key}/{rel}", Path(root, n).read_bytes())
        url = f"s3://{s3_bucket}/{key}"
    else:
        url = _put_s3(s3_server, s3_bucket, key, Path(path).read_bytes())
    vol = lv.open(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(vol.compute(), want)
    np.testing.assert_allclose(vol.affine, affine)


def test_s3_analyze_pair_and_scaled_float(tmp_path, s3_server: S3, s3_bucket: str):
    hdr = tmp_path / "p.hdr"
    data = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)
    img = nib.Nifti1Pair(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(0.5, -3.0)
    nib.save(img, str(hdr))
    for name in ("p.hdr", "p.img"):
        _put_s3(s3_server, s3_bucket, name, (tmp_path / name).read_bytes())
    vol = lv.open(f"s3://{s3_bucket}/p.hdr", storage_options=s3_server.options())
    ref = nib.load(str(hdr))
    np.testing.assert_array_equal(vol.compute(), ref.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(vol.affine, ref.affine)
    from lazyvol.readers import NiftiReader

    loc = _io.Location.of(f"s3://{s3_bucket}/p.hdr", s3_server.options())
    files = NiftiReader().source_files(loc)
    assert [f.rsplit("/", 1)[1] for f in files] == ["p.hdr", "p.img"]


@pytest.mark.parametrize("suffix", [".img", ".img.gz"])
def test_http_spm_pair_reads_its_mat_sidecar(tmp_path, http_server: HttpServer, suffix: str):
    """An SPM pair's .mat (.mat.gz beside a gzipped pair) gives the affine, as nibabel reads it
    from the local files."""
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    rotated = np.array([[0, -2.0, 0, 5], [3, 0, 0, 6], [0, 0, 4, 7], [0, 0, 0, 1]])
    nib.save(nib.Spm2AnalyzeImage(data, rotated), tmp_path / ("s" + suffix))
    for f in tmp_path.iterdir():
        url = http_server.put("spm/" + f.name, f.read_bytes())
    ref = nib.load(tmp_path / ("s" + suffix))
    vol = lv.open(url.rsplit("/", 1)[0] + "/s" + suffix)
    np.testing.assert_array_equal(vol.affine, ref.affine)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(ref.dataobj))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_http_nifti_equals_nibabel(tmp_path, http_server: HttpServer, suffix: str):
    path = write_phantom_nifti(tmp_path / ("h" + suffix), (24, 20, 16), dtype="float32")
    url = http_server.put("data/h" + suffix, Path(path).read_bytes())
    want, affine = _reference(path)
    vol = lv.open(url, chunks=(24, 20, 4))
    np.testing.assert_array_equal(vol.compute(), want)
    np.testing.assert_allclose(vol.affine, affine)
    assert vol.meta["path"] == url


def test_url_without_nifti_suffix_is_sniffed_by_magic(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "m.nii", (8, 8, 6), dtype="uint8")
    url = http_server.put("objects/0001", Path(path).read_bytes())
    np.testing.assert_array_equal(lv.open(url).compute(), _reference(path)[0])


# -- bytes transferred -------------------------------------------------------------------------------


def test_one_slice_of_a_512_slice_nii_over_http(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "big.nii", (64, 64, 512), dtype="int16")
    data = Path(path).read_bytes()
    url = http_server.put("big.nii", data)
    want = _reference(path)[0]
    vol = lv.open(url)
    http_server.reset_counts()
    np.testing.assert_array_equal(vol[:, :, 300:301].compute(), want[:, :, 300:301])
    assert 0 < http_server.bytes_served < 0.05 * len(data)
    # Exact ranges: the slice's bytes and nothing more.
    assert http_server.bytes_served == 64 * 64 * 2


def test_niigz_first_pass_builds_the_index_then_a_slice_is_cheap(
    tmp_path, http_server: HttpServer, _isolated_cache: Path
):
    path = write_phantom_nifti(tmp_path / "big.nii.gz", (128, 128, 512), dtype="int16")
    data = Path(path).read_bytes()
    url = http_server.put("big.nii.gz", data)
    want = _reference(path)[0]
    vol = lv.open(url, chunks=(128, 128, 64))
    http_server.reset_counts()
    # No index yet: one sequential streamed pass, every compressed byte fetched about once.
    np.testing.assert_array_equal(vol.compute(), want)
    assert http_server.bytes_served <= 1.05 * len(data)
    saved = list((_isolated_cache / "gzindex").glob("*.remote.gzidx"))
    assert len(saved) == 1
    # With the saved index, in a fresh handle pool: one slice is a short ranged read.
    clear_gzip_handles()
    vol = lv.open(url)
    http_server.reset_counts()
    np.testing.assert_array_equal(vol[:, :, 300:301].compute(), want[:, :, 300:301])
    assert 0 < http_server.bytes_served < 0.05 * len(data)
    np.testing.assert_array_equal(vol[:, :, 17:18].compute(), want[:, :, 17:18])


def test_a_damaged_saved_index_of_a_url_is_detected_and_rebuilt(
    tmp_path, http_server: HttpServer, _isolated_cache: Path
):
    """Bytes changed in a URL's saved seek index (its windows: stream data no CRC covers) are
    caught by the index's checksum: a warning, a read from the start, and a new index, never
    other voxels."""
    noise = np.random.default_rng(4).integers(0, 50, (128, 128, 160), dtype=np.int16)
    path = tmp_path / "n.nii.gz"
    nib.save(nib.Nifti1Image(noise, np.eye(4)), path)
    url = http_server.put("n.nii.gz", path.read_bytes())
    index = build_gzip_index(url)
    blob = bytearray(index.read_bytes())
    assert len(blob) > 40_000, "points with windows"
    for at in range(200, len(blob) - 38, 101):
        blob[at] ^= 0x5A
    index.write_bytes(bytes(blob))
    clear_gzip_handles()
    with pytest.warns(RuntimeWarning, match="seek index .* failed"):
        got = lv.open(url)[:, :, 140:150].compute()
    np.testing.assert_array_equal(got, noise[:, :, 140:150])
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(url)[:, :, 150:152].compute(), noise[:, :, 150:152])


def test_build_gzip_index_for_a_url(tmp_path, s3_server: S3, s3_bucket: str, _isolated_cache):
    path = write_phantom_nifti(tmp_path / "b.nii.gz", (32, 32, 40), dtype="int16")
    url = _put_s3(s3_server, s3_bucket, "b.nii.gz", Path(path).read_bytes())
    target = build_gzip_index(url, storage_options=s3_server.options())
    assert target.exists() and target.parent == _isolated_cache / "gzindex"
    vol = lv.open(url, storage_options=s3_server.options())
    from lazyvol.chunking import source_of

    src = source_of(vol.data)
    assert src is not None and not src[1].sequential_reads()
    np.testing.assert_array_equal(vol[:, :, 20:21].compute(), _reference(path)[0][:, :, 20:21])


def test_remote_seek_point_spacing():
    assert gz_remote.spacing(16 * 2**20) == 256 * 2**10
    big = 4 * 2**30
    assert gz_remote.spacing(big) * gz_remote.MAX_POINTS >= big


# -- errors ------------------------------------------------------------------------------------------


def test_missing_object_names_the_url_without_credentials(s3_server: S3, s3_bucket: str):
    url = f"s3://{s3_bucket}/nope/missing.nii.gz"
    with pytest.raises(SourceNotFoundError, match=r"missing\.nii\.gz") as ei:
        lv.open(url, storage_options=s3_server.options())
    assert f"s3://{s3_bucket}/nope/missing.nii.gz" in str(ei.value)
    _no_secret(str(ei.value))


def test_denied_request_is_typed_without_credentials(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "d.nii", (8, 8, 4))
    url = http_server.put("d.nii", Path(path).read_bytes(), mode="deny")
    token = "Bearer lazyvol-http-token-DO-NOT-PRINT"
    with pytest.raises(RemoteAccessError, match="access denied") as ei:
        lv.open(url, storage_options={"headers": {"Authorization": token}})
    assert "/d.nii" in str(ei.value) and token not in str(ei.value)
    # Credentials in the URL itself are redacted too.
    with pytest.raises(RemoteAccessError) as ei:
        lv.open(url.replace("http://", "http://alice:hunter2pw@"))
    assert "hunter2pw" not in str(ei.value) and "alice" not in str(ei.value)


@pytest.mark.parametrize("ignores_if_match", [False, True], ids=["if-match", "no-if-match"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_object_changed_after_open_http(
    tmp_path, http_server: HttpServer, suffix: str, ignores_if_match: bool
):
    """A replaced object is refused: by the server (If-Match), or, on a server that serves a
    GET whatever its If-Match says, by the check after the read."""
    http_server.ignore_if_match = ignores_if_match
    path = write_phantom_nifti(tmp_path / ("c" + suffix), (16, 16, 8), dtype="int16")
    url = http_server.put("c" + suffix, Path(path).read_bytes())
    vol = lv.open(url)
    other = write_phantom_nifti(tmp_path / ("o" + suffix), (16, 16, 8), dtype="int16", seed=5)
    http_server.put("c" + suffix, Path(other).read_bytes())
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        vol.compute()


def test_if_match_reads_keep_the_users_headers(tmp_path, http_server: HttpServer):
    """fsspec's HTTP filesystem replaces the ``headers`` storage option with a call's own: the
    If-Match reads sent only If-Match, so a server that needs the user's Authorization refused
    them. The user's headers are kept, and If-Match still guards the reads."""
    token = "Bearer s3cr3t-token"
    http_server.require_authorization = token
    path = write_phantom_nifti(tmp_path / "a.nii", (16, 16, 8), dtype="int16")
    url = http_server.put("a.nii", Path(path).read_bytes())
    options = {"headers": {"Authorization": token}}
    vol = lv.open(url, storage_options=options)
    loc = _io.Location.of(url, options)
    assert _io.reads_check(loc, _io.stamp(loc))  # the server honours If-Match for this user
    np.testing.assert_array_equal(vol.compute(), _reference(path)[0])
    other = write_phantom_nifti(tmp_path / "o.nii", (16, 16, 8), dtype="int16", seed=5)
    http_server.put("a.nii", Path(other).read_bytes())
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        vol.compute()


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_object_changed_after_open_s3(tmp_path, s3_server: S3, s3_bucket: str, suffix: str):
    path = write_phantom_nifti(tmp_path / ("c" + suffix), (16, 16, 8), dtype="int16")
    url = _put_s3(s3_server, s3_bucket, "c" + suffix, Path(path).read_bytes())
    vol = lv.open(url, storage_options=s3_server.options())
    other = write_phantom_nifti(tmp_path / ("o" + suffix), (16, 16, 8), dtype="int16", seed=5)
    _put_s3(s3_server, s3_bucket, "c" + suffix, Path(other).read_bytes())
    with pytest.raises(SourceChangedError) as ei:
        vol.compute()
    assert url in str(ei.value)
    _no_secret(str(ei.value))


def test_truncated_remote_nii_is_refused_at_open(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "t.nii", (16, 16, 8), dtype="int16")
    url = http_server.put("t.nii", Path(path).read_bytes()[:-100])
    with pytest.raises(FormatError, match="truncated"):
        lv.open(url)


def test_storage_options_for_a_local_path_are_refused(tmp_path):
    path = write_phantom_nifti(tmp_path / "l.nii", (4, 4, 4))
    with pytest.raises(ValueError, match="storage_options are for URLs"):
        lv.open(path, storage_options={"anon": True})


# -- credentials never leak --------------------------------------------------------------------------


def test_secrets_never_in_repr_tokens_graph_or_cache_files(
    tmp_path, s3_server: S3, s3_bucket: str, _isolated_cache: Path
):
    path = write_phantom_nifti(tmp_path / "s.nii.gz", (24, 24, 20), dtype="int16")
    url = _put_s3(s3_server, s3_bucket, "s.nii.gz", Path(path).read_bytes())
    vol = lv.open(url, storage_options=s3_server.options())
    vol.compute()  # saves the seek index in the cache directory
    texts = [
        repr(vol),
        str(vol),
        repr(vol.meta),
        vol.data.name,
        dask.base.tokenize(vol.data),
        repr(dict(vol.data.__dask_graph__())),
    ]
    for text in texts:
        _no_secret(text)
    written = [p for p in _isolated_cache.rglob("*") if p.is_file()]
    assert written, "the seek index was saved"
    for p in written:
        blob = p.read_bytes()
        assert S3_KEY.encode() not in blob and S3_SECRET.encode() not in blob
        assert S3_KEY not in p.name and S3_SECRET not in p.name
    # The plan pickles with the credentials (a worker needs them) yet prints none.
    from lazyvol.chunking import source_of

    src = source_of(vol.data)
    assert src is not None
    plan = pickle.loads(pickle.dumps(src[1]))
    assert plan.loc.options["secret"] == S3_SECRET
    _no_secret(repr(plan))
    # Other credentials give the same token (the data are the same); other endpoints do not.
    again = lv.open(url, storage_options={**s3_server.options(), "secret": "another-secret-xyz"})
    assert again.data.name == vol.data.name


# -- dask.distributed --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_distributed_workers_read_from_s3(
    tmp_path, s3_server: S3, s3_bucket: str, dist_client, suffix: str
):
    path = write_phantom_nifti(tmp_path / ("w" + suffix), (32, 28, 24), dtype="int16")
    url = _put_s3(s3_server, s3_bucket, "w" + suffix, Path(path).read_bytes())
    want = _reference(path)[0]
    vol = lv.open(url, storage_options=s3_server.options(), chunks=(32, 28, 4))
    got = dist_client.compute(vol.data.sum(axis=(0, 1), dtype="int64")).result()
    np.testing.assert_array_equal(got, want.sum(axis=(0, 1), dtype="int64"))
    arr = dist_client.compute(vol.data[:, :, 9:15]).result()
    np.testing.assert_array_equal(arr, want[:, :, 9:15])
    assert os.getpid() not in dist_client.run(os.getpid).values()


def test_truncated_remote_niigz_raises_when_read(tmp_path, http_server: HttpServer):
    import gzip

    path = write_phantom_nifti(tmp_path / "t.nii", (32, 32, 16), dtype="int16", seed=3)
    blob = gzip.compress(Path(path).read_bytes(), compresslevel=1)
    url = http_server.put("t.nii.gz", blob[: len(blob) * 2 // 3])
    with pytest.raises(FormatError, match=r"t\.nii\.gz.*(truncated|corrupt)"):
        lv.open(url).compute()


@pytest.mark.parametrize("at", [-8, "deflate"])
def test_remote_niigz_failing_its_crc_is_refused(
    tmp_path, http_server: HttpServer, _isolated_cache: Path, at
):
    """A remote .nii.gz is inflated by indexed_gzip, which checked no trailer in this read
    pattern: a damaged object that still inflated returned its damaged values. The sequential
    pass now checks the stream's CRC-32 (a stored CRC changed, or one deflate bit that only the
    CRC catches), refuses the object and saves no seek index."""
    import gzip
    import zlib

    a = np.random.default_rng(11).integers(-(2**15), 2**15, size=(256, 256, 36), dtype=np.int16)
    plain = tmp_path / "r.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), str(plain))
    blob = gzip.compress(plain.read_bytes(), compresslevel=1, mtime=0)
    candidates = [len(blob) - 8] if at == -8 else range(len(blob) // 2, len(blob) - 8, 4099)
    for pos in candidates:
        bad = bytearray(blob)
        bad[pos] ^= 0x10
        try:
            gzip.decompress(bytes(bad))
        except (OSError, EOFError, zlib.error) as exc:
            if "CRC" in str(exc):  # the reference: inflates, and only the CRC-32 fails
                break
    else:  # pragma: no cover
        pytest.skip("no bit flip that only the CRC catches")
    url = http_server.put("bad/r.nii.gz", bytes(bad))
    with pytest.raises(ChecksumError, match=r"r\.nii\.gz: the gzip stream fails its own"):
        lv.open(url, chunks=(256, 256, 12)).compute()
    assert not list((_isolated_cache / "gzindex").glob("*.remote.gzidx"))
    clear_gzip_handles()
    good = http_server.put("good/r.nii.gz", blob)
    np.testing.assert_array_equal(lv.open(good, chunks=(256, 256, 12)).compute(), a)
    assert len(list((_isolated_cache / "gzindex").glob("*.remote.gzidx"))) == 1


def test_server_stopping_mid_read_is_typed_and_names_the_url(tmp_path, http_server: HttpServer):
    path = write_phantom_nifti(tmp_path / "x.nii", (32, 32, 16), dtype="int16")
    url = http_server.put("x.nii", Path(path).read_bytes())
    vol = lv.open(url)
    http_server.objects["/x.nii"].mode = "cut"  # same bytes, but every response stops halfway
    with pytest.raises(lv.LazyvolError) as ei:
        vol.compute()
    assert "/x.nii" in str(ei.value)


def test_object_changed_after_open_is_caught_by_a_block_read_in_several_ranges(
    tmp_path, http_server: HttpServer
):
    """A block read in several ranges at once (half of every slice) carries no If-Match on its
    requests: the object replaced after open (same size, new ETag) is still refused, not served."""
    a = np.arange(6 * 10 * 7 * 3, dtype="int16").reshape(6, 10, 7, 3)
    path = tmp_path / "m.nii"
    nib.Nifti1Image(a, np.eye(4)).to_filename(path)
    url = http_server.put("m.nii", path.read_bytes())
    vol = lv.open(url, chunks=(6, 5, 7, 3))  # each block: 21 runs of half a slice
    np.testing.assert_array_equal(vol.data[:, :5].compute(), a[:, :5])
    nib.Nifti1Image(-a, np.eye(4)).to_filename(path)
    http_server.put("m.nii", path.read_bytes())
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        vol.data[:, :5].compute()


def test_object_replaced_while_a_block_is_read_is_never_served_s3(
    tmp_path, s3_server: S3, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
):
    """S3 requests carry no If-Match: each GetObject answer's ETag and size are checked against
    the opened object's, so a writer replacing it right after an answer (here: just after the
    first one) never gets its bytes served as the opened object's."""
    from lazyvol import _s3_range

    a = np.arange(16 * 16 * 8, dtype="int16").reshape(16, 16, 8)
    path = tmp_path / "r.nii"
    nib.Nifti1Image(a, np.eye(4)).to_filename(path)
    url = _put_s3(s3_server, s3_bucket, "r.nii", path.read_bytes())
    vol = lv.open(url, storage_options=s3_server.options())
    nib.Nifti1Image(-a, np.eye(4)).to_filename(path)
    replaced = path.read_bytes()
    real = _s3_range._get_one
    calls = []

    async def answer_then_replace(*args, **kwargs):
        got = await real(*args, **kwargs)
        if not calls:
            _put_s3(s3_server, s3_bucket, "r.nii", replaced)
        calls.append(args[1])
        return got

    monkeypatch.setattr(_s3_range, "_get_one", answer_then_replace)
    np.testing.assert_array_equal(vol.compute(), a)  # the answer was checked: the opened object's
    assert calls
    with pytest.raises(SourceChangedError):
        vol.compute()  # the next read sees the replacement


def test_a_version_id_reads_that_version_of_a_versioned_object(
    tmp_path, s3_server: S3, s3_bucket: str
):
    """``s3://bucket/key?versionId=V``: s3fs ignores versionId unless version_aware is set, so
    the newest version was read, silently, under the old version's name (and cache key)."""
    s3_server.client.put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    old = write_phantom_nifti(tmp_path / "old.nii", (16, 16, 8), dtype="int16", seed=1)
    new = write_phantom_nifti(tmp_path / "new.nii", (16, 16, 8), dtype="int16", seed=2)
    v1 = s3_server.client.put_object(Bucket=s3_bucket, Key="v.nii", Body=Path(old).read_bytes())[
        "VersionId"
    ]
    _put_s3(s3_server, s3_bucket, "v.nii", Path(new).read_bytes())
    url = f"s3://{s3_bucket}/v.nii"
    first = lv.open(f"{url}?versionId={v1}", storage_options=s3_server.options())
    np.testing.assert_array_equal(first.compute(), _reference(old)[0])
    latest = lv.open(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(latest.compute(), _reference(new)[0])


def test_a_version_of_one_file_of_a_pair_or_of_a_reference_target_is_refused(
    tmp_path, s3_server: S3, s3_bucket: str
):
    """A version id names one object: the other file of a .hdr/.img pair has its own (the pair's
    partner was looked up under this one's id: 'missing'); references cannot pin a version for
    their readers (s3fs reads the newest unless every reader sets version_aware)."""
    from lazyvol.refs import references

    s3_server.client.put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    img = nib.Nifti1Pair(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    nib.save(img, tmp_path / "p.hdr")
    vh = s3_server.client.put_object(
        Bucket=s3_bucket, Key="p.hdr", Body=(tmp_path / "p.hdr").read_bytes()
    )["VersionId"]
    _put_s3(s3_server, s3_bucket, "p.img", (tmp_path / "p.img").read_bytes())
    with pytest.raises(UnsupportedError, match="pair; the other file's version"):
        lv.open(f"s3://{s3_bucket}/p.hdr?versionId={vh}", storage_options=s3_server.options())
    path = write_phantom_nifti(tmp_path / "x.nii", (6, 5, 4), dtype="uint8")
    vx = s3_server.client.put_object(Bucket=s3_bucket, Key="x.nii", Body=Path(path).read_bytes())[
        "VersionId"
    ]
    with pytest.raises(UnsupportedError, match="cannot pin for their readers"):
        references(f"s3://{s3_bucket}/x.nii?versionId={vx}", storage_options=s3_server.options())


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh handles", "the pass's handle"])
def test_niigz_slice_by_slice_through_a_saved_index_fetches_the_stream_about_once(
    tmp_path, http_server: HttpServer, _isolated_cache: Path, fresh: bool
):
    """indexed_gzip inflates each read from the seek point before it: a loop over the slices of
    a URL with a saved index fetched and inflated each stretch between points again for every
    slice in it. The handle reads on to the next point once reads follow one another, also the
    handle that made the pass and saved the index (a script's loop after a full read)."""
    rng = np.random.default_rng(11)
    ramp = np.add.outer(np.add.outer(np.arange(96), np.arange(96)), np.arange(200))
    data = (ramp * 3 + rng.integers(0, 40, ramp.shape)).astype(np.int16)
    path = tmp_path / "s.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    url = http_server.put("s.nii.gz", path.read_bytes())
    vol = lv.open(url)
    if fresh:
        build_gzip_index(url)
        clear_gzip_handles()
    else:
        np.testing.assert_array_equal(vol.compute(), data)
    http_server.reset_counts()
    for k in range(data.shape[2]):
        np.testing.assert_array_equal(vol[:, :, k : k + 1].compute(), data[:, :, k : k + 1])
    assert http_server.bytes_served < 1.3 * path.stat().st_size
    np.testing.assert_array_equal(vol[:, :, 7:9].compute(), data[:, :, 7:9])  # a jump back


@pytest.mark.parametrize("how", ["build_gzip_index", "a full read"])
def test_the_saved_index_of_a_url_has_points_over_the_whole_stream(
    tmp_path, http_server: HttpServer, _isolated_cache: Path, how: str
):
    """indexed_gzip adds seek points only up to where a seek or a read starts: the pass that
    saves a URL's index read a small object in one piece and saved an index with no point past
    the stream's start, so each later read of a slice fetched and inflated the object from its
    start. The pass now reads in pieces, each after a seek to its end."""
    import indexed_gzip as igzip

    rng = np.random.default_rng(5)
    data = (
        np.add.outer(np.arange(96), np.arange(96))[..., None] * 3
        + rng.integers(0, 40, (96, 96, 200))
    ).astype(np.int16)
    path = tmp_path / "one.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    url = http_server.put("one.nii.gz", path.read_bytes())
    if how == "build_gzip_index":
        index = build_gzip_index(url)
    else:
        np.testing.assert_array_equal(lv.open(url).compute(), data)
        (index,) = (_isolated_cache / "gzindex").glob("*.remote.gzidx")
    with igzip.IndexedGzipFile(str(path)) as f:
        f.import_index(str(index))
        points = sorted(p for p, _ in f.seek_points())
    stream = data.nbytes + 352
    assert stream - points[-1] <= 2 * gz_remote.spacing(stream), points
    clear_gzip_handles()
    vol = lv.open(url)
    http_server.reset_counts()
    np.testing.assert_array_equal(vol[:, :, 190:191].compute(), data[:, :, 190:191])
    assert http_server.bytes_served < 0.25 * path.stat().st_size
