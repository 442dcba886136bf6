"""The README's first command ends in ``python -m lazyvol.demo``: run it as a newcomer does (a
fresh process, default size), into a test folder, and check what it wrote with nibabel."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np


def test_the_readme_demo_runs_and_writes_what_it_says(tmp_path):
    out = tmp_path / "demo"
    res = subprocess.run(
        [sys.executable, "-m", "lazyvol.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    phantom = nib.load(out / "phantom.nii.gz")
    assert phantom.shape == (128, 128, 128)
    assert f"wrote {out / 'phantom.nii.gz'}" in res.stdout
    # the demo's one-pass statistics against nibabel's whole array
    data = np.asarray(phantom.dataobj)
    assert f"min {int(data.min())}, max {int(data.max())}" in res.stdout
    assert f"mean {data.mean():.2f}" in res.stdout
    # the DICOM series streamed to NIfTI: its shape as printed
    streamed = nib.load(out / "dicom_as.nii.gz")
    assert streamed.shape == (128, 128, 64)
    assert "DICOM volume: <lazyvol.Volume shape=(128, 128, 64)" in res.stdout
