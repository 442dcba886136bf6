"""What a NIfTI written from a NIfTI source keeps of its header beyond the carried fields (see
test_nifti_carry.py): the text fields byte for byte, the header extensions, NIfTI-2 and its 64-bit
fields; and the times a reversed 4th axis is written with. nibabel's own save of the source (or
the source's bytes, or numpy's times) is the reference."""

from __future__ import annotations

import base64
import codecs
import json

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv


def _text(raw: bytes, size: int) -> str:
    """The reference decoding: UTF-8 where the bytes are (a character cut short at the end of a
    full field left out, as an incremental decoder holds it back), else latin-1."""
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(raw, final=len(raw) < size)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _writes(vol, tmp_path):
    """The headers of the NIfTI files written from ``vol``: directly, through to_nibabel, and
    through a lazyvol store opened again."""
    store = lv.open(vol.to_zarr(tmp_path / "s.zarr"))
    return [
        nib.load(vol.to_nifti(tmp_path / "direct.nii")).header,
        vol.to_nibabel().header,
        nib.load(store.to_nifti(tmp_path / "via-zarr.nii")).header,
        # (gzip: nibabel's extensions ask the file object for tell(); a crash once)
        nib.load(vol.to_nifti(tmp_path / "direct.nii.gz")).header,
    ]


TEXTS = [
    # UTF-8 text (what nibabel users write); aux_file and intent_name fill their fields
    ("Patient: Müller, T1 1µm".encode(), "ü".encode() * 12, b"zstat_contrast16"),
    # latin-1 text (older tools), descrip filling all 80 bytes, unterminated
    (b"M\xfcller \xb5m " + b"x" * 66 + b"END!", b"caf\xe9", b"\xb5" * 16),
    (b"x" * 76 + b"END!", b"design.mat", b"t"),  # plain ASCII, full descrip
    # UTF-8 text cut to the field's size inside its last character (numpy's S80 of .encode())
    (
        "Müller ".encode() + b"x" * 71 + "ü".encode()[:1],
        "ü".encode() * 11 + b"\xc3",
        "µ".encode() * 7 + b"\xc2",
    ),
]


@pytest.mark.parametrize("cls", [nib.Nifti1Image, nib.Nifti2Image], ids=["nifti1", "nifti2"])
@pytest.mark.parametrize("texts", TEXTS, ids=["utf8", "latin1", "ascii", "utf8-cut"])
def test_text_fields_are_read_as_their_text_and_written_back_byte_for_byte(tmp_path, cls, texts):
    descrip, aux, name = texts
    img = cls(np.zeros((2, 3, 4), np.float32), np.eye(4))
    img.header["descrip"], img.header["aux_file"] = descrip, aux
    img.header["intent_code"], img.header["intent_name"] = 3, name  # a t-map
    nib.save(img, tmp_path / "src.nii")
    want = nib.load(tmp_path / "src.nii").header
    assert want["descrip"].item() == descrip  # (the fixture holds what it says)
    vol = lv.open(tmp_path / "src.nii")
    assert vol.meta["descrip"] == _text(descrip, 80)
    assert vol.meta["nifti_fields"]["aux_file"] == _text(aux, 24)
    assert vol.meta["nifti_fields"]["intent_name"] == _text(name, 16)
    for got in _writes(vol, tmp_path):
        for key in ("descrip", "aux_file", "intent_name"):
            assert got[key].item() == want[key].item(), key


def test_a_new_text_is_written_as_utf8_cut_at_a_character(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((2, 3, 4), np.int16), np.eye(4)), tmp_path / "src.nii")
    vol = lv.open(tmp_path / "src.nii")
    vol.meta["descrip"] = "é" * 50  # 100 bytes of UTF-8: 40 characters fit in 80
    got = nib.load(vol.to_nifti(tmp_path / "out.nii")).header["descrip"].item()
    assert got == ("é" * 40).encode("utf-8")


