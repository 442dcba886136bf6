"""--json output for a file whose name is not valid UTF-8: it wrote the name's undecodable bytes
as lone surrogates ("\\udce9"), which strict JSON readers refuse and no UTF-8 encoder takes;
they are now \\xNN escapes (docs/cli.md), from which the documented recipe gives the bytes back."""

from __future__ import annotations

import json
import os
import re
import sys

import nibabel as nib
import numpy as np
import pytest

from lazyvol.cli import main as cli_main

RAW = b"caf\xe9 \\ scan.nii"  # (Latin-1 e-acute, and a backslash the escaping must not touch)


def _strings(x):
    if isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)
    elif isinstance(x, str):
        yield x


def _bytes_back(s: str) -> bytes:
    """docs/cli.md's recipe."""
    return os.fsencode(re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(0xDC00 + int(m[1], 16)), s))


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names there are Unicode")
@pytest.mark.parametrize("command", ["info", "stats"])
def test_json_of_a_non_utf8_file_name_is_valid_utf8_and_gives_the_bytes_back(
    tmp_path, capfdbinary, command
):
    path = os.path.join(os.fsencode(tmp_path), RAW)
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    nib.save(nib.Nifti1Image(data, np.eye(4)), os.fsdecode(path))
    assert cli_main([command, os.fsdecode(path), "--json"]) == 0
    out = capfdbinary.readouterr().out
    doc = json.loads(out.decode("utf-8"))  # (strict: UTF-8 bytes)
    for s in _strings(doc):
        s.encode("utf-8")  # (no lone surrogate: every string is valid Unicode)
    assert _bytes_back(doc["path"]) == path
    if command == "info":
        assert doc["shape"] == list(nib.load(os.fsdecode(path)).shape)
    else:
        assert doc["count"] == data.size and doc["sum"] == int(data.sum())
