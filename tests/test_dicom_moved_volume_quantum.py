"""A 4th-axis volume moved by less than the rounding the first volume's positions seemed to show.

The positions' rounding was read from the first volume alone: an exact 2.5 mm grid from 30 mm
written with two decimals ('30.00', '32.50', '35.00') shows one, so 0.1 mm was taken as the
rounding, and a volume moved 0.09 mm within the slice plane (written '-12.41' against
'-12.50') was stacked with the others as one grid, its frames placed 0.09 mm from their
ImagePositionPatient without a word. One writer wrote every volume, and a writer keeps one
precision for all three coordinates: the decimals any volume shows in any coordinate are the
writer's (0.01 mm here), and the moved volume is refused naming its frame.

Reference: the positions written into the synthetic enhanced file.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread

import lazyvol as lv
from lazyvol.slice_grid import position_quantum, volumes_quantum
from lazyvol.testing import write_enhanced_dicom

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _written(path, moved_mm):
    truth = write_enhanced_dicom(path, (6, 5, 3), n_volumes=3)
    ds = dcmread(path)
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ipp = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        ipp[0] += moved_mm if f // 3 == 2 else 0.0  # (volume 2, within the axial plane)
        item.PlanePositionSequence[0].ImagePositionPatient = [f"{v:.2f}" for v in ipp]
    ds.save_as(path)
    return truth


def test_the_writers_decimals_are_read_from_every_coordinate_and_volume():
    first = [[-12.5, -20.0, z] for z in (30.0, 32.5, 35.0)]
    moved = [[-12.41, -20.0, z] for z in (30.0, 32.5, 35.0)]
    assert position_quantum(first) == pytest.approx(0.1)  # (nothing shows a second decimal)
    assert position_quantum(moved) == pytest.approx(0.01)
    assert volumes_quantum([first, first, moved]) == pytest.approx(0.01)
    assert volumes_quantum([first, first]) == pytest.approx(0.1)


def test_a_volume_moved_under_the_first_volumes_apparent_rounding_is_refused(tmp_path):
    _written(tmp_path / "one.dcm", 0.09)
    with pytest.raises(lv.SeriesError, match=r"do not share.*frame 7 of 9.*0\.09 mm apart"):
        lv.open(tmp_path / "one.dcm", use_index=False)


def test_volumes_at_one_grid_written_so_still_open(tmp_path):
    truth = _written(tmp_path / "one.dcm", 0.0)
    vol = lv.open(tmp_path / "one.dcm", use_index=False)
    assert vol.shape == (6, 5, 3, 3)
    np.testing.assert_array_equal(vol.compute(), truth.stored)
