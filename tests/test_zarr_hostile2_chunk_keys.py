"""Local zarr-python stores whose chunk files are not where the array metadata's chunk key
encoding puts them: a Zarr v2 array written in nested folders (``0/0/0``) whose ``.zarray`` lost
its ``dimension_separator`` (zarr-python before 2.8 and early ome-zarr-py wrote none), a v3
``chunk_key_encoding`` rewritten with another separator. Every chunk looked absent, so the volume
read as the fill value, zeros, with no error (zarr-python reads it so too): now a FormatError at
open naming the metadata file, the files and the key expected. Arrays whose files are where the
metadata puts them (some chunks never written, stray files beside) still read as zarr-python
reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

import lazyvol as lv
from lazyvol.testing import ome_zarr_attributes

DATA = np.arange(1, 6 * 7 * 8 + 1, dtype="uint16").reshape(6, 7, 8)


def _store(path: Path, fmt: int, encoding: dict) -> str:  # type: ignore[type-arg]
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)  # type: ignore[arg-type]
    group.create_array("0", data=DATA, chunks=(3, 4, 5), chunk_key_encoding=encoding)  # type: ignore[arg-type]
    group.attrs.update(ome_zarr_attributes("zyx", unit=None, version="0.4" if fmt == 2 else "0.5"))
    return str(path)


def _edit(store: str, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    path = Path(store, "0", name)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


CASES = {
    "v2-nested-separator-lost": (
        2,
        {"name": "v2", "separator": "/"},
        ".zarray",
        lambda d: d.pop("dimension_separator"),
    ),
    "v2-flat-said-nested": (
        2,
        {"name": "v2", "separator": "."},
        ".zarray",
        lambda d: d.__setitem__("dimension_separator", "/"),
    ),
    "v3-nested-said-dotted": (
        3,
        {"name": "default", "separator": "/"},
        "zarr.json",
        lambda d: d.__setitem__(
            "chunk_key_encoding", {"name": "default", "configuration": {"separator": "."}}
        ),
    ),
    "v3-default-said-v2": (
        3,
        {"name": "default", "separator": "/"},
        "zarr.json",
        lambda d: d.__setitem__(
            "chunk_key_encoding", {"name": "v2", "configuration": {"separator": "/"}}
        ),
    ),
    "v3-v2-keys-said-default": (
        3,
        {"name": "v2", "separator": "."},
        "zarr.json",
        lambda d: d.__setitem__("chunk_key_encoding", {"name": "default"}),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunk_files_named_by_another_encoding_are_refused_not_read_as_fill(
    tmp_path: Path, case: str
) -> None:
    fmt, encoding, name, edit = CASES[case]
    store = _store(tmp_path / "s.zarr", fmt, encoding)
    _edit(store, name, edit)
    # (what zarr-python reads now: the fill value only)
    assert not np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...]).any()
    with pytest.raises(lv.FormatError, match="not named as its metadata names chunks") as err:
        lv.open(store)
    assert str(Path(store, "0", name)) in str(err.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunk_files_where_the_metadata_puts_them_read(tmp_path: Path, case: str) -> None:
    """The same stores unedited, with chunks never written and stray files beside them."""
    fmt, encoding, _name, _edit_it = CASES[case]
    store = _store(tmp_path / "s.zarr", fmt, encoding)
    files = sorted(
        p
        for p in Path(store, "0").rglob("*")
        if p.is_file() and p.name not in (".zarray", "zarr.json")
    )
    for victim in files[::2]:
        victim.unlink()
    Path(store, "0", ".DS_Store").write_bytes(b"\0")
    Path(store, "0", "README").write_text("chunks")
    want = np.asarray(zarr.open_array(str(Path(store, "0")), mode="r")[...])
    assert (want == 0).any() and want.any()
    np.testing.assert_array_equal(lv.open(store).compute(), want.T)


def test_an_array_without_any_chunk_file_reads_as_its_fill_value(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.zarr", 2, {"name": "v2", "separator": "/"})
    for p in sorted(Path(store, "0").rglob("*"), reverse=True):
        if p.is_file() and p.name != ".zarray":
            p.unlink()
    assert not lv.open(store).compute().any()
