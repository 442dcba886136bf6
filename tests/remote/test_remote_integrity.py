"""What an HTTP server answers is checked before its bytes are used: a 206 of other bytes, of more
or fewer bytes than asked, a whole object for a range, an encoded body, a replaced object on a
server that ignores If-Match or sends no validator. Against the misbehaving loopback server of
hostile_server.py; data compared with nibabel's and the synthetic writers' truth."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hostile_server import HostileServer

import lazyvol as lv
from lazyvol import _io
from lazyvol._location import Location
from lazyvol.cache import CacheWarning
from lazyvol.errors import FormatError, RemoteReadError, SourceChangedError
from lazyvol.testing import write_dicom_series, write_enhanced_dicom, write_phantom_nifti

nib = pytest.importorskip("nibabel")

SHAPE = (40, 30, 24)
CHUNKS = (40, 30, 6)


def _nifti(
    tmp_path: Path, name: str = "a.nii", seed: int = 0, shape=SHAPE
) -> tuple[bytes, np.ndarray]:
    """A phantom's file bytes and its stored values as nibabel reads them."""
    path = write_phantom_nifti(tmp_path / f"{seed}-{name}", shape, dtype="int16", seed=seed)
    return Path(path).read_bytes(), np.asanyarray(nib.load(path).dataobj)


def test_a_206_naming_other_bytes_is_refused(tmp_path, hostile_server: HostileServer):
    """A 206 whose Content-Range names other bytes than asked was used as the bytes asked:
    every voxel shifted, silently."""
    raw, _truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw)
    vol = lv.open(url, scale=False, chunks=CHUNKS)
    hostile_server.obj("a.nii").shift = 4
    with pytest.raises(RemoteReadError, match=r"a\.nii: asked for bytes \d+-\d+, the server sent"):
        vol.compute()
    with pytest.raises(
        RemoteReadError, match=r"asked for bytes 352-451, the server sent bytes 356"
    ):
        _io.read(url, 352, 100)


def test_a_206_naming_other_bytes_is_refused_for_dicom(tmp_path, hostile_server: HostileServer):
    truth = write_enhanced_dicom(tmp_path / "e", (24, 20, 6))
    url = hostile_server.put("x.dcm", Path(truth.files[0]).read_bytes())
    vol = lv.open(url, scale=False)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
    _io.clear_filesystems()
    vol = lv.open(url, scale=False)
    hostile_server.obj("x.dcm").shift = 2
    with pytest.raises(RemoteReadError, match=r"x\.dcm: asked for bytes"):
        vol.compute()


def test_a_longer_206_is_cut_where_it_starts(tmp_path, hostile_server: HostileServer):
    """A 206 with more bytes than asked (honestly labelled, as a CDN rounding ranges up sends)
    was sliced as if it were the whole object: the bytes of another offset."""
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, more=4096)
    np.testing.assert_array_equal(lv.open(url, scale=False, chunks=CHUNKS).compute(), truth)
    assert _io.read(url, 352, 100) == raw[352:452]
    assert _io.read_ranges([(url, 352, 100), (url, 1000, 8)]) == [raw[352:452], raw[1000:1008]]


