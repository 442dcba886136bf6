"""A remote .nii.gz whose gzip member headers are long (FEXTRA, FNAME, FCOMMENT) reads as it does
locally.

indexed_gzip, the remote engine, parses a member's header only from the bytes one read of its
buffer handed it; that buffer was 32 KiB, so a valid stream with a 33 KiB file name, a 40 KiB
comment or a 60 KiB extra field (gzip, nibabel and lazyvol on the local file read all of them) was
refused over HTTP as "corrupt or truncated", or as failing its own checksum. The buffer is now the
local engine's (1 MiB), and the file object under it still fetches small requests, handing the
engine more only to finish a member header the bytes of one request would cut.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from remote_servers import HttpServer

import lazyvol as lv
from lazyvol.nifti import clear_gzip_handles

nib = pytest.importorskip("nibabel")


@pytest.fixture(autouse=True)
def _fresh_handles():
    clear_gzip_handles()
    yield
    clear_gzip_handles()


def _member(data: bytes, *, extra: bytes = b"", name: bytes = b"", comment: bytes = b"") -> bytes:
    """One gzip member of ``data`` with the optional header fields given."""
    flags = (4 if extra else 0) | (8 if name else 0) | (16 if comment else 0)
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    if extra:
        head += struct.pack("<H", len(extra)) + extra
    head += name + b"\0" if name else b""
    head += comment + b"\0" if comment else b""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return head + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _image(tmp_path: Path) -> tuple[np.ndarray, bytes]:
    values = np.random.default_rng(3).integers(0, 300, (64, 64, 40), dtype=np.int16)
    path = tmp_path / "plain.nii"
    nib.save(nib.Nifti1Image(values, np.diag([2.0, 2.0, 3.0, 1.0])), path)
    return values, path.read_bytes()


def _streams(raw: bytes) -> dict[str, bytes]:
    step = 50_000
    return {
        "name_33k": _member(raw, name=b"n" * 33_000),
        "extra_60k": _member(raw, extra=b"x" * 60_000),
        "second_member_comment_40k": _member(raw[:1000])
        + _member(raw[1000:], comment=b"c" * 40_000),
        "members_with_growing_extras": b"".join(
            _member(raw[i : i + step], extra=b"e" * (i % 65_000)) for i in range(0, len(raw), step)
        ),
    }


@pytest.mark.parametrize("kind", sorted(_streams(b"x")))
def test_long_gzip_member_headers_read_over_http_as_locally(
    tmp_path, http_server: HttpServer, _isolated_cache: Path, kind: str
):
    values, raw = _image(tmp_path)
    blob = _streams(raw)[kind]
    local = tmp_path / f"{kind}.nii.gz"
    local.write_bytes(blob)
    np.testing.assert_array_equal(lv.open(local).compute(), values)  # the local reference
    url = http_server.put(f"{kind}.nii.gz", blob)
    # The first pass (no seek index): every voxel, and it saves the index.
    np.testing.assert_array_equal(lv.open(url).compute(), values)
    assert list((_isolated_cache / "gzindex").glob("*.remote.gzidx"))
    # Through the saved index, from a fresh handle: a slice near the start and one further on.
    clear_gzip_handles()
    vol = lv.open(url)
    np.testing.assert_array_equal(vol[:, :, :2].compute(), values[:, :, :2])
    np.testing.assert_array_equal(vol[:, ::-1, 30:33].compute(), values[:, ::-1, 30:33])


def test_header_cut_finds_a_member_header_the_bytes_end_inside():
    from lazyvol.gz_remote import header_cut

    member = _member(b"abc" * 100, extra=b"E" * 300, name=b"file.nii", comment=b"note")
    head_len = 10 + 2 + 300 + len(b"file.nii") + 1 + len(b"note") + 1
    before = b"\x00" * 50
    for cut in (3, 9, 11, 200, head_len - 1):
        assert header_cut(before + member[:cut]), cut
    assert not header_cut(before + member[:head_len])
    assert not header_cut(before + member)
    assert not header_cut(b"\x1f\x8b\x08\xe0" + b"\0" * 5)  # reserved flags: no header
    assert not header_cut(b"no gzip magic here")


def test_a_stored_gzip_img_on_a_server_ignoring_range_is_refused_in_two_fetches(
    tmp_path: Path, http_server: HttpServer
) -> None:
    """A gzip -0 stream under a plain .img name, as long as the voxels (it may be them): locally
    decoded to its end a MiB at a time; from a server that ignores Range each such read fetched
    the whole object (a 4 MiB file: 6 fetches at open). The stream's start decides there."""
    import gzip

    nib = pytest.importorskip("nibabel")
    noise = np.random.default_rng(2).integers(0, 2**32, (128, 128, 64), dtype=np.uint32)
    nib.save(nib.Nifti1Pair(noise, np.eye(4)), tmp_path / "n.img")
    packed = gzip.compress((tmp_path / "n.img").read_bytes(), compresslevel=0, mtime=0)
    url = http_server.put("n.img", packed, mode="norange")
    http_server.put("n.hdr", (tmp_path / "n.hdr").read_bytes())
    http_server.reset_counts()
    with pytest.raises(lv.FormatError, match="gzip-compressed"):
        lv.open(url[: -len(".img")] + ".hdr")
    assert http_server.bytes_served < 3 * len(packed)
