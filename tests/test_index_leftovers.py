"""Temporary files of index saves (gzip seek indexes, DICOM scan indexes) whose writer was killed
are swept by the next save in their folder and by ``clear_index_files``; a live writer's never.

Real processes: the killed writers are SIGKILLed just before their rename; the live writer holds
its temporary file (as a save under way does) until the test lets it go.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lazyvol as lv
from lazyvol.cache_admin import list_index_files
from lazyvol.testing import write_dicom_series, write_phantom_nifti

SRC = str(Path(lv.__file__).parents[1])

KILLED_SAVE = r"""
import os, signal, sys
import lazyvol as lv, lazyvol._fsutil as fs
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
fs.publish_file = die
v = lv.open(sys.argv[1])
if sys.argv[2] == "compute":
    v.compute()
"""

LIVE_WRITER = r"""
import sys
from lazyvol import _fsutil
paths = [_fsutil.make_temp_file(d)[0] for d in sys.argv[1:]]
print("\n".join(paths), flush=True)
sys.stdin.read()  # held until the test closes stdin
"""


def _temps(cache: Path) -> set[str]:
    return {str(p.relative_to(cache)) for p in cache.rglob("*") if ".lazyvol-tmp-" in p.name}


def test_killed_index_saves_swept_live_kept(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, LAZYVOL_CACHE_DIR=str(cache), PYTHONPATH=SRC)
    gz = tmp_path / "a.nii.gz"
    write_phantom_nifti(gz, (24, 24, 12), seed=1)
    folder = tmp_path / "ser"
    write_dicom_series(folder, (8, 8, 4))
    for args in ([str(gz), "compute"], [str(folder), "open"]):
        r = subprocess.run([sys.executable, "-c", KILLED_SAVE, *args], env=env, check=False)
        assert r.returncode == -9
    dead = _temps(cache)
    assert {p.split("/")[0] for p in dead} == {"gzindex", "dicom-scan"}
    live = subprocess.Popen(
        [
            sys.executable,
            "-c",
            LIVE_WRITER,
            str(cache / "gzindex" / ("f" * 32 + ".gzidx")),
            str(cache / "dicom-scan" / ("e" * 32 + ".json")),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        held = {str(Path(live.stdout.readline().strip()).relative_to(cache)) for _ in range(2)}
        assert held <= _temps(cache)
        # the next saves in each folder (other sources: other names) sweep the killed ones' files
        other = tmp_path / "b.nii.gz"
        write_phantom_nifti(other, (24, 24, 12), seed=2)
        code = "import lazyvol as lv, sys; v = lv.open(sys.argv[1]); sys.argv[2:] and v.compute()"
        subprocess.run([sys.executable, "-c", code, str(other), "compute"], env=env, check=True)
        write_dicom_series(tmp_path / "ser2", (8, 8, 3))
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "ser2")], env=env, check=True)
        assert _temps(cache) == held  # the live writer's files only
        listed = {Path(e.path).name for e in list_index_files(cache)}
        assert {Path(p).name for p in held} <= listed  # `lazyvol cache list` counts them
        lv.cache.clear_index_files(cache)
        assert _temps(cache) == held  # still being written: kept
    finally:
        live.stdin.close()
        live.wait()
    # its writer gone (exited without publishing): a leftover like the others
    assert lv.cache.clear_index_files(cache) == 2
    assert _temps(cache) == set()
