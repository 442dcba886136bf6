"""Remote Zarr stores (zarr's FsspecStore) and the cache over remote sources, against moto's S3
server on loopback (tests/remote/remote_servers.py). No mocks, no internet.

References are independent of lazyvol's reading: the numpy arrays the stores were written from, a
foreign OME-Zarr written with zarr-python directly, and the bytes put into the bucket.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import time
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
from remote_servers import S3, S3_KEY, S3_SECRET

import lazyvol as lv
from lazyvol import _io, zarr_io, zarr_read
from lazyvol import cache as lvcache
from lazyvol.chunking import plan_to_dask
from lazyvol.errors import FormatError, IntegrityError
from lazyvol.testing import ome_zarr_attributes

pytest.importorskip("s3fs")

AFFINE = np.array(
    [[0.0, -1.2, 0.0, 40.0], [0.9, 0.0, 0.0, -12.5], [0.0, 0.0, 2.5, 7.0], [0, 0, 0, 1]]
)


def _upload(s3: S3, bucket: str, folder: Path, prefix: str) -> str:
    """Put every file under ``folder`` into ``bucket`` under ``prefix``; returns the s3:// URL."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            s3.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    return f"s3://{bucket}/{prefix}"


def _no_secret(text: str) -> None:
    assert S3_KEY not in text and S3_SECRET not in text


@pytest.fixture
def lazyvol_store(tmp_path):
    data = np.random.default_rng(3).integers(-900, 3000, (20, 18, 12), dtype=np.int16)
    vol = lv.Volume(data, AFFINE, meta={"note": "remote"})
    store = vol.to_zarr(tmp_path / "img.zarr", chunks=(8, 8, 4))
    return data, Path(store)


# -- remote Zarr stores ----------------------------------------------------------------------------


def test_lazyvol_store_on_s3_opens_like_the_local_store(s3_server, s3_bucket, lazyvol_store):
    data, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "img.zarr")
    opts = s3_server.options()
    vol = zarr_io.open_zarr(url, storage_options=opts, chunks=(8, 9, 5))
    local = lv.open(store)
    np.testing.assert_array_equal(vol.compute(), data)  # the numpy truth it was written from
    np.testing.assert_array_equal(vol.compute(), local.compute())
    np.testing.assert_allclose(vol.affine, AFFINE)
    assert vol.dtype == data.dtype and vol.meta["note"] == "remote"
    # a sub-block read (one chunk across a dask block boundary), and a Location as the source
    loc = _io.Location.of(url + "/", opts)
    sub = zarr_io.open_zarr(loc)[3:11, 5:6, 2:9].compute()
    np.testing.assert_array_equal(sub, data[3:11, 5:6, 2:9])
    for text in (repr(vol), str(vol.source), vol.data.name, repr(vol.data.dask.keys())):
        _no_secret(text)


