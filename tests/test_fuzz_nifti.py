"""Property-based fuzzing of the NIfTI reader: mutated headers and bytes give correct data or a
LazyvolError, never another exception, a hang or a runaway allocation.

The default run uses a fast profile; ``LAZYVOL_FUZZ=long pytest tests/test_fuzz_nifti.py`` runs the
long one.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lazyvol as lv

LONG = os.environ.get("LAZYVOL_FUZZ") == "long"
FUZZ = settings(
    max_examples=1500 if LONG else 60,
    deadline=10_000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not LONG,
)
SHAPE = (6, 7, 5)


def _valid_bytes(dtype: str = "int16", slope: float = 1.0) -> bytes:
    data = np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE).astype(dtype)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0]), dtype=np.dtype(dtype))
    img.header.set_slope_inter(slope, 0.0)
    bio = io.BytesIO()
    img.to_file_map({"image": nib.FileHolder(fileobj=bio), "header": nib.FileHolder(fileobj=bio)})
    return bio.getvalue()


VALID = {"int16": _valid_bytes(), "float32": _valid_bytes("float32", 2.0)}


def _check(path: Path) -> lv.Volume | None:
    """Open and compute with lazyvol; compare with nibabel when nibabel reads it cleanly."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # e.g. an affine fallback
            vol = lv.open(path)
        got = vol.compute()
    except lv.LazyvolError:
        return None
    # Whatever the header says: never a non-finite or singular affine.
    assert np.isfinite(vol.affine).all(), vol.affine
    assert abs(np.linalg.det(vol.affine[:3, :3])) > 0, vol.affine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = nib.load(path)
            ref = np.asanyarray(img.dataobj)
    except Exception:
        return vol  # nibabel refuses a file lazyvol read: nothing independent to compare with
    if ref.ndim < 3:
        ref = ref.reshape(ref.shape + (1,) * (3 - ref.ndim))
    assert got.shape == ref.shape
    if got.dtype.kind in "iub":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6, equal_nan=True)
    return vol


@pytest.fixture(autouse=True)
def _small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # A mutated dim must be refused by lazyvol's own limit, not allocated by the test.
    monkeypatch.setenv("LAZYVOL_MAX_VOLUME_BYTES", str(16 * 2**20))


@FUZZ
@given(
    kind=st.sampled_from(sorted(VALID)),
    edits=st.lists(st.tuples(st.integers(0, 351), st.integers(0, 255)), min_size=1, max_size=6),
    gz=st.booleans(),
)
def test_header_byte_mutations(
    tmp_path: Path, kind: str, edits: list[tuple[int, int]], gz: bool
) -> None:
    raw = bytearray(VALID[kind])
    for pos, value in edits:
        raw[pos] = value
    path = tmp_path / ("m.nii.gz" if gz else "m.nii")
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1) if gz else bytes(raw))
    _check(path)


@FUZZ
@given(
    kind=st.sampled_from(sorted(VALID)),
    cut=st.integers(0, 100),
    gz=st.booleans(),
)
def test_truncations(tmp_path: Path, kind: str, cut: int, gz: bool) -> None:
    raw = VALID[kind]
    payload = gzip.compress(raw, compresslevel=1) if gz else raw
    keep = len(payload) * cut // 100
    path = tmp_path / ("t.nii.gz" if gz else "t.nii")
    path.write_bytes(payload[:keep])
    _check(path)


@FUZZ
@given(
    kind=st.sampled_from(sorted(VALID)),
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=8
    ),
)
def test_gzip_stream_corruption(tmp_path: Path, kind: str, flips: list[tuple[float, int]]) -> None:
    payload = bytearray(gzip.compress(VALID[kind], compresslevel=1))
    for where, xor in flips:
        pos = int(where * len(payload))
        payload[pos] ^= xor
    path = tmp_path / "c.nii.gz"
    path.write_bytes(bytes(payload))
    _check(path)


_ODD = st.one_of(
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1e-30, 1e30, 0.5, -3.0]),
    st.floats(-10, 10, width=32),
)
_TRANSFORM_FIELDS = {
    "srow_x": 4,
    "srow_y": 4,
    "srow_z": 4,
    "pixdim": 8,
    "quatern_b": 1,
    "quatern_c": 1,
    "quatern_d": 1,
    "qoffset_x": 1,
}


@FUZZ
@given(
    kind=st.sampled_from(sorted(VALID)),
    edits=st.lists(
        st.tuples(st.sampled_from(sorted(_TRANSFORM_FIELDS)), st.integers(0, 7), _ODD),
        min_size=1,
        max_size=3,
    ),
    codes=st.tuples(st.sampled_from([0, 1, 2, 4, 7]), st.sampled_from([0, 1, 2])),
    gz=st.booleans(),
)
def test_transform_fields(
    tmp_path: Path,
    kind: str,
    edits: list[tuple[str, int, float]],
    codes: tuple[int, int],
    gz: bool,
) -> None:
    # NaN/inf/zero/negative sform rows, pixdim (qfac included), quaternions: a typed error or
    # nibabel's affine (its best one, or the qform it would pick next), always finite, non-singular.
    raw = bytearray(VALID[kind])
    hdr = nib.Nifti1Header(bytes(raw[:348]), check=False)
    hdr.set_qform(np.diag([2.0, 2.0, 3.0, 1.0]), code=1)
    for field, index, value in edits:
        arr = hdr[field] if _TRANSFORM_FIELDS[field] > 1 else None
        if arr is not None:
            arr[index % _TRANSFORM_FIELDS[field]] = value
            hdr[field] = arr
        else:
            hdr[field] = value
    hdr["sform_code"], hdr["qform_code"] = codes
    raw[:348] = hdr.binaryblock
    path = tmp_path / ("x.nii.gz" if gz else "x.nii")
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1) if gz else bytes(raw))
    vol = _check(path)
    if vol is None:
        return
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = nib.load(path).header
        expected = (
            ref.get_qform() if vol.meta.get("affine_source") == "qform" else ref.get_best_affine()
        )
    np.testing.assert_allclose(vol.affine, expected, rtol=1e-6, atol=1e-6)
