"""A one-file-per-slice 4D series whose acquisition was interrupted inside its last volume (some
positions hold one image more than the others, and those images are the series' latest) is
refused, as BAD_INPUTS.md asks of positions that repeat unevenly, with the cause and the remedy
named: the partial volume's files, and that the complete volumes open without them. A slice
missing inside the series keeps the usual causes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.testing import write_dicom_4d_series

pytestmark = pytest.mark.usefixtures("dicom_cache")


def _by_instance(folder: Path) -> list[Path]:
    files = sorted(folder.glob("*.dcm"))
    return sorted(
        files, key=lambda f: int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber)
    )


@pytest.mark.parametrize(
    "labels",
    [(), ("AcquisitionTime",), ("AcquisitionNumber",), ("TemporalPositionIdentifier",)],
    ids=["instance", "time", "acquisition", "temporal"],
)
def test_interrupted_last_volume_named(tmp_path: Path, labels: tuple[str, ...]) -> None:
    src = tmp_path / "in"
    write_dicom_4d_series(src, shape=(8, 6, 5), n_volumes=4, labels=labels)
    files = _by_instance(src)
    for f in files[-2:]:  # the last volume stopped after 3 of its 5 slices
        f.unlink()
    partial = files[-5:-2]
    with pytest.raises(lv.SeriesError) as e:
        lv.open(src, use_index=False)
    text = str(e.value)
    assert "the last volume is incomplete" in text and "3 complete volume(s)" in text, text
    assert all(str(f) in text for f in partial), text
    aside = tmp_path / "aside"
    aside.mkdir()
    for f in partial:
        shutil.move(f, aside / f.name)
    assert lv.open(src, use_index=False).shape == (8, 6, 5, 3)


@pytest.mark.parametrize("lost", [[7], [7, 8], [6, 13]], ids=["one", "adjacent", "apart"])
@pytest.mark.parametrize("numbering", ["volume", "position"])
def test_images_lost_inside_named_by_instance_number(
    tmp_path: Path, lost: list[int], numbering: str
) -> None:
    """Images lost from inside a one-file-per-slice 4D series (a GE fMRI with a file missing
    from the middle of the folder): the refusal named the usual causes (mixed acquisitions,
    PET beds) and told to move acquisitions into folders of their own, which cannot help. The
    InstanceNumbers the series skips (read back with pydicom), as many as the positions lack
    images, are now named, and the remedy is to restore them; nothing about an interrupted last
    volume."""
    write_dicom_4d_series(tmp_path, shape=(8, 6, 5), n_volumes=4, labels=(), numbering=numbering)
    files = _by_instance(tmp_path)
    gone = [int(pydicom.dcmread(files[n], stop_before_pixels=True).InstanceNumber) for n in lost]
    for n in lost:
        files[n].unlink()
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path, use_index=False)
    text = str(e.value)
    runs = f"{gone[0]}-{gone[1]}" if gone[1:] == [gone[0] + 1] else ", ".join(map(str, gone))
    assert f"InstanceNumber (0020,0013) skips {runs}: " in text and "restore them" in text, text
    assert "last volume is incomplete" not in text and "mixed acquisitions" not in text, text


def test_uneven_positions_without_a_numbering_gap_keep_the_usual_causes(tmp_path: Path) -> None:
    """An image missing whose number another image took (renumbered after the loss): no gap, so
    no image is named lost; the usual causes stay."""
    write_dicom_4d_series(tmp_path, shape=(8, 6, 5), n_volumes=4, labels=())
    files = _by_instance(tmp_path)
    files[7].unlink()
    for n, f in enumerate(files[8:], start=8):  # numbers 8.. moved down by one: no gap
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = n
        ds.save_as(f)
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path, use_index=False)
    assert "missing images, or mixed acquisitions" in str(e.value)
    assert "inside the series" not in str(e.value)


@pytest.mark.parametrize(
    "labels", [(), ("AcquisitionNumber",), ("TemporalPositionIdentifier",)], ids=str
)
def test_first_images_lost_are_not_called_an_interrupted_last_volume(
    tmp_path: Path, labels: tuple[str, ...]
) -> None:
    """The first volume's first two images lost (InstanceNumber 1-2) look, ranked by number, as
    a last volume cut short: its remedy (move the latest images out) then opened volumes mixing
    slices of two acquisitions. A volume label, or InstanceNumbers starting past 1, now keep the
    usual causes."""
    write_dicom_4d_series(tmp_path, shape=(8, 6, 5), n_volumes=4, labels=labels)
    for f in _by_instance(tmp_path)[:2]:
        f.unlink()
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path, use_index=False)
    text = str(e.value)
    assert "last volume is incomplete" not in text and "missing images" in text, text


@pytest.mark.parametrize("label", ["TemporalPositionIdentifier", "AcquisitionNumber"])
@pytest.mark.parametrize("lost", ["last", "earlier"])
def test_slice_by_slice_numbering_interrupted_last_volume_named(
    tmp_path: Path, label: str, lost: str
) -> None:
    """InstanceNumbers that run slice by slice (position-major, as Philips exports number them):
    the last volume's missing images leave gaps inside the numbering, which were taken for an
    earlier volume's lost image, so the interrupted acquisition went unnamed. A volume label
    stated by every image saying the earlier volumes are whole now names it; an earlier
    volume's image lost still gives the usual causes."""
    nv, nk = 4, 5
    truth = write_dicom_4d_series(tmp_path, shape=(8, 6, nk), n_volumes=nv, labels=(label,))
    by_key = {}
    for f in truth.files:
        ds = pydicom.dcmread(f)
        k = round(float(ds.ImagePositionPatient[2]), 3)
        by_key.setdefault(k, []).append((int(getattr(ds, label)), f))  # (volume order)
    for s, k in enumerate(sorted(by_key)):
        for v, (_, f) in enumerate(sorted(by_key[k])):
            ds = pydicom.dcmread(f)
            ds.InstanceNumber = s * nv + v + 1  # position-major
            ds.save_as(f)
    slots = [sorted(by_key[k])[nv - 1 if lost == "last" else 1][1] for k in sorted(by_key)[-2:]]
    for f in slots:
        Path(f).unlink()
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path, use_index=False)
    text = str(e.value)
    if lost == "earlier":
        assert "last volume is incomplete" not in text and "missing images" in text, text
        return
    assert "the last volume is incomplete" in text and "3 complete volume(s)" in text, text
    partial = [sorted(by_key[k])[nv - 1][1] for k in sorted(by_key)[:-2]]
    assert all(str(f) in text for f in partial), text


def test_interrupted_enhanced_file_is_not_told_to_move_its_frames(tmp_path: Path) -> None:
    """An enhanced 4D file cut inside its last volume (its frames of the partial volume and of
    the complete ones in one file): the refusal said to move the partial volume's images out of
    the folder, which would move the whole file; it says they are frames of that file."""
    from lazyvol.testing import write_enhanced_dicom

    path = tmp_path / "in" / "e.dcm"
    write_enhanced_dicom(path, (8, 6, 5), n_volumes=3)
    ds = pydicom.dcmread(path)
    size = len(ds.PixelData) // ds.NumberOfFrames
    keep = 2 * 5 + 3  # (the last volume stopped after 3 of its 5 slices)
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:keep]
    ds.NumberOfFrames, ds.PixelData = keep, ds.PixelData[: keep * size]
    ds.save_as(path)
    with pytest.raises(lv.SeriesError) as e:
        lv.open(tmp_path / "in")
    message = str(e.value)
    assert "the last volume is incomplete" in message
    assert f"they are frames of {path}" in message and "out of the folder to open" not in message
