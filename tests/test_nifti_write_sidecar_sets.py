"""The sidecar set of a NIfTI write is the name's, whatever else is in the folder: the file behind
a link has its set too, ``.nii`` and ``.nii.gz`` of one stem share one, ``<name>_aslcontext.tsv``
is ``<name>_asl``'s; and a failed or killed overwrite leaves the old set or the new one."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
import lazyvol._fileset as fileset
import lazyvol.nifti_write as nifti_write
from lazyvol.errors import WriteError
from test_nifti_write_sidecars import _dwi, _nifti, _t1

DWI_SET = {"out.nii", "out.json", "out.bval", "out.bvec"}


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder``, hidden ones too, with its bytes."""
    return {n: (folder / n).read_bytes() for n in os.listdir(folder)}


def test_overwrite_through_a_link_replaces_the_set_of_the_file_it_names(tmp_path):
    """The image behind the link was replaced but its .bval/.bvec/.json stayed beside it."""
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "sub-01_dwi.nii.gz"
    lv.open(_dwi(tmp_path)).to_nifti(real)
    link = tmp_path / "current.nii.gz"
    link.symlink_to(real)
    src, truth = _t1(tmp_path)
    with pytest.raises(WriteError, match="file exists"):
        lv.open(src).to_nifti(link)
    lv.open(src).to_nifti(link, overwrite=True)
    assert sorted(os.listdir(tmp_path / "data")) == ["sub-01_dwi.nii.gz"]
    assert (tmp_path / "current.json").exists() and link.is_symlink()
    np.testing.assert_array_equal(np.asarray(nib.load(real).dataobj), truth)


