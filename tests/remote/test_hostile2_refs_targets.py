"""References whose targets are on a protocol whose ranged reads carry no identity check (not a
local file, HTTP(S) or S3: gs://, az://, ftp://... here fsspec's in-process memory://, which
states a size and a creation time as those state theirs): each target was checked once per
store, before its first read, so a target replaced after that read was read at the old offsets
from its new version by every later compute, silently. Now each read is followed by the check
(as a NIfTI task's is): a SourceChangedError naming the target."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.errors import SourceChangedError
from lazyvol.testing.nifti import write_phantom_nifti

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory_nifti(tmp_path: Path) -> Iterator[tuple[str, bytes, np.ndarray]]:
    """(URL, bytes, voxels) of a .nii put on fsspec's memory filesystem."""
    path = write_phantom_nifti(tmp_path / "a.nii", (40, 30, 20))
    raw = Path(path).read_bytes()
    fs = fsspec.filesystem("memory")
    name = f"/h2refs-{time.monotonic_ns()}/a.nii"
    fs.pipe(name, raw)
    try:
        yield f"memory:/{name}", raw, np.asarray(nib.load(path).dataobj.get_unscaled())
    finally:
        fs.rm(name)


def test_a_target_replaced_between_two_computes_is_refused(memory_nifti):
    url, raw, truth = memory_nifti
    vol = lv.open(
        "reference://", scale=False, storage_options={"fo": lv.references(url)}, chunks=(40, 30, 5)
    )
    np.testing.assert_array_equal(np.asarray(vol[:, :, :5].compute()), truth[:, :, :5])
    changed = bytearray(raw)
    changed[-1] ^= 0xFF  # (in the last chunk; the same size)
    time.sleep(0.01)  # (a later creation time)
    fsspec.filesystem("memory").pipe(url.removeprefix("memory:/"), bytes(changed))
    with pytest.raises(SourceChangedError, match=r"memory://\S+a\.nii: a target of the references"):
        vol.compute()