def test_a_nifti2_source_is_written_as_nifti2_with_its_64_bit_fields(tmp_path):
    """Microns far from the origin: float32 would move the grid by 0.002 um."""
    affine = np.diag([0.123456789012, 0.123456789012, 0.5, 1.0])
    affine[:3, 3] = [123456.789012, -98765.4321, 4321.123456]
    img = nib.Nifti2Image(np.zeros((4, 4, 2, 3), np.uint16), affine)
    img.header.set_xyzt_units("micron", "sec")
    img.header["pixdim"][4], img.header["toffset"] = 0.123456789012, 86399.123456
    nib.save(img, tmp_path / "src.nii")
    for got in _writes(lv.open(tmp_path / "src.nii"), tmp_path):
        assert isinstance(got, nib.Nifti2Header)
        np.testing.assert_array_equal(got.get_best_affine(), affine)
        assert got["pixdim"][4] == 0.123456789012
        assert got["toffset"] == 86399.123456
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), affine), tmp_path / "one.nii")
    vol = lv.open(tmp_path / "one.nii")  # a NIfTI-1 source stays NIfTI-1
    assert type(nib.load(vol.to_nifti(tmp_path / "one-out.nii")).header) is nib.Nifti1Header


T, TR, T0 = 5, 2.0, 10.0


@pytest.mark.parametrize(
    ("cut", "reversed_"),
    [
        ((..., slice(None, None, -1)), True),
        ((..., slice(None, None, -2)), True),
        ((..., slice(3, 0, -1)), True),
        ((..., slice(1, None, 2)), False),
    ],
    ids=["reverse", "reverse-by-2", "reversed-cut", "forward-by-2"],
)
def test_a_reversed_time_axis_writes_its_interval_not_a_wrong_first_time(tmp_path, cut, reversed_):
    """NIfTI states times toffset + pixdim[4] * n, rising; OME-Zarr the same by its time scale and
    translation (lazyvol writes positive scales). Truth: the source's toffset + TR * index."""
    import json
    import warnings

    img = nib.Nifti1Image(np.arange(8 * T, dtype=np.int16).reshape(2, 2, 2, T), np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4], img.header["toffset"] = TR, T0
    nib.save(img, tmp_path / "bold.nii")
    truth = (T0 + TR * np.arange(T))[cut[1]]
    vol = lv.open(tmp_path / "bold.nii")[cut]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hdr = nib.load(vol.to_nifti(tmp_path / "out.nii")).header
        store = vol.to_zarr(tmp_path / "out.zarr")
    ours = [w for w in caught if "4th axis runs backwards" in str(w.message)]
    assert len(ours) == (2 if reversed_ else 0)
    assert all(w.category is RuntimeWarning and "toffset" in str(w.message) for w in ours)
    with open(tmp_path / "out.zarr" / "zarr.json") as f:
        ms = json.load(f)["attributes"]["ome"]["multiscales"][0]
    scale, trans = (
        t[k][0]
        for t, k in zip(
            ms["datasets"][0]["coordinateTransformations"], ("scale", "translation"), strict=True
        )
    )
    interval = abs(truth[1] - truth[0])
    for step, first in ((float(hdr["pixdim"][4]), float(hdr["toffset"])), (scale, trans)):
        assert step == interval
        if reversed_:
            assert first == 0.0  # not stated (the first volume's time would make the rest wrong)
        else:
            np.testing.assert_array_equal(first + step * np.arange(len(truth)), truth)
    np.testing.assert_array_equal(lv.zarr_nifti.axis4_times(lv.open(store).meta, len(truth)), truth)


def _codes(hdr):
    return [(e.get_code(), e.get_content()) for e in hdr.extensions]


