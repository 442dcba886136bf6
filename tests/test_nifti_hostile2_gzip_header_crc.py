"""A .nii.gz whose gzip member header carries a CRC-16 (FHCRC) that does not match: zlib (and so
both engines, and nibabel through indexed_gzip) refuse it, GNU gzip and Python's gzip module do
not check it. lazyvol refuses it at open naming the field and the fix, the same whichever
engine, where it said the stream was 'corrupt after 0 uncompressed bytes' (or, for a later
member, that the bytes after the last member were not a whole one)."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzaccess


def _member(body: bytes, *, hcrc_ok: bool) -> bytes:
    head = bytearray(b"\x1f\x8b\x08\x0a" + bytes(4) + b"\x00\xff" + b"x.nii\x00")
    crc = zlib.crc32(bytes(head)) & 0xFFFF
    head += struct.pack("<H", crc if hcrc_ok else crc ^ 0x5555)
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = co.compress(body) + co.flush()
    return bytes(head) + deflated + struct.pack("<II", zlib.crc32(body), len(body))


@pytest.mark.parametrize("engine", ["", "indexed_gzip"])
@pytest.mark.parametrize("member", ["first", "second"])
def test_a_wrong_header_crc16_is_named_with_the_fix(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str, member: str
) -> None:
    if engine:
        monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
    a = np.arange(8 * 9 * 10, dtype=np.int16).reshape(8, 9, 10)
    img = nib.Nifti1Image(a, np.eye(4))
    bio = io.BytesIO()
    img.file_map["image"].fileobj = bio
    img.to_file_map(img.file_map)
    body = bio.getvalue()
    if member == "first":
        raw = _member(body, hcrc_ok=False)
    else:
        raw = _member(body[:500], hcrc_ok=True) + _member(body[500:], hcrc_ok=False)
    assert gzip.decompress(raw) == body  # Python's gzip module does not check it
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(raw)
    with pytest.raises(lv.FormatError, match=r"bad\.nii\.gz: the header of its gzip member") as e:
        lv.open(bad).compute()
    start = 0 if member == "first" else len(_member(body[:500], hcrc_ok=True))
    assert f"starting at compressed byte {start} fails its own CRC-16" in str(e.value)
    assert "gzip -dc FILE | gzip > NEW.nii.gz" in str(e.value)
    good = tmp_path / "good.nii.gz"  # the fix the message gives
    good.write_bytes(gzip.compress(gzip.decompress(raw)))
    np.testing.assert_array_equal(lv.open(good).compute(), np.asanyarray(nib.load(good).dataobj))