def test_a_stale_sidecar_behind_a_link_is_refused_without_overwrite(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.bval").write_text("0 1000\n")
    link = tmp_path / "current.nii"
    link.symlink_to(tmp_path / "data" / "x.nii")  # (to nothing yet)
    src, _truth = _t1(tmp_path)
    with pytest.raises(WriteError, match=r"x\.bval: sidecar file exists.*the link names"):
        lv.open(src).to_nifti(link)
    lv.open(src).to_nifti(link, overwrite=True)
    assert sorted(os.listdir(tmp_path / "data")) == ["x.nii"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("out.nii", "out.nii.gz"),
        ("out.nii.gz", "out.nii"),
        # suffixes differing in case only (h92: the T1 replaced the DWI's set beside OUT.NII.GZ)
        ("out.NII.GZ", "out.nii"),
        ("out.NII.GZ", "out.nii.gz"),
        ("out.Nii", "out.nii"),
    ],
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_the_other_extension_of_the_stem_is_refused(tmp_path, first, second, overwrite):
    """out.nii (a DWI) and out.nii.gz share out.json/.bval/.bvec: a T1 written to out.nii.gz
    with overwrite=True deleted the DWI's table and replaced its JSON."""
    out = tmp_path / "o"
    out.mkdir()
    lv.open(_dwi(tmp_path)).to_nifti(out / first)
    before = _files(out)
    src, truth = _t1(tmp_path)
    with pytest.raises(WriteError, match=rf"{first}: another image.*sidecars=False"):
        lv.open(src).to_nifti(out / second, overwrite=overwrite)
    assert _files(out) == before
    lv.open(src).to_nifti(out / second, overwrite=overwrite, sidecars=False)
    assert _files(out).keys() == {*before, second}
    assert all((out / n).read_bytes() == b for n, b in before.items())
    np.testing.assert_array_equal(np.asarray(nib.load(out / second).dataobj), truth)


@pytest.mark.parametrize(
    ("first", "second", "asl"),
    [
        ("out.nii", "out.nii.gz", False),
        ("out.nii.gz", "out.NII", False),
        ("sub-01_asl.nii", "sub-01.nii", True),  # (sub-01_aslcontext.tsv is sub-01_asl's)
    ],
)
@pytest.mark.parametrize("first_sidecars", [True, False])
def test_an_image_sharing_the_sidecars_published_during_the_write_is_refused(
    tmp_path, monkeypatch, first, second, asl, first_sidecars
):
    """Two writers at once of names sharing the sidecars (out.nii, out.nii.gz): each checked the
    other's image was absent before writing, then the later one replaced the earlier one's
    sidecars under the lock (a DWI out.nii left beside the T1's out.json, its .bval/.bvec
    deleted; both writes returned). The check is made again under the folders' lock."""
    out = tmp_path / "o"
    out.mkdir()
    second_vol = _asl(tmp_path) if asl else lv.open(_t1(tmp_path)[0])
    real, calls = nifti_write._publish, []

    def first_publishes_meanwhile(*args, **kwargs):
        if not calls:  # (the other writer runs whole between this one's check and its publish)
            calls.append(1)
            vol = _asl(tmp_path) if asl else lv.open(_dwi(tmp_path))
            vol.to_nifti(out / first, sidecars=first_sidecars)
        return real(*args, **kwargs)

    monkeypatch.setattr(nifti_write, "_publish", first_publishes_meanwhile)
    with pytest.raises(WriteError, match=rf"{re.escape(first)}: another image.*sidecars=False"):
        second_vol.to_nifti(out / second, overwrite=True)
    monkeypatch.setattr(nifti_write, "_publish", real)
    alone = tmp_path / "alone"  # (the first writer's set, written with no other writer)
    alone.mkdir()
    (_asl(tmp_path) if asl else lv.open(_dwi(tmp_path))).to_nifti(
        alone / first, sidecars=first_sidecars
    )
    assert _files(out) == _files(alone)


def test_a_stem_spelled_otherwise_has_its_own_set(tmp_path):
    """OUT.nii.gz beside out.nii: other sidecar names (OUT.json), so no refusal (a file system
    that tells the names apart)."""
    lv.open(_dwi(tmp_path)).to_nifti(tmp_path / "out.nii")
    src, _truth = _t1(tmp_path)
    lv.open(src).to_nifti(tmp_path / "OUT.nii.gz")
    assert (tmp_path / "OUT.json").exists() and (tmp_path / "out.bval").exists()


def _asl(tmp_path: Path) -> lv.Volume:
    vol = lv.open(_dwi(tmp_path))
    vol.meta.setdefault("axis4_values", {})["ASLContext"] = ["label", "control", "label"]
    return vol


def test_the_asl_context_of_name_asl_is_not_the_set_of_name(tmp_path):
    """sub-01_aslcontext.tsv is sub-01_asl.nii's: a write to sub-01.nii was refused, or with
    overwrite=True deleted it."""
    out = tmp_path / "o"
    out.mkdir()
    _asl(tmp_path).to_nifti(out / "sub-01_asl.nii")
    context = (out / "sub-01_aslcontext.tsv").read_text()
    assert context.split() == ["volume_type", "label", "control", "label"]
    src, truth = _t1(tmp_path)
    for overwrite in (False, True):
        lv.open(src).to_nifti(out / "sub-01.nii", overwrite=overwrite)
        assert (out / "sub-01_aslcontext.tsv").read_text() == context
    np.testing.assert_array_equal(np.asarray(nib.load(out / "sub-01.nii").dataobj), truth)
    # an ASL volume written to sub-01.nii would write sub-01_asl.nii's context file: refused
    with pytest.raises(WriteError, match=r"sub-01_asl\.nii: another image"):
        _asl(tmp_path).to_nifti(out / "sub-01.nii", overwrite=True)
    assert (out / "sub-01_aslcontext.tsv").read_text() == context


@pytest.mark.parametrize("other", ["sub-01.nii", "sub-01.NII.GZ"])
def test_the_asl_context_an_asl_image_named_name_wrote_is_not_taken_by_name_asl(tmp_path, other):
    """An ASL volume written as sub-01.nii (no sub-01_asl.nii then) wrote sub-01_aslcontext.tsv; a
    write to sub-01_asl.nii with overwrite=True replaced it with its own label/control order, or
    (a volume without ASL context) deleted it: sub-01.nii left described by another's file."""
    out = tmp_path / "o"
    out.mkdir()
    _asl(tmp_path).to_nifti(out / "sub-01.nii")
    os.rename(out / "sub-01.nii", out / other)
    before = _files(out)
    assert before["sub-01_aslcontext.tsv"].split() == [
        b"volume_type",
        b"label",
        b"control",
        b"label",
    ]
    src, truth = _t1(tmp_path)
    flipped = _asl(tmp_path)
    flipped.meta["axis4_values"]["ASLContext"] = ["control", "label", "control"]
    for vol in (flipped, lv.open(src)):
        with pytest.raises(WriteError, match=rf"{re.escape(other)}: another image"):
            vol.to_nifti(out / "sub-01_asl.nii", overwrite=True)
        assert _files(out) == before
    # sidecars=False leaves the file alone; once sub-01_asl.nii exists, the context is its own
    lv.open(src).to_nifti(out / "sub-01_asl.nii", sidecars=False)
    np.testing.assert_array_equal(np.asarray(nib.load(out / "sub-01_asl.nii").dataobj), truth)
    assert (out / "sub-01_aslcontext.tsv").read_bytes() == before["sub-01_aslcontext.tsv"]


@pytest.mark.parametrize("second", ["t1", "dwi", "nifti"])
def test_an_overwrite_of_name_removes_the_labels_its_asl_image_wrote(tmp_path, second):
    """An ASL volume written as sub.nii (no sub_asl.nii) wrote sub_aslcontext.tsv, which an
    overwrite of sub.nii by a volume without ASL context left beside the new image (the old
    image's label/control order, as a DWI's .bval would be, which the overwrite removes), and
    then a write of sub_asl.nii was refused for 'another image' sub.nii. The file is sub.nii's
    set's while no sub_asl image is there: removed with it; kept once sub_asl.nii exists."""
    out = tmp_path / "o"
    out.mkdir()
    _asl(tmp_path).to_nifti(out / "sub.nii")
    assert (out / "sub_aslcontext.tsv").exists()
    src, truth = _t1(tmp_path)
    vol = {"t1": lambda: lv.open(src), "dwi": lambda: lv.open(_dwi(tmp_path))}.get(
        second, lambda: lv.open(_nifti(tmp_path)[0])
    )()
    vol.to_nifti(out / "sub.nii", overwrite=True)
    want = {"t1": {"sub.json"}, "dwi": {"sub.json", "sub.bval", "sub.bvec"}, "nifti": set()}
    assert set(os.listdir(out)) == {"sub.nii", *want[second]}
    lv.open(src).to_nifti(out / "sub_asl.nii")  # (refused before: sub.nii 'another image')
    np.testing.assert_array_equal(np.asarray(nib.load(out / "sub_asl.nii").dataobj), truth)
    # an ASL image of sub_asl's name beside: the labels are its, kept by an overwrite of sub.nii
    os.remove(out / "sub_asl.nii")
    os.remove(out / "sub_asl.json")
    _asl(tmp_path).to_nifti(out / "sub.nii", overwrite=True)
    lv.open(src).to_nifti(out / "sub_asl.NII", sidecars=False)
    lv.open(src).to_nifti(out / "sub.nii", overwrite=True)
    assert (out / "sub_aslcontext.tsv").exists()


@pytest.mark.parametrize("sibling", ["sub-01_asl.NII.GZ", "sub-01_asl.Nii", "sub-01_asl.nii.GZ"])
def test_the_asl_sibling_with_a_suffix_in_another_case_is_refused(tmp_path, sibling):
    """sub-01_asl.NII.GZ has sub-01_aslcontext.tsv too: an ASL volume written to sub-01.nii with
    overwrite=True replaced it (only sub-01_asl.nii[.gz] were looked for; h94)."""
    out = tmp_path / "o"
    out.mkdir()
    _asl(tmp_path).to_nifti(out / "sub-01_asl.nii")
    os.rename(out / "sub-01_asl.nii", out / sibling)
    if (out / "sub-01_asl.nii").exists():
        pytest.skip("a file system that ignores case")
    before = _files(out)
    with pytest.raises(WriteError, match=rf"{re.escape(sibling)}: another image"):
        _asl(tmp_path).to_nifti(out / "sub-01.nii", overwrite=True)
    assert _files(out) == before


def test_one_write_lists_the_folder_once_for_the_images_sharing_its_sidecars(tmp_path, monkeypatch):
    """The images whose suffix differs in case were looked for by listing the folder once per
    name (the other extension's, the name's own): twice a write."""
    import sys

    real, count = os.listdir, [0]

    def listdir(path="."):
        # (the listing is _fileset.listed_names', asked by sidecar.py)
        caller = sys._getframe(1).f_code.co_name == "listed_names" and sys._getframe(2)
        count[0] += bool(caller) and caller.f_code.co_filename.endswith("sidecar.py")
        return real(path)

    _asl(tmp_path).to_nifti(tmp_path / "x.nii")
    monkeypatch.setattr(os, "listdir", listdir)
    _asl(tmp_path).to_nifti(tmp_path / "x.nii", overwrite=True)
    assert count[0] == 2  # (before writing, and again under the folders' lock before publishing)


@pytest.mark.parametrize("overwrite", [False, True])
def test_one_write_lists_its_folder_a_few_times_not_once_a_file(tmp_path, monkeypatch, overwrite):
    """A DWI written to a new name listed its folder 34 times (the recovery of a killed write:
    three listings for each of five names, then a sweep of each name; the sweeps before
    publishing, once per sidecar), 11 times for an overwrite: a folder of many files made each
    write slow. The recovery, the sweep and the look for images sharing the sidecars each list
    it once (the look for those images twice: before writing and under the lock)."""
    real, count = os.listdir, [0]

    def listdir(path="."):
        count[0] += os.path.abspath(path) == str(tmp_path / "o")
        return real(path)

    (tmp_path / "o").mkdir()
    vol = lv.open(_dwi(tmp_path))
    if overwrite:
        vol.to_nifti(tmp_path / "o" / "out.nii")
    monkeypatch.setattr(os, "listdir", listdir)
    vol.to_nifti(tmp_path / "o" / "out.nii", overwrite=overwrite)
    assert count[0] <= 7
    assert sorted(os.listdir(tmp_path / "o")) == sorted(DWI_SET)


_CALLS = ("replace", "rename", "link", "unlink")


class _Killed(BaseException):
    """Stands for SIGKILL: nothing of the writer's clean-up runs (patched out below)."""


def _fail_at(monkeypatch, n: int, error: BaseException, names=_CALLS) -> list[int]:
    """Raise ``error`` instead of the ``n``-th call of os.<names>; returns the call count."""
    count = [0]
    for name in names:
        real = getattr(os, name)

        def call(*args, _real=real, **kwargs):
            count[0] += 1
            if count[0] == n:
                raise error
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, call)
    return count


