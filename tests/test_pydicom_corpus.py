"""Every file pydicom ships, one at a time: lazyvol opens it with the values pydicom decodes, or
refuses it with a typed lazyvol error. Never a crash of another kind, never different values.

The corpus (``pydicom/data/test_files``) is a class of inputs lazyvol was not written against:
dozens of vendors' and toolkits' files, every transfer syntax pydicom supports, colour, palette,
RT objects, DICOMDIRs, files without meta, truncated files and a few that are not DICOM at all.
The reference is pydicom's own decoder with its Modality LUT (``apply_rescale``), lazyvol's
contract for stored values.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_rescale

import lazyvol as lv

CORPUS = Path(pydicom.__file__).parent / "data" / "test_files"
FILES = sorted(
    p
    for p in CORPUS.rglob("*")
    if p.is_file() and p.suffix not in (".py", ".pyc", ".gz", ".bz2", ".json", ".txt")
)
#: Files pydicom 3 ships that are volumes lazyvol must open, not refuse: CT and MR, explicit and
#: implicit VR, big endian, RLE, JPEG-LS and JPEG 2000, 12 of 16 bits stored with an overlay plane
#: beside. A floor, so the test cannot pass by refusing everything. (pydicom ships no grayscale
#: multi-frame image volume; lazyvol's multi-frame reader is checked against the synthetic truth
#: of the files pydicom writes, in test_dicom_multiframe.)
MUST_OPEN = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "693_J2KI.dcm",
    "examples_overlay.dcm",
)


def _reference(path: Path) -> np.ndarray | None:
    """pydicom's decoded values with its Modality LUT, as (frames, rows, columns); None when
    pydicom cannot decode the file (no pixel data, no decoder, not DICOM)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
            arr = apply_rescale(ds.pixel_array, ds)
    except Exception:
        return None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    return arr.reshape((frames, *arr.shape[-2:])) if samples == 1 else arr


def _open(path: Path) -> np.ndarray | lv.LazyvolError:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(lv.open(path).data.compute())
    except lv.LazyvolError as exc:
        return exc


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("path", FILES, ids=[os.fspath(p.relative_to(CORPUS)) for p in FILES])
def test_opens_as_pydicom_decodes_or_is_refused_with_a_typed_error(path):
    got = _open(path)  # any exception other than a LazyvolError fails the test here
    if isinstance(got, lv.LazyvolError):
        assert str(path) in str(got) or path.name in str(got), f"the error names no file: {got}"
        return
    ref = _reference(path)
    assert ref is not None, (
        f"lazyvol decoded {path.name}, which pydicom cannot: no independent reference to check it"
    )
    assert ref.ndim == 3, f"lazyvol opened a {ref.ndim - 1}-D sample image as a volume"
    # lazyvol's axes are (column, row, frame): pydicom's (frame, row, column) reversed.
    assert got.shape == ref.shape[::-1], (got.shape, ref.shape)
    np.testing.assert_allclose(
        got.transpose(2, 1, 0).astype(np.float64), ref.astype(np.float64), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize("name", MUST_OPEN)
def test_the_plain_volumes_of_the_corpus_open(name):
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in this pydicom's test files")
    got = _open(path)
    assert not isinstance(got, lv.LazyvolError), f"{name} refused: {got}"
    ref = _reference(path)
    assert ref is not None
    np.testing.assert_allclose(got.transpose(2, 1, 0), ref, rtol=1e-6, atol=0)
