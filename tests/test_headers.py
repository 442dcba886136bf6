"""Source headers without pixel data: ``vol.header``, ``vol.dicom_header(k, t)``, ``info --header``.

References are nibabel's and pydicom's own reads of the same files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.errors import LazyvolError, SourceNotFoundError
from lazyvol.testing import write_dicom_series, write_enhanced_dicom, write_phantom_nifti


def test_nifti_header_is_nibabels(tmp_path):
    """Every field as the file stores it (nibabel's header class, parsed from the file's bytes):
    scl_slope, scl_inter and vox_offset too, which nibabel's image header resets (NaN, 0) while
    its array proxy holds them; ``lazyvol info --header`` showed the scaling as null."""
    import gzip

    path = write_phantom_nifti(
        tmp_path / "p.nii.gz", (10, 12, 8), dtype="int16", slope=0.5, inter=3
    )
    vol = lv.open(path)
    with gzip.open(path) as f:
        ref = nib.Nifti1Header.from_fileobj(f, check=False)
    assert (ref["scl_slope"], ref["scl_inter"], ref["vox_offset"]) == (0.5, 3.0, 352.0)
    got = dict(vol.header.items())
    assert set(got) == set(ref.keys())
    for key, value in ref.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    # the header of a cut volume is still its source's
    assert vol[2:5].header["dim"].tolist() == ref["dim"].tolist()


def test_dicom_header_per_slice_after_slicing(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 8, 6))
    vol = lv.open(tmp_path / "s")
    first = pydicom.dcmread(truth.files[0], stop_before_pixels=True)
    hdr = vol.header
    assert hdr.PatientName == first.PatientName and hdr[0x0010, 0x0010].value == first.PatientName
    assert "PixelData" not in hdr
    for k in range(6):
        np.testing.assert_allclose(
            [float(v) for v in vol.dicom_header(k).ImagePositionPatient], truth.positions[k]
        )
    cut = vol[:, :, 2:6:2]
    assert cut.shape[2] == 2
    for k, src_k in enumerate((2, 4)):
        ds = cut.dicom_header(k)
        np.testing.assert_allclose(
            [float(v) for v in ds.ImagePositionPatient], truth.positions[src_k]
        )
        ref = pydicom.dcmread(ds.filename, stop_before_pixels=True)
        assert ds.SOPInstanceUID == ref.SOPInstanceUID
    flipped = vol[:, :, ::-1]
    np.testing.assert_allclose(
        [float(v) for v in flipped.dicom_header(0).ImagePositionPatient], truth.positions[5]
    )
    np.testing.assert_allclose(
        [float(v) for v in flipped[:, :, 1:3].dicom_header(-1).ImagePositionPatient],
        truth.positions[3],
    )
    with pytest.raises(IndexError):
        cut.dicom_header(2)


@pytest.mark.parametrize("kind", ["dicom", "nifti"])
def test_headers_of_a_relative_source_after_a_chdir(tmp_path, monkeypatch, kind):
    """A source opened by a relative path, then the working directory changed (a notebook's
    %cd, a script's os.chdir): its headers are still the opened files' (they were refused as
    "gone", or read from whatever the name meant in the new directory), and a store written
    from it then records the opened source, not the name joined to the new directory."""
    (tmp_path / "elsewhere" / "s").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    if kind == "dicom":
        truth = write_dicom_series(tmp_path / "s", (8, 8, 4))
        write_dicom_series(tmp_path / "elsewhere" / "s", (8, 8, 4), series_number=9)
        vol = lv.open("s")
        want = [pydicom.dcmread(f, stop_before_pixels=True) for f in truth.files]
    else:
        write_phantom_nifti(tmp_path / "s.nii", (8, 8, 4))
        write_phantom_nifti(tmp_path / "elsewhere" / "s.nii", (8, 8, 5))
        vol = lv.open("s.nii")
    monkeypatch.chdir(tmp_path / "elsewhere")
    if kind == "dicom":
        for k in range(4):
            assert vol.dicom_header(k).SOPInstanceUID == want[k].SOPInstanceUID
        assert vol.header.SeriesNumber == want[0].SeriesNumber
    else:
        assert list(vol.header.get_data_shape()) == [8, 8, 4]
    vol.to_zarr(tmp_path / "out.zarr")
    attrs = json.loads((tmp_path / "out.zarr" / "zarr.json").read_text())["attributes"]
    assert attrs["lazyvol"]["source"] == str(tmp_path / ("s" if kind == "dicom" else "s.nii"))


def test_slice_attributes_of_a_series_scan_its_folder_once(tmp_path, monkeypatch):
    """The per-image xarray attributes of a DICOM series (InstanceNumber, AcquisitionTime,
    SOPInstanceUID on k) read each file's header, as pydicom reads it, after one lookup of the
    folder (they looked the folder up again for every image: ~2 ms an image), also after a
    chdir (a relative source)."""
    import lazyvol.dicom as lvd
    from lazyvol import headers

    truth = write_dicom_series(tmp_path / "s", (8, 8, 12), reverse_instance_numbers=True)
    monkeypatch.chdir(tmp_path)
    vol = lv.open("s")[:, :, ::-1]
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    scans = []
    real_scan = lvd.scan
    monkeypatch.setattr(lvd, "scan", lambda *a, **k: scans.append(a) or real_scan(*a, **k))
    got = headers.dicom_headers(vol, [(k, 0) for k in range(12)], headers.peek_dataset)
    assert len(scans) == 1
    by_position = sorted(
        (pydicom.dcmread(f, stop_before_pixels=True) for f in truth.files),
        key=lambda ds: -float(np.dot(ds.ImagePositionPatient, [0, 0, 1])),
    )
    assert [ds.SOPInstanceUID for ds in got] == [ds.SOPInstanceUID for ds in by_position]
    image = vol.to_xarray()
    numbers = image.coords["InstanceNumber"].values.tolist()
    assert numbers == [int(ds.InstanceNumber) for ds in by_position]


@pytest.mark.parametrize("change", ["file added", "file removed"])
def test_headers_after_the_folder_changed_are_refused(tmp_path, change):
    """A slice file arriving late (an export still being written) or removed after the open:
    the folder's series is then another stack, whose slice k is not the volume's slice k. The
    headers of the volume, and of a store written from it, are refused (they were another
    image's, every k shifted by one, with no error); a fresh open shows the new stack."""
    truth = write_dicom_series(tmp_path / "all", (8, 8, 6))
    folder = tmp_path / "s"
    folder.mkdir()
    late = Path(truth.files[0])
    for f in truth.files[1:] if change == "file added" else truth.files:
        shutil.copy(f, folder)
    vol = lv.open(folder)
    vol.to_zarr(tmp_path / "s.zarr")
    store = lv.open(tmp_path / "s.zarr")
    z = [float(vol.dicom_header(k).ImagePositionPatient[2]) for k in range(vol.shape[2])]
    assert z == [float(vol.affine[2, 3] + 2.5 * k) for k in range(vol.shape[2])]
    if change == "file added":
        shutil.copy(late, folder)
    else:
        (folder / late.name).unlink()
    for view in (vol, store, vol[:, :, 1:]):
        with pytest.raises(lv.SourceChangedError, match="changed since"):
            view.dicom_header(0)
        with pytest.raises(lv.SourceChangedError):
            _ = view.header
    again = lv.open(folder)
    got = float(again.dicom_header(0).ImagePositionPatient[2])
    assert (
        got
        == float(again.affine[2, 3])
        == float(pydicom.dcmread(sorted(folder.iterdir())[0]).ImagePositionPatient[2])
    )


def test_enhanced_frames_merged(tmp_path):
    order = [3, 0, 2, 1]
    truth = write_enhanced_dicom(tmp_path / "e.dcm", (8, 8, 4), n_volumes=2, frame_order=order)
    path = truth.files[0]
    vol = lv.open(path)
    assert vol.shape == (8, 8, 4, 2)
    ref = pydicom.dcmread(path, stop_before_pixels=True)
    frames = ref.PerFrameFunctionalGroupsSequence
    for k in range(4):
        for t in range(2):
            ds = vol.dicom_header(k, t)
            assert "PerFrameFunctionalGroupsSequence" not in ds
            pos = [float(v) for v in ds.ImagePositionPatient]
            np.testing.assert_allclose(pos, truth.positions[k])
            assert ds.TemporalPositionIndex == t + 1
            # the same frame, found independently in the file
            match = [
                f
                for f in frames
                if np.allclose(
                    [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient], pos
                )
                and f.FrameContentSequence[0].TemporalPositionIndex == t + 1
            ]
            assert len(match) == 1
            assert ds.FrameContentSequence == match[0].FrameContentSequence
            # shared groups are merged too
            shared = ref.SharedFunctionalGroupsSequence[0]
            assert ds.PixelSpacing == shared.PixelMeasuresSequence[0].PixelSpacing
    assert vol[:, :, :, 1:].dicom_header(0, 0).TemporalPositionIndex == 2


def _items_walked(monkeypatch) -> list[int]:
    """Count the items pydicom walks when a sequence is set into a data set."""
    calls = [0]
    walk = pydicom.dataset.Dataset._set_pixel_representation

    def counted(self, elem):
        calls[0] += len(elem.value) if elem.VR == "SQ" else 0
        return walk(self, elem)

    monkeypatch.setattr(pydicom.dataset.Dataset, "_set_pixel_representation", counted)
    return calls


def test_merge_frame_copies_only_its_frame(tmp_path, monkeypatch):
    """A frame's data set costs its own groups, whatever the number of frames: never a copy of
    the other frames' groups (each frame copied all of them: O(frames^2) per-image coordinates)."""
    from lazyvol.headers import merge_frame

    cost = {}
    for nt in (1, 10):
        path = write_enhanced_dicom(tmp_path / f"e{nt}.dcm", (4, 4, 3), n_volumes=nt).files[0]
        ref = pydicom.dcmread(path, stop_before_pixels=True)
        frames = ref.PerFrameFunctionalGroupsSequence
        assert len(frames) == 3 * nt
        calls = _items_walked(monkeypatch)
        merged = [merge_frame(ref, f) for f in (0, len(frames) - 1)]
        cost[nt] = calls[0]
        monkeypatch.undo()
        for f, ds in zip((0, len(frames) - 1), merged, strict=True):
            assert "PerFrameFunctionalGroupsSequence" not in ds
            assert "SharedFunctionalGroupsSequence" not in ds
            group = frames[f]
            assert ds.ImagePositionPatient == group.PlanePositionSequence[0].ImagePositionPatient
            assert ds.FrameContentSequence == group.FrameContentSequence
            assert ds.SOPInstanceUID == ref.SOPInstanceUID
        assert len(ref.PerFrameFunctionalGroupsSequence) == 3 * nt  # the source left as it was
    assert cost[10] == cost[1]


def test_enhanced_slice_coordinates_are_each_frames(tmp_path):
    """xarray's AcquisitionTime of an enhanced file's frames: each frame's FrameAcquisitionDateTime
    (written here per frame with pydicom), not the file's (none: '' everywhere)."""
    path = write_enhanced_dicom(tmp_path / "e.dcm", (4, 4, 3), n_volumes=2).files[0]
    ds = pydicom.dcmread(path)
    for item in ds.PerFrameFunctionalGroupsSequence:
        fc = item.FrameContentSequence[0]
        k, t = fc.InStackPositionNumber - 1, fc.TemporalPositionIndex - 1
        fc.FrameAcquisitionDateTime = f"20240102{10 + t:02d}00{k:02d}.5"
    ds.save_as(path)
    image = lv.open(path).to_xarray()
    expected = [[f"{10 + t:02d}00{k:02d}.5" for t in range(2)] for k in range(3)]
    assert image.AcquisitionTime.values.tolist() == expected
    assert image.InstanceNumber.values.tolist() == [[int(ds.InstanceNumber)] * 2] * 3
    assert set(image.SOPInstanceUID.values.ravel()) == {ds.SOPInstanceUID}


_NOT_UTF8_HEADER = """
import os, sys
import lazyvol as lv
from lazyvol.cli import main
path = os.fsdecode(bytes.fromhex(sys.argv[1]))
sys.stdout.write(lv.open(path).header.binaryblock.hex() + "\\n")
sys.stdout.flush()
sys.exit(main(["-q", "info", path, "--header", "--json"]))
"""


@pytest.mark.skipif(os.name != "posix", reason="file names as bytes: POSIX")
@pytest.mark.parametrize("name", ["n.nii.gz", "p.hdr.gz"])
def test_header_of_a_gzipped_nifti_whose_name_is_not_utf8(tmp_path, name):
    """``vol.header`` and ``info --header`` of a .nii.gz (or .hdr.gz) whose file name is not
    valid UTF-8 (an old Latin-1 archive) killed the process with a segmentation fault: nibabel
    opens .gz files with indexed_gzip, which crashes on such a name. The header is the one
    nibabel reads from the same bytes under a plain name."""
    import subprocess
    import sys

    klass = nib.Nifti1Image if name.endswith(".nii.gz") else nib.Nifti1Pair
    img = klass(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.diag([2.0, 3.0, 4.0, 1.0]))
    img.header.set_slope_inter(0.5, 3.0)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment"))
    nib.save(img, tmp_path / name)
    stem, suffix = name.split(".", 1)
    odd = os.fsencode(tmp_path) + b"/caf\xe9 \xff" + stem.encode()
    for plain in tmp_path.iterdir():  # (the pair's .img.gz too)
        os.rename(os.fsencode(plain), odd + os.fsencode(plain.name)[len(stem) :])
        shutil.copy(odd + os.fsencode(plain.name)[len(stem) :], plain)  # the reference's copy
    import gzip

    with gzip.open(tmp_path / name) as f:  # the header as the file stores it
        want = type(nib.load(tmp_path / name).header).from_fileobj(f, check=False)
    run = subprocess.run(
        [sys.executable, "-c", _NOT_UTF8_HEADER, (odd + b"." + suffix.encode()).hex()],
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, (run.returncode, run.stderr.decode(errors="replace")[-2000:])
    first, rest = run.stdout.split(b"\n", 1)
    assert bytes.fromhex(first.decode()) == want.binaryblock
    shown = json.loads(rest)["fields"]
    assert (shown["scl_slope"], shown["scl_inter"], shown["dim"][:4]) == (0.5, 3, [3, 3, 4, 5])


@pytest.mark.parametrize("name", ["x.nii", "x.nii.gz", "x.hdr"])
def test_header_with_extension_frames_nibabel_fails_on(tmp_path, name):
    """An extension of esize 9 followed by zero padding (niftilib writes such frames and stops
    at the padding): lazyvol.open reads the image and carries the extension, but ``vol.header``
    raised "nibabel cannot read the header: failed to read extension content". Now the header's
    fields as the file stores them, with the extension open read."""
    import gzip

    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    klass = nib.Nifti1Pair if name.endswith(".hdr") else nib.Nifti1Image
    plain = tmp_path / ("p.hdr" if name.endswith(".hdr") else "p.nii")
    nib.save(klass(data, np.diag([2.0, 3.0, 4.0, 1.0])), plain)
    raw = bytearray(plain.read_bytes())
    frame = np.array([9, 6], "<i4").tobytes() + b"x"  # esize 9, ecode 6 (comment), 1 byte
    if name.endswith(".hdr"):
        raw = raw[:348] + b"\x01\0\0\0" + frame + bytes(23)
        (tmp_path / "p.img").rename(tmp_path / "x.img")
    else:  # the data move 32 bytes on: vox_offset 384
        raw = raw[:348] + b"\x01\0\0\0" + frame + bytes(23) + raw[352:]
        raw[108:112] = np.float32(384).tobytes()
    path = tmp_path / name
    path.write_bytes(gzip.compress(bytes(raw)) if name.endswith(".gz") else bytes(raw))
    with pytest.raises(ValueError):  # (nibabel refuses the header)
        nib.load(path)
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), data)
    hdr = vol.header
    assert hdr.binaryblock == bytes(raw[:348])
    assert [(e.get_code(), e.get_content()) for e in hdr.extensions] == [(6, b"x")]


def test_header_errors(tmp_path):
    with pytest.raises(LazyvolError, match="in memory"):
        _ = lv.Volume(np.zeros((2, 2, 2))).header
    path = write_phantom_nifti(tmp_path / "p.nii", (4, 4, 4))
    with pytest.raises(LazyvolError, match="not a DICOM volume"):
        lv.open(path).dicom_header(0)
    write_dicom_series(tmp_path / "s", (8, 8, 3))
    lv.open(tmp_path / "s").to_zarr(tmp_path / "s.zarr")
    z = lv.open(tmp_path / "s.zarr")
    assert z.dicom_header(1).InstanceNumber is not None  # the source is still there
    shutil.rmtree(tmp_path / "s")
    with pytest.raises(SourceNotFoundError, match="gone"):
        _ = z.header


def test_cli_header(tmp_path, lazyvol_cli):
    path = write_phantom_nifti(tmp_path / "p.nii.gz", (10, 12, 8))
    r = lazyvol_cli("info", path, "--header")
    assert r.returncode == 0, r.stderr
    assert "dim" in r.stdout and "[ 3 10 12  8" in r.stdout
    d = json.loads(lazyvol_cli("info", path, "--header", "--json").stdout)
    assert d["fields"]["dim"] == nib.load(path).header["dim"].tolist()
    truth = write_dicom_series(tmp_path / "s", (8, 8, 5))
    r = lazyvol_cli("info", tmp_path / "s", "--header", "--slice", "3", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    ref = pydicom.dcmread(d["path"], stop_before_pixels=True)
    np.testing.assert_allclose([float(v) for v in ref.ImagePositionPatient], truth.positions[3])
    assert d["elements"]["00100010"]["Value"][0]["Alphabetic"] == str(ref.PatientName)
    r = lazyvol_cli("info", tmp_path / "s", "--header")
    assert "Patient's Name" in r.stdout and "Pixel Data" not in r.stdout


def test_header_of_a_refused_series(tmp_path):
    from lazyvol.headers import HeaderError, source_header

    truth = write_dicom_series(
        tmp_path / "m", (16, 12, 2), modality="MR", image_type=("ORIGINAL", "PRIMARY", "MOSAIC")
    )
    report = lv.scan(tmp_path / "m")
    assert report[0].error  # lazyvol cannot open it as a volume ...
    ds = source_header(str(tmp_path / "m"), index=1)  # ... but its headers can be read
    ref = pydicom.dcmread(report[0].files[1], stop_before_pixels=True)
    assert ds.SOPInstanceUID == ref.SOPInstanceUID and "MOSAIC" in ds.ImageType
    assert len(truth.files) == 2
    with pytest.raises(HeaderError, match="out of range"):
        source_header(str(tmp_path / "m"), index=5)


def _rewrite_keeping_size_and_mtime(path: Path, change) -> None:
    st = os.stat(path)
    change()
    assert os.path.getsize(path) == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_headers_of_a_file_rewritten_after_open_are_refused(tmp_path):
    """A header is read from the file the volume was opened from or not at all: rewritten in
    place (size and mtime kept), ``dicom_header``, the xarray slice coordinates and ``header``
    raise SourceChangedError instead of describing other data; untouched files still answer."""
    folder = tmp_path / "s"
    write_dicom_series(folder, (8, 8, 4))
    vol = lv.open(folder)
    xr_vol = vol.to_xarray()
    assert int(vol.dicom_header(0).InstanceNumber) != 9
    files = sorted(folder.glob("*.dcm"))
    target = next(
        f for f in files if pydicom.dcmread(f).SOPInstanceUID == vol.dicom_header(0).SOPInstanceUID
    )

    def renumber() -> None:
        ds = pydicom.dcmread(target)
        ds.InstanceNumber = 9
        ds.save_as(target)

    _rewrite_keeping_size_and_mtime(target, renumber)
    with pytest.raises(lv.SourceChangedError, match=re.escape(target.name)):
        vol.dicom_header(0)
    with pytest.raises(lv.SourceChangedError):
        xr_vol.coords["InstanceNumber"].values  # noqa: B018
    assert vol.dicom_header(1).SOPInstanceUID  # another slice's file is unchanged

    nii = write_phantom_nifti(tmp_path / "h.nii", (8, 8, 4))
    nvol = lv.open(nii)
    assert nvol.header["descrip"] is not None

    def redescribe() -> None:
        img = nib.load(nii)
        img.header["descrip"] = b"rewritten"
        raw = bytearray(Path(nii).read_bytes())
        raw[:348] = img.header.binaryblock[:348]
        Path(nii).write_bytes(bytes(raw))

    _rewrite_keeping_size_and_mtime(Path(nii), redescribe)
    with pytest.raises(lv.SourceChangedError, match=r"h\.nii"):
        nvol.header  # noqa: B018


def test_a_store_without_a_source_header_says_so(tmp_path):
    """A store written from an in-memory volume (no source file) or by another tool has no NIfTI
    or DICOM header: the error said to open 'the source it was written from (unknown)'."""
    store = lv.Volume(np.zeros((4, 5, 6), np.int16), np.eye(4)).to_zarr(tmp_path / "m.zarr")
    with pytest.raises(LazyvolError) as err:
        lv.open(store).header  # noqa: B018
    assert "unknown" not in str(err.value) and "OME-Zarr attributes" in str(err.value)


def test_a_cut_of_a_changed_nifti_does_not_call_it_a_zarr_store(tmp_path):
    # A cut whose array lost its read plan (steps through dask; a direct cut once .data was
    # used) checked its header against the token in its meta, whose message spoke of "the source
    # files this Zarr store was written from" for a .nii opened from its file.
    import time

    path = tmp_path / "h.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 3), "i2"), np.eye(4)), path)
    vol = lv.open(path)
    stepped, flipped = vol[::2], vol[..., ::-1]
    flipped.data  # noqa: B018 (its array is now dask's)
    time.sleep(0.01)
    nib.save(nib.Nifti1Image(np.ones((4, 5, 6, 3), "i2"), np.eye(4)), path)
    for cut in (stepped, flipped, vol[:, :, ::3]):
        with pytest.raises(lv.SourceChangedError, match="changed since") as info:
            cut.header  # noqa: B018
        assert "this Zarr store" not in str(info.value)
