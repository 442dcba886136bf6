"""One conformance suite every reader passes (DESIGN.md principle 7).

Each source factory writes a small file (or folder, or store) and returns its path plus the
reference array from an independent reader. Every test below runs on every source.
"""

from __future__ import annotations

import atexit
import os
import pickle
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import dask
import nibabel as nib
import numpy as np
import pytest

import lazyvol as lv
from lazyvol.readers import DicomReader, NiftiReader, ZarrReader
from lazyvol.testing import ReaderCase, ReaderTests, write_dicom_series, write_phantom_nifti

Factory = Callable[[Path], tuple[Path, np.ndarray]]
SOURCES: dict[str, Factory] = {}


def source(name: str) -> Callable[[Factory], Factory]:
    def register(fn: Factory) -> Factory:
        SOURCES[name] = fn
        return fn

    return register


def _nib_ref(path: str | Path) -> np.ndarray:
    return np.asanyarray(nib.load(path).dataobj)


@source("nifti")
def _nifti(tmp: Path) -> tuple[Path, np.ndarray]:
    p = Path(write_phantom_nifti(tmp / "a.nii", (20, 16, 12), slope=2, inter=-3))
    return p, _nib_ref(p)


@source("nifti-gz")
def _nifti_gz(tmp: Path) -> tuple[Path, np.ndarray]:
    p = Path(write_phantom_nifti(tmp / "a.nii.gz", (20, 16, 12, 2)))
    return p, _nib_ref(p)


@source("nifti2-big-endian-float")
def _nifti2(tmp: Path) -> tuple[Path, np.ndarray]:
    p = Path(
        write_phantom_nifti(
            tmp / "b.nii", (20, 16, 12), dtype="float32", big_endian=True, nifti2=True
        )
    )
    return p, _nib_ref(p)


@source("analyze")
def _analyze(tmp: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).integers(-2000, 4000, size=(20, 16, 12)).astype(np.int16)
    nib.save(nib.AnalyzeImage(data, np.diag([1.0, 2.0, 3.0, 1.0])), tmp / "c.hdr")
    return tmp / "c.hdr", data


@source("dicom-native")
def _dicom(tmp: Path) -> tuple[Path, np.ndarray]:
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(
        tmp / "series", (20, 16, 12), orientation="oblique", intercept=-1024.0, shuffle_names=True
    )
    return tmp / "series", truth.scaled(np.float64)


@source("dicom-4d-per-slice")
def _dicom_4d(tmp: Path) -> tuple[Path, np.ndarray]:
    # fMRI-like: one file per slice per volume, told apart only by InstanceNumber (as GE)
    from lazyvol.testing import write_dicom_4d_series

    truth = write_dicom_4d_series(tmp / "fmri", (20, 16, 12), 2, labels=(), numbering="position")
    return tmp / "fmri", truth.stored


@source("dicom-rle")
def _dicom_rle(tmp: Path) -> tuple[Path, np.ndarray]:
    from lazyvol.testing import write_dicom_series

    truth = write_dicom_series(tmp / "rle", (20, 16, 12), compress="1.2.840.10008.1.2.5", slope=0.5)
    return tmp / "rle", truth.scaled(np.float64)


@source("dicom-mosaic-4d")
def _dicom_mosaic(tmp: Path) -> tuple[Path, np.ndarray]:
    import warnings

    from nibabel.nicom import dicomwrappers

    from lazyvol.testing import write_mosaic_series

    truth = write_mosaic_series(tmp / "mosaic", (20, 16, 12), volumes=2, orientation="oblique")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nibabel.nicom: "highly experimental"
        vols = [np.asarray(dicomwrappers.wrapper_from_file(f).get_data()) for f in truth.files]
    # nibabel: (rows, columns, slices); lazyvol: (columns, rows, slices, volumes)
    ref = np.stack([v.transpose(1, 0, 2) for v in vols], axis=-1)
    return tmp / "mosaic", ref.astype(np.uint16)


@source("zarr")
def _zarr(tmp: Path) -> tuple[Path, np.ndarray]:
    nii = Path(write_phantom_nifti(tmp / "z.nii.gz", (20, 16, 12, 2), dtype="float32"))
    lv.open(nii).to_zarr(tmp / "z.zarr")
    return tmp / "z.zarr", _nib_ref(nii)


@pytest.fixture(params=sorted(SOURCES))
def src(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, np.ndarray]:
    return SOURCES[request.param](tmp_path)


def test_exact_dtype(src: tuple[Path, np.ndarray]) -> None:
    path, ref = src
    vol = lv.open(path, chunks={0: -1, 1: -1, 2: 5})
    blocks = [vol.data.blocks[b].compute() for b in np.ndindex(*vol.data.numblocks)]
    assert {b.dtype for b in blocks} == {vol.dtype}
    full = vol.compute()
    assert full.dtype == vol.dtype
    assert full.shape == ref.shape
    if ref.dtype.kind in "iu" and vol.dtype.kind in "iu":
        np.testing.assert_array_equal(full, ref)
    else:
        np.testing.assert_allclose(full, ref, rtol=1e-6)