def test_remote_graph_pickles_and_runs_elsewhere(s3_server, s3_bucket, lazyvol_store):
    data, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "p.zarr")
    vol = zarr_io.open_zarr(url, storage_options=s3_server.options())
    blob = pickle.dumps(dict(vol.data.dask))  # the plans carry URL and options, no open handle
    _no_secret(repr(pickle.loads(blob)))  # reprs of plans and Locations hide the credentials
    zarr_read._ARRAYS.clear()  # as in a fresh worker process
    _io.clear_filesystems()
    graph = pickle.loads(blob)
    first = (vol.data.name, 0, 0, 0)
    (block,) = dask.get(graph, [first])
    c = [n[0] for n in vol.data.chunks]
    np.testing.assert_array_equal(np.asarray(block), data[: c[0], : c[1], : c[2]])
    np.testing.assert_array_equal(vol.compute(scheduler="sync"), data)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_foreign_ome_zarr_on_s3(s3_server, s3_bucket, tmp_path, zarr_format):
    """OME-Zarr 0.5 (Zarr v3) and 0.4 (Zarr v2) images written by zarr-python, not lazyvol."""
    zarr = pytest.importorskip("zarr")
    data = np.arange(5 * 6 * 7, dtype="<f4").reshape(5, 6, 7)  # disk order (z, y, x)
    root = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w", zarr_format=zarr_format)
    arr = root.create_array("s0", shape=data.shape, dtype=data.dtype, chunks=(2, 3, 7))
    arr[:] = data
    multiscales = [
        {
            "axes": [
                {"name": "z", "type": "space", "unit": "micrometer"},
                {"name": "y", "type": "space", "unit": "millimeter"},
                {"name": "x", "type": "space", "unit": "millimeter"},
            ],
            "datasets": [
                {
                    "path": "s0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [500.0, 0.75, 0.5]},
                        {"type": "translation", "translation": [1000.0, 2.0, 3.0]},
                    ],
                }
            ],
        }
    ]
    if zarr_format == 3:
        root.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        root.attrs["multiscales"] = [{"version": "0.4", **multiscales[0]}]
    url = _upload(s3_server, s3_bucket, tmp_path / "ome.zarr", "ome.zarr")
    vol = zarr_io.open_zarr(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(vol.compute(), data.transpose())
    want = np.diag([0.5, 0.75, 0.5, 1.0])  # micrometres -> mm on z: 500 um = 0.5 mm
    want[:3, 3] = [3.0, 2.0, 1.0]
    np.testing.assert_allclose(vol.affine, want)
    assert vol.source == url


def test_remote_store_damage_is_refused(s3_server, s3_bucket, lazyvol_store):
    data, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "bad.zarr")
    opts = s3_server.options()
    key = "bad.zarr/0/c/0/0/0"
    body = bytearray(s3_server.client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x40  # one bit flip in a chunk object
    s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(body))
    vol = zarr_io.open_zarr(url, storage_options=opts, chunks=(8, 8, 4))  # store chunks
    with pytest.raises(IntegrityError, match=r"chunk c/0/0/0 .*(crc32c|fingerprint)") as err:
        vol[:8, :8, :4].compute()
    _no_secret(str(err.value))
    assert "s3://" in str(err.value)
    np.testing.assert_array_equal(vol[:, :, 8:].compute(), data[:, :, 8:])  # other chunks fine
    s3_server.client.delete_object(Bucket=s3_bucket, Key="bad.zarr/0/c/1/0/0")
    with pytest.raises(IntegrityError, match=r"chunk file c/1/0/0 is missing"):
        vol[:8, :8, 8:12].compute()  # disk shard (1, 0, 0)
    # edited array metadata: refused at open
    meta_key = "bad.zarr/0/zarr.json"
    raw = s3_server.client.get_object(Bucket=s3_bucket, Key=meta_key)["Body"].read()
    s3_server.client.put_object(Bucket=s3_bucket, Key=meta_key, Body=raw.replace(b"  ", b" "))
    with pytest.raises(IntegrityError, match="differs from the manifest"):
        zarr_io.open_zarr(url, storage_options=opts)


