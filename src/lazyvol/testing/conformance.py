"""The reader conformance kit: :class:`ReaderTests`, a pytest base class every reader runs.

A reader -- built in or third-party -- subclasses :class:`ReaderTests` in a test module under a
``Test*`` name, says which reader it tests and how to write one source of its format with the values
and affine an independent reader (nibabel, pydicom, synthetic truth) gives, and inherits every check
of the :class:`~lazyvol.formats.base.Reader` contract, as zarr's ``StoreTests`` does for stores::

    import numpy as np
    from lazyvol.testing import ReaderCase, ReaderTests

    class TestMGHReader(ReaderTests):
        reader = MGHReader()

        def make_source(self, tmp_path):
            path = write_mgh(tmp_path / "a.mgz", data, affine)     # the plugin's own writer
            return ReaderCase(path, expected=data, affine=affine)

The checks (one test method each):

- the reader has the protocol's members and a name;
- :meth:`~lazyvol.formats.base.Reader.can_open` accepts its own source and returns ``False``
  (never raises) for missing paths, garbage files, empty folders and the sources of the built-in
  formats; a catch-all reader (``claims_everything = True``, as the DICOM reader) may accept them
  but must then refuse them at ``open`` with a :class:`~lazyvol.errors.LazyvolError`;
- ``open`` reads headers only: bytes read by the process during ``open`` (``rchar`` of
  ``/proc/self/io``: read system calls; pages of a memory map touched at ``open`` are not counted)
  stay below half of the pixel bytes (skipped, with the reason, for sources under 256 KiB);
- values, dtype and affine equal the case's reference;
- ``source_files`` lists absolute paths of existing files, is complete (with every other file of the
  source moved away, the volume opens and reads the same values) and keys staleness (after one listed
  file is rewritten its stamp differs, and, with ``detects_changes_at_read``, reading the volume
  opened before raises a :class:`~lazyvol.errors.LazyvolError` instead of returning wrong values);
- ``describe`` returns a JSON-serialisable dict;
- the dask graph pickles with the standard library and computes the same values on a pool of
  freshly spawned processes;
- bad input (the source's largest file truncated or emptied, and whatever :meth:`ReaderTests.
  bad_sources` adds) raises a :class:`~lazyvol.errors.LazyvolError` subclass at ``open`` or at
  read, never another exception and never silently.

How a path becomes what the reader's methods take is in one place, :meth:`ReaderTests.source`.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..errors import LazyvolError
from ..formats.base import Reader
from ..sources import SourceStamp

__all__ = ["ReaderCase", "ReaderTests"]

#: Sources smaller than this (pixel bytes) skip the "open reads headers only" check: their headers
#: are not small next to their pixels.
MIN_PIXEL_BYTES = 256 * 1024


@dataclass
class ReaderCase:
    """One source written by :meth:`ReaderTests.make_source` and what reading it must give.

    Attributes
    ----------
    path : Path
        The source (a file, or a folder for series and stores).
    expected : numpy.ndarray
        The values an independent reader gives, in lazyvol's axis order ``(i, j, k[, t])``.
    affine : numpy.ndarray, optional
        The expected voxel-to-RAS+ affine (checked to ``atol=1e-5`` mm); ``None`` skips the check.
    options : dict
        Keyword options passed to ``reader.open`` and ``reader.source_files``.
    exact_dtype : bool
        Whether the volume's dtype must equal ``expected.dtype`` (else values are compared only).
    """

    path: Path
    expected: np.ndarray
    affine: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    exact_dtype: bool = True


def _foreign_sources(root: Path) -> dict[str, Path]:
    """Sources that no format reads or that belong to the built-in formats, by kind."""
    from .dicom import write_dicom_series
    from .nifti import write_phantom_nifti

    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {"missing": root / "missing.bin"}
    (root / "empty.bin").write_bytes(b"")
    out["empty-file"] = root / "empty.bin"
    (root / "text.txt").write_text("not an image\n" * 50, encoding="utf-8")
    out["text-file"] = root / "text.txt"
    (root / "random.bin").write_bytes(np.random.default_rng(7).bytes(4096))
    out["random-bytes"] = root / "random.bin"
    (root / "empty-folder").mkdir()
    out["empty-folder"] = root / "empty-folder"
    out["nifti"] = Path(write_phantom_nifti(root / "other.nii", (6, 5, 4)))
    write_dicom_series(root / "other-dicom", (6, 5, 4))
    out["dicom"] = root / "other-dicom"
    store = root / "other.zarr"
    store.mkdir()
    (store / "zarr.json").write_text(
        json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}), encoding="utf-8"
    )
    out["zarr"] = store
    return out


def _files_under(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def _rchar() -> int | None:
    """Bytes this process has read so far (Linux ``/proc/self/io``), or ``None`` elsewhere."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rewrite(path: str) -> None:
    """Change ``path``'s last bytes (same size) and move its mtime forward."""
    size = os.path.getsize(path)
    n = min(size, 16)
    with open(path, "r+b") as f:
        f.seek(size - n)
        old = f.read(n)
        f.seek(size - n)
        f.write(bytes(b ^ 0x5A for b in old))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _assert_values(got: np.ndarray, case: ReaderCase) -> None:
    assert got.shape == case.expected.shape, (got.shape, case.expected.shape)
    if case.exact_dtype:
        assert got.dtype == case.expected.dtype, (got.dtype, case.expected.dtype)
    if got.dtype.kind in "biu" and case.expected.dtype.kind in "biu":
        np.testing.assert_array_equal(got, case.expected)
    else:
        np.testing.assert_allclose(got, case.expected, rtol=1e-6, atol=0)


