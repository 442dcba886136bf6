"""Header fields a NIfTI source carries into the NIfTI written from it (intent, display range,
time offset, dim_info, slice timing), against nibabel's own save of the same header, and mapped
(or left out) when the volume is cut."""

from __future__ import annotations

import io
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import zarr

import lazyvol as lv

FIELDS = ("intent_code", "intent_p1", "intent_name", "cal_min", "cal_max", "toffset", "dim_info")
TIMING = ("slice_code", "slice_start", "slice_end", "slice_duration")


def _source(path, shape=(4, 5, 6, 3), tr=2.0) -> nib.Nifti1Header:
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    img = nib.Nifti1Image(data, np.diag([2.0, 3.0, 4.0, 1.0]))
    h = img.header
    h.set_intent("t test", (12,), name="tmap")
    h.set_dim_info(freq=0, phase=1, slice=2)
    h.set_xyzt_units("mm", "sec")
    h.set_zooms((2.0, 3.0, 4.0, tr)[: len(shape)])
    h["slice_code"] = 1  # sequential increasing
    h["slice_start"], h["slice_end"] = 0, shape[2] - 1
    h["slice_duration"] = 0.25
    h["toffset"], h["cal_min"], h["cal_max"] = 3.0, -5.0, 5.0
    nib.save(img, path)
    return nib.load(path).header


def test_convert_to_nifti_and_nibabel_keep_the_fields_nibabel_keeps(tmp_path):
    src = tmp_path / "t.nii"
    want = _source(src)
    out = tmp_path / "out.nii"
    subprocess.run(
        [sys.executable, "-m", "lazyvol", "-q", "convert", str(src), str(out)], check=True
    )
    for got in (nib.load(out).header, lv.open(src).to_nibabel().header):
        for key in (*FIELDS, *TIMING):
            assert got[key] == want[key], key
        assert got.get_slice_times() == want.get_slice_times()
        assert got["qform_code"] == want["qform_code"] == 0  # qform off stays off
        np.testing.assert_allclose(got.get_best_affine(), want.get_best_affine())


@pytest.mark.parametrize(
    ("index", "dim_info", "timing"),
    [
        ((slice(1, 3),), (0, 1, 2), True),  # in-plane cut: slice axis whole
        ((slice(None), slice(None, None, -1)), (0, 1, 2), True),  # phase axis flipped
        ((slice(None), slice(None), slice(1, 4)), (0, 1, 2), False),  # slices cut away
        ((slice(None), slice(None), slice(None, None, -1)), (0, 1, 2), False),  # reversed
    ],
    ids=["cut-i", "flip-j", "cut-k", "flip-k"],
)
def test_a_cut_volume_keeps_dim_info_and_slice_timing_only_where_they_hold(
    tmp_path, index, dim_info, timing
):
    src = tmp_path / "t.nii"
    want = _source(src)
    out = lv.open(src)[index].to_nifti(tmp_path / "cut.nii")
    got = nib.load(out).header
    assert got.get_dim_info() == dim_info
    assert got["intent_code"] == want["intent_code"] and got["cal_max"] == want["cal_max"]
    if timing:
        assert [got[k] for k in TIMING] == [want[k] for k in TIMING]
    else:  # the timing would describe slices the volume no longer has in that order
        assert [got[k] for k in TIMING] == [0, 0, 0, 0]


def test_a_volume_cut_in_time_moves_the_time_offset(tmp_path):
    src = tmp_path / "t.nii"
    _source(src, tr=2.0)
    got = nib.load(lv.open(src)[..., 2:].to_nifti(tmp_path / "late.nii")).header
    assert got["toffset"] == pytest.approx(3.0 + 2 * 2.0)


def test_sources_without_the_fields_write_none(tmp_path):
    img = nib.Nifti1Image(np.zeros((3, 4, 5), np.int16), np.eye(4))
    nib.save(img, tmp_path / "plain.nii")
    got = nib.load(lv.open(tmp_path / "plain.nii").to_nifti(tmp_path / "o.nii")).header
    assert [got[k] for k in (*FIELDS, *TIMING)] == [0, 0, b"", 0, 0, 0, 0, 0, 0, 0, 0]


