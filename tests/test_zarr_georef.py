"""Geometry other OME-Zarr tools see in a store lazyvol writes, and geometry lazyvol reads from
stores other tools write: the OME translation of flipped and permuted volumes, RFC-4 anatomical
orientations, and the NIfTI-Zarr header of a store without lazyvol's attributes.

Foreign stores are made from lazyvol's own by removing what only lazyvol writes (the ``lazyvol``
attributes and the manifest) and, as the case needs, the ``nifti`` array or the OME translation
and orientations (what niizarr writes: OME scale, zero translation, no orientation)."""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol import zarr_io

LPS = np.diag([-0.5, -2.0, 3.0, 1.0])
LPS[:3, 3] = [10.0, -20.0, 30.0]
LAS = np.diag([-1.5, 2.0, 2.5, 1.0])
LAS[:3, 3] = [90.0, -126.0, -72.0]
# i points towards A, j towards I, k towards L: axes swapped and flipped
PERMUTED = np.array(
    [[0.0, 0.0, -1.2, 5.0], [2.0, 0.0, 0.0, -7.0], [0.0, -0.8, 0.0, 11.0], [0.0, 0.0, 0.0, 1.0]]
)
# rotated (nearest directions L, P, S)
OBLIQUE = np.array(
    [
        [-0.9, 0.1, 0.0, 10.25],
        [-0.05, -1.1, 0.2, 5.5],
        [0.0, 0.3, 2.0, 7.125],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
TOWARDS = {
    "left-to-right": (0, 1.0),
    "right-to-left": (0, -1.0),
    "posterior-to-anterior": (1, 1.0),
    "anterior-to-posterior": (1, -1.0),
    "inferior-to-superior": (2, 1.0),
    "superior-to-inferior": (2, -1.0),
}


def _data(shape=(8, 6, 4)):
    return np.arange(int(np.prod(shape)), dtype="int16").reshape(shape)


def _group_json(store):
    with open(os.path.join(store, "zarr.json")) as f:
        return json.load(f)


def _edit_group(store, change):
    meta = _group_json(store)
    change(meta["attributes"])
    with open(os.path.join(store, "zarr.json"), "w") as f:
        json.dump(meta, f)


def _write(tmp_path, affine, name="s.zarr", levels=2):
    out = lv.Volume(_data(), affine).to_zarr(tmp_path / name, levels=levels)
    expected = [zarr_io.open_zarr(out, level=n).affine for n in range(levels)]
    return out, expected


def _foreign(store, keep_nifti, niizarr_like=False):
    """The store without lazyvol's attributes and manifest (and without ``nifti``, or with OME
    as niizarr writes it: level 0 translated by zero, no orientation)."""
    shutil.rmtree(os.path.join(store, "lazyvol-manifest"))

    def change(attrs):
        del attrs["lazyvol"]
        ms = attrs["ome"]["multiscales"][0]
        if niizarr_like:  # level 0 at 0, the other levels shifted by their half voxels
            for ax in ms["axes"]:
                ax.pop("orientation", None)
            trans = [ds["coordinateTransformations"][1]["translation"] for ds in ms["datasets"]]
            for ds in ms["datasets"]:
                tr = ds["coordinateTransformations"][1]
                tr["translation"] = [a - b for a, b in zip(tr["translation"], trans[0])]

    _edit_group(store, change)
    if not keep_nifti:
        del zarr.open_group(store, mode="a")["nifti"]


def _open_quiet(store, level=0):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a consistent store
        return zarr_io.open_zarr(store, level=level)


# -- writing: what an OME reader sees ------------------------------------------------------------


def test_ome_translation_is_the_origin_along_each_oriented_axis(tmp_path):
    """An OME reader places voxel n of an axis at ``translation + scale * n`` along the axis's
    RFC-4 orientation: for flipped and permuted affines that is the affine's world position of the
    voxel along that direction, at every level; an oblique affine cannot be placed: level 0 at
    zero, downsampled levels shifted by their half voxels (documented)."""
    for n, affine in enumerate([LPS, LAS, PERMUTED, OBLIQUE]):
        out, level_affines = _write(tmp_path, affine, f"w{n}.zarr")
        ms = _group_json(out)["attributes"]["ome"]["multiscales"][0]
        axes = {ax["name"]: ax for ax in ms["axes"]}
        for ds, lvl_aff in zip(ms["datasets"], level_affines):
            scale, trans = (tr[tr["type"]] for tr in ds["coordinateTransformations"])
            for vol_ax, name in enumerate("xyz"):
                disk_ax = 2 - vol_ax
                sizes = np.sqrt((lvl_aff[:3, :3] ** 2).sum(axis=0))
                assert scale[disk_ax] == pytest.approx(sizes[vol_ax])
                if affine is OBLIQUE:  # level 0 at 0; level 1 shifted as in level 0's grid
                    base = level_affines[0]
                    shift = np.linalg.solve(base[:3, :3], lvl_aff[:3, 3] - base[:3, 3])
                    size0 = np.sqrt((base[:3, :3] ** 2).sum(axis=0))[vol_ax]
                    assert trans[disk_ax] == pytest.approx(shift[vol_ax] * size0, abs=1e-12)
                    continue
                row, sign = TOWARDS[axes[name]["orientation"]["value"]]
                for index in (0, 3):
                    voxel = np.zeros(4)
                    voxel[vol_ax], voxel[3] = index, 1.0
                    world = lvl_aff @ voxel
                    ome = trans[disk_ax] + scale[disk_ax] * index
                    assert ome == pytest.approx(sign * world[row], abs=1e-9)
        # the NIfTI-Zarr header still holds the exact affine, and lazyvol reads its own
        raw = np.asarray(zarr.open_group(out, mode="r")["nifti"][:]).tobytes()
        hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw), check=False)
        np.testing.assert_allclose(hdr.get_best_affine(), affine, atol=1e-6)
        np.testing.assert_array_equal(lv.open(out).affine, affine)