def _kill_steps(tmp_path: Path, name: str = "{n}/o") -> Iterator[tuple[int, Path]]:
    """``(n, out)`` for n = 1, 2, ...: the step a writer is to be killed at and a new folder
    ``tmp_path / name.format(n=n)`` to write in (the loop ends when a write was not killed)."""
    for n in itertools.count(1):
        out = tmp_path / name.format(n=n)
        out.mkdir(parents=True)
        yield n, out


def _killed_overwrite(monkeypatch, n: int, vol: lv.Volume, dest: Path) -> list[int]:
    """Overwrite ``dest`` with ``vol``, the writer killed at the ``n``-th step of the publish and
    no clean-up run (as after a kill: no put-back, no drop, no unlink, the dead writer's locks
    gone); returns the step count (below ``n``: the write was not killed)."""
    with monkeypatch.context() as m:
        for name in ("put_back", "drop"):
            m.setattr(nifti_write, name, lambda *a: None)
        m.setattr(fileset, "put_back", lambda *a: None)
        m.setattr(fileset, "_lock", lambda path: None)
        m.setattr(nifti_write, "_unlink_quiet", lambda path: None)
        count = _fail_at(m, n, _Killed())
        try:
            vol.to_nifti(dest, overwrite=True)
        except _Killed:
            pass
    return count


