"""``.nii.gz`` access through both engines (rapidgzip, indexed_gzip): values against nibabel, the
shared seek index (one format for both engines, thinned, keyed on the file's full identity),
several-member files, stale indexes, and handles closed at interpreter exit."""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import dask
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess, gzengine, gzindex_format
from lazyvol.gzindex_format import open_index as gzaccess_open_index
from lazyvol.nifti import build_gzip_index, clear_gzip_handles
from lazyvol.testing import write_phantom_nifti

try:
    import rapidgzip  # noqa: F401

    HAVE_RAPIDGZIP = True
except ImportError:  # pragma: no cover - rapidgzip is a core dependency where it installs
    HAVE_RAPIDGZIP = False

ENGINES = [
    "indexed_gzip",
    pytest.param(
        "rapidgzip",
        marks=pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed"),
    ),
]


@pytest.fixture
def cache(gzip_cache: Path) -> Path:
    return gzip_cache


def _use(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
    clear_gzip_handles()
    assert gzaccess.engine() == engine


def _ref(path: Path | str) -> np.ndarray:
    return np.asanyarray(nib.load(str(path)).dataobj)


def _index_points(path: Path) -> int:
    blob = path.read_bytes()
    assert blob[:5] == b"GZIDX"
    return struct.unpack_from("<QQIII", blob, 7)[4]


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_reads_match_nibabel_and_save_an_index(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    _use(monkeypatch, engine)
    path = write_phantom_nifti(tmp_path / "e.nii.gz", (40, 33, 50), slope=2.0, inter=1.0)
    ref = nib.load(path).get_fdata()
    vol = lv.open(path, chunks=(40, 33, 7))
    np.testing.assert_array_equal(vol[:, :, 45:46].compute(), ref[:, :, 45:46])
    np.testing.assert_array_equal(vol.data.compute(scheduler="threads"), ref)
    saved = list((cache / "gzindex").glob("*.gzidx"))
    assert len(saved) == 1 and _index_points(saved[0]) >= 1
    clear_gzip_handles()
    vol = lv.open(path, chunks=(40, 33, 7))
    for k in (49, 3, 27):  # random access through the saved index
        np.testing.assert_array_equal(vol[2:30, :, k : k + 2].compute(), ref[2:30, :, k : k + 2])
    np.testing.assert_array_equal(vol.data.compute(scheduler="threads"), ref)


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
@pytest.mark.parametrize(
    ("writer", "reader"), [("rapidgzip", "indexed_gzip"), ("indexed_gzip", "rapidgzip")]
)
def test_one_index_serves_both_engines(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str
) -> None:
    path = write_phantom_nifti(tmp_path / "x.nii.gz", (64, 64, 96))
    ref = _ref(path)
    _use(monkeypatch, writer)
    target = build_gzip_index(path)
    _use(monkeypatch, reader)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol[:, :, 90:91].compute(), ref[:, :, 90:91])
    np.testing.assert_array_equal(vol[10:20, 5:60, 40:80].compute(), ref[10:20, 5:60, 40:80])
    assert target.exists()  # imported, not refused and rebuilt
    ent = next(iter(gzaccess._POOL.entries.values()))
    assert ent.indexed and ent.kind == reader
    assert ent.idle and {h.kind for h in ent.idle} == {reader}  # the forced engine reads too


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
def test_first_pass_inflates_with_rapidgzip_and_indexed_reads_use_indexed_gzip(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default engines: rapidgzip's fast sequential decoder makes the first pass (and the index);
    reads through the saved index use indexed_gzip, whose memory does not grow with the file
    (rapidgzip's prefetcher caches dozens of index-spaced chunks per handle)."""
    monkeypatch.delenv(gzaccess.ENGINE_ENV, raising=False)
    assert (gzaccess.engine(), gzaccess.index_engine()) == ("rapidgzip", "indexed_gzip")
    path = write_phantom_nifti(tmp_path / "x.nii.gz", (64, 64, 96))
    ref = _ref(path)
    vol = lv.open(path)
    assert float(vol.data.mean().compute()) == pytest.approx(float(ref.mean()))
    ent = next(iter(gzaccess._POOL.entries.values()))
    assert ent.indexed and {h.kind for h in ent.idle} == {"rapidgzip"}  # the first pass
    gzaccess.clear_handles()
    np.testing.assert_array_equal(vol[:, :, 70:75].compute(), ref[:, :, 70:75])
    ent = next(iter(gzaccess._POOL.entries.values()))
    assert ent.indexed and {h.kind for h in ent.idle} == {"indexed_gzip"}


def test_gzip_images_get_smaller_default_chunks(tmp_path: Path, monkeypatch) -> None:
    """A .nii.gz block is inflated into memory of its own: 16 MiB default blocks (32 MiB for a
    memory-mapped .nii); an explicit chunk budget wins."""
    from lazyvol.nifti import GZ_CHUNK_BYTES

    monkeypatch.delenv("LAZYVOL_CHUNK_SIZE", raising=False)
    shape = (128, 128, 1100)  # int16: 32 KiB a plane
    gz = lv.open(write_phantom_nifti(tmp_path / "x.nii.gz", shape))
    raw = lv.open(write_phantom_nifti(tmp_path / "x.nii", shape))
    plane = 128 * 128 * gz.dtype.itemsize
    assert max(gz.data.chunks[2]) * plane <= GZ_CHUNK_BYTES < max(raw.data.chunks[2]) * plane
    monkeypatch.setenv("LAZYVOL_CHUNK_SIZE", "32MiB")
    again = lv.open(tmp_path / "x.nii.gz")
    assert again.data.chunks == raw.data.chunks


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
@pytest.mark.parametrize("fmt", ["GZTOOL", "INDEXED_GZIP"])
def test_rapidgzip_export_converts_to_a_thin_index_both_engines_read(
    tmp_path: Path, fmt: str
) -> None:
    import indexed_gzip as igzip
    import rapidgzip

    path = write_phantom_nifti(tmp_path / "v.nii.gz", (64, 64, 120))
    raw = gzip.open(path).read()
    with rapidgzip.RapidgzipFile(path, parallelization=1, chunk_size=2**18) as f:
        f.read()
        f.export_index(str(tmp_path / "raw.idx"), index_format=getattr(rapidgzip.IndexFormat, fmt))
    size = os.path.getsize(path)
    kept = gzaccess.thin_index(tmp_path / "raw.idx", tmp_path / "t.idx", 4, compressed_size=size)
    assert kept == _index_points(tmp_path / "t.idx") <= 4
    assert gzaccess._index_sizes(tmp_path / "t.idx") == (size, len(raw))
    offsets = [0, 12345, len(raw) // 2 + 7, len(raw) - 3000]
    for opener in (
        lambda: igzip.IndexedGzipFile(path),
        lambda: rapidgzip.RapidgzipFile(path, parallelization=1),
    ):
        with opener() as h:
            h.import_index(str(tmp_path / "t.idx"))
            for o in offsets:
                h.seek(o)
                assert h.read(3000) == raw[o : o + 3000]


def test_index_is_thinned_to_the_point_cap(tmp_path: Path, cache: Path) -> None:
    path = write_phantom_nifti(tmp_path / "t.nii.gz", (64, 64, 200))
    target = build_gzip_index(path)
    full = _index_points(target)
    thin = tmp_path / "thin.gzidx"
    kept = gzaccess.thin_index(target, thin, 3)
    assert kept == _index_points(thin) == min(3, full)
    # the thinned index is still a valid index: reads through it are exact
    os.replace(thin, target)
    clear_gzip_handles()
    ref = _ref(path)
    np.testing.assert_array_equal(lv.open(path)[:, :, 150:152].compute(), ref[:, :, 150:152])
    assert next(iter(gzaccess._POOL.entries.values())).indexed


def _gzip_members(raw: bytes, cuts: list[int]) -> bytes:
    edges = [0, *cuts, len(raw)]
    return b"".join(gzip.compress(raw[a:b], mtime=0) for a, b in itertools.pairwise(edges))


@pytest.mark.parametrize("engine", ENGINES)
def test_nii_gz_of_several_members_reads_correctly(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    _use(monkeypatch, engine)
    plain = write_phantom_nifti(tmp_path / "m.nii", (30, 20, 40), slope=0.5)
    raw = Path(plain).read_bytes()
    path = tmp_path / "m.nii.gz"
    # the last member is small: its trailer (ISIZE) is far below the image size
    path.write_bytes(_gzip_members(raw, [len(raw) // 3, len(raw) - 1000]))
    assert subprocess.run(["gzip", "-t", str(path)]).returncode == 0
    ref = nib.load(path).get_fdata()
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), ref)
    np.testing.assert_array_equal(vol[:, :, 39:40].compute(), ref[:, :, 39:40])
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(path)[:, 3:9, 1:3].compute(), ref[:, 3:9, 1:3])


@pytest.mark.parametrize("boundary", [4094, 4095, 4096, 12287])
def test_members_ending_at_any_read_edge_are_all_counted(
    tmp_path: Path, cache: Path, boundary: int
) -> None:
    """The first member ends one byte before (and at, and after) the end of a read of the
    compressed stream: the next member's magic straddles two reads. A first member of 4095 bytes
    had the rest taken for trailing bytes, and the valid file refused as truncated."""
    plain = write_phantom_nifti(tmp_path / "m.nii", (32, 32, 16), seed=3)
    raw = Path(plain).read_bytes()
    split = 1000
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(raw[:split]) + body.flush()
    trailer = struct.pack("<II", zlib.crc32(raw[:split]), split)
    # FCOMMENT pads the (valid) first member to exactly ``boundary`` bytes
    comment = b"x" * (boundary - 10 - 1 - len(deflated) - 8)
    first = b"\x1f\x8b\x08\x10" + bytes(4) + b"\x00\xff" + comment + b"\x00" + deflated + trailer
    assert len(first) == boundary
    path = tmp_path / "m.nii.gz"
    path.write_bytes(first + gzip.compress(raw[split:], mtime=0))
    assert gzip.decompress(path.read_bytes()) == raw
    np.testing.assert_array_equal(lv.open(path).compute(), nib.load(path).get_fdata())


def test_truncated_single_and_multi_member_files_still_refused(tmp_path: Path, cache: Path) -> None:
    plain = write_phantom_nifti(tmp_path / "c.nii", (30, 20, 40))
    raw = Path(plain).read_bytes()
    # a single member cut short, its last 4 bytes forged to a small ISIZE (the cheap check fires,
    # the count of what the stream holds confirms)
    one = bytearray(gzip.compress(raw, mtime=0)[: len(raw) // 4])
    one[-4:] = struct.pack("<I", 100)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(bytes(one))
    with pytest.raises(lv.FormatError, match=r"cut\.nii\.gz.*truncated.*(holds|stops after) \d+"):
        lv.open(cut)
    # several members whose second member is cut off: valid first member, not enough data
    first = gzip.compress(raw[: len(raw) // 2], mtime=0)
    tail = gzip.compress(raw[len(raw) // 2 :], mtime=0)
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(first + tail[: len(tail) // 3] + struct.pack("<I", 7))
    with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz"):
        lv.open(bad).compute()
    # a member followed by deflate garbage
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(first + b"\x1f\x8b\x08\x00" + os.urandom(4000) + struct.pack("<I", 9))
    with pytest.raises(lv.FormatError, match=r"junk\.nii\.gz"):
        lv.open(junk).compute()


def test_a_stream_cut_short_reads_what_it_holds_whatever_the_engine(
    tmp_path: Path, cache: Path
) -> None:
    """A member cut short whose last 8 bytes pass for a trailer of the right ISIZE (it passes the
    open checks): the default engine's first pass (rapidgzip returns nothing from such a stream)
    gives way to zlib, so the slabs before the cut read as gzip reads them, and the first slab
    past it is refused with the count the stream really holds."""
    arr = (np.arange(64 * 64 * 40) % 3000).astype(np.int16).reshape(64, 64, 40)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "src.nii")
    raw = (tmp_path / "src.nii").read_bytes()
    packed = gzip.compress(raw, 1, mtime=0)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(packed[: int(len(packed) * 0.66)] + struct.pack("<II", 0, len(raw)))
    held = len(zlib.decompressobj(31).decompress(cut.read_bytes()))
    assert 352 + 64 * 64 * 2 * 8 < held < len(raw)
    vol = lv.open(cut, chunks=(64, 64, 4))
    np.testing.assert_array_equal(vol[:, :, 0:8].compute(), arr[:, :, 0:8])
    first_missing = (held - 352) // (64 * 64 * 2 * 4) * 4  # the first slab the stream cuts
    with pytest.raises(lv.FormatError, match=r"cut\.nii\.gz: truncated: .*the file holds [1-9]"):
        vol[:, :, first_missing : first_missing + 4].compute()


@pytest.mark.parametrize(
    "tail", [b"\0" * 512, b"GARBAGE!" * 8], ids=["zero-padding", "trailing-bytes"]
)
def test_bytes_after_the_last_member_are_ignored_as_gzip_and_nibabel_do(
    tmp_path: Path, cache: Path, tail: bytes
) -> None:
    """Zero padding (tape blocks, some uploaders) or other bytes after a complete gzip member:
    gzip and nibabel read the image, so lazyvol does too (rapidgzip refuses them; the read falls
    back to zlib's inflate through indexed_gzip), on a full pass and when building the index."""
    plain = write_phantom_nifti(tmp_path / "p.nii", (30, 20, 40))
    path = tmp_path / "t.nii.gz"
    path.write_bytes(gzip.compress(Path(plain).read_bytes(), mtime=0) + tail)
    ref = np.asanyarray(nib.load(path).dataobj)
    np.testing.assert_array_equal(lv.open(path).compute(), ref)
    clear_gzip_handles()
    shutil.rmtree(cache, ignore_errors=True)
    index = build_gzip_index(path)
    np.testing.assert_array_equal(lv.open(path)[:, :, 33:34].compute(), ref[:, :, 33:34])
    # An index that fails (here: one saved without lazyvol's checksum, as older versions did):
    # the read that follows inflates from the start, with the same fallback to zlib.
    index.write_bytes(index.read_bytes()[:-38])
    clear_gzip_handles()
    with pytest.warns(RuntimeWarning, match="seek index .* failed"):
        got = lv.open(path)[:, :, 33:34].compute()
    np.testing.assert_array_equal(got, ref[:, :, 33:34])


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip not installed")
def test_bytes_after_the_last_member_with_rapidgzip_forced_say_so(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced, rapidgzip has no zlib to fall back to: the refusal names bytes after the last
    member as a possible cause, and how to read such a file (it said 'corrupt or truncated')."""
    _use(monkeypatch, "rapidgzip")
    plain = write_phantom_nifti(tmp_path / "p.nii", (30, 20, 40))
    path = tmp_path / "t.nii.gz"
    path.write_bytes(gzip.compress(Path(plain).read_bytes(), mtime=0) + b"\0" * 512)
    with pytest.raises(
        lv.FormatError, match=r"bytes after its last gzip member.*rapidgzip refuses"
    ):
        lv.open(path).compute()


def _gzip_padded(raw: bytes, total: int) -> bytes:
    """A valid single-member gzip file of exactly ``total`` bytes (padded with an FEXTRA field)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(raw) + c.flush()
    trailer = struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)
    xlen = total - 12 - len(body) - len(trailer)
    assert 0 <= xlen < 65536
    head = b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\x00\xff" + struct.pack("<H", xlen)
    return head + b"\0" * xlen + body + trailer


def _same_size_pair(tmp_path: Path) -> tuple[bytes, bytes]:
    a = Path(write_phantom_nifti(tmp_path / "a.nii", (48, 40, 60), seed=1)).read_bytes()
    b = Path(write_phantom_nifti(tmp_path / "b.nii", (48, 40, 60), seed=2)).read_bytes()
    size = max(len(zlib.compress(a)), len(zlib.compress(b))) + 200
    return _gzip_padded(a, size), _gzip_padded(b, size)


def test_stale_index_of_a_replaced_file_is_not_used(tmp_path: Path, cache: Path) -> None:
    first, second = _same_size_pair(tmp_path)
    path = tmp_path / "r.nii.gz"
    path.write_bytes(first)
    build_gzip_index(path)
    st = os.stat(path)
    # another image of the same size written in place, the mtime put back
    time.sleep(0.02)
    with open(path, "r+b") as f:
        f.write(second)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(path).st_size, os.stat(path).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    code = (
        "import numpy as np, lazyvol as lv, nibabel as nib, sys\n"
        f"p = {str(path)!r}\n"
        "v = lv.open(p)\n"
        "ref = np.asanyarray(nib.load(p).dataobj)\n"
        "assert np.array_equal(v[:, :, 50:52].compute(), ref[:, :, 50:52])\n"
        "assert np.array_equal(v.compute(), ref)\n"
    )
    env = dict(os.environ, LAZYVOL_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(list((cache / "gzindex").glob("*.gzidx"))) == 2  # old identity's and the new one


def test_index_that_does_not_fit_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    small = write_phantom_nifti(tmp_path / "s.nii.gz", (16, 16, 20), seed=3)
    big = write_phantom_nifti(tmp_path / "g.nii.gz", (48, 40, 60), seed=4)
    other = build_gzip_index(small)
    st = os.stat(big)
    data_end = 352 + 48 * 40 * 60 * 2
    src = gzaccess.GzSource.of(str(big), data_end, st)
    target = gzaccess.index_path(src)
    assert not gzaccess.index_fits(other, src)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(other.read_bytes())  # a foreign index under the file's own name
    clear_gzip_handles()
    ref = _ref(big)
    np.testing.assert_array_equal(lv.open(big)[:, :, 55:57].compute(), ref[:, :, 55:57])
    np.testing.assert_array_equal(lv.open(big).compute(), ref)
    assert gzaccess.index_fits(target, src)  # rebuilt by the full pass


def _flip_windows(blob: bytearray) -> None:
    npoints = struct.unpack_from("<QQIII", blob, 7)[4]
    start = 7 + 28 + npoints * 18
    flips = range(start, len(blob) - 38, 97)  # every window, not the trailer
    assert len(flips) > 100, "the index holds windows"
    for at in flips:
        blob[at] ^= 0x5A


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("damage", ["window-bytes", "cut", "no-checksum"])
def test_a_damaged_saved_index_is_detected_and_rebuilt(
    tmp_path: Path, cache: Path, monkeypatch, engine: str, damage: str
) -> None:
    """A seek point's window is stream data no CRC covers: bytes changed in a saved index used
    to give wrong voxels without an error, and a cut index failed every read of an intact file
    until the cache was cleared. Every saved index carries a SHA-256 trailer: a damaged one (or
    one without it) is dropped with a warning, the read inflates from the start, and the next
    full pass saves a good one."""
    _use(monkeypatch, engine)
    # Noise of a few bits (2.3 MiB compressed): the stream spans several engine chunks, so the
    # index holds points with windows (back-references into them) inside it.
    noise = np.random.default_rng(9).integers(0, 50, (64, 64, 640), dtype=np.int16)
    path = tmp_path / "d.nii.gz"
    nib.save(nib.Nifti1Image(noise, np.eye(4)), path)
    ref = _ref(path)
    index = build_gzip_index(path)
    blob = bytearray(index.read_bytes())
    if damage == "window-bytes":
        _flip_windows(blob)
    elif damage == "cut":
        del blob[len(blob) // 2 :]
    else:
        del blob[-38:]  # what an index saved without lazyvol's checksum holds
    index.write_bytes(bytes(blob))
    clear_gzip_handles()
    with pytest.warns(RuntimeWarning, match="seek index .* failed"):
        got = lv.open(path)[:, :, 600:610].compute()
    np.testing.assert_array_equal(got, ref[:, :, 600:610])
    np.testing.assert_array_equal(lv.open(path).compute(), ref)
    with gzaccess_open_index(index):  # rebuilt, checksum and all
        pass
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(path)[:, :, 600:610].compute(), ref[:, :, 600:610])


@pytest.mark.parametrize("engine", ENGINES)
def test_process_exits_cleanly_with_handles_open(tmp_path: Path, engine: str) -> None:
    path = write_phantom_nifti(tmp_path / "x.nii.gz", (64, 64, 64))
    code = (
        "import lazyvol as lv\n"
        f"v = lv.open({str(path)!r}, chunks=(64, 64, 8))\n"
        "v[:, :, 40:41].compute()\n"
        "v.data.sum().compute(scheduler='threads')\n"
        "v[:, :, 3:9].compute()\n"
        "globals()['keep'] = v  # never closed by the script\n"
    )
    env = dict(os.environ, LAZYVOL_CACHE_DIR=str(tmp_path / "c"), **{gzaccess.ENGINE_ENV: engine})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "rapidgzip" not in out.stderr


def test_thread_cap_follows_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gzaccess.THREADS_ENV, raising=False)
    monkeypatch.setenv(gzaccess.MEMORY_ENV, str(gzaccess.RG_BYTES_PER_THREAD))
    assert gzaccess.gzip_threads() == 1
    monkeypatch.setenv(gzaccess.MEMORY_ENV, str(64 * gzaccess.RG_BYTES_PER_THREAD))
    cores = len(os.sched_getaffinity(0))
    # parallel decoding costs more CPU than it saves below PARALLEL_MIN_THREADS threads
    assert gzaccess.gzip_threads() == (cores if cores >= gzaccess.PARALLEL_MIN_THREADS else 1)
    monkeypatch.setattr(gzengine, "_cores", lambda: 16)
    assert gzaccess.gzip_threads() == 16
    few = gzaccess.PARALLEL_MIN_THREADS - 1
    monkeypatch.setenv(gzaccess.MEMORY_ENV, str(max(1, few) * gzaccess.RG_BYTES_PER_THREAD))
    assert gzaccess.gzip_threads() == 1
    monkeypatch.setenv(gzaccess.MEMORY_ENV, str(5 * gzaccess.RG_BYTES_PER_THREAD))
    assert gzaccess.gzip_threads() == 5
    monkeypatch.setenv(gzaccess.THREADS_ENV, "3")
    assert gzaccess.gzip_threads() == 3
    for bad in ("abc", "-1", "2.5"):  # a typed error naming the variable, not int()'s
        monkeypatch.setenv(gzaccess.THREADS_ENV, bad)
        with pytest.raises(lv.OptionError, match=gzaccess.THREADS_ENV):
            gzaccess.gzip_threads()
    monkeypatch.delenv(gzaccess.THREADS_ENV)
    monkeypatch.setenv(gzaccess.MEMORY_ENV, "lots")
    with pytest.raises(lv.OptionError, match=gzaccess.MEMORY_ENV):
        gzaccess.gzip_threads()


def test_first_pass_reads_blocks_in_file_order(tmp_path: Path, cache: Path) -> None:
    from dask.order import order

    path = write_phantom_nifti(tmp_path / "o.nii.gz", (24, 20, 64))
    ref = nib.load(path).get_fdata()

    def read_order(vol: lv.Volume) -> list[int]:
        mean = vol.data.mean()
        prio = order(dict(mean.__dask_graph__()))
        reads = sorted(
            (p, k) for k, p in prio.items() if isinstance(k, tuple) and k[0] == vol.data.name
        )
        return [k[3] for _, k in reads]

    with dask.config.set(scheduler="threads", num_workers=2):  # (one worker: see below)
        vol = lv.open(path, chunks=(24, 20, 8))
        assert vol.data is not None  # the dask array is made now, under this configuration
    assert read_order(vol) == list(range(8))  # no saved index: one stream, front to back
    np.testing.assert_allclose(float(vol.data.mean().compute(scheduler="threads")), ref.mean())
    sub = vol[:, 3:, 9:50]  # a region keeps the order
    np.testing.assert_array_equal(sub.data.compute(scheduler="threads"), ref[:, 3:, 9:50])
    # with the index saved, reads are independent again (any order, in parallel)
    with dask.config.set(scheduler="threads", num_workers=2):
        again = lv.open(path, chunks=(24, 20, 8))
        graph = dict(again.data.__dask_graph__())
    assert not any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))
    np.testing.assert_array_equal(again.data.compute(scheduler="threads"), ref)


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
def test_streaming_rapidgzip_handle_works_on_one_thread(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dask's workers take turns on a first pass's handle; rapidgzip itself (open, reads, index
    points for the saved index) is only ever called from the handle's own thread, whichever
    worker asks."""
    import threading

    import rapidgzip

    calls: list[tuple[str, int]] = []
    real = rapidgzip.RapidgzipFile

    class Spy:
        def __init__(self, *args: object, **kwargs: object) -> None:
            calls.append(("open", threading.get_ident()))
            self._f = real(*args, **kwargs)

        def __getattr__(self, name: str) -> object:
            attr = getattr(self._f, name)
            if name == "close" or not callable(attr):
                return attr

            def call(*args: object, **kwargs: object) -> object:
                calls.append((name, threading.get_ident()))
                return attr(*args, **kwargs)

            return call

    _use(monkeypatch, "rapidgzip")
    monkeypatch.setattr(rapidgzip, "RapidgzipFile", Spy)
    path = write_phantom_nifti(tmp_path / "t.nii.gz", (48, 40, 96))
    ref = nib.load(path).get_fdata()
    workers: set[int] = set()

    def note_worker(*_: object) -> None:
        workers.add(threading.get_ident())

    with dask.config.set(scheduler="threads", num_workers=2):
        vol = lv.open(path, chunks=(48, 40, 8))
        blocks = vol.data.map_blocks(lambda b: (note_worker(), b)[1], dtype=vol.data.dtype)
        assert float(blocks.mean().compute()) == pytest.approx(ref.mean(), rel=1e-12)
    names = {name for name, _ in calls}
    # the pass, the seek points it copies windows at, and the saved index's points
    assert {"open", "readinto", "available_block_offsets", "block_offsets"} <= names
    assert len({tid for _, tid in calls}) == 1
    assert not {tid for _, tid in calls} & (workers | {threading.get_ident()})
    assert gzaccess.index_path(gzaccess.GzSource.of(path, 0)).exists()


@pytest.mark.parametrize(
    "config",
    [{"scheduler": "synchronous"}, {"scheduler": "threads", "num_workers": 1}, {"num_workers": 1}],
)
def test_first_pass_one_task_at_a_time_holds_few_blocks(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, object]
) -> None:
    """Run one task at a time, dask's order would read a chain of blocks to its end before
    reducing any (the whole volume in memory): the first pass reads them unchained instead."""
    from lazyvol import _blockpool

    path = write_phantom_nifti(tmp_path / "one.nii.gz", (128, 128, 256))  # 8 MiB of int16
    ref = nib.load(path).get_fdata()
    made = []
    new_map = _blockpool._new_map
    monkeypatch.setattr(_blockpool, "_new_map", lambda n: made.append(n) or new_map(n))
    _blockpool.clear()
    with dask.config.set(config):
        vol = lv.open(path, chunks=(128, 128, 32))  # 8 blocks of 1 MiB (pooled block maps)
        graph = dict(vol.data.__dask_graph__())
        assert not any("read-order" in str(k[0]) for k in graph if isinstance(k, tuple))
        assert float(vol.data.mean().compute()) == pytest.approx(ref.mean(), rel=1e-12)
    assert 1 <= len(made) <= 3  # blocks live at once (chained: all 8)
    assert gzaccess.index_path(gzaccess.GzSource.of(path, 0)).exists()  # and the index is saved


@pytest.mark.parametrize("engine", ENGINES)
def test_saved_index_keeps_one_point_per_spacing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A 20 MiB stream keeps ~7 points (4 MiB apart), not one per rapidgzip chunk: every handle
    importing the index reads and holds 32 KiB per point."""
    _use(monkeypatch, engine)
    shape = (128, 128, 640)
    path = write_phantom_nifti(tmp_path / "s.nii.gz", shape)
    stream = struct.unpack("<I", Path(path).read_bytes()[-4:])[0]  # gzip trailer: ISIZE
    assert stream > int(np.prod(shape)) * 2  # header + 20 MiB of data
    target = build_gzip_index(path)
    assert 2 <= _index_points(target) <= gzaccess.index_points(stream) == 7  # 20 MiB + header
    clear_gzip_handles()
    vol = lv.open(path)
    assert vol.data.chunks  # the index is used for the reads below (one handle per thread)
    ref = _ref(path)
    np.testing.assert_array_equal(vol[:, :, 600:601].compute(), ref[:, :, 600:601])
    np.testing.assert_array_equal(vol[:, :, 17:18].compute(), ref[:, :, 17:18])


def test_first_pass_chunk_follows_the_memory_budget(monkeypatch):
    """rapidgzip's sequential first pass reads 2 MiB chunks (~100 MiB of decoder memory) only when
    LAZYVOL_GZIP_MEMORY allows it; a smaller budget keeps 1 MiB chunks (~60 MiB)."""
    monkeypatch.delenv("LAZYVOL_GZIP_MEMORY", raising=False)
    assert gzaccess._chunk_size(1, indexed=False) == gzaccess.RG_SEQUENTIAL_CHUNK
    assert gzaccess._chunk_size(1, indexed=True) == gzaccess.RG_CHUNK
    assert gzaccess._chunk_size(4, indexed=False) == gzaccess.RG_CHUNK
    monkeypatch.setenv("LAZYVOL_GZIP_MEMORY", "64MiB")
    assert gzaccess._chunk_size(1, indexed=False) == gzaccess.RG_CHUNK


@pytest.mark.parametrize(
    ("name", "encode", "said"),
    [
        ("b.nii.gz", lambda raw: __import__("bz2").compress(raw), "bzip2-compressed"),
        ("x.nii.gz", lambda raw: __import__("lzma").compress(raw), "xz-compressed"),
        ("z.nii.gz", zlib.compress, "zlib-compressed"),
        ("p.nii.gz", lambda raw: raw, "not compressed"),
        ("g.nii", lambda raw: gzip.compress(raw, mtime=0), "gzip-compressed but not named .gz"),
        # no suffix at all (a download saved without one): was taken for DICOM, "no DICOM image"
        ("scan", lambda raw: gzip.compress(raw, mtime=0), "gzip-compressed but not named .gz"),
        ("scan.bin", lambda raw: gzip.compress(raw), "gzip-compressed but not named .gz"),
    ],
)
def test_a_misnamed_compression_is_named_at_open(tmp_path: Path, name: str, encode, said: str):
    """A ``.nii.gz`` that is bzip2, xz, zlib or plain, or a gzip file named ``.nii``: the error at
    open says what the file is and how to fix the name, not that a gzip stream is corrupt."""
    raw = Path(write_phantom_nifti(tmp_path / "src.nii", (8, 8, 4))).read_bytes()
    path = tmp_path / name
    path.write_bytes(encode(raw))
    with pytest.raises(lv.FormatError, match=said) as ei:
        lv.open(path)
    assert str(ei.value).count(str(path)) == 1 and "corrupt" not in str(ei.value)


def test_running_out_of_memory_is_not_taken_for_a_damaged_index(tmp_path, cache, monkeypatch):
    """A MemoryError while importing a good index is the machine's, not the index's: it is
    raised, and the index is kept (it was deleted, with a warning blaming it)."""
    path = write_phantom_nifti(tmp_path / "m.nii.gz", (48, 40, 60), seed=2)
    index = build_gzip_index(path)
    clear_gzip_handles()

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(gzaccess, "import_index", no_memory)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MemoryError):
            lv.open(path)[:, :, 50:52].compute()
    assert index.exists()


_OUT_OF_DESCRIPTORS = """
import os, resource, sys
import lazyvol as lv
from lazyvol.nifti import build_gzip_index, clear_gzip_handles
path = sys.argv[1]
build_gzip_index(path)
vol = lv.open(path)
vol[:, :, 1:2].compute(scheduler="sync")  # a pooled handle reading through the saved index
if sys.argv[2] == "new-handle":
    clear_gzip_handles()
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
fds = []
try:
    while True:
        fds.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
try:
    print("read", int(vol[:, :, 100:101].compute(scheduler="sync").sum()), flush=True)
except OSError as exc:
    print("error", type(exc).__name__, exc.errno, exc, flush=True)
for fd in fds:
    os.close(fd)
print("after", int(vol[:, :, 100:101].compute(scheduler="sync").sum()), flush=True)
"""


@pytest.mark.parametrize("handle", ["pooled-handle", "new-handle"])
def test_reads_through_a_saved_index_survive_running_out_of_descriptors(
    tmp_path: Path, cache: Path, handle: str
) -> None:
    """indexed_gzip given a path (drop_handles=True) fopen()ed the file on every read without
    checking the result: a process out of descriptors died of SIGSEGV. Now a pooled handle keeps
    the descriptor it opened with and reads on; a handle that cannot be opened raises an OSError
    (EMFILE) naming the file, and the saved index is kept."""
    path = write_phantom_nifti(tmp_path / "fd.nii.gz", (256, 256, 120))
    env = dict(os.environ, LAZYVOL_CACHE_DIR=str(cache))
    proc = subprocess.run(
        [sys.executable, "-c", _OUT_OF_DESCRIPTORS, str(path), handle],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    ref = str(int(_ref(path)[:, :, 100:101].sum()))
    assert lines["after"] == ref
    if handle == "pooled-handle":
        assert lines["read"] == ref
    else:
        assert lines["error"].startswith("OSError 24 ") and "fd.nii.gz" in lines["error"]
    assert len(list(cache.rglob("*.gzidx"))) == 1  # the saved index was kept


def test_cut_nii_gz_leaves_stderr_clean(tmp_path: Path, cache: Path) -> None:
    """rapidgzip printed 'Unexpected end of file ...' (C++ std::cerr) before lazyvol's error on a
    .nii.gz cut short; the cut is now found at open (the trailer is not one), before any engine
    reads the file."""
    raw = Path(write_phantom_nifti(tmp_path / "full.nii.gz", (64, 64, 40))).read_bytes()
    code = (
        "import sys, lazyvol as lv\n"
        "try:\n    lv.open(sys.argv[1]).compute()\n"
        "except lv.FormatError as exc:\n    print(exc)\n"
    )
    for n in (200, len(raw) - 5):
        path = tmp_path / "cut.nii.gz"
        path.write_bytes(raw[:n])
        env = dict(os.environ, LAZYVOL_CACHE_DIR=str(cache), LAZYVOL_GZIP_ENGINE="rapidgzip")
        proc = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
        )
        assert "cut.nii.gz: truncated" in proc.stdout, proc.stdout
        assert proc.stderr == "", proc.stderr


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
def test_first_pass_saves_its_index_without_rapidgzips_leaking_export(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rapidgzip 0.16.2's export_index leaks every bytes object it writes (an argument tuple per
    write call stays alive): the first pass copies the kept points' windows from its own reads
    instead. Its points are rapidgzip's (same offsets and bits as the gztool export)."""
    import gc

    import indexed_gzip as igzip
    import rapidgzip

    _use(monkeypatch, "rapidgzip")
    path = write_phantom_nifti(tmp_path / "w.nii.gz", (128, 128, 640))

    def refuse(self, p):  # the old path: export, then thin
        raise AssertionError("rapidgzip's export_index was called")

    monkeypatch.setattr(gzaccess._Handle, "_export_index", refuse)
    ref = _ref(path)

    def stray() -> int:  # rapidgzip's leaked write() argument tuples
        return sum(
            1 for o in gc.get_objects() if type(o) is tuple and len(o) == 1 and type(o[0]) is bytes
        )

    gc.collect()
    gc.disable()
    try:
        before = stray()
        mean = float(lv.open(path).data.mean().compute(scheduler="threads"))
        assert stray() - before <= 2  # the export left ~5 per point (65 here)
    finally:
        gc.enable()
    assert mean == pytest.approx(ref.mean(), rel=1e-12)
    target = gzaccess.index_path(gzaccess.GzSource.of(str(path), 0))
    blob = target.read_bytes()
    npoints = _index_points(target)
    assert 3 <= npoints <= 7
    points = [struct.unpack_from("<QQBB", blob, 7 + 28 + 18 * i) for i in range(npoints)]
    # every saved point is one of the points rapidgzip's own export gives, with a whole window
    with rapidgzip.RapidgzipFile(str(path), parallelization=1, chunk_size=2 * 2**20) as f:
        while f.read(2**22):
            pass
        f.export_index(str(tmp_path / "g.idx"), index_format=rapidgzip.IndexFormat.GZTOOL)
    with open(tmp_path / "g.idx", "rb") as f:
        from lazyvol.gzindex_format import _read_points

        exported = {(p.inp, p.out, p.bits) for p in _read_points(f)[4]}
    assert {(inp, out, bits) for inp, out, bits, _ in points} <= exported
    assert [has for *_, has in points] == [0] + [1] * (npoints - 1)
    stream = gzip.open(path).read()
    for opener in (lambda: igzip.IndexedGzipFile(str(path)), lambda: rapidgzip.RapidgzipFile(path)):
        with opener() as h:
            h.import_index(str(target))
            for o in [0, 5, 4 * 2**20 - 7, len(stream) // 2, len(stream) - 4000]:
                h.seek(o)
                assert h.read(4000) == stream[o : o + 4000]


def test_window_tap_gives_way_to_the_export_when_a_window_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copied windows are used only when every kept point has one, never for a point on a
    gzip member's header, and not when they could not be stored."""

    class Raw:
        def __init__(self, offsets: dict[int, int]) -> None:
            self.offsets = offsets

        def block_offsets(self) -> dict[int, int]:
            return self.offsets

    data = bytes(range(256)) * 4096  # 1 MiB of output
    gz = tmp_path / "f.gz"
    gz.write_bytes(b"\x00" * 300 + b"\x1f\x8b" + b"\x00" * 100)
    src = gzaccess.GzSource.of(str(gz), len(data))
    # 10 bytes of header, points at 400 KiB (bit 3) and 800 KiB (byte 300: "1f 8b" there)
    offsets = {80: 0, 1203: 400 * 1024, 2400: 800 * 1024, 3208: len(data)}
    tap = gzaccess.WindowTap(src.path, src.size, src.data_end)
    tap.spacing = 256 * 1024
    view = memoryview(data)
    tap.feed(offsets, 0, view[: 500 * 1024])
    assert tap.save(Raw(offsets), str(tmp_path / "a")) is False  # 800 KiB not read yet
    tap.feed(offsets, 500 * 1024, view[500 * 1024 :])
    assert {1203, 2400} <= set(tap.at)  # (and the end, which save leaves out)
    tap.file.seek(tap.at[1203][1])
    assert tap.file.read(32768) == data[400 * 1024 - 32768 : 400 * 1024]
    tap.file.seek(tap.at[2400][1])  # spans the two reads
    assert tap.file.read(32768) == data[800 * 1024 - 32768 : 800 * 1024]
    assert tap.save(Raw(offsets), str(tmp_path / "b")) is False  # a member's header at byte 300
    del offsets[2400]
    assert tap.save(Raw(offsets), str(tmp_path / "c")) is True
    assert _index_points(tmp_path / "c") == 2
    tap.close()
    # no room for the windows: the pass goes on, and the export makes the index
    full = gzaccess.WindowTap(src.path, src.size, src.data_end)
    full.spacing = 256 * 1024

    def no_room() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gzindex_format.tempfile, "TemporaryFile", no_room)
    full.feed(offsets, 0, view)
    assert full.save(Raw(offsets), str(tmp_path / "d")) is False
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")
def test_a_stream_failing_its_crc_is_refused_not_read_again_with_zlib(
    tmp_path: Path, cache: Path
) -> None:
    """One bit changed in the deflate data of a .nii.gz over 4 MiB: the stream still inflates,
    and only its CRC-32 says the values are wrong. rapidgzip checks it as a first pass reads the
    last chunk; lazyvol then read the file again through indexed_gzip (its fallback for bytes
    after the last member), which reads only up to the image's end, never checks the trailer,
    and returned the damaged values. A checksum failure is now final."""
    # Random values: deflate stores them, so a flipped bit inflates and only the CRC notices.
    a = np.random.default_rng(5).integers(-(2**15), 2**15, size=(256, 256, 36), dtype=np.int16)
    plain = tmp_path / "good.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), plain)
    good = tmp_path / "good.nii.gz"
    good.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1, mtime=0))
    raw = good.read_bytes()
    assert len(raw) > 4 * 2**20  # past the sizes whose stream open inflates whole
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(_flip_only_the_crc_sees(raw))
    with pytest.raises(
        lv.FormatError, match=r"bad\.nii\.gz: the gzip stream fails its own checksum"
    ):
        lv.open(bad).compute()
    clear_gzip_handles()
    with pytest.raises(lv.FormatError, match="checksum"):
        build_gzip_index(bad)
    np.testing.assert_array_equal(lv.open(good).compute(), a)  # the intact file reads


def _flip_only_the_crc_sees(raw: bytes) -> bytes:
    """``raw`` (a gzip file) with one bit of its deflate data changed such that the stream still
    inflates to its end and only its CRC-32 fails (Python's gzip module says so)."""
    for pos in range(len(raw) // 2, len(raw) - 8, 4099):
        damaged = bytearray(raw)
        damaged[pos] ^= 0x10
        try:
            gzip.decompress(bytes(damaged))
        except (OSError, EOFError, zlib.error) as exc:
            if "CRC" in str(exc):  # inflates to the end; only the checksum fails
                return bytes(damaged)
    pytest.skip("no bit flip that only the CRC catches")  # pragma: no cover


@pytest.mark.parametrize("damage", ["deflate bit", "stored crc"])
def test_indexed_gzip_first_pass_checks_the_crc(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """indexed_gzip (the engine where rapidgzip is missing or forced) does not check a stream's
    CRC-32 when a pass stops at the image's end: a damaged file that still inflated was read
    without error. A full pass now checks it
    (header bytes and the bytes after the image included) and refuses the file before any index
    is saved; the intact file, one with zero padding after its member and one of several members
    (whose trailer does not describe the whole stream) still read as gzip reads them."""
    _use(monkeypatch, "indexed_gzip")
    # Random values (deflate stores them: a flipped bit still inflates), over 4 MiB: smaller
    # streams were inflated to their end, where indexed_gzip checks the trailer itself.
    a = np.random.default_rng(7).integers(-(2**15), 2**15, size=(256, 256, 36), dtype=np.int16)
    plain = tmp_path / "good.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), plain)
    body = plain.read_bytes()
    good = tmp_path / "good.nii.gz"
    good.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
    raw = good.read_bytes()
    bad = tmp_path / "bad.nii.gz"
    if damage == "stored crc":
        damaged = bytearray(raw)
        damaged[-8] ^= 0x01
        bad.write_bytes(bytes(damaged))
    else:
        bad.write_bytes(_flip_only_the_crc_sees(raw))
    with pytest.raises(gzip.BadGzipFile, match="CRC"):  # the independent reference refuses it
        gzip.decompress(bad.read_bytes())
    with pytest.raises(gzaccess.ChecksumError, match=r"bad\.nii\.gz: the gzip stream fails its"):
        lv.open(bad, chunks=(256, 256, 8)).compute()
    assert not list((cache / "gzindex").glob("*.gzidx"))  # no seek index of the damaged file
    clear_gzip_handles()
    with pytest.raises(gzaccess.ChecksumError):
        build_gzip_index(bad)
    clear_gzip_handles()
    # A pass reads blocks front to back; the last block read first is checked too.
    with pytest.raises(gzaccess.ChecksumError):
        lv.open(bad, chunks=(256, 256, 8))[:, :, 32:].compute()
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(good).compute(), a)
    assert len(list((cache / "gzindex").glob("*.gzidx"))) == 1  # the intact file's index
    padded = tmp_path / "padded.nii.gz"
    padded.write_bytes(raw + bytes(1000))
    two = tmp_path / "two.nii.gz"
    two.write_bytes(gzip.compress(body[:5000], mtime=0) + gzip.compress(body[5000:], mtime=0))
    for ok in (padded, two):
        assert gzip.decompress(ok.read_bytes()) == body
        np.testing.assert_array_equal(lv.open(ok, chunks=(256, 256, 8)).compute(), a)


@pytest.mark.parametrize("engine", ["rapidgzip", "indexed_gzip"])
@pytest.mark.parametrize("layout", ["first of two members", "last of two members", "padded"])
def test_a_damaged_member_of_a_multi_member_or_padded_file_is_refused(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str, layout: str
) -> None:
    """A stream whose trailer does not describe the whole file (several members, or bytes after
    its only one) with a bit changed that only a member's CRC-32 sees: a full pass refuses it
    with a FormatError naming the file, whichever engine (each member's CRC is checked as it
    ends; docs/nifti.md), as gzip does; never the damaged values."""
    _use(monkeypatch, engine)
    a = np.random.default_rng(11).integers(-(2**15), 2**15, size=(256, 256, 36), dtype=np.int16)
    plain = tmp_path / "p.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), plain)
    body = plain.read_bytes()
    half = len(body) // 2
    first, second = (gzip.compress(part, 1, mtime=0) for part in (body[:half], body[half:]))
    if layout == "first of two members":
        raw = _flip_only_the_crc_sees(first) + second
    elif layout == "last of two members":
        raw = first + _flip_only_the_crc_sees(second)
    else:
        raw = _flip_only_the_crc_sees(gzip.compress(body, 1, mtime=0)) + bytes(512)
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(raw)
    with pytest.raises(gzip.BadGzipFile, match="CRC"):  # the independent reference refuses it
        gzip.decompress(raw)
    with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz: the gzip stream"):
        lv.open(bad, chunks=(256, 256, 8)).data.mean().compute()


@pytest.mark.parametrize("forced", [None, "indexed_gzip"])
def test_a_broken_member_after_the_image_does_not_fail_the_read(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, forced: str | None
) -> None:
    """Bytes after the image that start like a gzip member and then do not inflate: nibabel
    reads the image (it stops at its end), and so must lazyvol, whose CRC check of an
    indexed_gzip pass inflates past the image: it gives up the check there, not the read.
    (rapidgzip refuses such a file; by default the pass is then done with indexed_gzip.)"""
    if forced:
        _use(monkeypatch, forced)
    a = np.random.default_rng(3).integers(-3000, 3000, size=(256, 256, 40), dtype=np.int16)
    plain = tmp_path / "p.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), plain)
    path = tmp_path / "junk.nii.gz"
    junk = b"\x1f\x8b\x08\x00" + bytes(range(200))
    path.write_bytes(gzip.compress(plain.read_bytes(), mtime=0) + junk)
    np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), a)  # the reference
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its seek index cannot be saved
        np.testing.assert_array_equal(lv.open(path).compute(), a)
