"""Benchmark data, generated once into the data folder (``benchmarks/.data/`` by default).

Files are written with lazyvol's public synthetic writers (:mod:`lazyvol.testing`): realistic
content (a head-like phantom with noise, gzip ratio like a real scan), streamed slab by slab so any
size fits in bounded memory. A file is written to a temporary name and renamed when complete, so an
interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def nifti_name(shape: Sequence[int], dtype: str, gz: bool) -> str:
    dims = "x".join(str(int(s)) for s in shape)
    return f"phantom_{dims}_{np.dtype(dtype).name}.nii" + (".gz" if gz else "")


def generating(what: str | os.PathLike[str]) -> None:
    """Say on stderr that data is being generated (a full-size file takes a minute or more)."""
    print(f"  generating {what}", file=sys.stderr, flush=True)


def nifti(data_dir: Path, shape: Sequence[int], dtype: str = "int16", gz: bool = False) -> str:
    """Path of a phantom NIfTI of ``shape``/``dtype``, generating it on first use."""
    from lazyvol.testing import write_phantom_nifti

    path = data_dir / "nifti" / nifti_name(shape, dtype, gz)
    if not path.exists():
        generating(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_phantom_nifti(path, tuple(int(s) for s in shape), dtype=dtype)
    return str(path)


def nifti_info(path: str) -> dict[str, Any]:
    """Header facts of a NIfTI file: shape, dtype, vox_offset, data bytes and total stream bytes."""
    import nibabel as nib

    img: Any = nib.load(path)
    shape = tuple(int(s) for s in img.shape)
    dtype = img.get_data_dtype()
    offset = int(img.dataobj.offset)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return {
        "path": os.path.abspath(path),
        "shape": list(shape),
        "dtype": dtype.str,
        "offset": offset,
        "nbytes": nbytes,
        "stream_bytes": offset + nbytes,
        "gz": path.lower().endswith(".gz"),
        "file_bytes": os.path.getsize(path),
        "scaled": bool(
            np.isfinite(img.dataobj.slope)
            and (img.dataobj.slope != 1.0 or img.dataobj.inter != 0.0)
        ),
        # nibabel's scaling of the stored values (1, 0 when none): what a raw read must apply to
        # give the values every other tool gives
        "slope": float(img.dataobj.slope) if np.isfinite(img.dataobj.slope) else 1.0,
        "inter": float(img.dataobj.inter) if np.isfinite(img.dataobj.inter) else 0.0,
    }


#: Tools whose timed work has no lazy imports (external commands, numpy/indexed_gzip/rapidgzip imported in the
#: untimed preparation) or whose warm-up would need more than a path (a cluster): no warm-up call.
NO_WARMUP = {
    "gzip_cli",
    "cat_files",
    "dcm2niix_convert",
    "memmap_mean",
    "igzip_read",
    "igzip_parallel",
    "rapidgzip_read",
    "zlib_read",
    "cluster_mean",
    "cluster_start",
}
TINY = (16, 16, 8)
#: Slice size of the tiny compressed DICOM warm-up series.
COMPRESSED_TINY = 64


def warmup_source(data_dir: Path, path: str) -> str | None:
    """A tiny source of the same kind as ``path`` (format, dtype, compression) for a warm-up call."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        info = nifti_info(path)
        return nifti(
            data_dir / "warmup", TINY, np.dtype(info["dtype"]).newbyteorder("=").name, info["gz"]
        )
    if p.is_dir() and (p / "zarr.json").exists():
        if json.loads((p / "zarr.json").read_text()).get("node_type") == "array":
            # A plain Zarr array (the zarr-python baseline's store), not one of lazyvol's groups:
            # zarr.open_array cannot read lazyvol's tiny store, and the warm-up failed silently.
            plain = data_dir / "warmup" / "tiny_plain.zarr"
            if not plain.exists():
                from .cases.zarr import _write_plain_store

                tiny = nifti(data_dir / "warmup", TINY, "int16", False)
                tmp = plain.with_name(plain.name + ".partial")
                shutil.rmtree(tmp, ignore_errors=True)
                _write_plain_store(tiny, str(tmp), "int16")
                os.replace(tmp, plain)
            return str(plain)
        store = data_dir / "warmup" / "tiny.zarr"
        if not store.exists():
            import lazyvol as lv

            lv.open(nifti(data_dir / "warmup", TINY, "int16", False)).to_zarr(store)
        return str(store)
    if p.is_dir():
        from .cases import dicom

        kind = next(
            (k for k, s in dicom.SYNTAXES.items() if name.endswith("_" + k.split()[0].lower())),
            None,
        )
        base = data_dir / "warmup" / "dicom"
        if _is_mosaic(p):
            # A mosaic's first read parses its Siemens CSA header (nibabel's parser: nibabel and
            # pydicom are imported then): a plain series would leave that in the warm column.
            target = base / "tiny_mosaic"
            if not target.exists():
                from lazyvol.testing import write_mosaic_series

                tmp = base / "tiny_mosaic.partial"
                shutil.rmtree(tmp, ignore_errors=True)  # an interrupted run's leftovers
                write_mosaic_series(tmp, (8, 8, 4), volumes=2, orientation="oblique")
                os.replace(tmp, target)
            return str(target)
        # A compressed kind is made from 64 x 64 slices: openjpeg refuses a 16 x 16 image (too
        # small for its resolution levels), and a failed warm-up left the decoder's first-call
        # set-up in every JPEG 2000 tool's warm column.
        ni, nj = (TINY[0], TINY[1]) if kind is None else (COMPRESSED_TINY, COMPRESSED_TINY)
        plain = base / ("tiny" if kind is None else f"tiny_{ni}")
        if not plain.exists():
            base.mkdir(parents=True, exist_ok=True)
            dicom.write_series(str(plain), (ni, nj, 4))
        if kind is None:
            return str(plain)
        target = base / f"tiny_{kind.split()[0].lower()}"
        if not target.exists():
            dicom.compress_series(str(plain), str(target), dicom.SYNTAXES[kind], 4)
        return str(target)
    return None