class ReaderTests:
    """Base class of a reader's conformance tests (pytest collects the ``Test*`` subclasses).

    Set :attr:`reader` and implement :meth:`make_source`; optionally :meth:`bad_sources`,
    :attr:`claims_everything`, :attr:`detects_changes_at_read`, :attr:`foreign_kinds_accepted`.
    """

    #: The reader under test (an object implementing :class:`~lazyvol.formats.base.Reader`).
    reader: Any = None
    #: A catch-all reader accepts any file or folder in ``can_open`` and refuses at ``open``.
    claims_everything: bool = False
    #: Reads check the source files are the ones opened (``SourceChangedError``/integrity errors).
    detects_changes_at_read: bool = True
    #: Kinds of foreign source this reader may legitimately accept (e.g. its own format's name).
    foreign_kinds_accepted: tuple[str, ...] = ()

    # -- what a subclass provides ------------------------------------------------------------------

    def make_source(self, tmp_path: Path) -> ReaderCase:
        """Write one source of the reader's format under ``tmp_path``; return it with its truth."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_source(tmp_path)")

    def bad_sources(self, tmp_path: Path) -> list[tuple[Path, str]]:
        """Broken sources of the format beyond the generic ones: ``(path, what is wrong)``."""
        return []

    def source(self, path: str | os.PathLike[str]) -> Any:
        """What the reader's methods take for ``path``: the one place the kit builds a source
        (a :class:`lazyvol.formats.Location`, as the Reader protocol passes)."""
        from ..formats import Location

        return Location.of(os.fspath(path))

    # -- fixtures ----------------------------------------------------------------------------------

    @pytest.fixture
    def case(self, tmp_path: Path) -> ReaderCase:
        (tmp_path / "source").mkdir()
        return self.make_source(tmp_path / "source")

    def _open(self, case: ReaderCase) -> Any:
        return self.reader.open(self.source(case.path), **case.options)

    # -- the checks --------------------------------------------------------------------------------

    def test_reader_has_the_protocol_members(self) -> None:
        assert self.reader is not None, f"{type(self).__name__}.reader is not set"
        assert isinstance(self.reader, Reader), "missing members of lazyvol.formats.base.Reader"
        assert isinstance(self.reader.name, str) and self.reader.name

    def test_can_open_own_source(self, case: ReaderCase) -> None:
        assert self.reader.can_open(self.source(case.path)) is True

    def test_can_open_is_false_for_other_sources(self, tmp_path: Path) -> None:
        for kind, path in _foreign_sources(tmp_path / "foreign").items():
            if kind in self.foreign_kinds_accepted or kind == self.reader.name:
                continue
            try:
                answer = self.reader.can_open(self.source(path))
            except Exception as exc:  # the contract: never raises
                raise AssertionError(
                    f"can_open raised on the {kind} source {path}: {exc!r}"
                ) from exc
            assert answer in (True, False), f"can_open returned {answer!r} for {kind}"
            if not answer:
                continue
            assert self.claims_everything and kind != "missing", (
                f"can_open accepted the {kind} source {path}"
            )
            with pytest.raises(LazyvolError):
                self.reader.open(self.source(path)).compute()

    def test_open_reads_headers_only(self, case: ReaderCase, tmp_path: Path) -> None:
        files = self.reader.source_files(self.source(case.path), **case.options)
        # compressed sources: the files may be smaller than the values they hold
        budget = min(case.expected.nbytes, sum(os.path.getsize(f) for f in files))
        if budget < MIN_PIXEL_BYTES:
            pytest.skip(
                f"the source holds {budget} pixel bytes (< {MIN_PIXEL_BYTES}): too small to tell "
                "header reads from pixel reads; make_source can write a larger source"
            )
        if _rchar() is None:
            pytest.skip("bytes read are counted from /proc/self/io (Linux only)")
        (tmp_path / "warm").mkdir()
        warm = self.make_source(tmp_path / "warm")  # imports and one-off set-up, not counted
        self.reader.open(self.source(warm.path), **warm.options)
        before = _rchar()
        vol = self._open(case)
        read = (_rchar() or 0) - (before or 0)
        assert read < budget / 2, f"open read {read} bytes of a source of {budget} pixel bytes"
        assert vol.shape == case.expected.shape

    def test_values_and_affine_equal_the_reference(self, case: ReaderCase) -> None:
        vol = self._open(case)
        if case.exact_dtype:
            assert vol.dtype == case.expected.dtype
        _assert_values(np.asarray(vol.compute()), case)
        if case.affine is not None:
            np.testing.assert_allclose(np.asarray(vol.affine), case.affine, atol=1e-5)

    def test_source_files_are_the_files_read(self, case: ReaderCase, tmp_path: Path) -> None:
        files = self.reader.source_files(self.source(case.path), **case.options)
        assert isinstance(files, list) and files, "source_files returned no files"
        for f in files:
            assert isinstance(f, str) and os.path.isabs(f) and os.path.isfile(f), f
        listed = {os.path.realpath(f) for f in files}
        # Complete: with every other file of the source moved away, the volume reads the same.
        root = case.path if case.path.is_dir() else case.path.parent
        aside = tmp_path / "aside"
        for i, f in enumerate(_files_under(root)):
            if os.path.realpath(f) not in listed:
                aside.mkdir(exist_ok=True)
                shutil.move(f, aside / f"{i}-{f.name}")
        try:
            got = np.asarray(self._open(case).compute())
        except LazyvolError as exc:
            raise AssertionError(
                f"with only the files source_files lists ({files}) the source does not read: {exc}"
            ) from exc
        _assert_values(got, case)

    def test_changed_source_file_is_detected(self, case: ReaderCase) -> None:
        files = self.reader.source_files(self.source(case.path), **case.options)
        vol = self._open(case)
        target = max(files, key=os.path.getsize)  # the pixel data's file, for single-file formats
        before = {f: SourceStamp.of(f) for f in files}
        _rewrite(target)
        after = {f: SourceStamp.of(f) for f in files}
        assert before != after, "rewriting a listed file left every stamp (cache key) unchanged"
        if self.detects_changes_at_read:
            with pytest.raises(LazyvolError):
                vol.compute()

    def test_describe_is_json(self, case: ReaderCase) -> None:
        described = self.reader.describe(self.source(case.path))
        assert isinstance(described, dict)
        json.loads(json.dumps(described))

    def test_graph_pickles_and_computes_on_a_process_pool(self, case: ReaderCase) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        vol = self._open(case)
        clone = pickle.loads(pickle.dumps(vol.data))
        assert clone.name == vol.data.name
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            got = clone.compute(scheduler=pool)
        _assert_values(np.asarray(got), case)

    def test_bad_input_raises_a_lazyvol_error(self, case: ReaderCase, tmp_path: Path) -> None:
        for path, what in self._generic_bad(case, tmp_path) + self.bad_sources(tmp_path / "bad"):
            with pytest.raises(LazyvolError) as caught:
                self.reader.open(self.source(path), **case.options).compute()
            assert str(caught.value), f"{what}: the error has no message"

    def _generic_bad(self, case: ReaderCase, tmp_path: Path) -> list[tuple[Path, str]]:
        out = []
        for how in ("truncated", "emptied"):
            copy = tmp_path / how / case.path.name
            copy.parent.mkdir(parents=True)
            if case.path.is_dir():
                shutil.copytree(case.path, copy)
            else:
                for name in _files_under(case.path.parent):
                    shutil.copy2(name, copy.parent / name.name)
            files = self.reader.source_files(self.source(copy), **case.options)
            biggest = max(files, key=os.path.getsize)
            size = os.path.getsize(biggest)
            with open(biggest, "r+b") as fh:
                fh.truncate(size // 2 if how == "truncated" else 0)
            out.append((copy, f"{how}: {biggest}"))
        return out