@pytest.mark.parametrize("cut", [(...,), (slice(1, None), slice(None, None, -1))], ids=["", "cut"])
def test_header_extensions_are_written_back_as_nib_save_writes_them(tmp_path, cut):
    """nib.save(nib.load(f), g) keeps every extension, and img.slicer[...] keeps them too."""
    from nibabel.nifti1 import Nifti1Extension

    img = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.eye(4))
    img.header.extensions.append(Nifti1Extension(6, b"processing history: smoothed 6mm"))
    img.header.extensions.append(Nifti1Extension(4, b'<?xml version="1.0"?><AFNI_attributes/>'))
    nib.save(img, tmp_path / "src.nii")
    want = _codes(nib.load(tmp_path / "src.nii").slicer[cut].header)
    assert [code for code, _ in want] == [6, 4]
    vol = lv.open(tmp_path / "src.nii")[cut]
    for got in _writes(vol, tmp_path):
        assert _codes(got) == want
    out = nib.load(tmp_path / "direct.nii")  # the data start past the extensions
    np.testing.assert_array_equal(out.get_fdata(), img.slicer[cut].get_fdata())


def test_a_cifti_file_stays_cifti_whole_and_a_cut_of_it_drops_intent_and_xml(tmp_path):
    from nibabel import cifti2

    axes = (
        cifti2.cifti2_axes.ScalarAxis(["map"]),
        cifti2.cifti2_axes.BrainModelAxis.from_mask(
            np.ones((2, 3, 4), bool), affine=np.eye(4), name="thalamus_left"
        ),
    )
    data = np.arange(24, dtype=np.float32).reshape(1, 24)
    nib.save(cifti2.Cifti2Image(data, header=axes), tmp_path / "x.dscalar.nii")
    vol = lv.open(tmp_path / "x.dscalar.nii")
    whole = nib.load(vol.to_nifti(tmp_path / "whole.dscalar.nii"))
    assert isinstance(whole, cifti2.Cifti2Image)
    np.testing.assert_array_equal(whole.get_fdata(), data)
    with pytest.warns(RuntimeWarning, match="CIFTI-2 .* not written"):
        cut = nib.load(vol[..., :10].to_nifti(tmp_path / "cut.nii"))
    assert not isinstance(cut, cifti2.Cifti2Image)
    assert int(cut.header["intent_code"]) == 0 and not cut.header.extensions


def test_header_extensions_in_meta_are_json_the_same_from_source_store_and_cache(tmp_path):
    """meta holds each extension as JSON text (base64): equal between the source, its store and
    its cache entry, and a store's zarr.json grows by about 4/3 of the extension's bytes."""
    from nibabel.nifti1 import Nifti1Extension

    payload = bytes(range(256)) * 64 + b"\0 a NUL inside"  # binary: every byte value
    img = nib.Nifti1Image(np.zeros((2, 3, 4), np.int16), np.eye(4))
    nib.save(img, tmp_path / "plain.nii")
    img.header.extensions.append(Nifti1Extension(0, payload))
    img.header.extensions.append(Nifti1Extension(6, "Müller".encode()))
    nib.save(img, tmp_path / "src.nii")
    want = [
        (e.get_code(), e.get_content()) for e in nib.load(tmp_path / "src.nii").header.extensions
    ]
    vol = lv.open(tmp_path / "src.nii")
    store = vol.to_zarr(tmp_path / "s.zarr")
    lv.open(tmp_path / "plain.nii").to_zarr(tmp_path / "plain.zarr")
    lv.open(tmp_path / "src.nii", cache=tmp_path / "cache")
    cached = lv.open(tmp_path / "src.nii", cache=tmp_path / "cache")
    assert cached.data.name.startswith("lazyvol-zarr-")  # (read from the entry)
    for meta in (vol.meta, lv.open(store).meta, cached.meta):
        assert meta == vol.meta and json.loads(json.dumps(meta)) == meta
        got = [
            (e["code"], base64.b64decode(e["base64"])) for e in meta["nifti_fields"]["extensions"]
        ]
        assert got == want
    grown = (tmp_path / "s.zarr" / "zarr.json").stat().st_size
    grown -= (tmp_path / "plain.zarr" / "zarr.json").stat().st_size
    assert grown < 4 / 3 * sum(len(c) for _, c in want) + 1000  # (latin-1 JSON: ~5 times)


def _reversal_warnings(vol, tmp_path):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hdr = nib.load(vol.to_nifti(tmp_path / "r.nii", overwrite=True)).header
        vol.to_zarr(tmp_path / "r.zarr", overwrite=True)
    return hdr, [w for w in caught if "backwards in time" in str(w.message)]