def test_a_206_running_to_the_end_of_the_object_is_left_after_the_range(
    hostile_server: HostileServer,
):
    """A server answering each range from its offset to the object's end (Content-Range honest,
    as a proxy turning ``bytes=a-b`` into ``bytes=a-``) had every read drained to the end: a
    slab-wise compute of a 32 MiB .nii received 272 MiB. A read now leaves the answer once its
    range has arrived (what the server still sends is what the sockets buffer)."""
    size = 64 * 2**20
    data = np.arange(size // 4, dtype="<u4").tobytes()
    url = hostile_server.put("toend.bin", data, more=size)
    assert _io.read(url, 5, 1000) == data[5:1005]
    assert hostile_server.obj("toend.bin").sent < size // 2
    # A few bytes more than asked are still read to the end of the answer and its length checked.
    url = hostile_server.put("few.bin", data, more=100)
    assert _io.read(url, 5, 1000) == data[5:1005]
    assert hostile_server.obj("few.bin").sent == 1100


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_a_server_sending_no_content_length_is_sized_by_its_content_range(
    tmp_path, hostile_server: HostileServer, name
):
    """Bodies sent in chunks, without Content-Length (HEAD states none either), from a server that
    honours Range and states the size in Content-Range: lv.open refused the object ("the server
    does not report the object's size"). Its size is now asked with a request for its first byte."""
    raw, truth = _nifti(tmp_path)
    data = gzip.compress(raw) if name.endswith(".gz") else raw
    url = hostile_server.put(name, data, chunked=True)
    np.testing.assert_array_equal(lv.open(url, scale=False, chunks=CHUNKS).compute(), truth)
    # an encoded answer still states no size of the object: refused, naming the server fix
    url = hostile_server.put("enc-" + name, data, chunked=True, encoding_label="gzip")
    with pytest.raises(FormatError, match="Content-Encoding"):
        lv.open(url)


def test_stamping_an_object_never_asks_for_all_of_it(tmp_path, hostile_server: HostileServer):
    """fsspec's info follows a HEAD stating no size (bodies sent in chunks) or refused (a URL
    signed for GET only: 403) with a GET of the whole object, left after its headers: each stamp
    had the server start sending the object (a 32 MiB .nii: 4 MiB sent at open; a web folder
    of 40 DICOM files: every file sent whole at open, then read again at compute)."""
    big = np.zeros((256, 256, 128), np.int16)
    path = tmp_path / "big.nii"
    nib.save(nib.Nifti1Image(big, np.eye(4)), path)
    raw = path.read_bytes()
    for name, behaviour in [("chunked.nii", {"chunked": True}), ("signed.nii", {})]:
        url = hostile_server.put(name, raw, **behaviour)
        if name == "signed.nii":  # HEAD refused, GET answered
            hostile_server.obj(name).status_head = 403
        vol = lv.open(url)
        assert vol.shape == big.shape
        assert not [e for e in hostile_server.gets(name) if not e[2]]  # (no GET without Range)
        assert hostile_server.obj(name).sent < 2**16
    write_dicom_series(tmp_path / "dcm", (512, 512, 8))
    hostile_server.index_pages = True
    for file in sorted((tmp_path / "dcm").iterdir()):
        hostile_server.put(f"dcm/{file.name}", file.read_bytes(), chunked=True)
    vol = lv.open(f"{hostile_server.url}/dcm/")
    dicom = [o for p, o in hostile_server.objects.items() if p.startswith("/dcm/")]
    assert sum(o.sent for o in dicom) < sum(len(o.data) for o in dicom) / 2  # (headers only)
    np.testing.assert_array_equal(vol.compute(), lv.open(tmp_path / "dcm").compute())
    assert not [
        e for e in hostile_server.log if e[0] == "GET" and e[1].endswith(".dcm") and not e[2]
    ]


@pytest.mark.parametrize("behaviour", [{"status_head": 405}, {"chunked": True}])
def test_an_empty_object_is_stamped_by_the_refusal_of_its_first_byte(
    tmp_path, hostile_server: HostileServer, behaviour
):
    """1d1104b stamps an object its HEAD does not size (refused, or bodies sent in chunks) by a
    GET of its first byte: an empty object has none, and its 416 ('bytes */0') failed the stamp,
    so a web folder of a DICOM series with one empty file (a placeholder) failed to open
    ('truncated'), where fsspec's whole GET had sized it 0 and the file was skipped."""
    write_dicom_series(tmp_path / "dcm", (16, 16, 4))
    hostile_server.index_pages = True
    for file in sorted((tmp_path / "dcm").iterdir()):
        hostile_server.put(f"dcm/{file.name}", file.read_bytes(), **behaviour)
    url = hostile_server.put("dcm/EMPTY", b"", **behaviour)
    assert _io.stamp(Location(url)).size == 0
    vol = lv.open(f"{hostile_server.url}/dcm/", cache=False)
    np.testing.assert_array_equal(vol.compute(), lv.open(tmp_path / "dcm").compute())


def test_stamping_an_object_behind_a_redirect_follows_its_head(
    tmp_path, hostile_server: HostileServer
):
    """aiohttp's HEAD stays on a redirect (its GET follows): the stamp's HEAD was answered by the
    302 itself, stating no size, and each stamp sent a GET of the first byte after it (two
    requests more per object behind a redirect, and the 302's headers taken into the stamp)."""
    arr = np.arange(6 * 7 * 5, dtype=np.int16).reshape(6, 7, 5)
    path = tmp_path / "a.nii"
    nib.save(nib.Nifti1Image(arr, np.eye(4)), path)
    hostile_server.put("real/a.nii", path.read_bytes())
    hostile_server.put("a.nii", b"", redirect_to="/real/a.nii")
    info = _io.stamp(Location(f"{hostile_server.url}/a.nii"))
    assert info.size == len(path.read_bytes())
    assert [e[0] for e in hostile_server.log] == ["HEAD", "HEAD"]  # (the 302, then the object)
    np.testing.assert_array_equal(lv.open(f"{hostile_server.url}/a.nii").compute(), arr)


def test_a_shorter_206_is_completed_by_follow_up_requests(tmp_path, hostile_server: HostileServer):
    """RFC 9110 lets a server send less than asked (a cap per answer): the rest is asked for;
    a server that keeps sending less and less is refused, naming the range asked and received."""
    raw, truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, cap=4096)
    np.testing.assert_array_equal(lv.open(url, scale=False, chunks=CHUNKS).compute(), truth)
    assert hostile_server.obj("a.nii").requests >= 4 * 4  # each 14400-byte chunk: 4 answers
    url = hostile_server.put("b.nii", raw)
    vol = lv.open(url, scale=False, chunks=CHUNKS)
    hostile_server.obj("b.nii").halve = True
    with pytest.raises(RemoteReadError, match=r"b\.nii: .*in pieces.*asked for bytes"):
        vol.compute()


