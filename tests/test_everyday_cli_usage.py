"""An option the subcommand does not take (a typo, another tool's habit) was told against the
whole command, ``(usage: lazyvol --help)``, which does not list the subcommand's options; it is
told against the subcommand now, with the option it most resembles when one is close."""

from __future__ import annotations

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_phantom_nifti


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["stats", "{src}", "--axis", "t"],
            "unrecognized arguments: --axis t (usage: lazyvol stats --help)",
        ),
        (
            ["cache", "list", "--kidn", "zarr"],
            "unrecognized arguments: --kidn zarr (did you mean: --kidn -> --kind?) "
            "(usage: lazyvol cache --help)",
        ),
        (
            ["info", "{src}", "--heder"],
            "unrecognized arguments: --heder (did you mean: --heder -> --header?) "
            "(usage: lazyvol info --help)",
        ),
        (
            ["convert", "{src}", "{out}", "--overwrit", "--sidecars"],
            "unrecognized arguments: --sidecars (did you mean: --sidecars -> --no-sidecars?) "
            "(usage: lazyvol convert --help)",
        ),
    ],
)
def test_an_unknown_option_is_told_against_its_subcommand(tmp_path, capsys, argv, expected):
    src = str(write_phantom_nifti(tmp_path / "p.nii.gz", (4, 4, 3)))
    out = str(tmp_path / "o.nii")
    with pytest.raises(SystemExit) as exc:
        main([a.format(src=src, out=out) for a in argv])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == f"lazyvol: error: {expected}"
