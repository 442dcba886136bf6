"""A NIfTI header of very many tiny extension frames is opened in memory bounded by the header's
size: the first MAX_EXTENSIONS frames are kept (as nibabel reads them), the rest walked and
checked but not kept, and the volume says some were left unread (the writers warn)."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.nifti_extensions import MAX_EXTENSIONS


def _many_frames(path: Path, frames: int, *, last_esize: int | None = None) -> np.ndarray:
    """A single-file NIfTI-1 with ``frames`` 16-byte extension frames (8 bytes of content each,
    numbered), the last one's esize replaced by ``last_esize`` when given."""
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(a.shape)
    hdr.set_data_dtype(np.int16)
    hdr["vox_offset"] = 352 + 16 * frames
    body = b"".join(struct.pack("<ii", 16, 6) + struct.pack("<q", i + 1) for i in range(frames))
    if last_esize is not None:
        body = body[:-16] + struct.pack("<ii", last_esize, 6) + body[-8:]
    path.write_bytes(hdr.binaryblock + b"\x01\0\0\0" + body + a.tobytes(order="F"))
    return a


def test_many_tiny_extensions_are_kept_up_to_the_limit_in_bounded_memory(tmp_path: Path) -> None:
    frames = 2**15  # 512 KiB of header
    path = tmp_path / "many.nii"
    a = _many_frames(path, frames)
    ref = nib.load(path)
    tracemalloc.start()
    try:
        vol = lv.open(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A few copies of the 16 * frames header bytes, and the frames kept (a dict of Python
    # objects each, ~300 bytes: at most MAX_EXTENSIONS). Every frame kept: 9.4 MB here.
    assert peak < 3 * 16 * frames + 500 * MAX_EXTENSIONS, peak
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(ref.dataobj))
    np.testing.assert_array_equal(vol.compute(), a)
    carried = vol.meta["nifti_fields"]
    assert carried["extensions_unread"] is True
    kept = carried["extensions"]
    assert len(kept) == MAX_EXTENSIONS
    theirs = ref.header.extensions
    assert len(theirs) == frames
    for i in (0, 1, MAX_EXTENSIONS - 1):
        assert kept[i]["code"] == theirs[i].get_code()
        assert lv.nifti_fields.extension_bytes(kept[i])[1] == theirs[i].get_content().rstrip(b"\0")
    with pytest.warns(RuntimeWarning, match=f"past its first {MAX_EXTENSIONS} extensions"):
        vol.to_nifti(tmp_path / "out.nii")
    written = nib.load(tmp_path / "out.nii")
    assert len(written.header.extensions) == MAX_EXTENSIONS
    np.testing.assert_array_equal(np.asanyarray(written.dataobj), a)


def test_up_to_the_limit_every_extension_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "few.nii"
    _many_frames(path, MAX_EXTENSIONS)
    carried = lv.open(path).meta["nifti_fields"]
    assert len(carried["extensions"]) == MAX_EXTENSIONS
    assert "extensions_unread" not in carried


@pytest.mark.parametrize("last_esize", [32, 2**20])
def test_a_bad_frame_past_the_kept_ones_is_still_refused(tmp_path: Path, last_esize: int) -> None:
    """Frames past the limit are checked as before: one running past vox_offset (esize 32) or
    cut inside its content is refused, as nibabel refuses the file."""
    path = tmp_path / "bad.nii"
    _many_frames(path, MAX_EXTENSIONS + 10, last_esize=last_esize)
    with pytest.raises(Exception):  # noqa: B017 - the independent reference refuses it
        nib.load(path).header  # noqa: B018
    with pytest.raises(
        lv.FormatError, match=r"bad\.nii: invalid NIfTI header \(NIfTI extensions\)"
    ):
        lv.open(path)
