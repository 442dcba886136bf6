"""``lazyvol convert`` stopped by SIGTERM or SIGHUP (``timeout``, a batch scheduler at its time
limit, ``docker stop``, a closed terminal) leaves nothing behind, as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lazyvol.testing import write_phantom_nifti

SRC = str(Path(__file__).resolve().parents[1] / "src")

# The command run in a child process whose writer sends the signal to its own process once its
# temporary file or store exists (inside the write, as a signal from outside would come).
SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import lazyvol.cli, lazyvol.nifti_write, lazyvol.zarr_write

    signum = getattr(signal, sys.argv[1])
    for module, name in ((lazyvol.nifti_write, "_write_data"), (lazyvol.zarr_write, "_write_into")):
        real = getattr(module, name)

        def stopped(*args, _real=real, **kwargs):
            os.kill(os.getpid(), signum)
            return _real(*args, **kwargs)

        setattr(module, name, stopped)
    sys.exit(lazyvol.cli.main(sys.argv[2:]))
    """
)


def _convert_stopped(src: Path, dest: Path, signame: str, *, preexec=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["LAZYVOL_CACHE_DIR"] = str(dest.parent.parent / "cache")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, signame, "-q", "convert", str(src), str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return Path(write_phantom_nifti(tmp_path_factory.mktemp("src") / "p.nii.gz", (24, 20, 12)))


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("name", ["out.nii.gz", "out.nii", "out.zarr"])
def test_terminated_convert_leaves_no_temporary_files(source, tmp_path, name, signame):
    out = tmp_path / "out"
    out.mkdir()
    r = _convert_stopped(source, out / name, signame)
    signum = getattr(signal, signame)
    # (killed where it stood, the child's status was -signum and the temporary file or store
    # stayed, hidden, beside the destination)
    assert r.returncode == 128 + signum, (r.returncode, r.stderr)
    assert r.stderr.strip() == f"lazyvol: terminated ({signame})", r.stderr
    assert sorted(os.listdir(out)) == [], os.listdir(out)


def test_an_ignored_sighup_stays_ignored(source, tmp_path):
    """``nohup lazyvol convert ...``: the hang-up the caller ignores does not stop the write."""

    def ignore_hup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    out = tmp_path / "out"
    out.mkdir()
    r = _convert_stopped(source, out / "out.nii", "SIGHUP", preexec=ignore_hup)
    assert r.returncode == 0, r.stderr
    assert "out.nii" in os.listdir(out), os.listdir(out)