def test_if_match_ignored_on_one_path_of_an_origin(tmp_path, hostile_server: HostileServer):
    """Whether If-Match was honoured was asked once per origin: a path behind a backend that
    ignores it then had a replaced object read silently. Each answer's ETag is compared now."""
    raw, truth = _nifti(tmp_path)
    raw2, _ = _nifti(tmp_path, seed=7)
    assert len(raw2) == len(raw)
    good = hostile_server.put("honours/a.nii", raw)
    bad = hostile_server.put("ignores/b.nii", raw, ignore_if_match=True)
    np.testing.assert_array_equal(lv.open(good, scale=False).compute(), truth)
    vol = lv.open(bad, scale=False, chunks=CHUNKS)
    hostile_server.obj("ignores/b.nii").data = raw2
    with pytest.raises(SourceChangedError, match=r"b\.nii: the object changed"):
        vol.compute()


def test_an_object_without_validators_warns_and_is_never_cached(
    tmp_path, hostile_server: HostileServer, monkeypatch
):
    """No ETag, no Last-Modified: a replacement of the same size cannot be told apart, and the
    cache served the old object for ever. Now a warning at open, and no cache entry and no saved
    seek index under such a stamp."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    raw, truth = _nifti(tmp_path)
    raw2, truth2 = _nifti(tmp_path, seed=7)
    url = hostile_server.put("a.nii", raw, etag=None, mtime=None)
    with pytest.warns(RuntimeWarning, match=r"a\.nii: the server sends neither an ETag nor"):
        with pytest.warns(CacheWarning, match="not cached"):
            vol = lv.open(url, scale=False, cache=True)
    np.testing.assert_array_equal(vol.compute(), truth)
    hostile_server.obj("a.nii").data = raw2
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = lv.open(url, scale=False, cache=True)
    assert not [w for w in seen if w.category is RuntimeWarning], "warned once per URL"
    assert [w for w in seen if w.category is CacheWarning], "each cache=True open says why"
    np.testing.assert_array_equal(again.compute(), truth2)

    gz, gz_truth = _nifti(tmp_path, "b.nii.gz")
    url = hostile_server.put("b.nii.gz", gz, etag=None, mtime=None)
    with pytest.warns(RuntimeWarning, match="neither an ETag"):
        vol = lv.open(url, scale=False, chunks=CHUNKS)
    np.testing.assert_array_equal(vol.compute(), gz_truth)
    assert not list((tmp_path / "cache").rglob("*.gzidx")), "no seek index saved"


def test_a_server_ignoring_range_warns_once(tmp_path, hostile_server: HostileServer):
    """Every chunk of a server that ignores Range downloads the whole object: correct, but
    silent until now (12x the transfer of an 8 MiB file)."""
    raw, truth = _nifti(tmp_path, shape=(256, 256, 16))
    url = hostile_server.put("big.nii", raw, norange=True)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = lv.open(url, scale=False, chunks=(256, 256, 2)).compute()
    np.testing.assert_array_equal(got, truth)
    said = [w for w in seen if "ignores Range" in str(w.message)]
    assert len(said) == 1 and issubclass(said[0].category, RuntimeWarning)
    assert "big.nii" in str(said[0].message) and str(len(raw)) in str(said[0].message)


# A subprocess reads ranges of large objects from the test's server and reports how much its
# peak RSS grew: Linux's VmHWM, reset first (writing 5 to clear_refs), so the peak of the imports
# does not hide the reads'.
_MEMORY_PROBE = textwrap.dedent(
    """
    import gc, hashlib, json, sys, warnings
    warnings.simplefilter("ignore")
    from lazyvol import _io
    def peak_mib():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
    base, wants = sys.argv[1], json.loads(sys.argv[2])
    assert _io.read(base + "/warm.bin", 0, 4) == b"warm"  # the session and its buffers
    got, grew = [], []
    for name, offset, length in wants:
        loc = _io.Location.of(f"{base}/{name}")
        expect = _io.stamp(loc)
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError as exc:
            print(json.dumps({"skip": f"cannot reset the peak RSS: {exc}"}))
            sys.exit(0)
        before = peak_mib()
        data = _io.read(loc, offset, length, expect=expect)
        grew.append(peak_mib() - before)
        got.append(hashlib.sha256(data).hexdigest())
    print(json.dumps({"grew_mib": grew, "sha256": got}))
    """
)


def test_an_answer_larger_than_the_range_is_not_held_in_memory(hostile_server: HostileServer):
    """A server ignoring Range (200 with the whole object, as python -m http.server) made every
    ranged read hold the whole object (lv.open of a 256 MiB .nii, a 548-byte header read, grew
    the process by 522 MiB), and so did a 206 longer than asked: a read holds its range only."""
    size = 64 * 2**20
    data = np.arange(size // 4, dtype="<u4").tobytes()  # every 4 bytes their own offset / 4
    hostile_server.put("warm.bin", b"warm")
    hostile_server.put("norange.bin", data, norange=True)
    hostile_server.put("longer.bin", data, more=size)
    wants = [
        ("norange.bin", 0, 348),
        ("norange.bin", size // 2 + 3, 65536),
        ("norange.bin", size - 100, 100),
        ("longer.bin", 5, 1000),
    ]
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, hostile_server.url, json.dumps(wants)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(lv.__file__).resolve().parents[1])},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    if "skip" in got:
        pytest.skip(got["skip"])
    truth = [hashlib.sha256(data[o : o + n]).hexdigest() for _name, o, n in wants]
    assert got["sha256"] == truth
    assert max(got["grew_mib"]) < 24, got  # the object is 64 MiB, a range at most 64 KiB


def test_an_encoded_answer_to_a_ranged_get_is_refused(tmp_path, hostile_server: HostileServer):
    """A body sent with Content-Encoding (the HEAD said nothing of it) is not the object's bytes."""
    raw, _truth = _nifti(tmp_path)
    url = hostile_server.put("a.nii", raw, encoding_label="gzip", encoding_get_only=True)
    with pytest.raises(
        RemoteReadError, match=r"a\.nii: .*Content-Encoding: gzip.*application/gzip"
    ):
        _io.read(url, 0, 100)
    with pytest.raises(RemoteReadError, match="Content-Encoding: gzip"):
        lv.open(url)
    url = hostile_server.put("f.nii", raw, gzip_body=True)
    with pytest.raises(lv.FormatError, match=r"f\.nii: the server sends the object with Content-"):
        lv.open(url)