@pytest.mark.parametrize("unit", ["unknown", "hz", "ppm", "rads"])
def test_a_reversed_4th_axis_that_is_no_time_is_written_without_a_time_warning(tmp_path, unit):
    """A vector's components (no time unit) or a spectral axis reversed: nothing about time is
    lost; the file keeps the source's step and toffset as nibabel's slicer does."""
    img = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3), np.eye(4))
    img.header.set_xyzt_units("mm", unit)
    nib.save(img, tmp_path / "v.nii")
    want = nib.load(tmp_path / "v.nii").slicer[..., ::-1]
    hdr, warned = _reversal_warnings(lv.open(tmp_path / "v.nii")[..., ::-1], tmp_path)
    assert warned == []
    assert hdr.get_xyzt_units()[1] == want.header.get_xyzt_units()[1]
    assert hdr["toffset"] == want.header["toffset"]
    assert hdr.get_zooms()[3] == want.header.get_zooms()[3]


def test_a_reversed_dicom_diffusion_axis_is_written_without_a_time_warning(tmp_path):
    """A DWI series' 4th axis holds b-values and directions, not acquisition times (its step
    written is the RepetitionTime, as dcm2niix writes it): reversed, directly and through a
    store, no time is lost."""
    from lazyvol.testing.dicom_4d import write_dicom_4d_series

    bvals = [0.0, 1000.0, 1000.0]
    bvecs = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)]
    write_dicom_4d_series(tmp_path / "s", (8, 6, 3), 3, labels=(), bvals=bvals, bvecs=bvecs)
    vol = lv.open(tmp_path / "s")
    assert vol.shape[3] == 3
    store = lv.open(vol.to_zarr(tmp_path / "dwi.zarr"))
    for cut in (vol[..., ::-1], store[..., ::-1]):
        hdr, warned = _reversal_warnings(cut, tmp_path)
        assert warned == [] and hdr["toffset"] == 0


def _with_extensions(tmp_path, contents, name="src.nii"):
    """A .nii with one extension of code 6 per content, as nibabel writes them."""
    from nibabel.nifti1 import Nifti1Extension

    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    for c in contents:
        img.header.extensions.append(Nifti1Extension(6, c))
    nib.save(img, tmp_path / name)
    return tmp_path / name


def test_an_extension_running_past_vox_offset_is_refused_naming_it(tmp_path):
    """An extension whose esize runs past vox_offset into the data (alone, or after another):
    refused at open naming its byte offset and esize, as nibabel refuses it; one was kept with
    voxel bytes as its content, another error named an esize read from the data."""
    from nibabel.spatialimages import HeaderDataError

    for n in (1, 2):
        path = _with_extensions(tmp_path, [b"note" * 5] * n, f"e{n}.nii")
        raw = bytearray(path.read_bytes())
        vox = int(np.frombuffer(raw[108:112], "<f4")[0])
        last = 352 + 32 * (n - 1)  # the last extension's frame (after the 4-byte flag)
        raw[last : last + 4] = np.int32(vox - last + 16).tobytes()  # 16 bytes into the data
        path.write_bytes(bytes(raw))
        with pytest.raises((ValueError, HeaderDataError)):  # the independent reference refuses it
            nib.load(path)
        with pytest.raises(lv.FormatError, match=rf"extension at byte {last} .*past vox_offset"):
            lv.open(path)


def test_extensions_before_one_past_the_header_cap_are_kept(tmp_path):
    """A comment extension, then one of 17 MiB (past the 16 MiB of header read at open): the
    comment is kept and written back, the big one is not, with a warning (both were dropped
    silently)."""
    path = _with_extensions(tmp_path, [b"kept comment", b"x" * (17 * 2**20)])
    vol = lv.open(path)
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))
    with pytest.warns(RuntimeWarning, match="not read at open"):
        out = vol.to_nifti(tmp_path / "out.nii")
    assert _codes(nib.load(out).header) == [(6, b"kept comment")]


