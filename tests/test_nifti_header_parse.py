"""lazyvol's own NIfTI-1/2 header parser (lazyvol.nifti_fields) against nibabel, the reference.

Headers are generated with nibabel's own record layouts (``nifti1.header_dtype``,
``nifti2.header_dtype``) in both byte orders, with hypothesis drawing dims, data types, transforms
(including degenerate quaternions and junk codes), scaling (0, NaN, inf), voxel offsets, extension
frames and NIfTI-2 EOL checks. For each, nibabel's ``from_fileobj`` (with its load-time checks and
fixes) and lazyvol's parser must agree: same refusal, or same shape, dtype, offset, scaling, best
affine and meta fields. Every NIfTI/Analyze image nibabel ships is then opened both ways and its
affine, shape, dtype, scaling and values compared; so are generated files of every kind.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nibabel.testing import data_path

import lazyvol as lv
from lazyvol.errors import FormatError
from lazyvol.nifti_codes import DATA_TYPES, INTENTS, UNITS
from lazyvol.nifti_fields import HEADER1, HEADER2, parse_nifti

CODES = sorted(DATA_TYPES)
SPECIAL = [0.0, 1.0, -1.0, 2.5, -0.5, 1e-3, math.nan, math.inf, -math.inf]


def test_record_layouts_are_nibabels():
    assert HEADER1 == nib.nifti1.header_dtype
    assert HEADER2 == nib.nifti2.header_dtype
    assert HEADER1.itemsize == 348 and HEADER2.itemsize == 540


def test_data_type_table_is_nibabels():
    codes = nib.nifti1.data_type_codes
    assert set(DATA_TYPES) == {int(c) for c in codes.value_set()}
    for code, dtype in DATA_TYPES.items():
        ref = codes.dtype[code]
        assert (dtype is None) == (ref.itemsize == 0), code
        if dtype is not None:
            assert dtype == ref, code


def test_unit_and_intent_tables_are_nibabels():
    units, intents = nib.nifti1.unit_codes, nib.nifti1.intent_codes
    assert UNITS == {int(c): units.label[c] for c in units.value_set()}
    assert INTENTS == {int(c): intents.label[c] for c in intents.value_set()}


# -- generated headers ------------------------------------------------------------------------


def _value(draw: Any, *, big: bool = True) -> float:
    if draw(st.booleans()):
        return draw(st.sampled_from(SPECIAL))
    bound = 1e4 if big else 1.0
    return draw(st.floats(-bound, bound, allow_nan=False))


@st.composite
def headers(draw: Any) -> tuple[bytes, bool, bool]:
    """(header bytes with extensions, nifti2, single file)."""
    nifti2 = draw(st.booleans())
    single = draw(st.booleans())
    order = draw(st.sampled_from("<>"))
    base = nib.nifti2.header_dtype if nifti2 else nib.nifti1.header_dtype
    rec = np.zeros((), dtype=base.newbyteorder(order))
    rec["sizeof_hdr"] = 540 if nifti2 else 348
    rec["magic"] = (b"n+2" if single else b"ni2") if nifti2 else (b"n+1" if single else b"ni1")
    if nifti2:
        rec["eol_check"] = draw(
            st.sampled_from([(13, 10, 26, 10)] * 4 + [(0, 0, 0, 0), (1, 2, 3, 4)])
        )
    ndim = draw(st.integers(1, 7))
    dims = draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim))
    if not nifti2 and ndim >= 3 and draw(st.integers(0, 9)) == 0:
        dims[:3] = draw(st.sampled_from([[-1, 1, 1], [27307, 1, 6]]))
        rec["glmin"] = draw(st.sampled_from([0, 40]))
    rec["dim"][0] = ndim
    rec["dim"][1 : ndim + 1] = dims
    rec["dim"][ndim + 1 :] = draw(st.sampled_from([1, 0, 3]))
    usable = [c for c in CODES if DATA_TYPES[c] is not None]
    rec["datatype"] = draw(st.sampled_from(CODES if draw(st.integers(0, 4)) == 0 else usable))
    rec["pixdim"] = [_value(draw) for _ in range(8)]
    if draw(st.booleans()):
        rec["pixdim"][0] = draw(st.sampled_from([1.0, -1.0]))
    for name in ("qform_code", "sform_code"):
        rec[name] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, -1, 7]))
    quat = draw(
        st.one_of(
            st.tuples(*[st.floats(-0.5, 0.5, width=32)] * 3),
            st.sampled_from(
                [
                    (1.0, 0.0, 0.0),
                    (0.0, 0.0, 1.0),
                    (0.5773503, 0.5773503, 0.5773503),  # w**2 slightly negative
                    (0.5773504, 0.5773503, 0.5773503),
                    (0.8, 0.7, 0.0),  # not a unit quaternion: w**2 < 0
                    (0.0, 0.0, 0.0),
                    (math.nan, 0.0, 0.0),
                ]
            ),
        )
    )
    rec["quatern_b"], rec["quatern_c"], rec["quatern_d"] = quat
    for name in ("qoffset_x", "qoffset_y", "qoffset_z"):
        rec[name] = _value(draw)
    for name in ("srow_x", "srow_y", "srow_z"):
        rec[name] = [_value(draw) for _ in range(4)]
    rec["scl_slope"] = draw(st.sampled_from([0.0, math.nan, math.inf, 1.0, 2.5, -3.0]))
    rec["scl_inter"] = draw(st.sampled_from([0.0, math.nan, -math.inf, 1.0, -7.5]))
    rec["intent_code"] = draw(st.sampled_from([0, 2, 3, 1002, 2005, 9999, -5]))
    rec["xyzt_units"] = draw(st.integers(0, 255))
    rec["descrip"] = draw(st.binary(max_size=80))
    minimum = 544 if nifti2 else 352
    if single:
        vox = draw(st.sampled_from([0, minimum - 2, minimum, minimum + 1, 400, 560, 1024]))
    else:
        vox = draw(st.sampled_from([0, 16, 352, 1000]))
    if vox < (540 if nifti2 else 348) and single and vox != 0:
        vox = minimum  # below the header: refused before parsing (lazyvol's raw check)
    rec["vox_offset"] = vox
    head = rec.tobytes()
    ext = draw(st.sampled_from(["none"] * 4 + ["flag0", "good", "good", "short", "zero"]))
    if ext == "none":
        return head, nifti2, single
    sizes = {"flag0": None, "good": 32, "short": 4096, "zero": 0}
    esize = sizes[ext]
    head += b"\0\0\0\0" if esize is None else b"\1\0\0\0"
    if esize is not None:
        head += np.array([esize, 6], dtype=order + "i4").tobytes() + b"x" * 24
    if single:
        head = head.ljust(int(vox), b"\0")[: max(int(vox), len(rec.tobytes()) + 4)]
    return head, nifti2, single


def _reference(head: bytes, nifti2: bool, single: bool) -> Any:
    mod = nib.nifti2 if nifti2 else nib.nifti1
    if single:
        klass = mod.Nifti2Header if nifti2 else mod.Nifti1Header
    else:
        klass = mod.Nifti2PairHeader if nifti2 else mod.Nifti1PairHeader
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return klass.from_fileobj(io.BytesIO(head))


def _outcome(get: Any) -> tuple[str, Any]:
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", get()
    except Exception as exc:
        return "error", type(exc).__name__


def _same(a: Any, b: Any) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        np.testing.assert_array_equal(np.asarray(a[1]), np.asarray(b[1]))


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(headers())
def test_parser_agrees_with_nibabel(case):
    head, nifti2, single = case
    ref_out = _outcome(lambda: _reference(head, nifti2, single))
    ours_out = _outcome(lambda: parse_nifti(head, "gen.nii", single=single))
    if ref_out[0] == "ok":
        ref = ref_out[1]
        shape_out = _outcome(ref.get_data_shape)
        if shape_out[0] == "error":  # nibabel refuses the shape when the image is loaded
            ref_out = shape_out
    if ref_out[0] == "error" and ours_out[0] == "ok" and _zero_padded(head, nifti2, single):
        return  # read as niftilib reads it (test_nifti::test_zero_padding_after_the_extensions...)
    assert ref_out[0] == ours_out[0], (ref_out, ours_out)
    if ref_out[0] == "error":
        assert ours_out[1] == "FormatError"
        return
    ref, ours = ref_out[1], ours_out[1]
    assert ours.format == ("nifti2" if nifti2 else "nifti1")
    assert ours.shape == ref.get_data_shape()
    assert ours.disk_dtype == ref.get_data_dtype()
    assert ours.offset == ref.get_data_offset()
    np.testing.assert_array_equal(ours.dim, np.asarray(head_dim(head, nifti2)))
    scaling = _outcome(ref.get_slope_inter)
    if scaling[0] == "ok":
        slope, inter = scaling[1]
        assert (ours.slope, ours.inter) == (
            1.0 if slope is None else slope,
            0.0 if inter is None else inter,
        )
    else:  # a valid slope with a non-finite intercept: lazyvol refuses it unless scale=False
        assert math.isfinite(ours.slope) and not math.isfinite(ours.inter)
    name, _fields, get = ours.candidates[0]
    code = "sform" if ref["sform_code"] != 0 else ("qform" if ref["qform_code"] != 0 else "base")
    assert name == code
    _same(_outcome(get), _outcome(ref.get_best_affine))
    if len(ours.candidates) > 1:  # the qform after a declared sform (lazyvol's fallback)
        assert ours.candidates[1][0] == "qform"
        _same(_outcome(ours.candidates[1][2]), _outcome(ref.get_qform))
    assert ours.fields["sform_code"] == int(ref["sform_code"])
    assert ours.fields["qform_code"] == int(ref["qform_code"])
    assert ours.fields["intent"] == str(ref.get_intent()[0])
    units = _outcome(ref.get_xyzt_units)
    code = int(ref["xyzt_units"])  # nifti1.h's masks where nibabel raises (bits past 0x3f)
    labels = nib.nifti1.unit_codes.label
    masked = [labels.get(code & 0x07, "unknown"), labels.get(code & 0x38, "unknown")]
    assert ours.fields["xyzt_units"] == (list(units[1]) if units[0] == "ok" else masked)
    raw = bytes(ref["descrip"]).split(b"\0")[0]
    try:  # UTF-8 where the bytes are, else latin-1
        descrip = raw.decode("utf-8")
    except UnicodeDecodeError:
        descrip = raw.decode("latin-1")
    assert ours.fields.get("descrip", "") == descrip
    zooms = ref.get_zooms()
    if len(zooms) > 3 and np.isfinite(zooms[3]):
        assert ours.fields["axis4_spacing"] == float(zooms[3])
    else:
        assert "axis4_spacing" not in ours.fields
    np.testing.assert_array_equal(ours.pixdim_used, [float(x) for x in ref["pixdim"][1:4]])


def _zero_padded(head: bytes, nifti2: bool, single: bool) -> bool:
    """True when the extension frames of a single-file header end in a frame of esize 0 with only
    zeros from it to vox_offset: padding, where niftilib stops (nibabel refuses it)."""
    order = "<" if int.from_bytes(head[:4], "little") in (348, 540) else ">"
    size = 540 if nifti2 else 348
    if not single or head[size : size + 1] in (b"", b"\x00"):
        return False
    vox = (
        float(np.frombuffer(head[168:176], order + "i8")[0])
        if nifti2
        else float(np.frombuffer(head[108:112], order + "f4")[0])
    )
    if not math.isfinite(vox):
        return False
    pos, end = size + 4, int(vox)
    while pos + 8 <= min(end, len(head)):
        esize = int(np.frombuffer(head[pos : pos + 4], order + "i4")[0])
        if esize == 0:
            return not any(head[pos:end])
        if esize < 8:
            return False
        pos += esize
    return False


def head_dim(head: bytes, nifti2: bool) -> np.ndarray:
    """``dim`` as stored (nibabel never changes it at load)."""
    order = "<" if int.from_bytes(head[:4], "little") in (348, 540) else ">"
    if nifti2:
        return np.frombuffer(head[16:80], dtype=order + "i8")
    return np.frombuffer(head[40:56], dtype=order + "i2").astype(np.int64)


# -- whole images through lazyvol against nibabel -----------------------------------------------


def _check_image(path: str | Path) -> None:
    """lv.open(path) against nib.load(path): affine, shape, dtype, scaling, values."""
    img = nib.load(str(path))
    expected = np.asanyarray(img.dataobj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vol = lv.open(path)
    if vol.meta.get("affine_source", "") != "base" or vol.meta["format"] == "analyze":
        np.testing.assert_array_equal(vol.affine, img.affine)
    shape = img.shape + (1,) * (3 - len(img.shape))
    assert vol.shape == shape
    assert np.dtype(vol.meta["stored_dtype"]) == img.get_data_dtype()
    assert (vol.meta["scl_slope"], vol.meta["scl_inter"]) == (
        float(img.dataobj.slope),
        float(img.dataobj.inter),
    )
    got = np.asarray(vol.compute()).reshape(expected.shape, order="F")
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def _nibabel_fixtures() -> list[str]:
    out = []
    for name in sorted(os.listdir(data_path)):
        if not name.endswith((".nii", ".nii.gz", ".hdr")):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = nib.load(os.path.join(data_path, name))
                if not isinstance(img, nib.analyze.AnalyzeImage):
                    continue
                np.asanyarray(img.dataobj)
        except Exception:
            continue  # nibabel itself cannot read it: nothing to compare with
        out.append(name)
    return out


@pytest.mark.parametrize("name", _nibabel_fixtures())
def test_nibabel_fixtures_read_as_nibabel_reads_them(name):
    _check_image(os.path.join(data_path, name))


@pytest.mark.parametrize("nifti2", [False, True])
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".img", ".hdr", ".img.gz"])
@pytest.mark.parametrize("dtype", ["int16", "float32", "uint8", "complex64", "int64"])
def test_generated_images_read_as_nibabel_reads_them(tmp_path, nifti2, order, suffix, dtype):
    rng = np.random.default_rng(7)
    data = (rng.random((5, 4, 3, 2)) * 100).astype(dtype)
    affine = np.array([[0, -2.0, 0, 10], [1.5, 0, 0, -4], [0, 0, 3.0, 7], [0, 0, 0, 1]])
    single = suffix in (".nii", ".nii.gz")
    klass = {
        (False, True): nib.Nifti1Image,
        (False, False): nib.Nifti1Pair,
        (True, True): nib.Nifti2Image,
        (True, False): nib.Nifti2Pair,
    }[(nifti2, single)]
    img = klass(data, affine, dtype=data.dtype)
    img.header.set_qform(affine @ np.diag([1, 1, -1, 1]), code=1)  # a different qform
    if data.dtype.kind in "iu":
        img.header.set_slope_inter(0.5, -3.0)
    if order == ">":
        img = klass(img.dataobj, img.affine, img.header.as_byteswapped(">"))
    path = tmp_path / ("img" + suffix)
    nib.save(img, path)
    _check_image(path)


# -- what a fresh process imports -------------------------------------------------------------


def test_opening_a_nifti_imports_neither_nibabel_nor_pydicom_nor_dask_array(tmp_path):
    """A fresh process reading one slice of a .nii, an indexed .nii.gz and a pair imports none of
    nibabel (its nifti1 imports pydicom), pydicom or dask.array."""
    from lazyvol.nifti import build_gzip_index

    data = np.arange(8 * 7 * 6, dtype=np.int16).reshape(8, 7, 6)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "a.nii")
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "b.nii.gz")
    nib.save(nib.Nifti1Pair(data, np.eye(4)), tmp_path / "c.img")
    build_gzip_index(tmp_path / "b.nii.gz")
    script = (
        "import sys, lazyvol as lv\n"
        "for p in sys.argv[1:]:\n"
        "    print(int(lv.open(p)[:, :, 5:6].compute().sum()))\n"
        "bad = ('nibabel', 'pydicom', 'dask.array')\n"
        "print(' '.join(m for m in bad if m in sys.modules) or 'none')\n"
    )
    paths = [str(tmp_path / n) for n in ("a.nii", "b.nii.gz", "c.img")]
    out = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:3] == [str(int(data[:, :, 5].sum()))] * 3
    assert out[3] == "none"


def test_parser_refuses_what_nibabel_refuses_with_the_field_named():
    rec = np.zeros((), dtype=nib.nifti1.header_dtype)
    rec["sizeof_hdr"], rec["magic"], rec["dim"][:4] = 348, b"n+1", [3, 2, 2, 2]
    rec["datatype"], rec["vox_offset"] = 1, 352  # "binary": nibabel cannot read it
    with pytest.raises(FormatError, match="datatype"):
        parse_nifti(rec.tobytes() + b"\0" * 4, "x.nii", single=True)
    rec["datatype"], rec["vox_offset"] = 4, 350  # inside the 352-byte header + extension flag
    with pytest.raises(FormatError, match="vox_offset"):
        parse_nifti(rec.tobytes() + b"\0" * 4, "x.nii", single=True)
    with pytest.raises(Exception):  # noqa: B017 - the reference refuses it too
        nib.Nifti1Header.from_fileobj(io.BytesIO(rec.tobytes() + b"\0" * 4))