# -- reading a plain OME-Zarr with RFC-4 orientations -----------------------------------------


@pytest.mark.parametrize("affine", [LPS, LAS, PERMUTED], ids=["LPS", "LAS", "permuted"])
def test_foreign_ome_with_orientations_reads_the_affine(tmp_path, affine):
    out, expected = _write(tmp_path, affine)
    _foreign(out, keep_nifti=False)
    for level in (0, 1):
        vol = _open_quiet(out, level)
        np.testing.assert_allclose(vol.affine, expected[level], atol=1e-6)
        assert vol.meta["affine_source"] == "ome-orientation"
    assert len(vol.meta["ome_orientation"]) == 3
    np.testing.assert_array_equal(lv.open(out).compute(), _data())


def test_foreign_oblique_ome_reads_its_nearest_directions(tmp_path):
    """OME cannot express a rotation: an oblique store without its NIfTI header reads as the
    nearest flips and permutation with the voxel sizes, origin at 0 (documented)."""
    out, _ = _write(tmp_path, OBLIQUE, levels=1)
    _foreign(out, keep_nifti=False)
    vol = _open_quiet(out)
    sizes = np.sqrt((OBLIQUE[:3, :3] ** 2).sum(axis=0))
    np.testing.assert_allclose(vol.affine, np.diag([-sizes[0], -sizes[1], sizes[2], 1.0]))
    assert vol.orientation == "LPS"


def test_partial_orientations_warn_and_read_as_ras(tmp_path):
    out, _ = _write(tmp_path, LPS, levels=1)
    _foreign(out, keep_nifti=False)
    _edit_group(out, lambda a: a["ome"]["multiscales"][0]["axes"][0].pop("orientation"))
    with pytest.warns(RuntimeWarning, match=r"s\.zarr.*RFC-4 orientations.*ignored"):
        vol = lv.open(out)
    ras = np.diag([0.5, 2.0, 3.0, 1.0])
    ras[:3, 3] = [-10.0, 20.0, 30.0]  # the OME translation: the origin along L, P and S
    np.testing.assert_allclose(vol.affine, ras)
    assert vol.meta["affine_source"] == "ome"


# -- reading a NIfTI-Zarr store (as niizarr writes it) ------------------------------------------


@pytest.mark.parametrize(
    "affine", [LPS, LAS, PERMUTED, OBLIQUE], ids=["LPS", "LAS", "permuted", "oblique"]
)
def test_nifti_zarr_header_gives_the_affine(tmp_path, affine):
    out, expected = _write(tmp_path, affine)
    _foreign(out, keep_nifti=True, niizarr_like=True)
    for level in (0, 1):
        vol = _open_quiet(out, level)
        np.testing.assert_allclose(vol.affine, expected[level], atol=1e-6)
        assert vol.meta["affine_source"] == "nifti-sform"
    np.testing.assert_array_equal(lv.open(out).compute(), _data())


