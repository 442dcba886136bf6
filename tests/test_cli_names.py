"""What the commands name: `lazyvol cache list` the absolute source of each Zarr entry (two
``a.nii`` in two folders, opened by the relative name, looked the same), `lazyvol stats` the
series ``--series`` picked in a folder (it printed only the folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

import lazyvol as lv
from lazyvol.cli import main
from lazyvol.testing import write_dicom_series, write_phantom_nifti

_SRC = str(Path(__file__).resolve().parents[1] / "src")
_UTF8 = {"SpecificCharacterSet": "ISO_IR 192"}


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("LAZYVOL_CACHE_DIR", str(d))
    return d


def test_cache_list_names_each_entry_by_its_absolute_source(
    tmp_path, cache_dir, monkeypatch, capsys
):
    for sub, seed in (("x", 1), ("y", 2)):
        (tmp_path / sub).mkdir()
        write_phantom_nifti(tmp_path / sub / "a.nii", (8, 6, 4), seed=seed)
        monkeypatch.chdir(tmp_path / sub)
        lv.open("a.nii", cache=True)
        vol = lv.open("a.nii", cache=True)  # read from the entry: its source as given still
        assert vol.data.name.startswith("lazyvol-zarr-") and vol.source == "a.nii"
    capsys.readouterr()
    assert main(["cache", "list", "--kind", "zarr", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["source"] for r in rows) == [
        str(tmp_path / "x" / "a.nii"),
        str(tmp_path / "y" / "a.nii"),
    ]


def test_stats_names_the_series_it_picked(tmp_path, capsys):
    write_dicom_series(tmp_path / "study" / "ct", (8, 8, 4), series_number=2, description="CT head")
    mr = write_dicom_series(
        tmp_path / "study" / "mr", (6, 6, 3), series_number=5, description="T1 sag", modality="MR"
    )
    ds = pydicom.dcmread(mr.files[0])
    assert main(["stats", "-q", str(tmp_path / "study"), "--series", "T1 sag"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(str(tmp_path / "study"))
    assert lines[1].split() == ["series", str(ds.SeriesNumber), *ds.SeriesDescription.split()]
    assert main(["stats", "-q", str(tmp_path / "study"), "--series", "5", "--json"]) == 0
    series = json.loads(capsys.readouterr().out)["series"]
    assert series["uid"] == ds.SeriesInstanceUID and series["number"] == ds.SeriesNumber
    assert series["description"] == ds.SeriesDescription and series["modality"] == ds.Modality


def test_text_from_files_cannot_act_on_the_terminal(tmp_path, capsys):
    # A description or a file name holding newlines, a terminal escape sequence (clear the
    # screen) or a right-to-left override is printed escaped: one table row per series, nothing
    # the terminal would act on; --json keeps the text itself.
    odd = "line one\nline two\x1b[2J\u202eevil"
    utf8 = {"SpecificCharacterSet": "ISO_IR 192"}
    write_dicom_series(
        tmp_path / "study" / "a", (6, 6, 3), series_number=2, description=odd, extra=utf8
    )
    write_dicom_series(
        tmp_path / "study" / "b", (6, 6, 3), series_number=3, description="plain", prefix="B"
    )
    (tmp_path / "study" / "notes\x1b[31m.txt").write_text("not dicom")
    assert main(["info", str(tmp_path / "study"), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    rows = [line for line in out.splitlines() if line.startswith("#")]
    assert len(rows) == 3  # the column header and one row per series
    assert not any(line.startswith("line two") for line in out.splitlines())
    assert "line one\\nline two" in out and "notes\\x1b[31m.txt" in out
    assert main(["info", str(tmp_path / "study" / "a")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    series = [line for line in out.splitlines() if line.startswith("series")]
    assert series == ["series          2  line one\\nline two\\x1b[2J\\u202eevil"]
    assert main(["info", str(tmp_path / "study"), "--series", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["series"]["description"] == odd


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
@pytest.mark.parametrize(
    "encoding",
    # (ascii:surrogateescape: Python's stdout under a C/POSIX locale without UTF-8 mode, which
    # wrote the name's bytes but failed with a traceback on the Greek description)
    ["utf-8:strict", "ascii", "latin-1", "ascii:surrogateescape", "latin-1:surrogateescape"],
)
def test_names_and_descriptions_the_stream_cannot_encode_do_not_crash(tmp_path, encoding):
    # Under a UTF-8 locale such as en_US.UTF-8 Python's stdout is strict: a Latin-1 file name
    # (a lone surrogate once decoded) raised UnicodeEncodeError with a traceback mid-table, and a
    # description in Greek did on an ASCII or Latin-1 stream. The name's own bytes are written;
    # other characters the stream cannot hold, as escapes.
    folder = tmp_path / "study"
    write_dicom_series(folder / "a", (6, 6, 3), description="\u03b1\u03b2 T1", extra=_UTF8)
    raw = os.fsencode(folder) + b"/M\xfcller.dcm"
    with open(raw, "wb") as f:
        f.write(b"")  # an empty file, named in the skipped list
    env = {**os.environ, "PYTHONIOENCODING": encoding, "LAZYVOL_CACHE_DIR": str(tmp_path / "c")}
    env["PYTHONPATH"] = os.pathsep.join([_SRC, env.get("PYTHONPATH", "")])
    for args in (["info", str(folder), "-v"], ["info", os.fsdecode(raw)]):
        r = subprocess.run(
            [sys.executable, "-m", "lazyvol", *args], env=env, capture_output=True, timeout=120
        )
        assert b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
        if len(args) == 3:  # the folder: its table, the empty file listed by its own bytes
            assert r.returncode == 0 and raw in r.stdout
        else:  # the empty file alone: a one-line error naming it
            assert r.returncode == 2 and b"ller.dcm: empty file" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "lazyvol", "info", str(folder / "a")],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr
    description = "\u03b1\u03b2 T1".encode(encoding.split(":")[0], "backslashreplace")
    assert description in r.stdout


def test_status_column_gives_the_refusal_not_a_file_name(tmp_path, capsys):
    # A refusal opening with "ImagePositionPatient (0020,0032) / ImageOrientationPatient
    # (0020,0037) missing ... in 1 file(s): PATH" was taken for one opening with a file name
    # (its " / "): the status column showed "refused: PATH".
    write_dicom_series(tmp_path / "study" / "a", (6, 6, 3), series_number=2)
    b = write_dicom_series(tmp_path / "study" / "b", (6, 6, 3), series_number=3, prefix="B")
    for path in b.files:
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    assert main(["info", str(tmp_path / "study"), "--json"]) == 0
    refused = next(s for s in json.loads(capsys.readouterr().out)["series"] if s["number"] == 3)
    assert refused["error"].startswith("ImagePositionPatient (0020,0032) / ")
    assert refused["status"].startswith(
        "refused: ImagePositionPatient / ImageOrientationPatient missing"
    )


def test_status_column_says_what_is_wrong_past_tags_and_asides(tmp_path, capsys):
    # The short reason was cut at the first " (": a refusal naming its attribute with the tag,
    # "PixelSpacing (0028,0030) = [0.0, 0.7]: spacings must be finite and positive", showed
    # "refused: PixelSpacing" (nothing said what was wrong with it), and "colour images
    # (SamplesPerPixel ...) are not supported yet" showed "refused: colour images".
    write_dicom_series(tmp_path / "s" / "a", (6, 6, 3), series_number=2)
    write_dicom_series(
        tmp_path / "s" / "b", (6, 6, 3), series_number=3, extra={"PixelSpacing": [0, 0.7]}
    )
    c = write_dicom_series(tmp_path / "s" / "c", (6, 6, 1), series_number=4, prefix="C")
    ds = pydicom.dcmread(c.files[0])
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(6 * 6 * 3)
    ds.save_as(c.files[0])
    assert main(["info", str(tmp_path / "s"), "--json"]) == 0
    status = {r["number"]: r["status"] for r in json.loads(capsys.readouterr().out)["series"]}
    assert status[3].startswith("refused: PixelSpacing = [0.0, 0.7]: spacings must be"), status
    assert status[4].startswith("refused: colour images are not supported"), status
    assert "(0028," not in status[3] + status[4]


def test_json_of_a_one_volume_folder_always_has_its_skipped_list(tmp_path, capsys):
    # "skipped" and "skipped_by_reason" were there only when a file was skipped: a script
    # reading doc["skipped"] worked on a messy folder and failed (KeyError) on a clean one.
    write_dicom_series(tmp_path / "clean", (6, 6, 3))
    assert main(["info", str(tmp_path / "clean"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["skipped"] == [] and doc["skipped_by_reason"] == {}
    (tmp_path / "clean" / "notes.txt").write_text("not dicom")
    assert main(["info", str(tmp_path / "clean"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [os.path.basename(p) for p, _ in doc["skipped"]] == ["notes.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-le"])
def test_a_non_utf8_name_on_a_utf16_stream_is_escaped(tmp_path, encoding):
    # 42c58a4 wrote a lone surrogate back as the name's own byte, which the UTF-16 and UTF-32
    # encoders refuse (a byte alone is no code unit of theirs): UnicodeEncodeError traceback.
    folder = tmp_path / "study"
    write_dicom_series(folder / "a", (6, 6, 3))
    with open(os.fsencode(folder) + b"/M\xfcller.dcm", "wb") as f:
        f.write(b"")
    env = {**os.environ, "PYTHONIOENCODING": encoding, "LAZYVOL_CACHE_DIR": str(tmp_path / "c")}
    env["PYTHONPATH"] = os.pathsep.join([_SRC, env.get("PYTHONPATH", "")])
    r = subprocess.run(
        [sys.executable, "-m", "lazyvol", "info", str(folder), "-v"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr.decode(errors="replace")
    assert "M\\udcfcller.dcm" in r.stdout.decode(encoding)


def test_json_of_a_series_picked_in_a_folder_has_its_skipped_list(tmp_path, capsys):
    # f9e0d9c put "skipped" / "skipped_by_reason" in every --json of a scanned folder but the
    # one --series picks: a script reading doc["skipped"] failed (KeyError) with --series.
    write_dicom_series(tmp_path / "s" / "a", (6, 6, 3), series_number=1)
    write_dicom_series(tmp_path / "s" / "b", (6, 6, 2), series_number=2)
    (tmp_path / "s" / "notes.txt").write_text("not dicom")
    assert main(["info", str(tmp_path / "s"), "--series", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["series"]["number"] == 2 and doc["shape"][2] == 2
    assert [os.path.basename(p) for p, _ in doc["skipped"]] == ["notes.txt"]
    assert doc["skipped_by_reason"] and sum(doc["skipped_by_reason"].values()) == 1


def test_a_series_without_series_number_is_no_none(tmp_path, capsys):
    # info --series and stats printed "series   None  T1" for a series stating no SeriesNumber
    # (0020,0011), Python's None where the table leaves the cell empty.
    t = write_dicom_series(tmp_path / "s" / "a", (6, 6, 3), description="T1")
    write_dicom_series(tmp_path / "s" / "b", (6, 6, 3), series_number=4, prefix="B", seed=1)
    for path in t.files:
        ds = pydicom.dcmread(path)
        del ds.SeriesNumber
        ds.save_as(path)
    for argv in (["info"], ["stats", "-q"]):
        assert main([*argv, str(tmp_path / "s"), "--series", "T1"]) == 0
        out = capsys.readouterr().out
        line = next(ln for ln in out.splitlines() if ln.startswith("series "))
        assert line.split() == ["series", "-", "T1"], out
