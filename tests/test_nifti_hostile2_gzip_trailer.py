"""A .nii.gz whose gzip trailer is damaged (its length ISIZE or its CRC-32) is refused the same way,
at the same step and with the same message, whichever engine reads it (rapidgzip or
indexed_gzip); valid files whose last trailer does not describe the whole stream (several
members, zero padding after the member) read as gzip reads them under both."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess
from lazyvol.gzcheck import ChecksumError
from lazyvol.nifti import clear_gzip_handles

try:
    import rapidgzip  # noqa: F401

    HAVE_RAPIDGZIP = True
except ImportError:  # pragma: no cover - rapidgzip is a core dependency where it installs
    HAVE_RAPIDGZIP = False

needs_rapidgzip = pytest.mark.skipif(not HAVE_RAPIDGZIP, reason="rapidgzip is not installed")


def _isize(delta: int) -> object:
    def damage(raw: bytearray) -> None:
        (stored,) = struct.unpack("<I", raw[-4:])
        raw[-4:] = struct.pack("<I", (stored + delta) & 0xFFFFFFFF)

    return damage


def _set_isize(value: int) -> object:
    def damage(raw: bytearray) -> None:
        raw[-4:] = struct.pack("<I", value)

    return damage


def _crc(raw: bytearray) -> None:
    raw[-8] ^= 0x01


DAMAGES = {
    "isize+1": _isize(1),
    "isize-1": _isize(-1),
    "isize+2**31": _isize(2**31),
    "isize 0": _set_isize(0),
    "isize 0xffffffff": _set_isize(0xFFFFFFFF),
    "crc": _crc,
}


def _image(tmp_path: Path, depth: int) -> tuple[np.ndarray, bytes]:
    # Random values (deflate stores them): depth 36 makes a stream over 4 MiB, past the sizes
    # whose open inflates the stream whole; depth 2 a small one.
    a = np.random.default_rng(3).integers(-(2**15), 2**15, size=(256, 256, depth), dtype=np.int16)
    plain = tmp_path / "plain.nii"
    nib.save(nib.Nifti1Image(a, np.eye(4)), plain)
    return a, plain.read_bytes()


def _outcome(path: Path) -> tuple[str, str]:
    """(the step that raised, the message without the file's folder) of open, a slice, a pass."""
    clear_gzip_handles()
    step = "open"
    try:
        vol = lv.open(path, chunks=(256, 256, 1))
        step = "slice"
        vol[:, :, :1].compute()
        step = "pass"
        vol.compute()
    except ChecksumError as exc:
        return step, str(exc).replace(str(path.parent), "<dir>")
    return "read", ""


@pytest.mark.parametrize("depth", [2, 36])
@pytest.mark.parametrize("damage", list(DAMAGES))
@needs_rapidgzip
def test_a_damaged_trailer_is_refused_alike_by_both_engines(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, damage: str, depth: int
) -> None:
    """rapidgzip checked ISIZE only when a read happened to end inside its last chunk (a first
    pass whose last read ended at the stream's end never looked: the file read and its index was
    saved); indexed_gzip's pass never checked it, then failed to save its index, warned, and
    inflated the file again at every open. CRC failures were worded by each engine."""
    _, body = _image(tmp_path, depth)
    raw = bytearray(gzip.compress(body, compresslevel=1, mtime=0))
    DAMAGES[damage](raw)  # type: ignore[operator]
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(gzip.BadGzipFile):  # the independent reference refuses the file
        gzip.decompress(bytes(raw))
    field = "CRC-32" if damage == "crc" else "ISIZE"
    outcomes = {}
    for engine in ("indexed_gzip", "rapidgzip"):
        monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
        outcomes[engine] = _outcome(bad)
        assert not list((gzip_cache / "gzindex").glob("*.gzidx")), engine  # no index saved
    assert outcomes["indexed_gzip"] == outcomes["rapidgzip"]
    step, message = outcomes["rapidgzip"]
    assert step != "read"
    assert "bad.nii.gz: the gzip stream fails its own checksum" in message
    assert field in message and "fetch or copy it again" in message


@pytest.mark.parametrize(
    "engine", ["indexed_gzip", pytest.param("default: rapidgzip", marks=needs_rapidgzip)]
)
@pytest.mark.parametrize("layout", ["two members", "zero padding", "three members, empty middle"])
def test_a_last_trailer_that_is_not_the_whole_streams_still_reads(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str, layout: str
) -> None:
    """Valid gzip whose last 8 bytes are not the whole stream's trailer reads as gzip reads it,
    and its seek index is saved (the next open reads through it). (rapidgzip refuses zero padding
    itself: by default the pass is then done with indexed_gzip.)"""
    if engine == "indexed_gzip":
        monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
    else:
        monkeypatch.delenv(gzaccess.ENGINE_ENV, raising=False)
        assert gzaccess.engine() == "rapidgzip"
    a, body = _image(tmp_path, 36)
    half = len(body) // 2
    if layout == "two members":
        raw = gzip.compress(body[:half], 1, mtime=0) + gzip.compress(body[half:], 1, mtime=0)
    elif layout == "zero padding":
        raw = gzip.compress(body, 1, mtime=0) + bytes(4096)
    else:
        raw = b"".join(gzip.compress(p, 1, mtime=0) for p in (body[:half], b"", body[half:]))
    ok = tmp_path / "ok.nii.gz"
    ok.write_bytes(raw)
    assert gzip.decompress(raw) == body
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(ok).compute(), np.asanyarray(nib.load(ok).dataobj))
    assert len(list((gzip_cache / "gzindex").glob("*.gzidx"))) == 1
    clear_gzip_handles()
    np.testing.assert_array_equal(lv.open(ok)[:, :, 30:31].compute(), a[:, :, 30:31])
