"""Every failure of a local gzip engine (indexed_gzip's ``ZranError``, rapidgzip's errors) is
lazyvol's typed :class:`~lazyvol.FormatError` naming the file and the fix, whichever call met it:
a first read, a saved-index build; an operating-system error (with an errno) stays itself. Bytes
after the last gzip member, and a stream cut short, are named as what they are."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import lazyvol as lv
from lazyvol import gzaccess, gzengine
from lazyvol.nifti import build_gzip_index, clear_gzip_handles
from lazyvol.testing import write_phantom_nifti

ENGINES = ["indexed_gzip"]
try:
    import rapidgzip  # noqa: F401

    ENGINES.append("rapidgzip")
except ImportError:  # pragma: no cover - rapidgzip is a core dependency where it installs
    pass


def _member_with_long_name(raw: bytes, fname: bytes) -> bytes:
    """One valid gzip member (gzip and nibabel read it) with an FNAME field of ``fname``."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(raw) + c.flush()
    head = b"\x1f\x8b\x08\x08" + b"\0\0\0\0" + b"\x00\xff" + fname + b"\0"
    return head + body + zlib.crc32(raw).to_bytes(4, "little") + len(raw).to_bytes(4, "little")


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_refusal_is_typed_at_read_and_index_build(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A gzip member header over 1 MiB (valid gzip, beyond both engines' buffers): building the
    seek index let indexed_gzip's untyped ZranError (an OSError) escape."""
    monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
    clear_gzip_handles()
    raw = Path(write_phantom_nifti(tmp_path / "p.nii", (20, 16, 12))).read_bytes()
    path = tmp_path / "long_name.nii.gz"
    path.write_bytes(_member_with_long_name(raw, b"a" * (2 * 2**20)))
    assert gzip.decompress(path.read_bytes()) == raw
    for attempt in (lambda: lv.open(path).compute(), lambda: build_gzip_index(path)):
        clear_gzip_handles()
        with pytest.raises(lv.FormatError, match=r"long_name\.nii\.gz.*recompress") as info:
            attempt()
        assert "gzip -dc" in str(info.value)


def test_os_errors_are_told_from_engine_errors() -> None:
    import indexed_gzip

    from lazyvol.gzcheck import is_os_failure

    assert not is_os_failure(indexed_gzip.ZranError("zran_read returned error"))
    assert not is_os_failure(OSError("raw readinto() returned invalid length -4"))
    assert is_os_failure(OSError(errno.EMFILE, "Too many open files"))
    assert not is_os_failure(ValueError("Invalid deflate block"))


@pytest.mark.parametrize("tail", [b"\x1f\x8b\x08\x00junk", b"\x1f\x8b\x07" + b"z" * 40])
def test_gzip_magic_after_the_last_member_is_named_as_such(
    tmp_path: Path, gzip_cache: Path, tail: bytes
) -> None:
    """Bytes after the last whole member that start with the gzip magic: refused (gzip refuses
    them too), but it said "a download or copy was cut short" of a local file. It now says what
    follows which member, and how to keep the whole members."""
    raw = Path(write_phantom_nifti(tmp_path / "p.nii", (20, 16, 12))).read_bytes()
    member = gzip.compress(raw, mtime=0)
    path = tmp_path / "tail.nii.gz"
    path.write_bytes(member + tail)
    with pytest.raises(lv.FormatError, match=r"tail\.nii\.gz: the \d+ bytes after its last") as err:
        lv.open(path).compute()
    msg = str(err.value)
    assert f"head -c {len(member)} FILE" in msg and "download" not in msg
    fixed = tmp_path / "fixed.nii.gz"
    fixed.write_bytes(path.read_bytes()[: len(member)])
    assert lv.open(fixed).compute().tobytes() == lv.open(tmp_path / "p.nii").compute().tobytes()


def test_a_truncated_local_stream_is_not_called_a_download(
    tmp_path: Path, gzip_cache: Path
) -> None:
    raw = Path(write_phantom_nifti(tmp_path / "p.nii", (20, 16, 12))).read_bytes()
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(gzip.compress(raw, mtime=0)[:-3000])
    with pytest.raises(lv.FormatError, match="truncated") as err:
        lv.open(path)
    assert "writer, copy or download" in str(err.value)


def test_an_engine_refusing_to_open_is_typed_too(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """indexed_gzip raising while its handle is made (not while reading): typed at the first read
    and at the index build, whose handle was made outside the error mapping."""
    import indexed_gzip

    monkeypatch.setenv(gzaccess.ENGINE_ENV, "indexed_gzip")
    raw = Path(write_phantom_nifti(tmp_path / "p.nii", (20, 16, 12))).read_bytes()
    path = tmp_path / "x.nii.gz"
    path.write_bytes(gzip.compress(raw, mtime=0))

    def refuse(*args: object, **kwargs: object) -> None:
        raise indexed_gzip.ZranError("zran_init returned error")

    monkeypatch.setattr(indexed_gzip, "IndexedGzipFile", refuse)
    for attempt in (lambda: lv.open(path).compute(), lambda: build_gzip_index(path)):
        clear_gzip_handles()
        with pytest.raises(lv.FormatError, match=r"x\.nii\.gz: the gzip stream does not inflate"):
            attempt()


@pytest.mark.parametrize("engine", ENGINES)
def test_an_engine_failing_to_export_its_index_leaves_the_read_intact(
    tmp_path: Path, gzip_cache: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """Saving the seek index after a full pass is an optimisation: an engine's RuntimeError from
    its export failed the (correct) read as a corrupt stream; it is now a warning."""
    monkeypatch.setenv(gzaccess.ENGINE_ENV, engine)
    clear_gzip_handles()
    raw = Path(write_phantom_nifti(tmp_path / "p.nii", (20, 16, 12))).read_bytes()
    path = tmp_path / "x.nii.gz"
    path.write_bytes(gzip.compress(raw, mtime=0))

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("export failed")

    monkeypatch.setattr(gzaccess, "_save_index", fail)
    with pytest.warns(RuntimeWarning, match="could not save the gzip seek index"):
        got = lv.open(path).compute()
    assert got.tobytes() == lv.open(tmp_path / "p.nii").compute().tobytes()


@pytest.mark.parametrize("limit", ["RLIMIT_AS", "RLIMIT_DATA"])
def test_many_gz_files_open_under_an_address_space_limit(tmp_path: Path, limit: str) -> None:
    # rapidgzip reserves ~520 MiB of address space per open file and ends the process with
    # SIGSEGV when a reservation fails: under `ulimit -v` 2 GiB the third .nii.gz crashed it;
    # under `ulimit -d` (RLIMIT_DATA: Linux counts private writable mappings) the fourth.
    paths = [write_phantom_nifti(tmp_path / f"x{i}.nii.gz", (8, 7, 5)) for i in range(8)]
    code = (
        "import resource\n"
        f"resource.setrlimit(resource.{limit}, (2 << 30, 2 << 30))\n"
        "import lazyvol as lv\n"
        f"for p in {[str(p) for p in paths]!r}:\n"
        "    assert lv.open(p).compute().shape == (8, 7, 5)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != gzaccess.ENGINE_ENV}
    env["LAZYVOL_CACHE_DIR"] = str(tmp_path / "c")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])


def test_a_forced_engine_is_kept_under_an_address_space_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gzengine, "memory_limit", lambda: "ulimit -v")
    monkeypatch.delenv(gzaccess.ENGINE_ENV, raising=False)
    assert gzengine.engine() == "indexed_gzip"
    monkeypatch.setenv(gzaccess.ENGINE_ENV, "rapidgzip")
    assert gzengine.engine() == ("rapidgzip" if "rapidgzip" in ENGINES else "indexed_gzip")