@pytest.mark.parametrize(
    ("key", "value"),
    [("descrip", b"TE=30\0TR=2000;flip=90"), ("aux_file", b"\0lut.txt"), ("intent_name", b"x\0y")],
)
def test_text_bytes_after_a_nul_are_written_back(tmp_path, key, value):
    """A text field holding a NUL: the text shown stops there (as C readers do), the bytes
    after it are written back as nib.save writes them (they were lost)."""
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.int16), np.eye(4))
    img.header[key] = value
    nib.save(img, tmp_path / "t.nii")
    want = bytes(nib.load(tmp_path / "t.nii").header[key])
    vol = lv.open(tmp_path / "t.nii")
    for out in (
        vol.to_nifti(tmp_path / "o.nii"),
        lv.open(vol.to_zarr(tmp_path / "o.zarr")).to_nifti(tmp_path / "z.nii"),
    ):
        assert bytes(nib.load(out).header[key]) == want


def test_a_far_vox_offset_without_extensions_reads_the_header_only(tmp_path, monkeypatch):
    """vox_offset 100 MiB, extension flag 0 (nothing between the header and the data): open
    asks for the header's bytes only (it read the first 16 MiB, for a remote source a 16 MiB
    download), and the data equal nibabel's."""
    import lazyvol._io as io_layer

    arr = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(arr.shape)
    hdr.set_data_dtype(np.float32)
    hdr.set_sform(np.eye(4), 1)
    hdr["vox_offset"] = 100 * 2**20
    path = tmp_path / "far.nii"
    with open(path, "wb") as f:  # (sparse: nothing written between header and data)
        f.write(hdr.binaryblock + bytes(4))
        f.seek(100 * 2**20)
        f.write(arr.tobytes(order="F"))
    asked = []
    real = io_layer.read
    monkeypatch.setattr(
        io_layer, "read", lambda loc, off, n, *a, **k: asked.append(n) or real(loc, off, n, *a, **k)
    )
    vol = lv.open(path)
    assert asked and max(asked) < 2**20, asked
    np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(path).dataobj))


@pytest.mark.parametrize(
    ("code", "units"),
    [
        (3 | 8 | 64, ("micron", "sec")),  # a bit outside the space and time masks
        (3 | 16 | 128, ("micron", "msec")),
        (3 | 56, ("micron", "unknown")),  # an undefined time code
        (5 | 24, ("unknown", "usec")),  # an undefined space code
    ],
    ids=["bit-6", "bit-7", "time-56", "space-5"],
)
def test_xyzt_units_are_read_by_the_standards_masks(tmp_path, code, units):
    """nifti1.h reads xyzt_units as XYZT_TO_SPACE (bits 0-2) and XYZT_TO_TIME (bits 3-5), as
    SimpleITK does (0.5 mm voxels below); nibabel's get_xyzt_units raises a KeyError. lazyvol took
    the whole value as unknown: a micron image was written (NIfTI, NIfTI-Zarr header) as mm."""
    sitk = pytest.importorskip("SimpleITK")
    img = nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.int16), np.diag([500.0, 500, 500, 1]))
    img.header["xyzt_units"], img.header["pixdim"][4] = code, 2.0
    nib.save(img, tmp_path / "src.nii")
    if units[0] == "micron":
        spacing = sitk.ReadImage(str(tmp_path / "src.nii")).GetSpacing()[:3]
        np.testing.assert_allclose(spacing, [0.5, 0.5, 0.5])
    vol = lv.open(tmp_path / "src.nii")
    assert vol.meta["xyzt_units"] == list(units)
    written = "mm" if units[0] == "unknown" else units[0]
    for got in _writes(vol, tmp_path):
        assert got.get_xyzt_units() == (written, units[1])
        np.testing.assert_array_equal(got.get_zooms()[:3], [500, 500, 500])
    from lazyvol import zarr_nifti

    raw = img.header.binaryblock  # a NIfTI-Zarr header written by another tool
    assert zarr_nifti.header_affine(raw)[3] == written
    assert zarr_nifti.header_time(raw)[1] == units[1]
