"""``attrs["voxel_size_mm"]`` of the xarray image is in millimetres whatever unit the source's
affine is in (a NIfTI in microns or meters keeps its affine, and its coordinates, in that unit:
the attribute held those numbers, labelled mm)."""

from __future__ import annotations

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.testing import write_ome_zarr

nib = pytest.importorskip("nibabel")
xr = pytest.importorskip("xarray")
zarr = pytest.importorskip("zarr")

#: Millimetres per NIfTI space unit (the NIfTI standard's xyzt_units codes 1, 2, 3).
MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001}


@pytest.mark.parametrize(("unit", "zoom"), [("micron", 0.5), ("meter", 0.002), ("mm", 1.5)])
def test_voxel_size_mm_is_in_millimetres(tmp_path, unit, zoom):
    path = tmp_path / f"{unit}.nii"
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.int16), np.diag([zoom, 2 * zoom, 3 * zoom, 1]))
    img.header.set_xyzt_units(unit, "sec")
    nib.save(img, path)
    hdr = nib.load(path).header
    assert hdr.get_xyzt_units()[0] == unit
    want = [float(z) * MM[unit] for z in hdr.get_zooms()[:3]]
    store = tmp_path / f"{unit}.zarr"
    lv.open(path).to_zarr(store)
    for image in (
        lv.open(path).to_xarray(),
        xr.open_dataset(path, engine="lazyvol").image,
        xr.open_dataset(store, engine="lazyvol").image,
    ):
        np.testing.assert_allclose(image.attrs["voxel_size_mm"], want, rtol=1e-6)
        # the coordinates stay in the file's unit, as nibabel's affine is
        assert image.x.attrs["units"] == unit
        np.testing.assert_allclose(np.diff(image.x.values), float(hdr.get_zooms()[0]), rtol=1e-6)


def test_an_ome_zarr_in_micrometres_gives_millimetres(tmp_path):
    store = tmp_path / "um.zarr"
    scale = [4.0, 2.0, 0.5]  # z, y, x in micrometres
    write_ome_zarr(store, np.zeros((3, 4, 5), "int16"), scale=scale, unit="micrometer")
    image = xr.open_dataset(store, engine="lazyvol").image
    np.testing.assert_allclose(image.attrs["voxel_size_mm"], [0.0005, 0.002, 0.004], rtol=1e-9)


def test_axis4_coordinates_say_their_units(tmp_path):
    """Multi-echo DICOM (an enhanced file's echoes: single-frame ones are a volume each, h201):
    EchoTime on t in seconds (BIDS' unit; the generator writes 10, 20, 30 ms, read back with
    pydicom), units attribute set; the sidecar says the same seconds."""
    import json

    import pydicom

    from lazyvol.testing import write_dicom_4d_series, write_enhanced_dicom

    write_enhanced_dicom(
        tmp_path / "me" / "me.dcm", (4, 3, 2), n_volumes=3, volume_tag="EffectiveEchoTime"
    )
    frames = pydicom.dcmread(tmp_path / "me" / "me.dcm").PerFrameFunctionalGroupsSequence
    written = sorted({float(f.MREchoSequence[0].EffectiveEchoTime) for f in frames})
    assert written == [10.0, 20.0, 30.0]
    ds = xr.open_dataset(tmp_path / "me", engine="lazyvol")
    assert ds.EchoTime.values.tolist() == [ms / 1000 for ms in written]
    assert ds.EchoTime.attrs["units"] == "s"
    assert ds.EchoNumbers.attrs["units"] == "1"
    vol = lv.open(tmp_path / "me")
    vol[..., 1].to_nifti(tmp_path / "e2.nii")
    sidecar = json.loads((tmp_path / "e2.json").read_text())
    assert sidecar["EchoTime"] == float(ds.EchoTime[1])
    dwi = tmp_path / "dwi"
    write_dicom_4d_series(dwi, (4, 3, 2), bvals=[0, 1000], bvecs=[[0, 0, 0], [1, 0, 0]], labels=())
    image = xr.open_dataset(dwi, engine="lazyvol")
    assert image.bval.attrs["units"] == "s/mm2"
    assert image.DiffusionBValue.attrs["units"] == "s/mm2"
    assert image.DiffusionBValue.values.tolist() == [0, 1000]
