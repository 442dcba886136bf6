"""SourceStamp: the one source identity (tokens, keys, read-time staleness checks)."""

from __future__ import annotations

import os
import pickle
import socket

import numpy as np
import pytest

import lazyvol as lv
from lazyvol.sources import SourceStamp, display_path, fingerprint, stat_regular


def test_stamp_of_regular_file_and_pickle(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"x" * 10)
    st = os.stat(p)
    s = SourceStamp.of(p)
    assert (s.size, s.mtime_ns, s.inode, s.ctime_ns) == (
        10,
        st.st_mtime_ns,
        st.st_ino,
        st.st_ctime_ns,
    )
    assert pickle.loads(pickle.dumps(s)) == s
    s.verify()
    with open(p, "rb") as f:
        s.verify(f.fileno())


def test_same_size_same_mtime_rewrite_is_caught(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"x" * 10)
    s = SourceStamp.of(p)
    st = os.stat(p)
    # Replace by another file of the same size and put the mtime back: only inode/ctime differ.
    q = tmp_path / "b.bin"
    q.write_bytes(b"y" * 10)
    os.replace(q, p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(lv.SourceChangedError, match=r"(?i)open the source again"):
        s.verify()
    assert fingerprint([s]) != fingerprint([p])


def test_removed_file_is_a_typed_error(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"x")
    s = SourceStamp.of(p)
    p.unlink()
    with pytest.raises(lv.SourceChangedError, match="removed or moved"):
        s.verify()
    with pytest.raises(lv.SourceNotFoundError):
        SourceStamp.of(p)


def test_fifo_and_socket_are_refused_without_opening(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with pytest.raises(lv.FormatError, match="FIFO"):
        stat_regular(fifo)  # would block forever if it opened the FIFO
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(lv.FormatError, match="socket"):
            stat_regular(sock_path)
    with pytest.raises(lv.FormatError, match="directory"):
        stat_regular(tmp_path)


def test_non_utf8_names_hash_and_display(tmp_path):
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.bin")
    with open(raw, "wb") as f:
        f.write(b"abc")
    name = os.fsdecode(raw)  # surrogate-escaped str
    token = fingerprint([name], scale=True)
    assert token == fingerprint([SourceStamp.of(name)], scale=True)
    assert token != fingerprint([name], scale=False)
    assert "caf\\xe9.bin" in display_path(name)


@pytest.mark.parametrize("kind", ["dicom", "nifti"])
def test_a_path_with_dotdot_after_a_symlink_is_where_the_system_finds_it(tmp_path, kind):
    """``link/../x`` names the link's target's sibling x for the system (and pydicom, nibabel),
    not ``./x``, where a lexical normalisation puts it: lazyvol read another folder's series (its
    pixels, affine and header), and a NIfTI's data from another file than its header."""
    import nibabel as nib
    import pydicom

    from lazyvol.testing import write_dicom_series, write_phantom_nifti

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "other").symlink_to(tmp_path / "real" / "sub")
    if kind == "dicom":
        write_dicom_series(tmp_path / "real" / "ser", (8, 8, 3), description="A")
        write_dicom_series(tmp_path / "ser", (8, 8, 3), description="B", seed=3)
        given = tmp_path / "other" / ".." / "ser"
        want = sorted(os.listdir(given))
        vol = lv.open(str(given))
        assert vol.meta["series_description"] == "A"
        assert vol.dicom_header(0).SeriesDescription == "A"
        first = pydicom.dcmread(os.path.join(given, want[0]))
        assert first.SeriesDescription == "A"
    else:
        write_phantom_nifti(tmp_path / "real" / "v.nii", (8, 8, 3), seed=1)
        write_phantom_nifti(tmp_path / "v.nii", (8, 8, 3), seed=2)
        given = tmp_path / "other" / ".." / "v.nii"
        vol = lv.open(str(given))
        np.testing.assert_array_equal(vol.compute(), np.asanyarray(nib.load(given).dataobj))
        assert vol.header.get_data_shape() == nib.load(given).shape


def test_writers_and_the_cli_follow_a_dotdot_after_a_symlink_as_the_system(tmp_path, capsys):
    """``link/../x`` as a destination is the file the system writes there (the link target's
    sibling), not ``./x``, which the writers replaced (an unrelated file, with overwrite=True);
    ``lazyvol info`` names the folder it read, not its lexical look-alike."""
    import json

    import nibabel as nib

    from lazyvol.cli import main as cli_main
    from lazyvol.testing import write_dicom_series

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "other").symlink_to(tmp_path / "real" / "sub")
    vol = lv.Volume(np.arange(24, dtype="int16").reshape(2, 3, 4), np.eye(4))
    bystander = lv.Volume(np.zeros((3, 4, 5), "int16"), np.eye(4))
    bystander.to_nifti(tmp_path / "x.nii")
    given = tmp_path / "other" / ".." / "x.nii"
    vol.to_nifti(given)
    assert nib.load(given).shape == (2, 3, 4) == nib.load(tmp_path / "real" / "x.nii").shape
    assert nib.load(tmp_path / "x.nii").shape == (3, 4, 5)  # untouched
    vol.to_zarr(tmp_path / "other" / ".." / "s.zarr")
    assert (tmp_path / "real" / "s.zarr").is_dir() and not (tmp_path / "s.zarr").exists()
    write_dicom_series(tmp_path / "real" / "ser", (8, 6, 3))
    write_dicom_series(tmp_path / "ser", (10, 6, 4), seed=2)
    assert cli_main(["info", "--json", str(tmp_path / "other" / ".." / "ser")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [8, 6, 3]
    assert os.path.realpath(out["path"]) == os.path.realpath(tmp_path / "real" / "ser")