def test_a_remote_store_replaced_after_open_is_said_replaced_not_damaged(
    s3_server, s3_bucket, lazyvol_store, tmp_path
):
    """The store written again at its URL (intact, other values) after an open whose chunk reads
    had begun: each chunk then failed its check against the old manifest and was reported as
    damage ("write the store again"), where a local store says "replaced ... open it again"."""
    data, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "re.zarr")
    vol = zarr_io.open_zarr(url, storage_options=s3_server.options(), chunks=(8, 8, 4))
    np.testing.assert_array_equal(vol[:8, :8, :4].compute(), data[:8, :8, :4])
    other = lv.Volume(data[::-1].copy(), AFFINE).to_zarr(tmp_path / "o.zarr", chunks=(8, 8, 4))
    _upload(s3_server, s3_bucket, Path(other), "re.zarr")
    with pytest.raises(FormatError, match="replaced or removed after it was opened; open it again"):
        vol.compute()
    again = zarr_io.open_zarr(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(again.compute(), data[::-1])


def _foreign_ome(folder: Path, data: np.ndarray, zarr_format: int) -> Path:
    """An OME-Zarr (0.5 on Zarr v3, 0.4 on v2) of ``data`` written by zarr-python, no manifest."""
    zarr = pytest.importorskip("zarr")
    root = zarr.open_group(str(folder), mode="w", zarr_format=zarr_format)
    arr = root.create_array("0", shape=data.shape, dtype=data.dtype, chunks=(2, 3, 7))
    arr[:] = data
    version = "0.5" if zarr_format == 3 else "0.4"
    root.attrs.update(ome_zarr_attributes(scale=[1.0] * 3, version=version))
    return folder


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_a_foreign_remote_store_rewritten_after_open_is_refused(
    s3_server, s3_bucket, tmp_path, zarr_format
):
    """A store without a manifest (zarr-python's) written again at its URL after the open: its
    blocks were read from the new store under the old open, silently (a local store is refused:
    its array metadata's identity is checked before each read). Now the array metadata's size,
    ETag and time are checked after each block read: refused, as locally; opened again, the new
    values."""
    old = np.arange(6 * 6 * 7, dtype="<i2").reshape(6, 6, 7)
    new = (old * 3 - 5).astype("<i2")
    url = _upload(s3_server, s3_bucket, _foreign_ome(tmp_path / "a", old, zarr_format), "f.zarr")
    vol = zarr_io.open_zarr(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(vol[..., :2].compute(), old.transpose()[..., :2])
    # (the metadata's bytes are the same: only its Last-Modified, whole seconds, tells them apart)
    time.sleep(1.1)
    _upload(s3_server, s3_bucket, _foreign_ome(tmp_path / "b", new, zarr_format), "f.zarr")
    with pytest.raises(FormatError, match="replaced or removed after it was opened; open it again"):
        vol.compute()
    again = zarr_io.open_zarr(url, storage_options=s3_server.options())
    np.testing.assert_array_equal(again.compute(), new.transpose())


def test_a_grown_remote_chunk_object_is_refused_without_downloading_it(
    s3_server, s3_bucket, lazyvol_store
):
    """A chunk object replaced by a 4 MiB one after the open: an IntegrityError naming it, after
    fetching at most one byte past the manifest's size (counted by the S3 server's byte meter)."""
    from lazyvol.testing.s3 import read_counts, s3_options

    _, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "grown.zarr")
    opts = s3_options(s3_server.endpoint, "AKIAZARRGROWNCHUNK", "x")
    vol = zarr_io.open_zarr(url, storage_options=opts, chunks=(8, 8, 4))
    key = "grown.zarr/0/c/0/0/0"
    listed = s3_server.client.head_object(Bucket=s3_bucket, Key=key)["ContentLength"]
    s3_server.client.put_object(Bucket=s3_bucket, Key=key, Body=os.urandom(4 * 2**20))
    before = read_counts(s3_server.endpoint, "AKIAZARRGROWNCHUNK")["bytes"]
    with pytest.raises(IntegrityError, match=rf"chunk c/0/0/0 has more than the {listed} bytes"):
        vol[:8, :8, :4].compute()
    moved = read_counts(s3_server.endpoint, "AKIAZARRGROWNCHUNK")["bytes"] - before
    assert 0 < moved <= 4 * (listed + 1), f"{moved} bytes fetched for a {listed}-byte chunk"


def test_missing_or_incomplete_remote_store(s3_server, s3_bucket, lazyvol_store):
    _, store = lazyvol_store
    opts = s3_server.options()
    with pytest.raises(FormatError, match="not a Zarr store") as err:
        zarr_io.open_zarr(f"s3://{s3_bucket}/nothing.zarr", storage_options=opts)
    assert f"s3://{s3_bucket}/nothing.zarr" in str(err.value)
    url = _upload(s3_server, s3_bucket, store, "part.zarr")
    s3_server.client.delete_object(Bucket=s3_bucket, Key="part.zarr/lazyvol-manifest/zarr.json")
    with pytest.raises(FormatError, match="incomplete lazyvol store"):
        zarr_io.open_zarr(url, storage_options=opts)


# -- the cache over remote sources -----------------------------------------------------------------

_MAGIC = b"TOYVOL01"


def _toy_bytes(data: np.ndarray) -> bytes:
    """A minimal format: magic, shape (3 x uint32), then int16 little-endian, Fortran order."""
    return _MAGIC + struct.pack("<3I", *data.shape) + data.astype("<i2").tobytes(order="F")


def _toy_read(plan: tuple[_io.Location, tuple[int, ...]], index: tuple[slice, ...]) -> np.ndarray:
    loc, shape = plan
    ni, nj, _ = shape
    k0, k1 = index[2].start, index[2].stop
    raw = _io.read(loc, 20 + k0 * ni * nj * 2, (k1 - k0) * ni * nj * 2)
    slab = np.frombuffer(raw, "<i2").reshape((ni, nj, k1 - k0), order="F")
    return np.ascontiguousarray(slab[index[0], index[1], :])


class _ToyRemoteReader:
    """A third-party-style reader of ``.toy`` objects, reading its bytes through lazyvol._io."""

    name = "toy-remote"
    priority = 1  # asked first: the built-in readers in this tree take local paths only

    def can_open(self, source):
        return isinstance(source, _io.Location) and source.url.endswith(".toy")

    def open(self, source, **options):
        head = _io.read(source, 0, 20)
        if head[:8] != _MAGIC:
            raise FormatError(f"{source}: not a toy volume")
        shape = struct.unpack("<3I", head[8:20])
        slabs = tuple(min(2, shape[2] - k) for k in range(0, shape[2], 2))
        chunks = ((shape[0],), (shape[1],), slabs)
        name = f"toy-{source.key()}-{_io.stamp(source).etag}"
        data = plan_to_dask(
            sys.modules[__name__]._toy_read, (source, shape), shape, chunks, np.dtype("<i2"), name
        )
        return lv.Volume(data, AFFINE, meta={"format": "toy"}, source=source.display)

    def source_files(self, source, **options):
        return [source.url]

    def describe(self, source):
        return {"format": "toy"}


@pytest.fixture
def toy_reader():
    from lazyvol.formats import registry

    registry.register(_ToyRemoteReader())
    yield
    registry.unregister("toy-remote")


def _all_cache_bytes(root: Path) -> bytes:
    out = []
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            out.append(n.encode())
            out.append(Path(dirpath, n).read_bytes())
    return b"\0".join(out)


def test_cache_keys_remote_source_by_etag(s3_server, s3_bucket, toy_reader, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = np.random.default_rng(1).integers(-500, 500, (9, 7, 5), dtype=np.int16)
    s3_server.client.put_object(Bucket=s3_bucket, Key="a/vol.toy", Body=_toy_bytes(first))
    loc = _io.Location.of(f"s3://{s3_bucket}/a/vol.toy", s3_server.options())
    vol = lvcache.open_cached(loc, cache=cache)
    np.testing.assert_array_equal(vol.compute(), first)
    assert vol.data.name.startswith("lazyvol-zarr-")  # read from the entry just written
    entries = lvcache.list_entries(cache)
    assert len(entries) == 1
    _no_secret(entries[0].source)
    assert entries[0].source == f"s3://{s3_bucket}/a/vol.toy"

    # a second open reads the entry: source blocks are never read again
    def no_source_reads(*a, **k):
        raise AssertionError("source block read despite the cache entry")

    with monkeypatch.context() as m:
        m.setattr(sys.modules[__name__], "_toy_read", no_source_reads)
        again = lvcache.open_cached(
            f"s3://{s3_bucket}/a/vol.toy", storage_options=s3_server.options(), cache=cache
        )
        np.testing.assert_array_equal(again.compute(), first)
    assert [e.key for e in lvcache.list_entries(cache)] == [entries[0].key]

    # a changed object (new content, new ETag, same size) gives a new entry, never the old values
    second = first[::-1].copy()
    s3_server.client.put_object(Bucket=s3_bucket, Key="a/vol.toy", Body=_toy_bytes(second))
    changed = lvcache.open_cached(loc, cache=cache)
    np.testing.assert_array_equal(changed.compute(), second)
    now = lvcache.list_entries(cache)
    assert len(now) == 1 and now[0].key != entries[0].key  # the old version's entry was evicted

    blob = _all_cache_bytes(cache)
    assert S3_KEY.encode() not in blob and S3_SECRET.encode() not in blob


def test_cache_of_remote_zarr_store(s3_server, s3_bucket, lazyvol_store, tmp_path):
    """A remote Zarr store through the cache: a reader delegating to open_zarr (as the built-in
    Zarr reader will once it takes Locations), keyed by the store's sealed manifest."""
    from lazyvol.formats import registry

    data, store = lazyvol_store
    url = _upload(s3_server, s3_bucket, store, "c.zarr")

    class RemoteZarr:
        name = "remote-zarr-test"
        priority = 1

        def can_open(self, source):
            return isinstance(source, _io.Location) and source.url.endswith(".zarr")

        def open(self, source, **options):
            options.pop("scale", None)
            options.pop("series", None)
            options.pop("dtype", None)
            return zarr_io.open_zarr(source, **options)

        def source_files(self, source, **options):
            return zarr_io.source_objects(source)

        def describe(self, source):
            return {"format": "Zarr"}

    # the store is keyed by its sealed manifest alone; a foreign store by every object in it
    opts = s3_server.options()
    assert zarr_io.source_objects(url, opts) == [f"{url}/lazyvol-manifest/zarr.json"]
    s3_server.client.put_object(Bucket=s3_bucket, Key="f.zarr/zarr.json", Body=b"{}")
    s3_server.client.put_object(Bucket=s3_bucket, Key="f.zarr/a/c/0", Body=b"x")
    assert zarr_io.source_objects(f"s3://{s3_bucket}/f.zarr", opts) == [
        f"s3://{s3_bucket}/f.zarr/a/c/0",
        f"s3://{s3_bucket}/f.zarr/zarr.json",
    ]
    registry.register(RemoteZarr())
    try:
        cache = tmp_path / "cache"
        vol = lv.cache.open_cached(url, storage_options=s3_server.options(), cache=cache)
        np.testing.assert_array_equal(vol.compute(), data)
        np.testing.assert_allclose(vol.affine, AFFINE)
        assert len(lvcache.list_entries(cache)) == 1
        blob = _all_cache_bytes(cache)
        assert S3_KEY.encode() not in blob and S3_SECRET.encode() not in blob
    finally:
        registry.unregister("remote-zarr-test")


def test_lazyvol_store_over_http_reads_only_the_chunks_asked_for(http_server, tmp_path):
    """An HTTP server cannot list a prefix: the store is read by key (metadata, manifest, the
    chunks a block needs), each chunk verified against the manifest."""
    data = np.random.default_rng(5).integers(0, 60000, (64, 48, 40), dtype=np.uint16)
    store = Path(
        lv.Volume(data, AFFINE).to_zarr(tmp_path / "h.zarr", chunks=(32, 24, 8), shards=False)
    )
    total = 0
    for path in sorted(store.rglob("*")):
        if path.is_file():
            http_server.put(f"h.zarr/{path.relative_to(store).as_posix()}", path.read_bytes())
            total += path.stat().st_size
    vol = zarr_io.open_zarr(f"{http_server.url}/h.zarr/", chunks=(32, 24, 8))
    assert vol.source == f"{http_server.url}/h.zarr"
    np.testing.assert_allclose(vol.affine, AFFINE)
    http_server.reset_counts()
    np.testing.assert_array_equal(vol[:32, 24:, 16:24].compute(), data[:32, 24:, 16:24])
    assert http_server.bytes_served < total / 10  # one chunk of 40, not the store
    np.testing.assert_array_equal(vol.compute(), data)


@pytest.mark.parametrize("n", [3, 12])  # one HEAD per object / one listing of the prefix
def test_entry_key_of_remote_objects_follows_their_etags(s3_server, s3_bucket, n):
    from lazyvol.cache_keys import entry_key

    opts = s3_server.options()
    urls = []
    for i in range(n):
        s3_server.client.put_object(Bucket=s3_bucket, Key=f"s/{i:03d}.dcm", Body=bytes([i]) * 64)
        urls.append(f"s3://{s3_bucket}/s/{i:03d}.dcm")
    s3_server.client.put_object(Bucket=s3_bucket, Key="s/sub/other.txt", Body=b"not listed")
    sid, key = entry_key(urls, source=f"s3://{s3_bucket}/s", storage_options=opts)
    assert entry_key(urls, source=f"s3://{s3_bucket}/s", storage_options=opts) == (sid, key)
    s3_server.client.put_object(Bucket=s3_bucket, Key="s/001.dcm", Body=b"\x07" * 64)  # same size
    sid2, key2 = entry_key(urls, source=f"s3://{s3_bucket}/s", storage_options=opts)
    assert sid2 == sid and key2 != key
    # credentials are not part of a key: other credentials reaching the same objects agree
    other = {**opts, "key": "AKIAANOTHERUSER00001", "secret": "another-secret-value"}
    assert entry_key(urls, source=f"s3://{s3_bucket}/s", storage_options=other)[1] == key2
    with pytest.raises(lv.errors.SourceNotFoundError):
        entry_key([*urls, f"s3://{s3_bucket}/s/missing.dcm"], storage_options=opts)


def test_cache_of_a_zarr_store_on_a_web_server_that_lists_no_folder(
    tmp_path, hostile_server, lazyvol_store
):
    """lv.open reads a store on a web server by key (no listing needed), but open_cached keyed
    the entry by a listing of every file: with no index page it failed as 'a source file
    vanished while it was opened'. A lazyvol store is keyed by its manifest (every chunk's
    checksum; reads verified against it); a foreign one cannot be keyed (a chunk rewritten in
    place would be served stale): read uncached with a warning saying why."""
    data, store = lazyvol_store
    for path in sorted(store.rglob("*")):
        if path.is_file():
            hostile_server.put(f"lv.zarr/{path.relative_to(store).as_posix()}", path.read_bytes())
    foreign = _foreign_ome(tmp_path / "f.zarr", data.transpose().copy(), 3)
    for path in sorted(foreign.rglob("*")):
        if path.is_file():
            hostile_server.put(f"f.zarr/{path.relative_to(foreign).as_posix()}", path.read_bytes())
    cache = tmp_path / "cache"
    for _ in range(2):  # (built, then read from the entry)
        vol = lvcache.open_cached(f"{hostile_server.url}/lv.zarr", cache=cache)
        np.testing.assert_array_equal(vol.compute(), data)
        assert len(lvcache.list_entries(cache)) == 1
    with pytest.warns(lvcache.CacheWarning, match="lists no folder here .* not cached"):
        vol = lvcache.open_cached(f"{hostile_server.url}/f.zarr", cache=cache)
    np.testing.assert_array_equal(vol.compute(), data)
    assert len(lvcache.list_entries(cache)) == 1


def test_a_foreign_remote_store_reopened_after_a_same_stamp_rewrite_reads_the_new_metadata(
    tmp_path, hostile_server
):
    """A zarr-python v2 store on a server stating Last-Modified alone (python -m http.server),
    its ``.zarray`` rewritten at the same size within the second (``<i2`` -> ``<u2``) and opened
    again in the same process: the open's token named the process's opened zarr array by the
    metadata's (size, ETag, Last-Modified) alone, so the new open and its reads went through the
    array of the first open: int16 values where zarr-python reads uint16, silently. The token
    now holds the SHA-256 of the metadata bytes the open read."""
    old = np.arange(6 * 6 * 7, dtype="<i2").reshape(6, 6, 7) - 100
    folder = _foreign_ome(tmp_path / "a", old, 2)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = f"s.zarr/{path.relative_to(folder).as_posix()}"
            hostile_server.put(name, path.read_bytes(), etag=None)  # a fixed Last-Modified
    url = f"{hostile_server.url}/s.zarr"
    meta = (folder / "0" / ".zarray").read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (no ETag: said once per URL)
        np.testing.assert_array_equal(lv.open(url).compute(), old.transpose())
        hostile_server.obj("s.zarr/0/.zarray").data = meta.replace(b'"<i2"', b'"<u2"')
        again = lv.open(url)
        assert again.dtype == np.uint16
        np.testing.assert_array_equal(again.compute(), old.astype("<u2").transpose())
