"""Slices that allow_gaps=True filled hold the fill value, not data: lv.stats and `lazyvol stats`
counted them (0 by default: count, nonzero, mean, percentiles all shifted; NaN fill: nan_count);
they are now left out, and the result says which (res.filled_slices)."""

from __future__ import annotations

import json
import os

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.cli import main as cli_main
from lazyvol.testing import write_dicom_series


@pytest.fixture
def gap(tmp_path):
    truth = write_dicom_series(tmp_path / "s", (8, 6, 7), slope=1.0, intercept=0.0)
    os.unlink(truth.files[3])
    on_disk = np.stack(
        [pydicom.dcmread(f).pixel_array.T for f in truth.files if os.path.exists(f)], axis=2
    ).astype(np.float64)  # (pydicom's rows x columns, as lazyvol's i = column)
    return tmp_path / "s", on_disk


@pytest.mark.parametrize("fill", [0.0, float("nan")])
def test_filled_slices_are_left_out_of_the_statistics(gap, fill):
    folder, on_disk = gap
    kwargs = {"dtype": "float32"} if fill != 0 else {}
    vol = lv.open(folder, allow_gaps=True, fill=fill, **kwargs)
    assert vol.meta["filled_slices"] == [3]
    res = lv.stats(vol, percentiles=(50,), exact_percentiles=True)
    assert (res.count, res.nan_count) == (on_disk.size, 0)
    assert res.nonzero == np.count_nonzero(on_disk)
    assert res.min == on_disk.min() and res.max == on_disk.max()
    np.testing.assert_allclose([res.mean, res.std], [on_disk.mean(), on_disk.std()], rtol=1e-9)
    np.testing.assert_allclose(res.percentiles, np.percentile(on_disk, [50]), rtol=1e-6)
    assert res.filled_slices == (3,)
    masked = lv.stats(vol, mask=np.ones(vol.shape, np.uint8))
    assert masked.count == on_disk.size and masked.filled_slices == (3,)
    assert lv.stats(vol[:, :, 4:]).filled_slices == ()  # (a cut without them)
    bare = lv.stats(vol.data)  # (the bare array: every value, filled ones too)
    assert bare.count + bare.nan_count == np.prod(vol.shape) and bare.filled_slices == ()


def test_the_command_says_it_left_them_out(gap, capsys):
    folder, on_disk = gap
    assert cli_main(["stats", str(folder), "--allow-gaps", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == on_disk.size and out["filled_slices_excluded"] == [3]
    assert cli_main(["stats", str(folder), "--allow-gaps"]) == 0
    assert "filled by --allow-gaps: not data" in capsys.readouterr().out