def test_gz_labelled_content_encoding_names_the_server_fix(tmp_path, hostile_server):
    """A .nii.gz served as Content-Encoding: gzip (Apache's AddEncoding) was reported as a
    missing Content-Length."""
    raw, _truth = _nifti(tmp_path, "m.nii.gz")
    url = hostile_server.put("m.nii.gz", raw, encoding_label="gzip")
    with pytest.raises(lv.FormatError, match=r"Content-Encoding: gzip.*application/gzip") as info:
        lv.open(url)
    assert "no Content-Length" not in str(info.value)


def test_check_references_notices_a_replaced_target(tmp_path, hostile_server: HostileServer):
    """References record their target's size and ETag, but zarr and fsspec never check them: a
    replaced target was read silently. check_references compares them."""
    from lazyvol.refs import check_references, write_references

    raw, _truth = _nifti(tmp_path)
    raw2, _ = _nifti(tmp_path, seed=7)
    url = hostile_server.put("v.nii", raw)
    refs = lv.references(url)
    path = write_references(refs, tmp_path / "refs.json")
    assert check_references(refs) == 1
    assert check_references(path) == 1
    hostile_server.obj("v.nii").data = raw2  # same size, another ETag
    with pytest.raises(SourceChangedError, match=r"v\.nii: the target changed .*ETag"):
        check_references(path)
    hostile_server.obj("v.nii").data = raw[:1000]
    with pytest.raises(SourceChangedError, match=r"v\.nii: the target changed .*size"):
        check_references(refs)
    del hostile_server.objects["/v.nii"]
    with pytest.raises(SourceChangedError, match="removed; make the references again"):
        check_references(refs)


