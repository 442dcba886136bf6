"""Errors and warnings about an Analyze 7.5 header (no NIfTI magic: nibabel reads it as Analyze)
name an Analyze field; they said "NIfTI field" (the same messages about a NIfTI pair still do)."""

from __future__ import annotations

import struct

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


def _pair(tmp_path, name: str, at: int, fmt: str, value, nifti: bool = False) -> str:
    """An x.hdr / x.img pair (Analyze, or a NIfTI-1 pair), the header's bytes at ``at`` set."""
    a = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    klass = nib.Nifti1Pair if nifti else nib.AnalyzeImage
    base = str(tmp_path / f"{name}.img")
    nib.save(klass(a, np.eye(4)), base)
    hdr = base[:-4] + ".hdr"
    assert isinstance(nib.load(hdr), klass)  # (what nibabel takes the undamaged pair for)
    head = bytearray(open(hdr, "rb").read())
    struct.pack_into(fmt, head, at, value)
    open(hdr, "wb").write(head)
    return hdr


CASES = [  # (name, byte, struct format, value, the field named)
    ("sizeof", 0, "<i", 300, "sizeof_hdr = 300"),
    ("dim0", 40, "<h", 9, r"dim\[0\] = 9"),
    ("dim1", 42, "<h", -3, r"dim = \[3, -3, 5, 6\]"),
    ("voxoff", 108, "<f", -5.0, "vox_offset = -5"),
]


@pytest.mark.parametrize(("name", "at", "fmt", "value", "field"), CASES)
def test_an_analyze_header_error_names_the_analyze_field(tmp_path, name, at, fmt, value, field):
    hdr = _pair(tmp_path, name, at, fmt, value)
    with pytest.raises(lv.FormatError, match=rf"{name}\.hdr: Analyze field {field}") as exc:
        lv.open(hdr)
    assert "NIfTI field" not in str(exc.value)
    nifti = _pair(tmp_path, name + "n", at, fmt, value, nifti=True)
    with pytest.raises(lv.FormatError, match=rf"{name}n\.hdr: NIfTI field {field}"):
        lv.open(nifti)


def test_analyze_pixdim_and_cast_messages_name_analyze_fields(tmp_path):
    hdr = _pair(tmp_path, "pix", 80, "<f", 0.0)  # pixdim[1] = 0: nibabel reads it as 1
    with pytest.warns(RuntimeWarning, match=r"Analyze field pixdim\[1:4\] = \[0\.0, 1\.0, 1\.0\]"):
        lv.open(hdr)
    complex_pair = str(tmp_path / "c.img")
    nib.save(nib.AnalyzeImage(np.ones((3, 4, 5), np.complex64), np.eye(4)), complex_pair)
    assert isinstance(nib.load(complex_pair), nib.AnalyzeImage)
    with pytest.raises(lv.DataTypeError, match=r"\(Analyze field datatype\)"):
        lv.open(complex_pair, dtype="float32")
