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


def _check(path: Path) -> None:
    """Open and compute with lazyvol; compare with nibabel when nibabel reads it cleanly."""
    try:
        vol = lv.open(path)
        got = vol.compute()
    except lv.LazyvolError:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = nib.load(path)
            ref = np.asanyarray(img.dataobj)
    except Exception:
        return  # nibabel refuses a file lazyvol read: nothing independent to compare with
    if ref.ndim < 3:
        ref = ref.reshape(ref.shape + (1,) * (3 - ref.ndim))
    assert got.shape == ref.shape
    if got.dtype.kind in "iub":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-6, equal_nan=True)


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
