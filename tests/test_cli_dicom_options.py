"""The DICOM stacking options on the command line (--allow-gaps, --fill, --split-4d,
--spacing-atol, ...): every hint a refusal prints names a flag the command takes, and the flag does
what the hint says. Values are checked against pydicom reading the files."""

from __future__ import annotations

import json
import os

import nibabel as nib
import numpy as np
import pydicom
import pytest

from lazyvol.testing import write_dicom_4d_series, write_dicom_series


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    """A 10-slice series whose 5th file is gone; the slices as pydicom reads them, by position."""
    d = tmp_path_factory.mktemp("gap")
    write_dicom_series(d, (16, 12, 10))
    files = sorted(d.iterdir())
    files[4].unlink()
    by_z = {}
    for f in files[:4] + files[5:]:
        ds = pydicom.dcmread(f)
        by_z[round(float(ds.ImagePositionPatient[2]), 3)] = ds.pixel_array.T  # (col, row) = (i, j)
    return d, by_z


def test_refusal_names_the_flags(lazyvol_cli, gap):
    folder, _ = gap
    table = lazyvol_cli("info", folder)
    assert table.returncode == 2, table.stderr  # (its only volume is refused)
    assert "--allow-gaps" in table.stdout and "--fill VALUE" in table.stdout
    assert "allow_gaps=True" not in table.stdout and "spacing_atol=" not in table.stdout
    js = json.loads(lazyvol_cli("info", folder, "--json").stdout)
    assert "--allow-gaps" in js["series"][0]["error"]
    err = lazyvol_cli("stats", folder)
    assert err.returncode == 2
    assert "--allow-gaps" in err.stderr and "allow_gaps=True" not in err.stderr


def test_allow_gaps_and_fill(lazyvol_cli, gap, tmp_path):
    folder, by_z = gap
    out = tmp_path / "g.nii"
    res = lazyvol_cli("convert", folder, out, "--allow-gaps", "--fill", "-7")
    assert res.returncode == 0, res.stderr
    img = nib.load(out)
    data = np.asarray(img.dataobj)
    assert data.shape == (16, 12, 10)
    zs = img.affine[2, 3] + img.affine[2, 2] * np.arange(10)
    # LPS z equals RAS z: each slice is the file at its position, the missing one is -7
    filled = [k for k, z in enumerate(zs) if round(float(z), 3) not in by_z]
    assert filled == [4]
    assert (data[:, :, 4] == -7).all()
    for k, z in enumerate(zs):
        if k != 4:
            ref = by_z[round(float(z), 3)]
            # RAS i, j are LPS i, j flipped by the affine; compare through the affine's signs
            assert np.array_equal(data[:, :, k], ref) or np.array_equal(data[::-1, ::-1, k], ref)
    info = json.loads(lazyvol_cli("info", folder, "--allow-gaps", "--json").stdout)
    assert info["shape"] == [16, 12, 10]


def test_flags_refused_where_they_mean_nothing(lazyvol_cli, gap, tmp_path):
    folder, _ = gap
    res = lazyvol_cli("stats", folder, "--fill", "3")
    assert res.returncode == 2 and "add --allow-gaps" in res.stderr
    nii = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), nii)
    res = lazyvol_cli("info", nii, "--split-4d")
    assert (
        res.returncode == 2 and "is a NIfTI file" in res.stderr and "drop --split-4d" in res.stderr
    )
    res = lazyvol_cli("references", folder, "-o", tmp_path / "r.json", "--allow-gaps")
    assert res.returncode == 2 and "without --allow-gaps" in res.stderr
    assert not (tmp_path / "r.json").exists()


def test_split_4d(lazyvol_cli, tmp_path):
    folder = tmp_path / "fmri"
    write_dicom_4d_series(folder, (16, 12, 5), 3)
    whole = json.loads(lazyvol_cli("info", folder, "--json").stdout)
    assert whole["shape"] == [16, 12, 5, 3]
    split = json.loads(lazyvol_cli("info", folder, "--split-4d", "--json").stdout)
    assert [row["shape"] for row in split["series"]] == [[16, 12, 5]] * 3
    # The table's reasons name the flag, as the refusal choosing among them does ("split:
    # split_4d=True: volume 0 of 3" was the Python keyword), in the text and the JSON alike.
    assert all(row["reasons"][-1].startswith("--split-4d: volume ") for row in split["series"])
    table = lazyvol_cli("info", folder, "--split-4d", "--verbose").stdout
    assert "split: --split-4d: volume 2 of 3" in table and "split_4d=True" not in table


def test_spacing_atol(lazyvol_cli, tmp_path):
    """Positions jittered by 0.02 mm: refused at the default tolerance, stacked with
    --spacing-atol 0.05 (and the hint names that flag)."""
    folder = tmp_path / "jitter"
    z = 30.0 + 2.5 * np.arange(8) + np.array([0, 0.02, 0, -0.02, 0, 0.02, 0, 0])
    positions = np.column_stack([np.full(8, -12.5), np.full(8, -20.0), z])
    write_dicom_series(folder, (16, 12, 8), positions=positions)
    res = lazyvol_cli("stats", folder)
    assert res.returncode == 2 and "--spacing-atol" in res.stderr, res.stderr
    res = lazyvol_cli("stats", folder, "--spacing-atol", "0.05", "--json")
    assert res.returncode == 0, res.stderr
    truth = np.stack([pydicom.dcmread(f).pixel_array for f in sorted(folder.iterdir())])
    assert json.loads(res.stdout)["sum"] == int(truth.sum(dtype=np.int64))


def test_follow_symlinks(lazyvol_cli, tmp_path):
    truth = write_dicom_series(tmp_path / "real", (8, 6, 4))
    (tmp_path / "s").mkdir()
    for f in truth.files:
        (tmp_path / "s" / os.path.basename(f)).symlink_to(f)
    res = lazyvol_cli("info", tmp_path / "s", "--verbose")
    assert "--follow-symlinks" in res.stdout + res.stderr
    assert "follow_symlinks=True" not in res.stdout + res.stderr
    res = lazyvol_cli("info", tmp_path / "s", "--follow-symlinks", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["shape"] == [8, 6, 4]


def test_fill_takes_nan_for_float_output_and_refuses_it_for_integers(lazyvol_cli, tmp_path):
    # --fill nan was refused as "not a finite number" although lv.open(fill=nan) takes it for a
    # float series (and NaN is the default fill of float output): the API's check decides now.
    folder = tmp_path / "f"
    write_dicom_series(folder, (6, 6, 5), slope=0.5)  # (float32 output)
    sorted(folder.iterdir())[2].unlink()
    out = tmp_path / "g.nii"
    res = lazyvol_cli("convert", folder, out, "--allow-gaps", "--fill", "nan")
    assert res.returncode == 0, res.stderr
    assert np.isnan(np.asarray(nib.load(out).dataobj)[:, :, 2]).all()
    ints = tmp_path / "i"
    write_dicom_series(ints, (6, 6, 5))
    sorted(ints.iterdir())[2].unlink()
    res = lazyvol_cli("stats", ints, "--allow-gaps", "--fill", "nan")
    assert res.returncode == 2 and "--fill nan does not fit the output dtype int16" in res.stderr