def test_nifti_zarr_header_disagreeing_with_ome_is_not_used(tmp_path):
    out, _ = _write(tmp_path, LPS)
    _foreign(out, keep_nifti=True, niizarr_like=True)

    def double_scale(attrs):
        tr = attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]
        tr["scale"] = [2 * s for s in tr["scale"]]

    _edit_group(out, double_scale)
    with pytest.warns(RuntimeWarning, match=r"s\.zarr.*'nifti'.*voxel sizes.*differ"):
        vol = lv.open(out)
    np.testing.assert_allclose(vol.affine, np.diag([1.0, 4.0, 6.0, 1.0]))
    assert vol.meta["affine_source"] == "ome"
    assert "voxel sizes" in vol.meta["nifti_disagreement"]
    # a header that does not parse: warned, OME used
    arr = zarr.open_group(out, mode="a")["nifti"]
    arr[:] = 0
    with pytest.warns(RuntimeWarning, match=r"'nifti'.*not usable.*sizeof_hdr"):
        assert lv.open(out).meta["affine_source"] == "ome"


# -- units: an affine in microns stays in microns, labelled so -----------------------------------


def test_a_micron_nifti_is_written_in_microns_everywhere(tmp_path):
    # lazyvol keeps a NIfTI file's affine in the file's units (as nibabel gives it). Its OME axes
    # said millimeter and to_nifti wrote mm: 0.5 um voxels became 0.5 mm, a factor of 1000.
    affine = np.diag([0.5, 0.25, 2.0, 1.0])
    affine[:3, 3] = [10.0, -4.0, 3.0]
    img = nib.Nifti1Image(_data(), affine)
    img.header.set_xyzt_units("micron", "sec")
    nib.save(img, tmp_path / "um.nii")
    vol = lv.open(tmp_path / "um.nii")
    assert vol.meta["xyzt_units"] == ["micron", "sec"]
    store = vol.to_zarr(tmp_path / "um.zarr")
    ms = _group_json(store)["attributes"]["ome"]["multiscales"][0]
    assert [a["unit"] for a in ms["axes"]] == ["micrometer"] * 3
    raw = np.asarray(zarr.open_group(store, mode="r")["nifti"][...]).tobytes()
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw))
    assert hdr.get_xyzt_units()[0] == "micron"
    np.testing.assert_allclose(hdr.get_sform(), affine)
    back = lv.open(store)
    np.testing.assert_allclose(back.affine, affine)
    out = nib.load(back.to_nifti(tmp_path / "rt.nii"))
    assert out.header.get_xyzt_units()[0] == "micron"
    np.testing.assert_allclose(out.affine, affine)
    # Another OME reader's view (no lazyvol attributes, no NIfTI header): the same place, in
    # millimetres (OME axes are read in mm), and labelled so.
    _foreign(store, keep_nifti=False)
    mm = affine.copy()
    mm[:3, :] *= 1e-3
    foreign = _open_quiet(store)
    np.testing.assert_allclose(foreign.affine, mm, atol=1e-12)
    assert foreign.meta["xyzt_units"][0] == "mm"


@pytest.mark.parametrize("units", ["micron", "meter"])
def test_a_nifti_keeps_its_unit_in_every_container(tmp_path, units):
    """A NIfTI header keeps its space unit in every container (as nibabel gives the file),
    labelled by ``meta["xyzt_units"]`` and by repr: a NIfTI-Zarr store of the file (niizarr) and
    a lazyvol store copied without lazyvol's attributes were converted to mm (affines 1000 times
    apart for the same image); repr said mm. OME axes alone are read in mm, and say so."""
    niizarr = pytest.importorskip("niizarr")
    affine = np.diag([0.9, 1.1, 2.5, 1.0])
    affine[:3, 3] = [10.0, 20.0, 30.0]
    img = nib.Nifti1Image(_data(), affine)
    img.header.set_xyzt_units(units, "sec")
    nib.save(img, tmp_path / "f.nii")
    truth = nib.load(tmp_path / "f.nii").affine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(nib.load(tmp_path / "f.nii"), str(tmp_path / "nz.zarr"))
    vol = lv.open(tmp_path / "f.nii")
    copy = vol.to_zarr(tmp_path / "copy.zarr")
    _foreign(copy, keep_nifti=True)
    bare = vol.to_zarr(tmp_path / "bare.zarr")
    _foreign(bare, keep_nifti=False)
    for path in (tmp_path / "f.nii", tmp_path / "nz.zarr", copy):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = lv.open(path)
        np.testing.assert_allclose(got.affine, truth, rtol=1e-6, err_msg=str(path))
        assert got.meta["xyzt_units"][0] == units
        assert f"voxel=(0.9, 1.1, 2.5) {units} " in repr(got)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = lv.open(bare)
    mm = truth.copy()
    mm[:3, :] *= {"micron": 1e-3, "meter": 1e3}[units]
    np.testing.assert_allclose(got.affine, mm, rtol=1e-6)
    assert got.meta["xyzt_units"][0] == "mm"
    assert " mm " in repr(got)