def test_check_references_notices_a_replacement_only_its_time_tells(
    tmp_path, hostile_server: HostileServer
):
    """A server without ETags (a plain file server): references recorded the size alone, so a
    replacement of the same size passed the check and was read silently. They record the
    Last-Modified time too, and the message names it."""
    from lazyvol.refs import check_references

    raw, _truth = _nifti(tmp_path)
    raw2, _ = _nifti(tmp_path, seed=7)
    url = hostile_server.put("t.nii", raw, etag=None)
    refs = lv.references(url)
    vol = lv.open(url)
    assert check_references(refs) == 1
    obj = hostile_server.obj("t.nii")
    obj.data, obj.mtime = raw2, obj.mtime + 60  # same size, a minute later
    with pytest.raises(SourceChangedError, match=r"t\.nii: the target changed .*modified"):
        check_references(refs)
    # lazyvol.open's own check says what changed (the message said "ETag ? -> ?" alone)
    with pytest.raises(SourceChangedError, match=r"Last-Modified .*2023 .*GMT -> .*GMT"):
        vol.compute()


def test_check_references_notices_a_local_rewrite_of_the_same_size(tmp_path):
    """A local .nii rewritten with other voxels and affine at the same size (a pipeline run
    again) passed the check: references of a local file recorded no identity at all."""
    from lazyvol.refs import check_references

    raw, _truth = _nifti(tmp_path)
    raw2, _ = _nifti(tmp_path, seed=7)
    target = tmp_path / "local.nii"
    target.write_bytes(raw)
    refs = lv.references(target)
    assert check_references(refs) == 1
    stat = target.stat()
    target.write_bytes(raw2)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its mtime put back
    with pytest.raises(SourceChangedError, match=r"local\.nii: the target changed .*ctime"):
        check_references(refs)
    # a pair: the .hdr holds the scaling and affine the references carry; its rewrite is seen
    img = nib.Nifti1Pair(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4))
    nib.save(img, tmp_path / "pair.hdr")
    refs = lv.references(tmp_path / "pair.img")
    assert check_references(refs) == 2  # the .img and its .hdr
    img.header.set_slope_inter(3.0, 5.0)
    nib.save(img, tmp_path / "other.hdr")
    os.replace(tmp_path / "other.hdr", tmp_path / "pair.hdr")
    with pytest.raises(SourceChangedError, match=r"pair\.hdr: the target changed"):
        check_references(refs)