def _is_mosaic(folder: Path) -> bool:
    """True when the first DICOM file of ``folder`` is a Siemens mosaic (ImageType MOSAIC)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .cases.dicom import _files

    for f in _files(str(folder))[:8]:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["ImageType"])
        except (InvalidDicomError, OSError, ValueError):
            continue
        return "MOSAIC" in [str(v).upper() for v in (ds.get("ImageType") or [])]
    return False


def add_warmup(data_dir: Path, m: Any) -> None:
    """Give measure ``m`` an untimed warm-up call of the same tool on a tiny source of the same kind.

    The first call of a library in a process pays lazy imports (nibabel's optional packages,
    pydicom's handlers, dask's thread pool...): that is not what any case measures, so every tool
    calls itself once on a tiny different file before the timed work, and none of its per-file state
    (handles, indexes, caches) can help the measured file.
    """
    if m.func in NO_WARMUP or m.skip:
        return
    key = "path" if "path" in m.args else ("folder" if "folder" in m.args else None)
    if key is None:
        return
    try:
        tiny = warmup_source(data_dir, m.args[key])
    except (ImportError, AttributeError, OSError, ValueError):
        return
    if tiny is None:
        return
    warm = {key: tiny}
    for k in ("store", "cache", "out_dir"):
        if k in m.args:
            warm[k] = str(m.args[k]) + "-warmup"
    m.args["warmup"] = warm


# -- DICOM headers shaped like real ones -----------------------------------------------------------

#: Real scanner files whose header is the template of the "real-shaped" series (GE EPI: ~100
#: public attributes, ~240 private ones, sequences), looked up in ``LAZYVOL_REAL_DICOM`` or in
#: ``shared/dicom-real`` beside the checkout.
REAL_TEMPLATE = ("dcm_qa_nih", "In", "20180918GE", "mr_0004")


def real_dicom_dir() -> Path | None:
    """The real-data folder (``LAZYVOL_REAL_DICOM``, else ``shared/dicom-real`` next to the repo)."""
    env = os.environ.get("LAZYVOL_REAL_DICOM")
    if env:  # set: that folder or nothing (a missing folder means "no real data")
        return Path(env) if Path(env).is_dir() else None
    repo = Path(__file__).resolve().parents[1]
    for cand in (p / "shared" / "dicom-real" for p in (repo.parent, repo.parent.parent)):
        if cand.is_dir():
            return cand
    return None


def _template_header() -> tuple[Any, str]:
    """A real header to copy (and where it came from), or a rich synthetic one if none is at hand."""
    import pydicom

    root = real_dicom_dir()
    if root is not None:
        files = sorted(root.joinpath(*REAL_TEMPLATE).glob("*.dcm"))
        if files:
            ds = pydicom.dcmread(files[0])
            return ds, f"header of a real GE EPI file ({'/'.join(REAL_TEMPLATE)}/{files[0].name})"
    return _synthetic_rich_header(), (
        "synthetic rich header (no real DICOM folder at hand: set LAZYVOL_REAL_DICOM): "
        "~90 public attributes, 2 private groups, 3 sequences"
    )


def _synthetic_rich_header() -> Any:
    """A header with the shape of a scanner's: many public attributes, private groups, sequences."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import MRImageStorage, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.Manufacturer = "SYNTHETIC"
    texts = [
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "StationName",
        "StudyDescription",
        "SeriesDescription",
        "InstitutionalDepartmentName",
        "PerformingPhysicianName",
        "OperatorsName",
        "ManufacturerModelName",
        "PatientName",
        "PatientID",
        "PatientSex",
        "PatientAge",
        "BodyPartExamined",
        "ScanningSequence",
        "SequenceVariant",
        "ScanOptions",
        "MRAcquisitionType",
        "SequenceName",
        "DeviceSerialNumber",
        "SoftwareVersions",
        "ProtocolName",
        "TransmitCoilName",
        "InPlanePhaseEncodingDirection",
        "PatientPosition",
        "AccessionNumber",
        "StudyID",
        "ImageType",
        "PositionReferenceIndicator",
    ]
    for i, kw in enumerate(texts):
        setattr(ds, kw, f"VALUE{i:02d}" if kw != "ImageType" else ["ORIGINAL", "PRIMARY"])
    numbers = {
        "SliceThickness": 3.0,
        "RepetitionTime": 2000.0,
        "EchoTime": 30.0,
        "NumberOfAverages": 1,
        "ImagingFrequency": 127.7,
        "MagneticFieldStrength": 3.0,
        "EchoTrainLength": 1,
        "PercentSampling": 100,
        "PercentPhaseFieldOfView": 100,
        "PixelBandwidth": 7812.0,
        "FlipAngle": 90,
        "SAR": 0.5,
        "SpacingBetweenSlices": 3.0,
        "EchoNumbers": 1,
        "WindowCenter": 100,
        "WindowWidth": 200,
    }
    for kw, v in numbers.items():
        setattr(ds, kw, v)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = "120000.000000"
    ds.PatientBirthDate = "19700101"
    ds.FrameOfReferenceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesNumber = 4
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [-100.0, -100.0, 0.0]
    ds.PixelSpacing = [3.75, 3.75]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ref = Dataset()
    ref.ReferencedSOPClassUID = MRImageStorage
    ref.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = [ref, ref]
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-A0100", "SRT", "Brain"
    ds.AnatomicRegionSequence = [region]
    ds.ReferencedPerformedProcedureStepSequence = [ref]
    for group, n in ((0x0019, 60), (0x0043, 60)):
        block = ds.private_block(group, "SYNTHETIC_PRIVATE", create=True)
        for e in range(n):
            if e % 3 == 0:
                block.add_new(0x10 + e, "DS", f"{e * 1.5:.1f}")
            elif e % 3 == 1:
                block.add_new(0x10 + e, "SS", e)
            else:
                block.add_new(0x10 + e, "LO", f"private{e}")
    return ds