def test_the_nifti_zarr_header_carries_them_too(tmp_path):
    import zarr

    src = tmp_path / "t.nii"
    want = _source(src)
    store = lv.open(src).to_zarr(tmp_path / "t.zarr")
    raw = bytes(np.asarray(zarr.open_group(store, mode="r")["nifti"][...]).tobytes())
    got = nib.Nifti1Header.from_fileobj(io.BytesIO(raw))
    for key in (*FIELDS, *TIMING):
        assert got[key] == want[key], key


@pytest.mark.parametrize("n", [5, 6])
@pytest.mark.parametrize(
    "label",
    [
        "sequential increasing",
        "sequential decreasing",
        "alternating increasing",
        "alternating decreasing",
        "alternating increasing 2",
        "alternating decreasing 2",
    ],
)
def test_slice_code_reads_back_every_nifti_slice_order_as_nibabel_writes_it(n, label):
    from lazyvol.nifti_carry import slice_code

    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2, 2, n))
    hdr.set_dim_info(slice=2)
    hdr["slice_code"] = hdr._field_recoders["slice_code"].code[label]
    hdr["slice_start"], hdr["slice_end"], hdr["slice_duration"] = 0, n - 1, 0.08
    times = hdr.get_slice_times()  # nibabel's reading of the order
    assert slice_code(times) == (int(hdr["slice_code"]), pytest.approx(0.08))
    rounded = [round(t, 2) for t in times]  # scanners round: 0.24 for 0.24, 0.32 ...
    assert slice_code(rounded)[0] == int(hdr["slice_code"])


@pytest.mark.parametrize(
    "times",
    [[0.0, 0.5, 0.0, 0.5], [0.0, 0.1, 0.3, 0.2, 0.4, 0.5, 0.7, 0.6], [0.0, 0.1, 0.25, 0.3]],
    ids=["multiband", "no-nifti-order", "irregular"],
)
def test_slice_code_is_none_where_no_code_describes_the_times(times):
    from lazyvol.nifti_carry import slice_code

    assert slice_code(times) is None


def test_a_4d_source_without_units_keeps_its_time_unit_unknown(tmp_path):
    """nibabel's default header states no units (xyzt_units 0): the written 4D file says mm (the
    unit of lazyvol's affines) and keeps the time unit unknown, as nibabel's round trip does (it
    said seconds, a unit the source never stated)."""
    nib.save(nib.Nifti1Image(np.zeros((3, 4, 5, 2), np.float32), np.eye(4)), tmp_path / "u.nii")
    assert nib.load(tmp_path / "u.nii").header.get_xyzt_units() == ("unknown", "unknown")
    out = lv.open(tmp_path / "u.nii").to_nifti(tmp_path / "o.nii")
    assert nib.load(out).header.get_xyzt_units() == ("mm", "unknown")


@pytest.mark.parametrize(("step", "time"), [(0.0, "sec"), (-2.0, "sec"), (3.0, "unknown")])
def test_an_unknown_time_step_or_unit_is_not_invented(tmp_path, step, time):
    """pixdim[4] 0 or negative (no step known), or a time unit "unknown": to_nifti, the store's
    NIfTI-Zarr header and its OME time axis claimed a 1.0 s step or seconds (h32). Reference:
    nibabel's round trip keeps an unknown unit; a step it cannot know is written 0, and the OME
    axis then states no unit."""
    img = nib.Nifti1Image(np.zeros((4, 3, 2, 5), np.int16), np.eye(4))
    img.header.set_xyzt_units("mm", time)
    img.header["pixdim"][4] = step
    nib.save(img, tmp_path / "f.nii")
    vol = lv.open(tmp_path / "f.nii")
    hdr = nib.load(vol.to_nifti(tmp_path / "o.nii")).header
    want_step = step if step > 0 else 0.0
    assert float(hdr["pixdim"][4]) == want_step
    assert hdr.get_xyzt_units()[1] == (time if step > 0 else "sec")
    if time == "unknown":
        assert nib.load(tmp_path / "f.nii").header.get_xyzt_units()[1] == "unknown"
    group = zarr.open_group(vol.to_zarr(tmp_path / "f.zarr"), mode="r")
    ome = group.attrs["ome"]["multiscales"][0]
    t_axis = ome["axes"][0]
    assert t_axis["type"] == "time"
    assert ("unit" in t_axis) is (step > 0 and time != "unknown")
    stored = nib.Nifti1Header.from_fileobj(io.BytesIO(bytes(np.asarray(group["nifti"]))))
    assert float(stored["pixdim"][4]) == want_step
    assert stored.get_xyzt_units()[1] == hdr.get_xyzt_units()[1]