def test_pickle_round_trip_with_stdlib(src: tuple[Path, np.ndarray]) -> None:
    path, _ = src
    vol = lv.open(path)
    clone = pickle.loads(pickle.dumps(vol))
    np.testing.assert_array_equal(clone.affine, vol.affine)
    assert clone.data.name == vol.data.name
    np.testing.assert_array_equal(clone.compute(), vol.compute())


def test_token_is_stable_and_follows_options(src: tuple[Path, np.ndarray]) -> None:
    path, _ = src
    assert lv.open(path).data.name == lv.open(path).data.name
    assert lv.open(path, dtype="float64").data.name != lv.open(path).data.name


def test_same_result_on_every_local_scheduler(src: tuple[Path, np.ndarray]) -> None:
    path, _ = src
    vol = lv.open(path, chunks={0: -1, 1: -1, 2: 4})
    total = vol.data.astype(np.float64).sum()
    sync = float(total.compute(scheduler="sync"))
    threads = float(total.compute(scheduler="threads"))
    with dask.config.set(num_workers=2):
        procs = float(total.compute(scheduler="processes"))
    assert sync == threads == procs


def test_no_leaked_file_descriptors(src: tuple[Path, np.ndarray]) -> None:
    path, _ = src
    lv.open(path).compute()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        lv.open(path, chunks={0: -1, 1: -1, 2: 3}).data.sum().compute()
    # A pooled rapidgzip handle keeps its .nii.gz open: at most MAX_HANDLES per file (one per
    # thread that read it at once), never one per read.
    from lazyvol.gzaccess import MAX_HANDLES

    slack = MAX_HANDLES if str(path).endswith(".gz") else 0
    assert len(os.listdir("/proc/self/fd")) <= before + slack


SLICERS = [
    (slice(None), slice(None), slice(5, 6)),
    (slice(2, 9, 3), slice(None, None, -2), slice(11, 1, -4)),
    (slice(3, 4), slice(5, 6), slice(7, 8)),
    (slice(-6, None), slice(1, -1), slice(None, None, 5)),
]


@pytest.mark.parametrize("index", SLICERS)
def test_slices_equal_the_reference(src: tuple[Path, np.ndarray], index: tuple) -> None:
    path, ref = src
    vol = lv.open(path, chunks={0: -1, 1: -1, 2: 4})
    sub = vol[index]
    got = sub.compute()
    assert got.dtype == vol.dtype
    expected = ref[index]
    if ref.dtype.kind in "iu" and vol.dtype.kind in "iu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    again = sub[1:, ...] if sub.shape[0] > 1 else sub[:, 1:] if sub.shape[1] > 1 else sub
    np.testing.assert_array_equal(
        again.compute(), got[1:] if sub.shape[0] > 1 else got[:, 1:] if sub.shape[1] > 1 else got
    )


