"""A source given to the ``lazyvol`` command that is a symbolic link leading to no file (a
git-annex / DataLad file whose content was not fetched, a link into a removed folder, a loop of
links): the error says it is such a link and where it leads, as ``lv.open`` does, not "no such
file" for a name ``ls`` shows."""

from __future__ import annotations

import os

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_phantom_nifti


@pytest.fixture
def links(tmp_path):
    image = write_phantom_nifti(tmp_path / "p.nii.gz", (8, 8, 4))
    os.symlink(tmp_path / "annex" / "objects" / "MD5E-s1234.nii.gz", tmp_path / "sub-01_T1w.nii.gz")
    os.symlink("loop.nii", tmp_path / "loop.nii")
    return str(image), str(tmp_path / "sub-01_T1w.nii.gz"), str(tmp_path / "loop.nii"), tmp_path


@pytest.mark.parametrize(
    "argv",
    [
        lambda img, link, out: ["info", link],
        lambda img, link, out: ["stats", link],
        lambda img, link, out: ["convert", link, out],
        lambda img, link, out: ["stats", img, "--mask", link],
    ],
    ids=["info", "stats", "convert", "mask"],
)
def test_a_link_to_no_file_is_named_as_a_link(links, argv, capsys):
    image, dangling, loop, tmp = links
    for link, words in (
        (dangling, f"is a symbolic link to {os.readlink(dangling)}, which leads to no file"),
        (loop, "is a symbolic link to loop.nii in a loop of links"),
    ):
        assert main(argv(image, link, str(tmp / "out.nii"))) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("lazyvol: error: "), err
        assert f"{link}: {words}" in err, err
        assert "no such file" not in err, err
    assert not (tmp / "out.nii").exists()
