"""JPEG 2000 frames whose tiles lack tile-parts: OpenJPEG (pydicom's and imagecodecs' decoder)
decodes a codestream missing a tile's tile-parts without an error, the tile left zero. A tiled
frame with one tile-part dropped read with a zero tile; a one-tile codestream whose SIZ segment
was changed to state 1 x 1 tiles read 4096 "tiles" of which one was coded (a blank image read with
values up to 35840); one stating 16384 tiles took 1 GB and 28 s to decode into zeros. Now a frame
too short for its tiles' tile-parts (14 bytes each at the least) is refused at open, and a frame
missing a tile's tile-parts when it is read, before it is decoded, naming the file and tiles.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

import lazyvol as lv
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.usefixtures("dicom_cache")

imagecodecs = pytest.importorskip("imagecodecs")
Image = pytest.importorskip("PIL.Image")

J2K = "1.2.840.10008.1.2.4.90"


def _tiled(values: np.ndarray) -> bytes:
    """A lossless JPEG 2000 codestream of ``values`` in 16 x 16 tiles (Pillow writes tiles)."""
    out = io.BytesIO()
    Image.fromarray(values).save(
        out, "JPEG2000", tile_size=(16, 16), irreversible=False, no_jp2=True
    )
    return out.getvalue()


def _tile_parts(cs: bytes) -> list[tuple[int, int]]:
    """(offset, Psot) of each tile-part, walking SOT to SOT."""
    pos, parts = cs.find(b"\xff\x90"), []
    while cs[pos : pos + 2] == b"\xff\x90":
        psot = struct.unpack_from(">L", cs, pos + 6)[0]
        parts.append((pos, psot))
        pos += psot
    return parts


def _file(folder, codestream: bytes, rows: int, columns: int) -> str:
    f = write_dicom_series(folder, (64, 64, 1), dtype="uint16", seed=1).files[0]
    ds = pydicom.dcmread(f)
    ds.PixelData = encapsulate([codestream])
    ds.Rows, ds.Columns = rows, columns
    ds.file_meta.TransferSyntaxUID = J2K
    ds.save_as(f)
    return f


def _values() -> np.ndarray:
    return np.random.default_rng(3).integers(1, 4000, (64, 64)).astype(np.uint16)


def test_a_tiled_frame_reads_as_pydicom_decodes_it(tmp_path):
    f = _file(tmp_path / "s", _tiled(_values()), 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(tmp_path / "s").compute()
    np.testing.assert_array_equal(got[:, :, 0].T, pydicom.dcmread(f).pixel_array)


def test_a_frame_missing_a_tile_part_is_refused_before_it_is_decoded(tmp_path):
    cs = _tiled(_values())
    at, psot = _tile_parts(cs)[5]
    f = _file(tmp_path / "s", cs[:at] + cs[at + psot :], 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(tmp_path / "s")  # (its bytes have room for 16 tiles: found at read)
        with pytest.raises(lv.FormatError) as info:
            vol.compute()
    msg = str(info.value)
    assert f in msg and "no tile-part of 1 of the 16 tiles" in msg and "(5)" in msg, msg
    assert "fills what is missing with zeros" in msg, msg


@pytest.mark.parametrize(("rows", "columns", "tile"), [(64, 64, 1), (8192, 8192, 64)])
def test_a_frame_too_short_for_its_tiles_is_refused_at_open(tmp_path, rows, columns, tile):
    cs = bytearray(
        imagecodecs.jpeg2k_encode(np.zeros((64, 64), np.uint16), level=0, codecformat="j2k")
    )
    siz = cs.find(b"\xff\x51")
    struct.pack_into(">II", cs, siz + 6, columns, rows)  # Xsiz, Ysiz
    struct.pack_into(">II", cs, siz + 22, tile, tile)  # XTsiz, YTsiz
    f = _file(tmp_path / "s", bytes(cs), rows, columns)
    tiles = (rows // tile) * (columns // tile)
    with pytest.raises(lv.FormatError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    assert f in msg and f"cannot hold the {tiles} tiles its SIZ segment states" in msg, msg


def test_the_frame_limit_counts_the_jpeg_2000_decoders_buffers(tmp_path, monkeypatch):
    # OpenJPEG decodes into 32-bit buffers of the image and of each tile, whatever the
    # precision: a blank 8192 x 8192 16-bit frame (357 bytes) peaked at 786 MB for its 128 MB, so
    # a frame under LAZYVOL_MAX_CHUNK_BYTES took several times the limit. The limit now counts
    # them (8 bytes a sample besides the frame's own).
    _file(tmp_path / "s", _tiled(_values()), 64, 64)  # 8 KiB decoded, 40 KiB with the buffers
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "20000")
    with pytest.raises(lv.ResourceLimitError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lv.open(tmp_path / "s")
    msg = str(info.value)
    assert "64 x 64 and BitsAllocated (0028,0100) 16 takes, with its decoder's buffers," in msg
    assert "40960 bytes per frame, over the limit of 20000" in msg, msg
    monkeypatch.setenv("LAZYVOL_MAX_CHUNK_BYTES", "40960")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lv.open(tmp_path / "s").shape == (64, 64, 1)


def test_a_siz_stating_millions_of_tiles_is_judged_in_bounded_memory():
    # (the check listed every missing tile: a damaged SIZ stating 10^7 tiles over one tile-part
    # allocated their list, 4 x 10^9 took the machine's memory)
    import tracemalloc

    from lazyvol.dicom.j2k_tiles import missing_tiles_problem

    cs = bytearray(_tiled(_values()))
    at, psot = _tile_parts(bytes(cs))[0]
    cs = cs[: at + psot] + b"\xff\xd9"  # (tile 0's tile-part only, then EOC)
    siz = cs.find(b"\xff\x51")
    struct.pack_into(">II", cs, siz + 6, 10000, 1000)  # Xsiz, Ysiz
    struct.pack_into(">II", cs, siz + 22, 1, 1)  # XTsiz, YTsiz: 10^7 tiles
    tracemalloc.start()
    try:
        msg = missing_tiles_problem(bytes(cs))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert msg and "no tile-part of 9999999 of the 10000000 tiles" in msg, msg
    assert "(1, 2, 3, 4, 5, 6, 7, 8 ...)" in msg, msg
    assert peak < 2**20
