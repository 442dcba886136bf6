"""A warning lazyvol gives is attributed to the user's line (its ``filename`` is the calling
script's), wherever inside lazyvol it is noticed: ``-W error::RuntimeWarning:my_script`` and the
printed ``my_script.py:12: ...`` point at the user's code, not at a lazyvol module."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol import cache as lvcache
from lazyvol.testing import write_dicom_series, write_phantom_nifti


def _caught(call) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        call()
    return [w for w in rec if "lazyvol" in str(w.message) or "not read" in str(w.message)]


def _from_here(rec: list[warnings.WarningMessage]) -> None:
    assert rec, "no warning given"
    for w in rec:
        assert Path(w.filename) == Path(__file__), (w.filename, str(w.message)[:80])


def test_dicom_scan_warning_names_the_callers_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "s"
    write_dicom_series(folder, shape=(8, 8, 4), per_slice=[{"RescaleSlope": 0}] + [{}] * 3)
    first = _caught(lambda: lv.open(folder))  # found by the scan
    assert any("RescaleSlope" in str(w.message) for w in first)
    _from_here(first)
    _from_here(_caught(lambda: lv.open(folder)))  # from the saved scan report


def test_cache_warning_names_the_callers_line(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(cache_dir))
    src = write_phantom_nifti(tmp_path / "a.nii", (8, 8, 4))
    real_mkdir = Path.mkdir

    def deny(self, *args, **kwargs):
        if str(self).startswith(str(cache_dir)):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", deny)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        lv.open(src, cache=True)
    cache_warnings = [w for w in rec if issubclass(w.category, lvcache.CacheWarning)]
    assert len(cache_warnings) == 1
    _from_here(cache_warnings)


def _gzipped_spm_pair(tmp_path: Path) -> None:
    """a.img.gz / a.hdr.gz beside SPM's plain a.mat (a pair gzipped after SPM wrote it)."""
    img = nib.Spm2AnalyzeImage(np.zeros((4, 4, 3), "int16"), np.diag([2.0, 2.0, 2.0, 1.0]))
    nib.save(img, tmp_path / "a.img")
    for name in ("a.img", "a.hdr"):
        raw = (tmp_path / name).read_bytes()
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        (tmp_path / name).unlink()
    assert (tmp_path / "a.mat").exists()  # SPM's sidecar, not gzipped with the pair


def test_nifti_sidecar_warning_names_the_callers_line(tmp_path):
    _gzipped_spm_pair(tmp_path)
    rec = _caught(lambda: lv.open(tmp_path / "a.img.gz"))
    assert any("a.mat is not read" in str(w.message) for w in rec)
    _from_here(rec)


def test_warning_filter_by_module_reaches_lazyvol_warnings(tmp_path, monkeypatch):
    # the filter a user writes for their own module turns lazyvol's warning into an error
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "s"
    write_dicom_series(folder, shape=(8, 8, 4), per_slice=[{"RescaleSlope": 0}] + [{}] * 3)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=RuntimeWarning, module=__name__)
        with pytest.raises(RuntimeWarning, match="RescaleSlope"):
            lv.open(folder)


def test_every_lazyvol_warning_begins_with_lazyvol(tmp_path, monkeypatch):
    # a filter by message silences them all (a filter by module names the user's module now)
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(tmp_path / "cache"))
    _gzipped_spm_pair(tmp_path)
    rec = _caught(lambda: lv.open(tmp_path / "a.img.gz"))  # a message naming its file first
    assert rec and all(str(w.message).startswith("lazyvol: ") for w in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="lazyvol")
        lv.open(tmp_path / "a.img.gz")
