"""``lazyvol references`` of a source whose file name is not valid UTF-8 (a Latin-1 name from an
old archive): the chunk paths are written as JSON ``\\udcNN`` escapes of the name's undecodable
bytes (Python's surrogateescape form, the JSON file itself ASCII). That is the form fsspec's
ReferenceFileSystem opens: it parses with json (or ujson >= 5.4, which decodes lone escaped
surrogates as json does) and LocalFileSystem opens the str, which Python encodes back to the
bytes. A ``\\xNN`` text (the --json form) or a percent-encoded file:// URL (fsspec does not
unquote local paths) would name another file. Checked here: the values read through fsspec and
zarr equal nibabel's and pydicom's."""

from __future__ import annotations

import json
import os
import sys

import fsspec
import nibabel as nib
import numpy as np
import pydicom
import pytest
import zarr

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series

pytestmark = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="names there are Unicode"
)


def _image(refs_path: str) -> np.ndarray:
    with open(refs_path, "rb") as f:
        raw = f.read()
    raw.decode("ascii")  # (any JSON reader takes the file's bytes)
    mapper = fsspec.filesystem("reference", fo=refs_path).get_mapper("")
    return np.asarray(zarr.open_group(mapper, mode="r", zarr_format=2)["image"][...])


def test_a_latin1_nifti_name_is_read_back_through_fsspec(tmp_path, capsys):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 50
    path = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9 scan.nii"))
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    out = str(tmp_path / "refs.json")
    assert main(["-q", "references", path, "-o", out]) == 0
    refs = json.loads(open(out, encoding="ascii").read())["refs"]
    targets = {v[0] for v in refs.values() if isinstance(v, list)}
    assert targets == {path}  # (the name with its byte, as os.fsdecode gives it)
    got = _image(out).transpose(2, 1, 0)  # (stored k, j, i)
    np.testing.assert_array_equal(got, np.asarray(nib.load(path).dataobj))


def test_a_dicom_series_in_a_latin1_folder_is_read_back_through_fsspec(tmp_path, capsys):
    folder = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"s\xe9rie"))
    truth = write_dicom_series(folder, (8, 6, 4))
    out = str(tmp_path / "refs.json")
    assert main(["-q", "references", folder, "-o", out]) == 0
    got = _image(out).transpose(2, 1, 0)
    by_k = sorted(truth.files, key=lambda f: float(pydicom.dcmread(f).ImagePositionPatient[2]))
    expected = np.stack([pydicom.dcmread(f).pixel_array.T for f in by_k], axis=-1)
    np.testing.assert_array_equal(got, expected)