# -- the public conformance kit (lazyvol.testing.ReaderTests) on every built-in reader and on the
# -- docs' toy reader ------------------------------------------------------------------------------


ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _docs_toy_module() -> str:
    """The toy reader exactly as docs/architecture.md defines it (the first code block of "How to
    add a format"), saved as an importable module: spawned dask workers import its read function."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text[text.index("## How to add a format") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None and "class ToyReader" in code.group(1)
    folder = tempfile.mkdtemp(prefix="lazyvol-docs-toy-")
    atexit.register(shutil.rmtree, folder, True)
    Path(folder, "lazyvol_docs_toy.py").write_text(code.group(1), encoding="utf-8")
    sys.path.insert(0, folder)  # spawned processes get the parent's sys.path
    return "lazyvol_docs_toy"


_toy = __import__(_docs_toy_module())


class TestNiftiReaderKit(ReaderTests):
    reader = NiftiReader()

    def make_source(self, tmp_path: Path) -> ReaderCase:
        # unscaled int16, 96 x 80 x 40 (600 KiB of pixels: enough to tell header from pixel reads)
        p = Path(write_phantom_nifti(tmp_path / "a.nii", (96, 80, 40), dtype="int16"))
        img = nib.load(p)
        return ReaderCase(p, np.asanyarray(img.dataobj), img.affine)


class TestNiftiGzScaledReaderKit(ReaderTests):
    reader = NiftiReader()

    def make_source(self, tmp_path: Path) -> ReaderCase:
        # noise, so the compressed file is large enough for the headers-only check (> 256 KiB)
        data = np.random.default_rng(1).integers(-2000, 4000, size=(96, 80, 40, 2)).astype(np.int16)
        img = nib.Nifti1Image(data, np.diag([1.5, 1.5, 3.0, 1.0]))
        img.header.set_slope_inter(2.0, -3.0)
        p = tmp_path / "a.nii.gz"
        nib.save(img, p)
        img = nib.load(p)
        return ReaderCase(p, np.asanyarray(img.dataobj), img.affine, exact_dtype=False)


class TestAnalyzePairReaderKit(ReaderTests):
    reader = NiftiReader()

    def make_source(self, tmp_path: Path) -> ReaderCase:
        data = np.random.default_rng(0).integers(-2000, 4000, size=(96, 80, 40)).astype(np.int16)
        affine = np.diag([1.0, 2.0, 3.0, 1.0])
        nib.save(nib.AnalyzeImage(data, affine), tmp_path / "c.hdr")
        return ReaderCase(tmp_path / "c.hdr", data, None)


class TestDicomReaderKit(ReaderTests):
    reader = DicomReader()
    claims_everything = True  # the catch-all: refuses what is not DICOM at open

    def make_source(self, tmp_path: Path) -> ReaderCase:
        # 128 KiB of pixels per file: a header read is small next to one file's pixel data
        truth = write_dicom_series(
            tmp_path / "series", (256, 256, 6), orientation="oblique", shuffle_names=True
        )
        return ReaderCase(tmp_path / "series", truth.stored, truth.affine)


class TestZarrReaderKit(ReaderTests):
    reader = ZarrReader()

    def make_source(self, tmp_path: Path) -> ReaderCase:
        data = np.random.default_rng(2).normal(size=(48, 40, 32, 2)).astype(np.float32)
        nii = tmp_path / "z.nii"  # noise: the store stays > 256 KiB (headers-only check)
        nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.5, 1.0])), nii)
        img = nib.load(nii)
        expected, affine = np.asanyarray(img.dataobj), img.affine
        lv.open(nii).to_zarr(tmp_path / "z.zarr")
        nii.unlink()  # the store is the source
        return ReaderCase(tmp_path / "z.zarr", expected, affine)


class TestDocsToyReaderKit(ReaderTests):
    reader = _toy.ToyReader()
    detects_changes_at_read = False  # the toy does not check its file at read time

    def make_source(self, tmp_path: Path) -> ReaderCase:
        path = tmp_path / "cube.toy"
        path.write_bytes(b"\x07")
        return ReaderCase(path, np.full((2, 2, 2), 7, np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))


# -- the kit fails readers that break the contract ---------------------------------------------------


def _case(kit: ReaderTests, tmp_path: Path) -> ReaderCase:
    (tmp_path / "source").mkdir()
    return kit.make_source(tmp_path / "source")


class _EagerNifti(NiftiReader):
    """Reads the whole file at open."""

    def open(self, source: str, **options: object) -> lv.Volume:
        Path(source).read_bytes()
        return super().open(source, **options)


class _PairBlindNifti(NiftiReader):
    """Forgets the .img of a .hdr/.img pair."""

    def source_files(self, source: str, **options: object) -> list[str]:
        return [os.path.abspath(source)]


class _RaisingToy(_toy.ToyReader):
    def can_open(self, source: str) -> bool:
        return Path(source).read_bytes()[:1] == b"\x07"  # raises on folders and missing paths


class _UncheckedToy(_toy.ToyReader):
    def open(self, source: str, **options: object) -> lv.Volume:
        import dask
        import dask.array as da

        block = dask.delayed(_toy._read_toy, pure=True)(os.path.abspath(source))
        return lv.Volume(da.from_delayed(block, (2, 2, 2), np.uint8), np.eye(4), source=source)


def test_kit_catches_pixel_reads_at_open(tmp_path: Path) -> None:
    kit = TestNiftiReaderKit()
    kit.reader = _EagerNifti()
    with pytest.raises(AssertionError, match="open read"):
        kit.test_open_reads_headers_only(_case(kit, tmp_path), tmp_path)


def test_kit_catches_incomplete_source_files(tmp_path: Path) -> None:
    kit = TestAnalyzePairReaderKit()
    kit.reader = _PairBlindNifti()
    with pytest.raises(AssertionError, match="only the files source_files lists"):
        kit.test_source_files_are_the_files_read(_case(kit, tmp_path), tmp_path)


def test_kit_catches_can_open_raising(tmp_path: Path) -> None:
    kit = TestDocsToyReaderKit()
    kit.reader = _RaisingToy()
    with pytest.raises(AssertionError, match="can_open raised"):
        kit.test_can_open_is_false_for_other_sources(tmp_path)


def test_kit_catches_untyped_errors_on_bad_input(tmp_path: Path) -> None:
    kit = TestDocsToyReaderKit()
    kit.reader = _UncheckedToy()
    with pytest.raises(IndexError):  # the truncated .toy fails inside the task, untyped
        kit.test_bad_input_raises_a_lazyvol_error(_case(kit, tmp_path), tmp_path)