def _other_asl(folder: Path) -> lv.Volume:
    """An ASL volume of other labels than :func:`_asl`'s (control, label, control), stored as
    float32, which tells its image from the old one's."""
    vol = lv.open(_dwi(folder), dtype="float32")
    vol.meta.setdefault("axis4_values", {})["ASLContext"] = ["control", "label", "control"]
    return vol


def _assert_the_images_labels(out: Path, image: Path, n: int) -> None:
    """``out/sub_aslcontext.tsv`` holds the labels of the ASL image ``image`` in place: the old
    one's (:func:`_asl`) or the new one's (:func:`_other_asl`), told apart by its stored type."""
    context = out / "sub_aslcontext.tsv"
    labels = context.read_text().split()[1:] if context.exists() else None
    old_image = nib.load(image).header.get_data_dtype() != np.float32
    want = ["label", "control", "label"] if old_image else ["control", "label", "control"]
    assert labels == want, n


def _sets(tmp_path: Path) -> tuple[Path, dict[str, bytes], lv.Volume, np.ndarray]:
    out = tmp_path / "o"
    out.mkdir()
    lv.open(_dwi(tmp_path)).to_nifti(out / "out.nii")
    assert set(os.listdir(out)) == DWI_SET
    src, truth = _t1(tmp_path)
    return out, _files(out), lv.open(src), truth


@pytest.mark.parametrize("error", [OSError(5, "simulated EIO"), KeyboardInterrupt()])
def test_a_failed_overwrite_leaves_the_old_set_or_the_new_one(tmp_path, monkeypatch, error):
    """A failure at any rename, link or fsync of the publish left the folder empty: the old image
    and sidecars were deleted before the new ones were renamed in; and an interrupt in the folder
    sync after a sidecar was linked in left that sidecar beside the old image put back (h85). (A
    failed link is retried as a rename, as publish_file does: then the write succeeds.)"""
    n = 0
    while True:
        n += 1
        base = tmp_path / str(n)
        base.mkdir()
        out, old, new_vol, truth = _sets(base)
        dwi = np.asarray(nib.load(out / "out.nii").dataobj)
        with monkeypatch.context() as m:
            count = _fail_at(m, n, error, ("replace", "rename", "link", "fsync"))
            try:
                new_vol.to_nifti(out / "out.nii", overwrite=True)
            except (WriteError, KeyboardInterrupt):
                assert _files(out) == old, n  # (no leftover either)
                np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii").dataobj), dwi)
                continue
        assert set(os.listdir(out)) == {"out.nii", "out.json"}, n
        np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii").dataobj), truth)
        if count[0] < n:
            break  # (every call was failed once)
    assert n > 5  # (links aside, links in, the image)


def test_a_killed_overwrite_is_finished_by_the_next_write(tmp_path, monkeypatch):
    """A writer killed at any step of the publish: the next write of the name puts the old set
    back when the new image was not published, else removes the old files set aside."""
    n = 0
    while True:
        n += 1
        base = tmp_path / str(n)
        base.mkdir()
        out, old, new_vol, truth = _sets(base)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "out.nii")
        if count[0] < n:
            break  # (not killed: every step was)
        published = (
            np.asarray(nib.load(out / "out.nii").dataobj).ndim == 3
            if (out / "out.nii").exists()
            else False
        )
        with pytest.raises(WriteError, match="file exists"):
            new_vol.to_nifti(out / "out.nii")  # (finishes the killed write, then is refused)
        if published:
            assert set(os.listdir(out)) == {"out.nii", "out.json"}, n
            np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii").dataobj), truth)
        else:
            assert _files(out) == old, n
    assert n > 6  # (links aside, removals, links in, the image)


@pytest.mark.parametrize("killed, then", [("out.nii", "out.nii.gz"), ("out.NII", "out.nii.gz")])
def test_a_killed_overwrite_is_finished_by_a_write_of_the_other_extension(
    tmp_path, monkeypatch, killed, then
):
    """A writer of out.nii killed at any step of the publish, then a write of out.nii.gz (which
    shares out.nii's sidecars): the recovery asked whether out.nii.gz was published, so it put the
    old DWI's .bval/.bvec/.json back beside the published new image (or removed its new sidecars),
    and, the new image not published, left the old image aside, put back later beside
    out.nii.gz's sidecars. Now the set is recovered by whether any image of it is published: the
    new set, or the old one exactly; the write of out.nii.gz is then refused (another image)."""
    for n, out in _kill_steps(tmp_path):
        lv.open(_dwi(out.parent)).to_nifti(out / killed)
        old = _files(out)
        src, truth = _t1(out.parent)
        new_vol = lv.open(src)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / killed)
        if count[0] < n:
            break  # (not killed: every step was)
        image = out / killed
        published = image.exists() and np.asarray(nib.load(image).dataobj).ndim == 3
        with pytest.raises(WriteError, match="another image"):
            new_vol.to_nifti(out / then, overwrite=True)
        shown = {k: v for k, v in _files(out).items() if not k.startswith(".")}
        if published:  # (the new set; leftovers of the name killed are that name's next write's)
            assert set(shown) == {killed, "out.json"}, n
            np.testing.assert_array_equal(np.asarray(nib.load(image).dataobj), truth)
        else:
            assert shown == old, n
    assert n > 6


