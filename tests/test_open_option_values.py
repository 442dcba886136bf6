"""``lazyvol.open``'s ``dtype=`` and ``scale=`` are checked before anything is read: an unknown or
non-numeric dtype, or a scale that is not a bool, is an OptionError naming the source and the
option (was: numpy's bare TypeError, or text / object arrays, or ``scale="no"`` scaling)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_series


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    nii = d / "a.nii"
    nib.save(nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4)), nii)
    write_dicom_series(d / "dcm", (4, 3, 2))
    return nii, d / "dcm"


@pytest.mark.parametrize(
    "bad", [{"dtype": "bogus"}, {"dtype": "U3"}, {"dtype": object}, {"scale": "no"}]
)
def test_bad_dtype_or_scale(sources, bad):
    (name,) = bad
    for src in sources:
        with pytest.raises(lv.OptionError, match=f"{name}=") as err:
            lv.open(src, **bad)
        assert str(src) in str(err.value)


def test_numeric_dtypes_still_open(sources):
    nii, dcm = sources
    for src in (nii, dcm):
        assert lv.open(src, dtype="float64").compute().dtype == np.float64
        assert lv.open(src, dtype=np.dtype("complex64")).dtype == np.complex64
        assert lv.open(src, scale=np.bool_(False)).dtype == np.int16
    ref = np.asanyarray(nib.load(nii).dataobj).astype(np.float32)
    assert np.array_equal(lv.open(nii, dtype="float32").compute(), ref)


@pytest.mark.parametrize("bad", [1.5, True, np.bool_(False), [1], 3.0])
def test_series_of_a_type_that_names_no_volume(sources, bad):
    """``series=1.5`` / ``series=True`` raised a bare TypeError (after the scan of a folder)."""
    for src in sources:
        with pytest.raises(lv.OptionError, match=r"series=.*takes a SeriesNumber") as err:
            lv.open(src, series=bad)
        assert str(src) in str(err.value)


def test_series_choice_refuses_other_types_typed(sources):
    from lazyvol.dicom.choose import select

    report = lv.scan(sources[1])
    with pytest.raises(lv.OptionError, match=r"series=1\.5"):
        select(report, str(sources[1]), 1.5)  # type: ignore[arg-type]
    assert select(report, str(sources[1]), np.int64(report[0].number)) is report[0]


@pytest.mark.parametrize("bad", [{"dtype": "U10"}, {"scale": "no"}, {"scale": 2}])
def test_open_cached_checks_dtype_and_scale_too(sources, tmp_path, bad):
    """lazyvol.cache.open_cached reads through the same check (it wrote a text dtype's values to a
    store, and took scale='no' as true)."""
    from lazyvol.cache import open_cached

    (name,) = bad
    for src in sources:
        with pytest.raises(lv.OptionError, match=f"{name}=") as err:
            open_cached(src, cache=tmp_path / "c", **bad)
        assert str(src) in str(err.value)
    assert not any((tmp_path / "c").rglob("zarr.json"))


@pytest.mark.parametrize("flag", [1, 0, np.int64(1), np.uint8(0), np.True_])
def test_scale_takes_one_and_zero_as_bools(sources, tmp_path, flag):
    """scale=1 / scale=0 (taken before the check, as Python takes them) are True / False, also
    through the cache."""
    nii, dcm = sources
    for src in (nii, dcm):
        want = lv.open(src, scale=bool(flag))
        for vol in (lv.open(src, scale=flag), lv.open(src, scale=flag, cache=tmp_path / "c")):
            assert vol.dtype == want.dtype
            assert np.array_equal(vol.compute(), want.compute())