def dicom_real_shaped(folder: str, n: int, seed: int = 0, matrix: int | None = None) -> str:
    """``n`` slices of one series whose headers are a real scanner header (new UIDs, positions,
    instance numbers, pixel data); returns where the template came from. Written into a
    temporary folder, renamed when complete; ``<folder>.template.txt`` records the source.
    ``matrix``: slices of ``matrix`` x ``matrix`` pixels instead of the template's size."""
    import shutil

    import pydicom
    from pydicom.uid import generate_uid

    done = Path(folder + ".template.txt")
    if done.exists() and Path(folder).is_dir():
        return done.read_text().strip()
    generating(folder)
    template, source = _template_header()
    tmp = folder + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if matrix:
        template.Rows = template.Columns = int(matrix)
    rows, cols = int(template.Rows), int(template.Columns)
    iop = np.array([float(x) for x in template.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    origin = np.array([float(x) for x in template.ImagePositionPatient])
    step = float(template.get("SpacingBetweenSlices", 0) or template.get("SliceThickness", 1) or 1)
    series_uid = generate_uid()
    rng = np.random.default_rng(seed)
    template.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    for key in ("NumberOfFrames", "PerFrameFunctionalGroupsSequence"):
        if key in template:
            del template[key]
    template.SeriesInstanceUID = series_uid
    template.BitsAllocated, template.BitsStored, template.HighBit = 16, 16, 15
    template.PixelRepresentation = 1
    template.SamplesPerPixel = 1
    for k in range(n):
        uid = generate_uid()
        template.SOPInstanceUID = uid
        template.file_meta.MediaStorageSOPInstanceUID = uid
        template.InstanceNumber = k + 1
        pos = origin + k * step * normal
        template.ImagePositionPatient = [f"{x:.4f}" for x in pos]
        if "SliceLocation" in template:
            template.SliceLocation = f"{float(pos @ normal):.4f}"
        template.PixelData = rng.integers(0, 2000, (rows, cols), dtype=np.int16).tobytes()
        template.save_as(os.path.join(tmp, f"IM{k + 1:05d}.dcm"), enforce_file_format=True)
    os.replace(tmp, folder)
    done.write_text(source + "\n")
    return source