def test_a_weak_etag_that_stays_does_not_hide_a_replacement(
    tmp_path, hostile_server: HostileServer
):
    """A weak ETag may stay while the bytes change (RFC 9110 forbids it as a check of byte
    ranges): a replacement of the same size under the same weak tag but a new Last-Modified was
    read silently once each answer's ETag was compared (the old HEAD check saw the time)."""
    raw, _ = _nifti(tmp_path)
    raw2, _ = _nifti(tmp_path, seed=7)
    url = hostile_server.put("w.nii", raw, etag='W/"same"')
    vol = lv.open(url, scale=False, chunks=CHUNKS)
    obj = hostile_server.obj("w.nii")
    obj.data, obj.mtime = raw2, obj.mtime + 60
    with pytest.raises(SourceChangedError, match="changed after it was opened"):
        vol.compute()


def test_an_object_with_only_a_last_modified_time_is_not_cached(
    tmp_path, hostile_server: HostileServer
):
    """Served with no ETag (``python -m http.server``), an object's stamp is its size and its
    Last-Modified time, in whole seconds: the identity the cache does not trust for a local file
    (size and mtime). A replacement of the same size within that second was served from the
    cache as the old object; it is now read uncached, with a warning saying why."""
    from lazyvol.cache import open_cached

    raw, truth = _nifti(tmp_path)
    raw2, truth2 = _nifti(tmp_path, seed=7)
    assert len(raw) == len(raw2)
    url = hostile_server.put("lm.nii", raw, etag=None)
    with pytest.warns(CacheWarning, match="no ETag, only a Last-Modified time"):
        vol = open_cached(url, cache=tmp_path / "c", scale=False, chunks=CHUNKS)
    np.testing.assert_array_equal(vol.compute(), truth)
    hostile_server.obj("lm.nii").data = raw2  # same size, same Last-Modified
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        again = open_cached(url, cache=tmp_path / "c", scale=False, chunks=CHUNKS)
    np.testing.assert_array_equal(again.compute(), truth2)


@pytest.mark.parametrize("weak", [False, True], ids=["strong", "weak"])
def test_an_object_whose_etag_is_its_time_and_size_is_not_cached(
    tmp_path, hostile_server: HostileServer, weak
):
    """nginx's ETag is its Last-Modified second and its size in hex (``"6553f100-5c2d8"``, weak
    ``W/"..."`` when it compresses): a same-size rewrite within the second keeps it, as it keeps
    Last-Modified, so the entry made under it was served for the new object (the values of the
    old one, silently). It is read uncached, as an object with a Last-Modified time alone is."""
    from lazyvol.cache import open_cached

    raw, truth = _nifti(tmp_path)
    raw2, truth2 = _nifti(tmp_path, seed=7)
    assert len(raw) == len(raw2)
    tag = f'"{1_700_000_000:x}-{len(raw):x}"'
    url = hostile_server.put("ng.nii", raw, etag=f"W/{tag}" if weak else tag, mtime=1_700_000_000)
    with pytest.warns(CacheWarning, match="an ETag made of them, only a Last-Modified time"):
        vol = open_cached(url, cache=tmp_path / "c", scale=False, chunks=CHUNKS)
    np.testing.assert_array_equal(vol.compute(), truth)
    hostile_server.obj("ng.nii").data = raw2  # same size, same second: nginx's same ETag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)
        again = open_cached(url, cache=tmp_path / "c", scale=False, chunks=CHUNKS)
    np.testing.assert_array_equal(again.compute(), truth2)
    other = hostile_server.put("md5.nii", raw, etag='"9e107d9d372bb6826bd81d3542a419d6"')
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # (a content ETag: cached, no warning)
        np.testing.assert_array_equal(open_cached(other, cache=tmp_path / "c").compute(), truth)