def test_a_killed_overwrite_through_a_link_is_finished_by_the_next_write(tmp_path, monkeypatch):
    """out.nii -> real/out.nii overwritten, killed at any step: the link itself is no published
    image (the file it names is), so the next write puts the old set back, or keeps the new."""
    n = 0
    while True:
        n += 1
        out = tmp_path / str(n) / "o"
        (out / "real").mkdir(parents=True)
        lv.open(_dwi(out.parent)).to_nifti(out / "real" / "out.nii")
        (out / "out.nii").symlink_to("real/out.nii")
        old = _files(out / "real")
        src, truth = _t1(out.parent)
        new_vol = lv.open(src)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "out.nii")
        if count[0] < n:
            break  # (not killed: every step was)
        image = out / "real" / "out.nii"
        published = image.exists() and np.asarray(nib.load(image).dataobj).ndim == 3
        with pytest.raises(WriteError, match="file exists"):
            new_vol.to_nifti(out / "out.nii")  # (finishes the killed write, then is refused)
        if published:  # (the new sidecars beside the link)
            assert set(os.listdir(out)) == {"out.nii", "out.json", "real"}, n
            assert os.listdir(out / "real") == ["out.nii"], n
            np.testing.assert_array_equal(np.asarray(nib.load(image).dataobj), truth)
        else:
            assert set(os.listdir(out)) == {"out.nii", "real"}, n
            assert _files(out / "real") == old, n
    assert n > 6


def test_a_killed_asl_overwrite_keeps_its_labels_through_a_write_of_name(tmp_path, monkeypatch):
    """sub_asl.nii (ASL, labels in sub_aslcontext.tsv) overwritten by an ASL volume of other
    labels, killed at any step, then a T1 written to sub.nii, whose recovery looks at
    sub_aslcontext.tsv too: the new sub_asl.nii published, its labels were replaced by the old
    ones set aside (label/control swapped, no error) or removed. The file is sub_asl.nii's set's
    while that image is published; unpublished, the old labels go back with the old set."""
    for n, out in _kill_steps(tmp_path):
        _asl(out.parent).to_nifti(out / "sub_asl.nii")
        new_vol = _other_asl(out.parent / "n")
        src, _truth = _t1(out.parent)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "sub_asl.nii")
        lv.open(src).to_nifti(out / "sub.nii")
        image = out / "sub_asl.nii"
        if not image.exists():
            continue  # (the old set comes back with the next write of sub_asl.nii)
        _assert_the_images_labels(out, image, n)
        if count[0] < n:
            break  # (not killed, but no clean-up: as if killed once the image was published)
    assert n > 6


def test_a_write_of_name_keeps_the_labels_a_killed_asl_overwrite_set_aside(tmp_path, monkeypatch):
    """sub.nii beside sub_asl.nii; an overwrite of sub_asl.nii killed before its image was
    published, then sub.nii written again: its recovery swept the old sub_aslcontext.tsv set
    aside (sub.nii published), so the next write of sub_asl.nii put the old image back with the
    new labels, or none. The file goes with the set whose writer was killed."""
    for n, out in _kill_steps(tmp_path):
        src, _truth = _t1(out.parent)
        lv.open(src).to_nifti(out / "sub.nii")
        _asl(out.parent).to_nifti(out / "sub_asl.nii")
        new_vol = _other_asl(out.parent / "n")
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "sub_asl.nii")
        lv.open(src).to_nifti(out / "sub.nii", overwrite=True)
        with pytest.raises(WriteError, match="exists"):
            new_vol.to_nifti(out / "sub_asl.nii")  # (finishes the killed write, then is refused)
        image = out / "sub_asl.nii"
        _assert_the_images_labels(out, image, n)
        if count[0] < n:
            break  # (not killed, but no clean-up: as if killed once the image was published)
    assert n > 6


def test_a_killed_asl_overwrite_of_name_keeps_its_labels_through_a_write_of_name_asl(
    tmp_path, monkeypatch
):
    """An ASL volume written as sub.nii (labels in sub_aslcontext.tsv), overwritten by another
    ASL volume, killed at any step once the old image was set aside, then a DWI written to
    sub_asl.nii: its recovery put the old labels back but left the old sub.nii aside, so the
    write saw no sub.nii, took sub_aslcontext.tsv for its own set and removed it; the next write
    of sub.nii put the old ASL image back without labels. The killed set is now recovered whole
    first: sub.nii is there, the write of sub_asl.nii refused, the labels the image's."""
    for n, out in _kill_steps(tmp_path):
        _asl(out.parent).to_nifti(out / "sub.nii")
        new_vol = _other_asl(out.parent / "n")
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "sub.nii")
        with pytest.raises(WriteError, match="another image"):
            lv.open(_dwi(out.parent)).to_nifti(out / "sub_asl.nii", overwrite=True)
        image = out / "sub.nii"
        _assert_the_images_labels(out, image, n)
        if count[0] < n:
            break
    assert n > 6


