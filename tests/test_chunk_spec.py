"""``chunks=`` of ``lv.open``: what dask would take otherwise than meant is refused, naming the
source (``lazyvol._chunk_spec``); a dict's negative axis counts from the end."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.errors import OptionError
from lazyvol.testing import write_dicom_series


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("chunk_spec")
    nii = d / "c.nii"
    data = np.arange(6 * 5 * 4 * 3, dtype=np.int16).reshape(6, 5, 4, 3)
    nib.save(nib.Nifti1Image(data, np.eye(4)), nii)
    write_dicom_series(str(d / "series"), (8, 6, 4))
    store = lv.open(nii).to_zarr(d / "c.zarr")
    return {"nifti": str(nii), "dicom": str(d / "series"), "zarr": str(store)}


@pytest.mark.parametrize("kind", ["nifti", "dicom", "zarr"])
@pytest.mark.parametrize(
    ("chunks", "says"),
    [
        (True, "True is no chunk length"),  # zarr's "choose for me": dask's one voxel per chunk
        (np.bool_(True), "is no chunk length"),
        ((True, 2, 2), "True is no chunk length"),
        ({2: True}, "True is no chunk length"),
        (("-1", 2, 2), "'-1' is no size of a chunk"),  # dask: -1 bytes, one voxel
        ({"k": 1}, "'k' is no axis of the volume"),  # xarray's dimension names: ignored by dask
        ({5: 2}, "5 is no axis of the volume"),
        ({-7: 2}, "-7 is no axis of the volume"),
    ],
)
def test_a_chunk_spec_dask_reads_otherwise_is_refused(sources, kind, chunks, says) -> None:
    path = sources[kind]
    ndim = lv.open(path).ndim
    if isinstance(chunks, tuple):
        chunks = chunks + (-1,) * (ndim - len(chunks))
    with pytest.raises(OptionError, match=rf"{Path(path).name}.*chunks=.*{says}"):
        lv.open(path, chunks=chunks)


@pytest.mark.parametrize("kind", ["nifti", "dicom", "zarr"])
def test_a_negative_axis_counts_from_the_end(sources, kind) -> None:
    """{-1: 1}: one index of the last axis per chunk, as numpy axes and dask's rechunk count
    (dask's normalize_chunks ignored the key: the volume came out in its default chunks)."""
    path = sources[kind]
    vol = lv.open(path, chunks={-1: 1, 0: 2})
    last = vol.shape[-1]
    assert vol.chunks[-1] == (1,) * last
    assert vol.chunks[0][0] == 2
    np.testing.assert_array_equal(vol.compute(), lv.open(path).compute())
    np.testing.assert_array_equal(vol[1:4, ::-1].compute(), lv.open(path)[1:4, ::-1].compute())


def test_valid_specs_still_open(sources) -> None:
    path = sources["nifti"]
    for chunks in ("auto", None, "1KiB", ("auto", -1, None, 1), {0: "auto", 3: 1}, -1, 2):
        vol = lv.open(path, chunks=chunks)
        np.testing.assert_array_equal(vol.compute(), np.asarray(nib.load(path).dataobj))


def test_rechunk_refuses_the_same_specs(sources) -> None:
    vol = lv.open(sources["nifti"])
    for chunks in (True, {"k": 1}, ("-1", 2, 2, 2)):
        with pytest.raises(OptionError, match=r"c\.nii: chunks="):
            vol.rechunk(chunks)
    assert vol.rechunk({-1: 1}).chunks[-1] == (1,) * vol.shape[-1]
