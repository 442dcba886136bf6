"""The notebook display (``_repr_html_``) of a volume whose source, or a file of its series, has a
name that is not valid UTF-8 (an old archive's Latin-1 ``t\\xeate.nii``: Python holds its bytes
as lone surrogates) carried the surrogates: a page no UTF-8 encoder can write, which the notebook
(its messages are UTF-8 JSON) cannot show. The name is shown with those bytes as ``\\xNN``."""

from __future__ import annotations

import json
import os

import lazyvol as lv
from lazyvol.testing import write_dicom_series, write_phantom_nifti


def _sendable(page: str) -> str:
    json.dumps({"text/html": page}, ensure_ascii=False).encode("utf-8")  # (a notebook message)
    return page


def test_html_of_a_latin1_named_nifti_and_dicom_series(tmp_path):
    folder = tmp_path / os.fsdecode(b"archiv\xe9")
    folder.mkdir()
    nifti = write_phantom_nifti(folder / os.fsdecode(b"t\xeate.nii"), (4, 4, 3))
    page = _sendable(lv.open(nifti)._repr_html_())
    assert "t\\xeate.nii" in page and "archiv\\xe9" in page
    series = folder / "ct"
    write_dicom_series(series, (6, 5, 3))
    page = _sendable(lv.open(series)._repr_html_())
    assert "archiv\\xe9" in page
    assert "3 source file(s)" in page