@pytest.mark.parametrize("killed, then", [("sub_asl.NII", "sub.nii"), ("sub.NII", "sub_asl.nii")])
def test_a_killed_asl_overwrite_with_a_suffix_in_another_case_keeps_its_labels(
    tmp_path, monkeypatch, killed, then
):
    """As test_a_killed_asl_overwrite_of_name_keeps_its_labels_through_a_write_of_name_asl, the
    killed image's suffix in another case: its leftovers were looked for under the lower-case
    name only, so the write of the other name took sub_aslcontext.tsv for its own set and removed
    it; the killed ASL image came back without labels."""
    for n, out in _kill_steps(tmp_path):
        _asl(out.parent).to_nifti(out / killed)
        if (out / killed.lower()).exists():
            pytest.skip("a file system that ignores case")
        new_vol = _other_asl(out.parent / "n")
        src, _truth = _t1(out.parent)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / killed)
        with contextlib.suppress(WriteError):  # (refused, another image, once it is back)
            lv.open(src).to_nifti(out / then, overwrite=True)
        with contextlib.suppress(WriteError):
            lv.open(src).to_nifti(out / killed)  # (finishes the killed write)
        _assert_the_images_labels(out, out / killed, n)
        if count[0] < n:
            break
    assert n > 6


@pytest.mark.parametrize("name", ["sub.nii", "sub.NII"])
def test_labels_of_a_killed_new_asl_image_go_when_another_killed_write_left_leftovers(
    tmp_path, monkeypatch, name
):
    """sub.nii overwritten by an ASL volume, killed early (leftovers, the old set in place); then
    a first write of sub_asl.nii killed after its labels sub_aslcontext.tsv were linked in, before
    its image: the next writes left those labels beside sub.nii, which has none (both sets had
    leftovers, and the labels were taken as the published sub.nii's). With the name's suffix in
    another case, the leftovers of sub.NII were never swept by the recovery of its published set,
    and said so for ever."""

    src, _truth = _t1(tmp_path)
    asl = _asl(tmp_path / "a")
    for first in range(1, 5):
        for n, out in _kill_steps(tmp_path, f"{first}-{{n}}"):
            lv.open(src).to_nifti(out / name)
            with monkeypatch.context() as m:
                _killed_recovering(m, first)
                with contextlib.suppress(_Killed):
                    asl.to_nifti(out / name, overwrite=True)
            with monkeypatch.context() as m:
                count = _killed_recovering(m, n)
                with contextlib.suppress(_Killed, WriteError):
                    asl.to_nifti(out / "sub_asl.nii", overwrite=True)
            for again in ("sub_asl.nii", name):
                with contextlib.suppress(WriteError):
                    lv.open(src).to_nifti(out / again)  # (finishes the killed writes)
            images = [f for f in os.listdir(out) if f.lower().endswith(".nii")]
            labels = any(nib.load(out / f).ndim == 4 for f in images)
            assert (out / "sub_aslcontext.tsv").exists() == labels, (first, n, os.listdir(out))
            if count[0] < n:
                break


def test_a_recovery_killed_while_putting_back_a_case_variants_set_is_finished(
    tmp_path, monkeypatch
):
    """out.NII (a DWI set) overwritten, killed once its old files were set aside; a write of
    out.nii.gz recovered it, putting back the old image out.NII first (found by its suffix' case,
    listed after the sidecars, so put back before them): killed then, the image stood published
    beside some old sidecars still aside, which the next recovery swept as leftovers (old .json /
    .bval lost). The image is now put back last: the old set exactly, or the new one."""

    src, _truth = _t1(tmp_path)
    dwi = lv.open(_dwi(tmp_path))
    for first in range(5, 12):
        for k, out in _kill_steps(tmp_path, f"{first}-{{n}}"):
            dwi.to_nifti(out / "out.NII")
            if (out / "out.nii").exists():
                pytest.skip("a file system that ignores case")
            old = {n: (out / n).read_bytes() for n in os.listdir(out)}
            with monkeypatch.context() as m:
                _killed_recovering(m, first)
                with contextlib.suppress(_Killed):
                    lv.open(src).to_nifti(out / "out.NII", overwrite=True)
            with monkeypatch.context() as m:
                count = _killed_recovering(m, k)
                with contextlib.suppress(_Killed, WriteError):
                    lv.open(src).to_nifti(out / "out.nii.gz", overwrite=True)
            with contextlib.suppress(WriteError):
                lv.open(src).to_nifti(out / "out.NII")  # (finishes the killed writes)
            shown = {n: (out / n).read_bytes() for n in os.listdir(out) if not n.startswith(".")}
            if nib.load(out / "out.NII").ndim == 4:
                assert shown == old, (first, k)
            else:
                assert set(shown) == {"out.NII", "out.json"}, (first, k)
            if count[0] < k:
                break


def _called_by(name: str) -> bool:
    import sys

    return sys._getframe(2).f_code.co_name == name


def _killed_recovering(m, n: int) -> list[int]:
    """Kill the writer at the ``n``-th os call, no clean-up after the kill, but a recovery's
    put_back runs (only a killed set_aside's clean-up is left out); returns the call count."""
    for attr in ("put_back", "drop"):
        m.setattr(nifti_write, attr, lambda *a: None)
    real = fileset.put_back
    m.setattr(fileset, "put_back", lambda a: None if _called_by("set_aside") else real(a))
    m.setattr(fileset, "_lock", lambda path: None)  # (the dead writer's locks are gone)
    m.setattr(nifti_write, "_unlink_quiet", lambda path: None)
    return _fail_at(m, n, _Killed())


