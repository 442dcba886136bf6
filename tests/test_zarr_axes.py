"""Axis order of the Zarr stores lazyvol writes and reads past three axes.

A 5-axis NIfTI volume (x, y, z, t and a 5th axis: vector components, echoes, ...) was written as
``(dim5, t, z, y, x)``: OME-Zarr requires the time axis first, so the store was invalid OME (the
ome-zarr-models validator refuses it) and NIfTI-Zarr clients could not read it. Stores are now
``(t, c, z, y, x)``, NIfTI-Zarr's layout; stores written the old way are still read right. Checked
against the OME-Zarr validator (ome-zarr-models), NIfTI-Zarr's reference implementation (niizarr)
and nibabel.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import write_ome_zarr
from lazyvol.zarr_ome import disk_axes, volume_axes


@pytest.fixture
def nifti5(tmp_path):
    """A 5D NIfTI (x, y, z, t, c) with a 2.5 s repetition time; its array as nibabel reads it."""
    values = np.random.default_rng(7).integers(-300, 300, (8, 9, 10, 2, 3)).astype(np.int16)
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [-5.0, 7.0, 11.0]
    img = nib.Nifti1Image(values, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.5
    path = tmp_path / "v5.nii"
    nib.save(img, path)
    return path, np.asarray(nib.load(path).dataobj), nib.load(path).affine


def _validate_ome(store):
    from ome_zarr_models.v05.image import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.from_zarr(zarr.open_group(store, mode="r"))


def test_a_5d_store_is_valid_ome_and_niftizarr(nifti5, tmp_path):
    niizarr = pytest.importorskip("niizarr")
    path, truth, affine = nifti5
    store = lv.open(path).to_zarr(tmp_path / "v5.zarr", levels=2)
    _validate_ome(store)  # raises on an invalid axis order
    axes = json.loads((tmp_path / "v5.zarr" / "zarr.json").read_text())["attributes"]["ome"]
    assert [a.get("type") for a in axes["multiscales"][0]["axes"]] == [
        "time",
        "channel",
        "space",
        "space",
        "space",
    ]
    np.testing.assert_array_equal(
        zarr.open_array(tmp_path / "v5.zarr" / "0")[...], truth.transpose(3, 4, 2, 1, 0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = niizarr.zarr2nii(str(store))
    np.testing.assert_array_equal(np.asarray(img.dataobj), truth)
    np.testing.assert_allclose(img.header.get_best_affine(), affine)
    back = lv.open(store)
    np.testing.assert_array_equal(back.compute(), truth)
    np.testing.assert_array_equal(
        back[1:5, 2:4, 3:9, 1, 0:2].compute(), truth[1:5, 2:4, 3:9, 1, 0:2]
    )
    assert back.meta["axis4_spacing"] == 2.5
    assert lv.open(store, level=1).shape == (4, 5, 5, 2, 3)


def test_a_niftizarr_5d_store_reads_as_nibabel(nifti5, tmp_path):
    niizarr = pytest.importorskip("niizarr")
    path, truth, _ = nifti5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(nib.load(path), str(tmp_path / "n.nii.zarr"), nb_levels=1)
    vol = lv.open(tmp_path / "n.nii.zarr")
    np.testing.assert_array_equal(vol.compute(), truth)  # (x, y, z, t, c), not (..., c, t)
    assert vol.meta["axis4_spacing"] == 2.5


def test_a_niftizarr_store_of_a_scaled_nifti_reads_real_values(tmp_path):
    """niizarr stores a scaled NIfTI's stored integers and keeps scl_slope / scl_inter in the
    store's NIfTI header: lazyvol applies them (as nibabel applies them to the NIfTI), or gives
    the stored integers with scale=False; an infinite slope is refused, naming the header."""
    niizarr = pytest.importorskip("niizarr")
    stored = (np.arange(8 * 9 * 10) % 200).astype(np.int16).reshape(8, 9, 10)
    img = nib.Nifti1Image(stored, np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(2.5, -10.0)
    nib.save(img, tmp_path / "s.nii")
    truth = nib.load(tmp_path / "s.nii").get_fdata()
    store = tmp_path / "s.nii.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(str(tmp_path / "s.nii"), str(store), nb_levels=1)
    assert zarr.open_group(store, mode="r")["0"].dtype == np.int16  # (stored values)
    vol = lv.open(store)
    assert vol.dtype == np.float32  # lazyvol's rule for a fractional slope on int16
    np.testing.assert_allclose(vol.compute(), truth, rtol=1e-6)
    assert (vol.meta["scl_slope"], vol.meta["scl_inter"], vol.meta["scaled"]) == (2.5, -10.0, True)
    raw = lv.open(store, scale=False)
    np.testing.assert_array_equal(raw.compute(), stored)
    assert raw.dtype == np.int16
    # a slope nibabel refuses: refused at open, naming the store's header array and the fields
    hdr = zarr.open_group(store, mode="a")["nifti"]
    head = bytearray(np.asarray(hdr[...]).tobytes())
    head[112:116] = np.float32(np.inf).tobytes()
    hdr[...] = np.frombuffer(bytes(head), dtype=np.uint8)
    with pytest.raises(
        lv.FormatError, match=r"s\.nii\.zarr.*'nifti'.*scl_slope = inf.*scale=False"
    ):
        lv.open(store)
    np.testing.assert_array_equal(lv.open(store, scale=False).compute(), stored)


@pytest.mark.parametrize("shape", [(6, 5, 4), (6, 5, 4, 3)])
def test_stores_up_to_4_axes_keep_their_layout_and_format(shape, tmp_path):
    """Fewer axes: the transposed layout and store format 2, which older lazyvol versions read."""
    truth = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    store = lv.Volume(truth, np.eye(4)).to_zarr(tmp_path / "s.zarr")
    _validate_ome(store)
    attrs = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["attributes"]
    assert attrs["lazyvol"]["version"] == 2
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "s.zarr" / "0")[...], truth.T)


def test_axis_orders():
    # what lazyvol writes, read back
    for ndim in (3, 4, 5, 6):
        order = disk_axes(ndim)
        names = ["t" if v == 3 else f"a{v}" for v in order]
        assert tuple(order[d] for d in volume_axes(names)) == tuple(range(ndim))
    # a 5D store written before this layout, (dim5, t, z, y, x): t stays the 4th axis
    assert volume_axes(["dim5", "t", "z", "y", "x"]) == (4, 3, 2, 1, 0)
    # foreign OME images, by type: (c, z, y, x) and (t, c, z, y, x)
    assert volume_axes(["c", "z", "y", "x"], ["channel", "space", "space", "space"]) == (3, 2, 1, 0)
    types = ["time", "channel", "space", "space", "space"]
    assert volume_axes(["t", "c", "z", "y", "x"], types) == (4, 3, 2, 0, 1)


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_foreign_time_axis_in_milliseconds_is_written_in_milliseconds(tmp_path, fmt):
    """An OME store's t axis in milliseconds: NIfTI's pixdim[4] is in its xyzt_units' time unit,
    so a 2000 ms step is written as 2000 msec (it was labelled seconds: a 2000 s TR)."""
    write_ome_zarr(
        tmp_path / "t.zarr",
        np.arange(120, dtype="f4").reshape(5, 4, 3, 2),
        axes="tzyx",
        time_unit="millisecond",
        scale=[2000.0, 3.0, 2.0, 1.0],
        chunks=(1, 4, 3, 2),
        version="0.5" if fmt == 3 else "0.4",
    )
    vol = lv.open(tmp_path / "t.zarr")
    assert vol.spacing[3] == 2000.0
    for cut, step in ((vol, 2000.0), (vol[..., ::2], 4000.0)):
        hdr = nib.load(cut.to_nifti(tmp_path / f"o{int(step)}.nii")).header
        assert hdr.get_xyzt_units() == ("mm", "msec")
        assert hdr.get_zooms()[3] == step


@pytest.mark.parametrize(
    "axes",
    [[{"name": n} for n in "zyx"], ["z", "y", "x"], [{"name": "c"}] + [{"name": n} for n in "ZYX"]],
    ids=["objects-without-type", "names", "channel-and-upper-case"],
)
def test_ome_axes_without_a_type_are_read_by_their_names(tmp_path, axes):
    """OME-NGFF says an axis SHOULD have a type: axis objects without one were refused ("need
    exactly three trailing space axes") where the same names as plain strings opened."""
    shape = (5, 6, 7) if len(axes) == 3 else (2, 5, 6, 7)
    truth = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    scale = [4.0, 3.0, 2.0] if len(axes) == 3 else [1.0, 4.0, 3.0, 2.0]
    write_ome_zarr(tmp_path / "img.zarr", truth, axes=axes, scale=scale)
    vol = lv.open(tmp_path / "img.zarr")
    np.testing.assert_array_equal(vol.compute(), truth.T)  # (x, y, z[, c])
    np.testing.assert_allclose(np.diag(vol.affine)[:3], [2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("names", "refusal"),
    [
        ("zyy", lv.FormatError),  # y twice: names MUST be unique
        ("cyy", lv.FormatError),
        ("zxx", lv.FormatError),
        ("yxz", lv.UnsupportedError),  # x, y, z out of place
        ("zxq", lv.UnsupportedError),  # x at y's place, beside a name lazyvol does not know
        ("zYy", lv.UnsupportedError),  # two names as written, but y read at x's place
    ],
)
def test_ome_space_axes_that_reading_by_position_would_misread_are_refused(
    tmp_path, names, refusal
):
    """Space axes are read by position as z, y, x: axes named ``(z, y, y)`` or ``(z, x, q)``
    opened with one axis's voxel size and data on another, without a word (only a full set of
    x, y, z out of order was refused)."""
    shape: tuple[int, ...] = (2, 3, 4)
    axes = [{"name": n, "type": "space"} for n in names]
    if names[0] == "c":  # a channel axis before z, and the two y
        axes = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space"}, *axes[1:]]
        shape = (2, *shape)
    write_ome_zarr(
        tmp_path / "img.zarr", np.ones(shape, "int16"), axes=axes, scale=[1.0] * len(shape)
    )
    with pytest.raises(refusal, match=r"img\.zarr") as err:
        lv.open(tmp_path / "img.zarr")
    assert "unique" in str(err.value) or "z, y, x order" in str(err.value)


def test_axis_names_differing_in_case_are_two_names(tmp_path):
    """OME-NGFF asks names to be unique as written: a channel axis ``C`` beside a custom ``c``
    is no duplicate (the name check compared them lower-cased and refused the store)."""
    axes = [
        {"name": "C", "type": "channel"},
        {"name": "c", "type": "custom"},
        *({"name": n, "type": "space"} for n in "zyx"),
    ]
    shape = (2, 3, 4, 5, 6)
    truth = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    write_ome_zarr(tmp_path / "img.zarr", truth, axes=axes, scale=[1.0] * 5)
    vol = lv.open(tmp_path / "img.zarr")
    assert vol.shape[:3] == (6, 5, 4) and int(np.prod(vol.shape)) == truth.size


@pytest.mark.parametrize(
    "axes",
    [["t", "c", "z", "y", "x"], [{"name": n} for n in "tczyx"]],
    ids=["ome-0.3-names", "objects-without-type"],
)
def test_ome_time_and_channel_axes_without_a_type_are_read_by_their_names(tmp_path, axes):
    """OME 0.3 names (or 0.4 axis objects without the SHOULD-have type): t is time and c is a
    channel, as with types; t had no type, so time and channel came out swapped and the time
    step was lost."""
    truth = np.random.default_rng(3).random((3, 2, 4, 5, 6)).astype("f4")  # t, c, z, y, x
    write_ome_zarr(
        tmp_path / "img.zarr", truth, axes=axes, scale=[2.0, 1.0, 4.0, 3.0, 1.5], version="0.4"
    )
    vol = lv.open(tmp_path / "img.zarr")
    np.testing.assert_array_equal(vol.compute(), truth.transpose(4, 3, 2, 0, 1))  # x, y, z, t, c
    assert vol.meta["axes"] == ["x", "y", "z", "t", "c"]
    assert vol.meta["axis4_spacing"] == 2.0
    written = json.loads((Path(vol.to_zarr(tmp_path / "out.zarr")) / "zarr.json").read_text())
    out_axes = written["attributes"]["ome"]["multiscales"][0]["axes"]
    assert [(a["name"], a.get("type")) for a in out_axes[:2]] == [("t", "time"), ("c", "channel")]
    assert zarr.open_array(tmp_path / "out.zarr" / "0").shape == truth.shape


def test_a_channel_axis_is_written_as_a_channel_axis(tmp_path):
    """A (c, z, y, x) OME image (ome-zarr-py's writer) opens with a channel 4th axis; to_zarr wrote
    it as {"name": "t", "type": "time"}, so OME readers saw time points instead of channels."""
    ome_writer = pytest.importorskip("ome_zarr.writer")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    truth = np.random.default_rng(5).integers(0, 100, (2, 5, 6, 7)).astype(np.uint8)  # c, z, y, x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ome_writer.write_image(
            truth,
            zarr.open_group(tmp_path / "czyx.zarr", mode="w"),
            axes="czyx",
            scale_factors=[],
        )
    vol = lv.open(tmp_path / "czyx.zarr")
    store = vol.to_zarr(tmp_path / "out.zarr")
    _validate_ome(store)
    node = next(iter(Reader(parse_url(str(store)))()))
    assert [(a["name"], a.get("type")) for a in node.metadata["axes"]] == [
        ("c", "channel"),
        ("z", "space"),
        ("y", "space"),
        ("x", "space"),
    ]
    np.testing.assert_array_equal(np.asarray(node.data[0]), truth)
    # in NIfTI, channels are no time points: no time unit (nibabel reads 'unknown', not 'sec')
    assert nib.load(vol.to_nifti(tmp_path / "c.nii")).header.get_xyzt_units()[1] == "unknown"
    # reopened, by lazyvol's attributes or (copied without them) by the OME axes: a channel axis
    group = json.loads((Path(store) / "zarr.json").read_text())
    del group["attributes"]["lazyvol"]
    (Path(store) / "zarr.json").write_text(json.dumps(group))
    (Path(store) / "lazyvol-manifest" / "zarr.json").unlink()
    (Path(store) / "lazyvol-manifest").rmdir()
    for back in (lv.open(tmp_path / "out.zarr"), lv.open(vol.to_zarr(tmp_path / "own.zarr"))):
        assert back.meta["axes"] == ["x", "y", "z", "c"]
        assert back.to_xarray().dims == ("i", "j", "k", "c")
        np.testing.assert_array_equal(back.compute(), truth.T)


def _nifti_4d(path, toffset=10.0, step=2.0):
    img = nib.Nifti1Image(np.arange(360, dtype=np.float32).reshape(6, 5, 4, 3), np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = step
    img.header["toffset"] = toffset
    nib.save(img, path)
    hdr = nib.load(path).header
    return float(hdr["toffset"]) + float(hdr["pixdim"][4]) * np.arange(3)  # nibabel's times


def test_the_first_volume_time_is_the_ome_time_translation(tmp_path):
    """A NIfTI's toffset (time of the first volume) is the OME time translation, both ways: OME
    readers placed the volumes at 0, 2, 4 s where the NIfTI says 10, 12, 14 s, and a foreign
    store's time translation was not lazyvol's time origin."""
    niizarr = pytest.importorskip("niizarr")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    times = _nifti_4d(tmp_path / "f.nii")
    vol = lv.open(tmp_path / "f.nii")
    for cut, first in ((vol, times[0]), (vol[..., 1:], times[1])):
        store = cut.to_zarr(tmp_path / f"c{first:g}.zarr")
        node = next(iter(Reader(parse_url(str(store)))()))
        tr = node.metadata["coordinateTransformations"][0]
        assert [t["type"] for t in tr] == ["scale", "translation"]
        assert (tr[0]["scale"][0], tr[1]["translation"][0]) == (2.0, first)
    # a foreign OME store with a time translation: the same time coordinate and NIfTI toffset
    write_ome_zarr(
        tmp_path / "o.zarr",
        np.zeros((3, 4, 5, 6), "f4"),
        axes="tzyx",
        time_unit="second",
        scale=[2.0, 1, 1, 1],
        translation=[10.0, 0, 0, 0],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        niizarr.nii2zarr(nib.load(tmp_path / "f.nii"), str(tmp_path / "nz.zarr"))
    for store in (tmp_path / "o.zarr", tmp_path / "nz.zarr"):
        back = lv.open(store)
        np.testing.assert_allclose(back.to_xarray()["time"].values, times, err_msg=str(store))
        hdr = nib.load(back[..., 1:].to_nifti(tmp_path / f"{store.stem}.nii")).header
        assert (float(hdr["toffset"]), float(hdr["pixdim"][4])) == (times[1], 2.0)
        assert hdr.get_xyzt_units() == ("mm", "sec")


def _ome_tczyx(path, shape=(4, 3, 5, 6, 7)):
    """A foreign OME (t, c, z, y, x) image: 2.5 s steps from 10 s, 3 channels; its array."""
    truth = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    write_ome_zarr(
        path,
        truth,
        axes="tczyx",
        time_unit="second",
        scale=[2.5, 1.0, 3.0, 2.0, 1.0],
        translation=[10.0, 0.0, 0.0, 0.0, 0.0],
    )
    return truth


def test_a_cut_that_drops_the_time_axis_leaves_a_channel_axis(tmp_path):
    """vol[:, :, :, 0, :] of an OME (t, c, z, y, x) image is a (x, y, z, c) volume: its meta
    still described the dropped time axis as the 4th, so to_xarray failed (a 'time' coordinate of
    the old length), to_zarr wrote the channels as time points 2.5 s apart and to_nifti wrote a
    2.5 s step and a 10 s toffset. Reference: OME-NGFF (ome-zarr-py's reader) and nibabel."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    truth = _ome_tczyx(tmp_path / "tczyx.zarr")
    cut = lv.open(tmp_path / "tczyx.zarr")[:, :, :, 1, :]
    assert len(cut.spacing) == 3  # a channel axis has no step
    xa = cut.to_xarray()
    assert xa.dims == ("i", "j", "k", "c") and "time" not in xa.coords
    np.testing.assert_array_equal(xa.values, truth[1].transpose(3, 2, 1, 0))
    store = cut.to_zarr(tmp_path / "cut.zarr")
    _validate_ome(store)
    node = next(iter(Reader(parse_url(str(store)))()))
    named = [(a["name"], a.get("type")) for a in node.metadata["axes"]]
    assert named == [("c", "channel"), ("z", "space"), ("y", "space"), ("x", "space")]
    tr = node.metadata["coordinateTransformations"][0]
    assert tr[0]["scale"] == [1.0, 3.0, 2.0, 1.0]
    assert tr[1]["translation"][0] == 0.0
    np.testing.assert_array_equal(np.asarray(node.data[0]), truth[1])  # (c, z, y, x)
    hdr = nib.load(cut.to_nifti(tmp_path / "cut.nii")).header
    assert (float(hdr["pixdim"][4]), float(hdr["toffset"])) == (1.0, 0.0)
    assert hdr.get_xyzt_units()[1] not in ("sec", "msec", "usec")  # no time axis


def test_a_5d_nifti_cut_at_a_time_point_has_the_5th_axis_step(nifti5, tmp_path):
    """vol[:, :, :, 1, :] of a 5D NIfTI: the 4th axis is the source's 5th, with its pixdim[5]
    (as nibabel reads it), no time unit, no toffset and no time coordinate; it reported and wrote
    the dropped axis' 2.5 s step and time."""
    path, truth, _ = nifti5
    img = nib.load(path)
    img.header["pixdim"][5] = 0.5
    img.header["toffset"] = 7.0
    nib.save(nib.Nifti1Image(truth, img.affine, img.header), tmp_path / "t.nii")
    step5 = float(nib.load(tmp_path / "t.nii").header["pixdim"][5])
    for cut in (
        lv.open(tmp_path / "t.nii")[:, :, :, 1, :],
        lv.open(tmp_path / "t.nii")[..., 1, ::-1],
    ):
        assert cut.spacing[3] == step5
        xa = cut.to_xarray()
        assert xa.dims == ("i", "j", "k", "dim5") and "time" not in xa.coords
        hdr = nib.load(cut.to_nifti(tmp_path / "cut.nii", overwrite=True)).header
        assert (float(hdr["pixdim"][4]), float(hdr["toffset"])) == (step5, 0.0)
        assert hdr.get_xyzt_units() == ("mm", "unknown")
        axes = json.loads(
            (Path(cut.to_zarr(tmp_path / "c.zarr", overwrite=True)) / "zarr.json").read_text()
        )
        first = axes["attributes"]["ome"]["multiscales"][0]["axes"][0]
        assert (first["name"], first.get("type"), first.get("unit")) == ("c", "channel", None)
    # the time axis kept (the 5th cut away): its step, unit and times as nibabel gives them
    kept = lv.open(tmp_path / "t.nii")[:, :, :, 1:, 0]
    hdr = nib.load(kept.to_nifti(tmp_path / "kept.nii")).header
    src = nib.load(tmp_path / "t.nii").header
    assert (float(hdr["pixdim"][4]), hdr.get_xyzt_units()) == (
        float(src["pixdim"][4]),
        ("mm", "sec"),
    )
    assert float(hdr["toffset"]) == float(src["toffset"]) + float(src["pixdim"][4])


@pytest.mark.parametrize(
    ("unit", "seconds"), [("minute", 60.0), ("hour", 3600.0), ("day", 86400.0)]
)
def test_a_time_axis_in_a_unit_nifti_lacks_is_written_to_nifti_in_seconds(tmp_path, unit, seconds):
    """An OME time axis in minutes (hours, days: NIfTI has only sec, msec and usec) was written to
    NIfTI as 2 s steps from 1 s for 2 min steps from 1 min, and to_zarr dropped its unit. NIfTI
    gets seconds (pixdim[4], toffset, as nibabel reads them), lazyvol reports seconds, and an
    OME-Zarr store keeps the unit, its scale and its translation (read with ome-zarr-py)."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    write_ome_zarr(
        tmp_path / "t.zarr",
        np.ones((3, 4, 5, 6), "int16"),
        axes="tzyx",
        time_unit=unit,
        scale=[2.0, 3.0, 2.0, 1.0],
        translation=[1.0, 0.0, 0.0, 0.0],
    )
    vol = lv.open(tmp_path / "t.zarr")
    assert vol.spacing[3] == 2.0 * seconds
    times = (1.0 + 2.0 * np.arange(3)) * seconds  # the truth, in seconds
    np.testing.assert_allclose(vol.to_xarray()["time"].values, times)
    for cut, first in ((vol, times[0]), (vol[..., 1:], times[1])):
        hdr = nib.load(cut.to_nifti(tmp_path / "o.nii", overwrite=True)).header
        assert hdr.get_xyzt_units() == ("mm", "sec")
        assert (float(hdr["pixdim"][4]), float(hdr["toffset"])) == (2.0 * seconds, first)
    store = vol[..., 1:].to_zarr(tmp_path / "out.zarr")
    node = next(iter(Reader(parse_url(str(store)))()))
    assert node.metadata["axes"][0] == {"name": "t", "type": "time", "unit": unit}
    tr = node.metadata["coordinateTransformations"][0]
    assert (tr[0]["scale"][0], tr[1]["translation"][0]) == (2.0, 3.0)
    # the store's NIfTI-Zarr header is a NIfTI header: seconds too
    raw = np.asarray(zarr.open_group(store, mode="r")["nifti"][...]).tobytes()
    hdr = nib.Nifti1Header.from_fileobj(io.BytesIO(raw))
    assert (hdr.get_xyzt_units()[1], float(hdr["pixdim"][4])) == ("sec", 2.0 * seconds)


@pytest.mark.parametrize("cut", [(0,), (0, slice(None), 0), (1, 0)])
def test_a_6d_or_7d_nifti_cut_to_5d_reads_back_from_its_store_in_order(tmp_path, cut):
    """A 6-D/7-D NIfTI cut to 5-D with its time axis gone: OME-NGFF has no 5-D form without a
    time axis; the store was written with two untyped axes (invalid OME) that read back swapped
    (the values transposed when the two lengths agree). It is valid OME and reads back as cut."""
    shape = (4, 5, 3, 2, 3, 3, 2)[: 6 if len(cut) == 1 else 7]  # the time axis and 1-2 more cut
    values = np.random.default_rng(3).integers(-99, 99, shape).astype(np.int16)
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4)), path)
    index = (slice(None),) * 3 + cut
    vol = lv.open(path)[index]
    truth = np.asarray(nib.load(path).dataobj)[index]
    assert vol.ndim == 5 and vol.shape == truth.shape
    store = vol.to_zarr(tmp_path / "c.zarr")
    _validate_ome(store)
    np.testing.assert_array_equal(lv.open(store).compute(), truth)


@pytest.mark.parametrize("shape", [(4, 5, 3, 2, 3, 2), (4, 5, 3, 2, 1, 3, 2)])
def test_a_6d_or_7d_volume_is_stored_without_ome_metadata(tmp_path, shape):
    """A 6-D/7-D volume was written with OME multiscales of six/seven axes (OME-NGFF allows 2 to
    5): the ome-zarr-models validator refused the store and niizarr failed on it. The store has
    no OME metadata, to_zarr says so, and lazyvol reads it back; the cache writes its entries
    the same way, without the warning."""
    values = np.random.default_rng(4).integers(-99, 99, shape).astype(np.int16)
    path = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(values, np.diag([0.8, 0.9, 1.5, 1.0])), path)
    truth, affine = np.asarray(nib.load(path).dataobj), nib.load(path).affine
    match = f"{len(shape)}-axis volume is written without OME-Zarr metadata"
    with pytest.warns(RuntimeWarning, match=match):
        store = lv.open(path).to_zarr(tmp_path / "v.zarr", levels=2)
    group = zarr.open_group(store, mode="r")
    assert "ome" not in group.attrs
    np.testing.assert_array_equal(group["0"][...], truth.T)  # (the volume transposed)
    back = lv.open(store)
    np.testing.assert_array_equal(back.compute(), truth)
    np.testing.assert_array_equal(back.affine, affine)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = lv.open(path, cache=tmp_path / "cache")
    (entry,) = [m.parent for m in (tmp_path / "cache").rglob("lazyvol-manifest")]
    assert "ome" not in zarr.open_group(entry, mode="r").attrs
    np.testing.assert_array_equal(cached.compute(), truth)


@pytest.mark.parametrize("toffset", [0.0, 3.0])
def test_a_cut_moves_the_first_volume_time_in_every_writer(tmp_path, toffset):
    """vol[..., 2:] of a 4-D NIfTI with pixdim[4] 2.5 s: its first volume is at toffset + 5 s in
    the NIfTI written, the OME time translation and the xarray time (to_nifti kept toffset 0 when
    the source's was 0)."""
    img = nib.Nifti1Image(np.zeros((3, 4, 5, 6), np.int16), np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.5
    img.header["toffset"] = toffset
    nib.save(img, tmp_path / "t.nii")
    src = nib.load(tmp_path / "t.nii").header
    want = float(src["toffset"]) + 2 * float(src["pixdim"][4])
    cut = lv.open(tmp_path / "t.nii")[..., 2:]
    assert float(nib.load(cut.to_nifti(tmp_path / "c.nii")).header["toffset"]) == want
    assert float(cut.to_xarray()["time"][0]) == want
    ome = json.loads((Path(cut.to_zarr(tmp_path / "c.zarr")) / "zarr.json").read_text())
    transforms = ome["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    translation = next(
        t for t in transforms["coordinateTransformations"] if t["type"] == "translation"
    )
    assert translation["translation"][0] == want
