"""lazyvol.geometry.orientation_codes (numpy only) against nibabel's aff2axcodes."""

from __future__ import annotations

import inspect

import nibabel as nib
import numpy as np
import pytest
from nibabel.eulerangles import euler2mat
from nibabel.orientations import aff2axcodes

from lazyvol.geometry import orientation_codes

# nibabel 5.4 takes voxel axes strongest first when assigning world axes; earlier releases took
# them in order of their smallest entry, which labels some oblique affines differently.
NEW_RULE = "R**2" in inspect.getsource(nib.orientations.io_orientation)


def _reference(affine: np.ndarray) -> str:
    return "".join(c if c is not None else "?" for c in aff2axcodes(affine))


def _affines() -> list[np.ndarray]:
    rng = np.random.default_rng(15)
    out = []
    for _ in range(300):
        aff = np.eye(4)
        rot = euler2mat(*rng.uniform(-np.pi, np.pi, 3))
        zooms = rng.choice([0.5, 1.0, 2.5], 3) * rng.choice([-1, 1], 3)
        aff[:3, :3] = rot @ np.diag(zooms)
        aff[:3, 3] = rng.normal(0, 50, 3)
        out.append(aff)
    for perm in ([0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2, 1]):
        for signs in ([1, 1, 1], [-1, 1, -1], [-1, -1, -1]):
            aff = np.eye(4)
            aff[:3, :3] = np.eye(3)[perm] * signs
            out.append(aff)
    degenerate = np.eye(4)
    degenerate[:3, 2] = 0  # a zero column
    sheared = np.eye(4)
    sheared[0, 1] = 1.0  # a shear: a tie between axes
    tie = np.eye(4)
    tie[:3, :3] = [[1, 1, 0], [-1, 1, 0], [0, 0, 1]]
    out += [degenerate, sheared, tie, np.diag([0.0, 0.0, 0.0, 1.0])]
    return out


@pytest.mark.parametrize("affine", _affines(), ids=lambda a: "aff")
def test_orientation_codes_are_nibabels(affine):
    if not NEW_RULE:
        pytest.skip("this nibabel breaks ties between oblique axes by an older rule")
    assert orientation_codes(affine) == _reference(affine)


def test_orientation_of_a_volume_needs_no_nibabel_import(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "o.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.diag([-1.0, 1, 1, 1])), path)
    script = (
        "import sys, lazyvol as lv\n"
        "print(lv.open(sys.argv[1]).orientation, 'nibabel' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["LAS", "False"]
