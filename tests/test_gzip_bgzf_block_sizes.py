"""A BGZF-looking ``.nii.gz`` (every member's FEXTRA holds a ``BC`` subfield, the file ends with
the BGZF end marker) whose block sizes (BSIZE) do not lead from member to member is valid gzip:
gzip, zlib and nibabel read it. rapidgzip reads it right too, but printed "Ignoring all junk data
after invalid block offset ..." and "Failed to get Bgzf metadata!" on the process's stderr (C++
``std::cerr``, around any Python handling). Such a file's first pass goes to indexed_gzip: the
same values, nothing printed. A BGZF file whose chain is whole still goes to rapidgzip."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import gzengine

pytest.importorskip("rapidgzip")
pytest.importorskip("indexed_gzip")

#: The BGZF end-of-file marker block (SAMv1 specification, 4.1.2).
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _member(body: bytes, bsize_off: int) -> bytes:
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = co.compress(body) + co.flush()
    bsize = (18 + len(deflated) + 8 - 1 + bsize_off) & 0xFFFF
    head = b"\x1f\x8b\x08\x04" + bytes(4) + b"\x00\xff\x06\x00BC\x02\x00" + struct.pack("<H", bsize)
    return head + deflated + struct.pack("<II", zlib.crc32(body), len(body))


def _bgzf(tmp_path: Path, bsize_off: int) -> tuple[Path, np.ndarray]:
    arr = np.random.default_rng(3).integers(0, 3000, size=(48, 40, 24)).astype(np.int16)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "plain.nii")
    raw = (tmp_path / "plain.nii").read_bytes()
    members = [_member(raw[i : i + 65280], bsize_off) for i in range(0, len(raw), 65280)]
    path = tmp_path / "v.nii.gz"
    path.write_bytes(b"".join(members) + EOF_BLOCK)
    return path, arr


@pytest.mark.parametrize("bsize_off", [5, -5, 1000])
def test_a_bgzf_file_with_wrong_block_sizes_reads_without_printing(
    tmp_path: Path, gzip_cache: Path, capfd: pytest.CaptureFixture[str], bsize_off: int
) -> None:
    path, arr = _bgzf(tmp_path, bsize_off)
    np.testing.assert_array_equal(np.asanyarray(nib.load(path).dataobj), arr)
    capfd.readouterr()
    assert gzengine.first_pass_engine(str(path), path.stat().st_size) == "indexed_gzip"
    np.testing.assert_array_equal(lv.open(path).compute(), arr)
    err = capfd.readouterr().err
    assert err == "", err


def test_a_whole_bgzf_chain_still_goes_to_rapidgzip(tmp_path: Path, gzip_cache: Path) -> None:
    path, arr = _bgzf(tmp_path, 0)
    assert gzengine.first_pass_engine(str(path), path.stat().st_size) == "rapidgzip"
    np.testing.assert_array_equal(lv.open(path).compute(), arr)
