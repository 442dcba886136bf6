"""A saved seek index of a remote .nii.gz is never applied to another stream of the same size.

A web server's validators can be weak: Python's http.server sends a Last-Modified to the second
and no ETag (nginx and Apache make ETags of the modification time and size). A .nii.gz replaced
within that second by another stream of the same size kept every validator, the saved seek index
was used for it, and indexed_gzip (which checks no CRC on seeks) inflated its blocks with the old
stream's windows: wrong voxels, no error, in every later process. The index's name now holds the
stream's gzip trailer (its CRC-32 and length), fetched at every open; so does the
key of a cache entry (cache=True) of such an object.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hostile_server import HostileServer

import lazyvol as lv
from lazyvol.testing import write_phantom_nifti

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _streams(tmp_path: Path) -> tuple[bytes, bytes]:
    """Two valid .nii.gz streams of one size whose later deflate blocks copy from the first part
    of the stream (the same compressed bytes there, other values: their windows differ)."""
    nz = 16
    head = write_phantom_nifti(tmp_path / "h.nii", (256, 256, nz), dtype="int16")
    header = Path(head).read_bytes()[:352]
    prefix = 256 * 256 * 2 * 2  # two slices of random values, then copies of their tail
    rest = 256 * 256 * 2 * nz - prefix

    def make(random: bytes, part2: bytes | None) -> tuple[bytes, bytes]:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        part1 = c.compress(header + random) + c.flush(zlib.Z_SYNC_FLUSH)
        if part2 is None:
            tail = random[-16384:] * (rest // 16384)
            part2 = (
                b"".join(
                    c.compress(tail[i : i + 65536]) + c.flush(zlib.Z_SYNC_FLUSH)
                    for i in range(0, len(tail), 65536)
                )
                + c.flush()
            )
        raw = part1 + part2
        data = zlib.decompressobj(-15).decompress(raw)
        trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + raw + trailer, part2

    a, part2 = make(np.random.default_rng(0).bytes(prefix), None)
    for seed in range(1, 400):  # random data is stored: the first parts' sizes agree soon
        b, _ = make(np.random.default_rng(seed).bytes(prefix), part2)
        if len(b) == len(a):
            return a, b
    raise AssertionError("no second stream of the same size")


def _read_in_a_new_process(
    url: str, cache: Path, truth: np.ndarray, tmp_path: Path, cached: bool
) -> dict:
    np.save(tmp_path / "truth.npy", truth)
    code = (
        "import json, sys, warnings, numpy as np, lazyvol as lv\n"
        "warnings.simplefilter('ignore')\n"
        f"t = np.load({str(tmp_path / 'truth.npy')!r})\n"
        f"v = lv.open({url!r}, scale=False, chunks=(256, 256, 2), cache={cached!r})\n"
        "bad = [k for k in range(0, t.shape[2], 2)\n"
        "       if not np.array_equal(v.data[:, :, k:k + 2].compute(), t[:, :, k:k + 2])]\n"
        "print(json.dumps({'bad': bad}))\n"
    )
    env = {**os.environ, "LAZYVOL_CACHE_DIR": str(cache), "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("cached", [False, True], ids=["seek index", "cache entry"])
def test_a_same_size_replacement_does_not_reuse_the_seek_index(
    tmp_path, hostile_server: HostileServer, cached: bool
):
    a, b = _streams(tmp_path)
    truth = {}
    for name, data in (("a", a), ("b", b)):
        (tmp_path / f"{name}.nii.gz").write_bytes(data)
        truth[name] = np.asanyarray(nib.load(tmp_path / f"{name}.nii.gz").dataobj)
    assert not np.array_equal(truth["a"][:, :, 4:], truth["b"][:, :, 4:])
    url = hostile_server.put("v.nii.gz", a, etag=None)  # Last-Modified only, never changing
    cache = tmp_path / "cache"
    assert _read_in_a_new_process(url, cache, truth["a"], tmp_path, cached) == {"bad": []}
    assert list(cache.rglob("*.gzidx")) or cached, "the first pass saved a seek index"
    hostile_server.obj("v.nii.gz").data = b  # same size, same Last-Modified, no ETag
    assert _read_in_a_new_process(url, cache, truth["b"], tmp_path, cached) == {"bad": []}


@pytest.mark.parametrize("cached", [False, True], ids=["seek index", "cache entry"])
def test_a_same_size_replacement_read_in_the_same_process_is_the_new_stream(
    tmp_path, hostile_server: HostileServer, monkeypatch: pytest.MonkeyPatch, cached: bool
):
    """The same replacement as above, opened again in the process that read the first stream:
    the trailer was kept per stamp for the process, and the handles of the stream (its seek
    index) by the stamp too, so the new open, keeping every validator, was read through the old
    stream's seek index (or served the old cache entry): wrong voxels, no error. The trailer is
    read at every open and names the handles, the seek index and the cache key."""
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    a, b = _streams(tmp_path)
    url = hostile_server.put("v.nii.gz", a, etag=None)  # Last-Modified only, never changing
    for data in (a, b):
        hostile_server.obj("v.nii.gz").data = data  # same size, same Last-Modified, no ETag
        (tmp_path / "t.nii.gz").write_bytes(data)
        truth = np.asanyarray(nib.load(tmp_path / "t.nii.gz").dataobj)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (no ETag: the cache says it is not used)
            vol = lv.open(url, scale=False, chunks=(256, 256, 2), cache=cached)
            for k in range(0, truth.shape[2], 2):
                got = vol.data[:, :, k : k + 2].compute()
                np.testing.assert_array_equal(got, truth[:, :, k : k + 2], err_msg=f"slab {k}")