def test_a_killed_overwrite_of_another_stem_is_left_to_its_own_next_write(tmp_path, monkeypatch):
    """OUT.nii is another name than out.nii (its sidecars are OUT.json...): a write of out.nii
    does not recover OUT.nii's killed overwrite (it put OUT.nii's old image back without its old
    sidecars, which the next write of OUT.nii then swept)."""
    for n, out in _kill_steps(tmp_path):
        lv.open(_dwi(out.parent)).to_nifti(out / "OUT.nii")
        if (out / "out.nii").exists():
            pytest.skip("a file system that ignores case")
        src, _truth = _t1(out.parent)
        new_vol = lv.open(src)
        count = _killed_overwrite(monkeypatch, n, new_vol, out / "OUT.nii")
        if count[0] < n:
            break
        new_vol.to_nifti(out / "out.nii")
        with contextlib.suppress(WriteError):
            new_vol.to_nifti(out / "OUT.nii")  # (finishes the killed write)
        dwi = np.asarray(nib.load(out / "OUT.nii").dataobj).ndim == 4
        shown = {f for f in os.listdir(out) if f.startswith("OUT")}
        assert shown == (
            {"OUT.nii", "OUT.json", "OUT.bval", "OUT.bvec"} if dwi else {"OUT.nii", "OUT.json"}
        ), n
    assert n > 6


def test_an_interrupt_after_a_new_sidecar_is_linked_leaves_the_old_set(tmp_path, monkeypatch):
    """A T1 set overwritten by a DWI, Ctrl-C at any fsync: the DWI's .bval/.bvec linked in just
    before the folder sync stayed beside the old T1 put back (h85); now the old set exactly."""
    n = 0
    while True:
        n += 1
        out = tmp_path / str(n)
        out.mkdir()
        src, truth = _t1(tmp_path / f"t{n}")
        lv.open(src).to_nifti(out / "out.nii")
        old = _files(out)
        dwi = lv.open(_dwi(tmp_path / f"d{n}"))
        with monkeypatch.context() as m:
            count = _fail_at(m, n, KeyboardInterrupt(), ("fsync",))
            try:
                dwi.to_nifti(out / "out.nii", overwrite=True)
            except KeyboardInterrupt:
                assert _files(out) == old, n  # (no new sidecar, no leftover)
                np.testing.assert_array_equal(np.asarray(nib.load(out / "out.nii").dataobj), truth)
                continue
        assert set(os.listdir(out)) == DWI_SET, n
        if count[0] < n:
            break
    assert n > 3


def test_a_set_another_writer_published_meanwhile_is_replaced_whole(tmp_path, monkeypatch):
    """Two overwrites of one name at once: the T1 write checked the folder (old T1 set), a DWI
    write then published its set, and the T1 write removed only the files it had found at its
    check: the DWI's .bval/.bvec stayed beside the T1 image, both writes succeeding (h92)."""
    out = tmp_path / "out.nii"
    src, truth = _t1(tmp_path / "t")
    lv.open(src).to_nifti(out)
    dwi = lv.open(_dwi(tmp_path / "d"))
    real = nifti_write._temp_file

    def meanwhile(dest: str) -> tuple[str, int | None]:
        monkeypatch.setattr(nifti_write, "_temp_file", real)
        dwi.to_nifti(out, overwrite=True)  # (after the T1 write's check)
        return real(dest)

    monkeypatch.setattr(nifti_write, "_temp_file", meanwhile)
    lv.open(src).to_nifti(out, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["d", "out.json", "out.nii", "t"]
    np.testing.assert_array_equal(np.asarray(nib.load(out).dataobj), truth)


def test_writers_of_one_folder_publish_one_at_a_time(tmp_path, monkeypatch):
    """A set is replaced under the folder's lock: a write waits for it, and names the folder
    when it stays held (a stopped writer), leaving nothing."""
    import threading

    src, truth = _t1(tmp_path / "t")
    vol = lv.open(src)
    done = threading.Event()
    with fileset.publish_lock(str(tmp_path)):
        worker = threading.Thread(target=lambda: (vol.to_nifti(tmp_path / "a.nii"), done.set()))
        worker.start()
        assert not done.wait(0.5)
        assert not (tmp_path / "a.nii").exists()
    worker.join(30)
    assert done.is_set()
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "a.nii").dataobj), truth)
    monkeypatch.setattr(fileset, "PUBLISH_WAIT", 0.2)
    with fileset.publish_lock(str(tmp_path)):
        with pytest.raises(WriteError, match=rf"{tmp_path}: another writer .* nothing written"):
            vol.to_nifti(tmp_path / "b.nii")
    assert sorted(os.listdir(tmp_path)) == ["a.json", "a.nii", "t"]


def test_a_folder_reached_by_two_spellings_is_locked_once(tmp_path, monkeypatch):
    """Overwriting alias/out.nii (alias -> real, out.nii -> img.nii): the image's folder and the
    linked file's folder are one, spelled twice; it was opened twice and the second flock waited
    on the first, then blamed 'another writer' (h94)."""
    monkeypatch.setattr(fileset, "PUBLISH_WAIT", 1.0)
    src, truth = _t1(tmp_path / "t")
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to("real")
    lv.open(src).to_nifti(tmp_path / "real" / "img.nii")
    (tmp_path / "real" / "out.nii").symlink_to("img.nii")
    lv.open(src).to_nifti(tmp_path / "alias" / "out.nii", overwrite=True)
    np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "real/img.nii").dataobj), truth)
    with fileset.publish_lock(str(tmp_path / "real"), str(tmp_path / "alias")):
        pass


