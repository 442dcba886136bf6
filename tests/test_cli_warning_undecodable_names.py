"""A warning naming a file whose name is not valid UTF-8 (a Latin-1 name) printed its undecodable
byte as ``\\udce9`` on stderr (the stream's backslashreplace of a lone surrogate), which names
no byte, while errors show it as ``\\xe9`` (docs/cli.md): warnings now show it as errors do."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from lazyvol.cli import main
from lazyvol.testing import write_dicom_series


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names there are Unicode")
def test_a_warning_shows_a_latin1_name_as_errors_do(tmp_path, capfd):
    truth = write_dicom_series(tmp_path / "s", (8, 8, 3))
    copy = os.path.join(os.fsencode(tmp_path / "s"), b"copie_\xe9.dcm")
    shutil.copyfile(truth.files[1], copy)  # (an exact duplicate: dropped with a warning)
    assert main(["-q", "stats", str(tmp_path / "s"), "--json"]) == 0
    err = capfd.readouterr().err
    assert err.startswith("lazyvol: warning: exact duplicate")
    assert "copie_\\xe9.dcm" in err and "\\udce9" not in err