def test_a_short_nifti_header_array_warns_and_uses_ome(tmp_path):
    # 100 bytes that begin like a NIfTI-1 header: nibabel's WrapStructError reached the user.
    affine = np.diag([-0.5, -2.0, 3.0, 1.0])
    store, expected = _write(tmp_path, affine)
    _foreign(store, keep_nifti=False)
    raw = (348).to_bytes(4, "little") + bytes(96)
    zarr.open_group(store, mode="a").create_array("nifti", data=np.frombuffer(raw, np.uint8))
    with pytest.warns(RuntimeWarning, match="'nifti' array is not used"):
        vol = zarr_io.open_zarr(store)
    np.testing.assert_allclose(vol.affine, expected[0], atol=1e-9)


def test_a_nifti_header_array_claiming_a_huge_shape_is_refused_unread(tmp_path):
    """Its whole claimed shape was read (zarr allocates it, fills missing chunks): 1 GB claimed in
    348-byte chunks ran for minutes and was killed for memory under a 3 GB limit."""
    store, _ = _write(tmp_path, np.diag([2.0, 2.0, 2.0, 1.0]))
    _foreign(store, keep_nifti=True)
    meta_path = os.path.join(store, "nifti", "zarr.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["shape"] = [2**40]
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(lv.ResourceLimitError, match=r"'nifti'.*claims 1099511627776 bytes"):
        zarr_io.open_zarr(store)


def test_a_micron_volume_is_labelled_in_microns_by_xarray_and_nibabel(tmp_path):
    import xarray as xr

    affine = np.diag([0.5, 0.25, 2.0, 1.0])
    img = nib.Nifti1Image(_data(), affine)
    img.header.set_xyzt_units("micron", "sec")
    nib.save(img, tmp_path / "um.nii")
    vol = lv.open(tmp_path / "um.nii")
    ds = xr.open_dataset(tmp_path / "um.nii", engine="lazyvol")
    assert {ds[c].attrs["units"] for c in ("x", "y", "z")} == {"micron"}
    assert vol.to_nibabel().header.get_xyzt_units()[0] == "micron"


@pytest.mark.parametrize("keep_nifti", [False, True], ids=["ome", "nifti-zarr"])
def test_a_level_whose_shape_disagrees_with_its_scale_warns(tmp_path, keep_nifti):
    """A writer that states level 0's scale for every level: level 1 (half the voxels) opened
    silently with level 0's voxel size, its affine covering half the field of view. Its voxels
    x scale no longer span level 0's extent: a warning names the level and the axes, and
    meta['level_disagreement'] keeps it. A consistent pyramid (odd sizes rounded) opens quietly."""
    out, _ = _write(tmp_path, LAS, levels=2)
    _foreign(out, keep_nifti=keep_nifti)
    assert "level_disagreement" not in _open_quiet(out, 1).meta

    def same_scale(attrs):
        datasets = attrs["ome"]["multiscales"][0]["datasets"]
        datasets[1]["coordinateTransformations"][0] = datasets[0]["coordinateTransformations"][0]

    _edit_group(out, same_scale)
    assert "level_disagreement" not in _open_quiet(out, 0).meta
    said = r"level 1 \(array '1'\) does not span level 0's extent .*x: 4 x 1\.5 = 6, level 0: 8"
    with pytest.warns(RuntimeWarning, match=said):
        vol = zarr_io.open_zarr(out, level=1)
    assert "x: 4 x 1.5 = 6" in vol.meta["level_disagreement"]