def test_folders_spelled_otherwise_are_locked_in_one_order(tmp_path, monkeypatch):
    """Two writers naming folders x and y by other spellings (z_x -> x, a_y -> y) locked them in
    the order of the spellings, x then y or y then x: each could hold one and wait on the other."""
    import fcntl

    for name in ("x", "y"):
        (tmp_path / name).mkdir()
    (tmp_path / "z_x").symlink_to("x")
    (tmp_path / "a_y").symlink_to("y")
    locked: list[tuple[int, int]] = []
    real = fcntl.flock

    def flock(fd: int, op: int) -> None:
        st = os.fstat(fd)
        locked.append((st.st_dev, st.st_ino))
        real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with fileset.publish_lock(str(tmp_path / "x"), str(tmp_path / "y")):
        pass
    first, locked[:] = list(locked), []
    with fileset.publish_lock(str(tmp_path / "z_x"), str(tmp_path / "a_y")):
        pass
    assert locked == first and len(first) == 2


@pytest.mark.parametrize("folder", ["out.json", "out.bval"])
@pytest.mark.parametrize("source", ["dwi", "t1"])
def test_a_folder_with_a_sidecar_name_is_refused_not_deleted(tmp_path, folder, source):
    """A folder named out.json (or out.bval) beside out.nii: an overwrite moved it aside as a
    '.out.json.lazyvol-old-*' leftover (hard links of folders fail: it was renamed), and the
    next write's sweep deleted it with the user's files in it. It is refused, as a folder at the
    image's name is, naming it."""
    out = tmp_path / "o"
    (out / folder).mkdir(parents=True)
    (out / folder / "notes.txt").write_text("mine")
    vol = lv.open(_dwi(tmp_path) if source == "dwi" else _t1(tmp_path)[0])
    for _ in range(2):
        with pytest.raises(WriteError, match=rf"{re.escape(folder)}: is a folder.*sidecars=False"):
            vol.to_nifti(out / "out.nii", overwrite=True)
    assert sorted(os.listdir(out)) == [folder]
    assert (out / folder / "notes.txt").read_text() == "mine"
    vol.to_nifti(out / "out.nii", overwrite=True, sidecars=False)
    assert sorted(os.listdir(out)) == sorted([folder, "out.nii"])


@pytest.mark.parametrize("through_link", [False, True])
@pytest.mark.parametrize("name", ["out.nii", "out.nii.gz", "out.json"])
def test_an_overwrite_never_replaces_a_fifo_or_device(tmp_path, name, through_link):
    """Writers publish by renaming a finished file onto the destination: with overwrite=True a
    FIFO named out.nii (or a link out.nii -> /dev/null: the device node itself was replaced by a
    regular file), or a FIFO where a sidecar goes, was replaced. (A FIFO stands for a device.)"""
    special = tmp_path / ("special" if through_link else name)
    os.mkfifo(special)
    if through_link:
        (tmp_path / name).symlink_to(special)
    image = name if name.startswith("out.nii") else "out.nii"
    src = _dwi(tmp_path)
    if name == "out.json" and through_link:  # a sidecar replaces the link, not what it names
        lv.open(src).to_nifti(tmp_path / image, overwrite=True)
        assert not (tmp_path / name).is_symlink()
    else:
        with pytest.raises(WriteError, match=r"is a FIFO \(named pipe\), not a regular file"):
            lv.open(src).to_nifti(tmp_path / image, overwrite=True)
        assert not any(".lazyvol-" in n for n in os.listdir(tmp_path))
    assert stat.S_ISFIFO(os.stat(special).st_mode)


def test_references_output_never_replaces_a_fifo(tmp_path, monkeypatch):
    """``lazyvol references -o refs.json --overwrite`` replaced a FIFO with a regular file."""
    from lazyvol.cli import main

    os.mkfifo(tmp_path / "refs.json")
    src = _dwi(tmp_path)
    assert main(["references", str(src), "-o", str(tmp_path / "refs.json"), "--overwrite"]) == 2
    assert stat.S_ISFIFO(os.stat(tmp_path / "refs.json").st_mode)


def test_references_output_through_a_link_is_written_where_it_leads(tmp_path):
    """``lazyvol references -o /dev/stdout --overwrite`` (as root) replaced the link
    /dev/stdout itself with a regular file holding the JSON: write_references published onto the
    link, where every other writer writes through it. Now the file a link names is written (the
    link kept), and a link the system follows to a pipe (``/proc/self/fd/N``, which realpath
    names as a missing file) is refused, as a FIFO at the name is."""
    from lazyvol.cli import main

    src = _dwi(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "refs.json").write_text("old")
    os.symlink(tmp_path / "data" / "refs.json", tmp_path / "refs.json")
    assert main(["references", str(src), "-o", str(tmp_path / "refs.json"), "--overwrite"]) == 0
    assert os.path.islink(tmp_path / "refs.json")
    assert json.loads((tmp_path / "data" / "refs.json").read_text())["refs"]
    r, w = os.pipe()
    try:
        os.symlink(f"/proc/self/fd/{w}", tmp_path / "stdout")
        args = ["references", str(src), "-o", str(tmp_path / "stdout"), "--overwrite"]
        assert main(args) == 2
        assert os.path.islink(tmp_path / "stdout")
        os.symlink(f"/proc/self/fd/{w}", tmp_path / "out.nii")
        with pytest.raises(WriteError, match="FIFO"):
            lv.open(src).to_nifti(tmp_path / "out.nii", overwrite=True)
        assert os.path.islink(tmp_path / "out.nii")
    finally:
        os.close(r)
        os.close(w)