ZOOMS6 = (2.0, 3.0, 4.0, 0.8, 2.5, 7.0)


def _six(path, analyze=False, zooms=ZOOMS6):
    """A 6-D source with steps on every axis and an aux_file, as nibabel writes it."""
    cls = nib.AnalyzeImage if analyze else nib.Nifti1Image
    img = cls(np.zeros((4, 5, 6, 3, 2, 4), np.int16), np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header["pixdim"][1:7] = zooms  # (set_zooms refuses a negative step)
    img.header["aux_file"] = b"design.mat"
    nib.save(img, path)
    return path


@pytest.mark.parametrize(
    ("name", "zooms"),
    [("six.nii", ZOOMS6), ("six.img", ZOOMS6), ("six.nii", (*ZOOMS6[:4], -2.5, 7.0))],
    ids=["nifti", "analyze", "nifti-negative-5th"],  # (nibabel cannot save such an Analyze file)
)
def test_the_steps_past_the_4th_axis_and_aux_file_are_kept_as_nib_save_keeps_them(
    tmp_path, name, zooms
):
    """nibabel loads and saves a negative step past the 4th axis as it is: so does lazyvol (it
    refused to write the volume: 'zooms must be positive', naming no field)."""
    import zarr

    src = _six(tmp_path / name, analyze=name.endswith(".img"), zooms=zooms)
    nib.save(nib.load(src), tmp_path / "nb.nii")
    want = nib.load(tmp_path / "nb.nii").header
    vol = lv.open(src)
    store = vol.to_zarr(tmp_path / "six.zarr")
    raw = bytes(np.asarray(zarr.open_group(store, mode="r")["nifti"][...]).tobytes())
    for got in (
        nib.load(vol.to_nifti(tmp_path / "out.nii")).header,
        vol.to_nibabel().header,
        nib.Nifti1Header.from_fileobj(io.BytesIO(raw)),
    ):
        np.testing.assert_allclose(got.get_zooms(), want.get_zooms(), rtol=1e-6)
        np.testing.assert_allclose(got.get_zooms(), zooms, rtol=1e-6)
        assert got["aux_file"] == want["aux_file"] == b"design.mat"


@pytest.mark.parametrize(
    ("index", "zooms"),
    [
        ((..., 0, slice(None), slice(None)), (2.5, 7.0)),  # the 4th axis dropped
        ((..., slice(None), 1, slice(None, None, 2)), (0.8, 14.0)),  # the 5th dropped, 6th strided
        ((..., slice(None), slice(None), slice(None, None, -1)), (0.8, 2.5, 7.0)),  # reversed
        ((..., slice(0, 3, 2), slice(None), 0), (1.6, 2.5)),  # the last dropped, 4th strided
        ((..., 0, slice(None), slice(None, None, 2)), (-2.5, 14.0)),  # a negative step moved down
    ],
    ids=["drop-4th", "drop-5th-stride-6th", "reverse-6th", "stride-4th-drop-6th", "negative-5th"],
)
def test_the_written_steps_follow_the_axes_of_a_cut_volume(tmp_path, index, zooms):
    """An integer index drops an axis: the steps of the axes after it move down with them; a
    strided cut multiplies its axis' step (the truth: the source's steps, cut by hand)."""
    steps = (*ZOOMS6[:4], -2.5, 7.0) if -2.5 in zooms else ZOOMS6
    vol = lv.open(_six(tmp_path / "six.nii", zooms=steps))[index]
    got = nib.load(vol.to_nifti(tmp_path / "cut.nii")).header.get_zooms()
    np.testing.assert_allclose(got, (2.0, 3.0, 4.0, *zooms), rtol=1e-6)
