"""The per-volume lists of ``meta`` follow a cut along the 4th axis, as ``meta["axis4_values"]``.

``vol[..., ::-1]`` and ``vol[..., 1:]`` of a DWI kept the whole series' diffusion table in
``meta["diffusion"]`` (its ``derived_volumes`` named a source volume, out of range after
``[..., 1:]``), and the xarray ``bval`` coordinate took it as the volume's: each volume labelled
with another's b-value, also after a Zarr round trip. Compared with the generator's table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series
from lazyvol.zarr_integrity import seal_manifest
from lazyvol.zarr_meta import MANIFEST, MANIFEST_ATTR, PER_VOLUME_ATTR, group_hashes

SHAPE = (8, 6, 3)
# volume 3: b = 1000 with no direction, a derived (trace) image; volume 0: b = 0
BVALS = [0.0, 1000.0, 2000.0, 1000.0, 3000.0]
BVECS = [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 0), (0, 0, 1)]
DERIVED = [3]
CUTS = [np.s_[..., ::-1], np.s_[..., 1:], np.s_[..., 4::-2], np.s_[..., 2:4], np.s_[..., 3]]
IDS = ["::-1", "1:", "4::-2", "2:4", "3"]


@pytest.fixture(scope="module")
def dwi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    src = tmp_path_factory.mktemp("dwi") / "s"
    truth = write_dicom_4d_series(src, SHAPE, labels=(), bvals=BVALS, bvecs=BVECS)
    return src, truth


def _picked(cut: tuple) -> list[int]:
    """The source volumes ``vol[cut]`` holds, by numpy."""
    picked = np.arange(len(BVALS))[cut[1]]
    return [int(t) for t in np.atleast_1d(picked)]


def _expect_table(diffusion: dict[str, Any], src: list[int], truth: Any) -> None:
    np.testing.assert_array_equal(diffusion["bvals"], [truth.meta["bvals"][t] for t in src])
    np.testing.assert_allclose(diffusion["gradients_lps"], [truth.meta["bvecs"][t] for t in src])
    derived = [n for n, t in enumerate(src) if t in DERIVED]
    assert diffusion.get("derived_volumes", []) == derived


@pytest.mark.parametrize("cut", CUTS, ids=IDS)
def test_cut_meta_holds_the_diffusion_table_of_its_volumes(dwi, cut) -> None:
    src_dir, truth = dwi
    with pytest.warns(RuntimeWarning, match="derived diffusion"):
        vol = lv.open(src_dir)
    assert vol.meta["diffusion"]["derived_volumes"] == DERIVED
    sub = vol[cut]
    src = _picked(cut)
    np.testing.assert_array_equal(sub.compute(), truth.stored[..., src].reshape(sub.shape))
    _expect_table(sub.meta["diffusion"], src, truth)
    # a cut of a cut
    if sub.ndim > 3 and sub.shape[3] > 1:
        _expect_table(sub[..., ::-1].meta["diffusion"], src[::-1], truth)
    # the source's meta is untouched
    np.testing.assert_array_equal(vol.meta["diffusion"]["bvals"], BVALS)


@pytest.mark.parametrize("cut", CUTS[:3], ids=IDS[:3])
def test_xarray_bval_follows_the_cut_also_through_a_store(dwi, cut, tmp_path) -> None:
    pytest.importorskip("xarray")
    src_dir, truth = dwi
    with pytest.warns(RuntimeWarning, match="derived diffusion"):
        sub = lv.open(src_dir)[cut]
    expected = [truth.meta["bvals"][t] for t in _picked(cut)]
    np.testing.assert_array_equal(sub.to_xarray().coords["bval"].values, expected)
    sub.to_zarr(tmp_path / "cut.zarr")
    back = lv.open(tmp_path / "cut.zarr")
    np.testing.assert_array_equal(back.to_xarray().coords["bval"].values, expected)
    _expect_table(back.meta["diffusion"], _picked(cut), truth)


def _as_older_lazyvol(store: Path, diffusion: dict[str, Any]) -> None:
    """Rewrite ``store`` as an older lazyvol wrote a cut volume: the source's diffusion table in
    its meta, no :data:`PER_VOLUME_ATTR`; the manifest's group hashes updated and
    sealed again."""
    group = store / "zarr.json"
    doc = json.loads(group.read_text())
    attrs = doc["attributes"]["lazyvol"]
    del attrs[PER_VOLUME_ATTR]
    attrs["meta"]["diffusion"] = diffusion
    raw = json.dumps(doc, indent=2).encode()
    group.write_bytes(raw)
    manifest_path = store / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    sealed = {
        k: v for k, v in manifest["attributes"][MANIFEST_ATTR].items() if k != "manifest_sha256"
    }
    manifest["attributes"][MANIFEST_ATTR] = seal_manifest({**sealed, **group_hashes(raw)})
    manifest_path.write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize(
    "cut", [np.s_[..., ::-1], np.s_[..., 1:], np.s_[..., 3]], ids=["::-1", "1:", "3"]
)
def test_a_store_of_an_older_lazyvol_gets_the_table_of_its_volumes(dwi, cut, tmp_path) -> None:
    """Such a store holds the source's table with the source index of its volumes: the table is
    taken at them at open (read as the volume's, a reversed series' b-values ran backwards)."""
    src_dir, truth = dwi
    with pytest.warns(RuntimeWarning, match="derived diffusion"):
        vol = lv.open(src_dir)
    vol[cut].to_zarr(tmp_path / "old.zarr")
    _as_older_lazyvol(tmp_path / "old.zarr", vol.meta["diffusion"])
    back = lv.open(tmp_path / "old.zarr")
    _expect_table(back.meta["diffusion"], _picked(cut), truth)
    back.to_nifti(tmp_path / "old.nii")
    bval = np.atleast_1d(np.loadtxt(tmp_path / "old.bval"))
    np.testing.assert_array_equal(bval, [truth.meta["bvals"][t] for t in _picked(cut)])


# Multi-echo: write_dicom_4d_series gives echo e (EchoNumbers e + 1) EchoTime 30 + 15 e ms.
ECHO_MS = [30.0, 45.0, 60.0]


@pytest.fixture(scope="module")
def echoes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("me") / "me"
    write_dicom_4d_series(src, SHAPE, 1, echoes=3, labels=())
    return src


def _echo_meta(meta: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    bids = meta.get("bids", {})
    return (
        meta.get("echo_times"),
        meta.get("echo_numbers"),
        bids.get("EchoTime"),
        bids.get("EchoNumber"),
    )


@pytest.mark.parametrize(
    ("cut", "picks"),
    [
        (np.s_[..., 1], [1]),
        (np.s_[..., 2:3], [2]),
        (np.s_[..., ::-2], [2, 0]),
        (np.s_[..., :], [0, 1, 2]),
    ],
    ids=["1", "2:3", "::-2", ":"],
)
def test_cut_meta_lists_the_echoes_it_holds(tmp_path, cut, picks) -> None:
    """A 4D volume of echoes (an enhanced file's: single-frame echoes are a volume each, h201)."""
    from lazyvol.testing import write_enhanced_dicom

    write_enhanced_dicom(tmp_path / "me.dcm", SHAPE, n_volumes=3, volume_tag="EffectiveEchoTime")
    ds = pydicom.dcmread(tmp_path / "me.dcm", stop_before_pixels=True)
    frames = ds.PerFrameFunctionalGroupsSequence
    written = sorted({float(f.MREchoSequence[0].EffectiveEchoTime) for f in frames})
    got = _echo_meta(lv.open(tmp_path / "me.dcm")[cut].meta)
    one = len(picks) == 1
    assert got == (
        sorted(written[p] for p in picks),
        sorted(p + 1 for p in picks),
        written[picks[0]] / 1000 if one else None,
        picks[0] + 1 if one else None,
    )


def test_split_4d_volume_meta_is_its_echo(echoes, tmp_path) -> None:
    """Each ``split_4d`` volume's meta and sidecar give its own echo, as the files say (pydicom);
    its echo_times and bids EchoTime are those of a folder of that echo's files only."""
    import pydicom

    for row in range(3):
        vol = lv.open(echoes, split_4d=True, series=f"#{row}", use_index=False)
        ds = pydicom.dcmread(vol.meta["files"][0], stop_before_pixels=True)
        te, number = float(ds.EchoTime), int(ds.EchoNumbers)
        assert (te, number) == (ECHO_MS[row], row + 1)
        assert _echo_meta(vol.meta) == ([te], [number], te / 1000, number)
        vol.to_nifti(tmp_path / f"e{row}.nii")
        doc = json.loads((tmp_path / f"e{row}.json").read_text())
        assert (doc["EchoTime"], doc["EchoNumber"]) == (te / 1000, number)
        alone = tmp_path / f"alone{row}"
        alone.mkdir()
        for f in echoes.iterdir():
            if int(pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers) == number:
                (alone / f.name).write_bytes(f.read_bytes())
        single = lv.open(alone, use_index=False).meta
        assert _echo_meta(single)[:3] == _echo_meta(vol.meta)[:3]
