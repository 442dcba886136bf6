"""The built-in readers (Zarr stores, NIfTI/Analyze files, DICOM files and folders) behind the
:class:`~lazyvol.formats.base.Reader` protocol, and :func:`open_source`, the one dispatch from a
source to its reader.

Format detection lives here and nowhere else: a Zarr store is a folder holding Zarr metadata, a
NIfTI file is known by its name or its magic bytes, and everything else — a folder, or a file with
or without the DICOM preamble — goes to the DICOM reader, which refuses what is not DICOM with a
:class:`~lazyvol.errors.FormatError`. Each reader imports its format's modules only when it opens.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import FormatError
from .formats.registry import pick
from .sources import stat_regular

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["DicomReader", "NiftiReader", "ZarrReader", "open_source", "sniff"]

_ZARR_METADATA = ("zarr.json", ".zgroup", ".zattrs")
_NIFTI_PAIRS = ((".hdr", (".img", ".IMG")), (".hdr.gz", (".img.gz",)))


def sniff(path: str) -> str:
    """Format of a single file by its name or content: ``'nifti'``, ``'dicom'`` or ``'unknown'``.

    Reads at most 544 bytes; a FIFO, socket or device is refused before any open (and the open is
    non-blocking, so a path swapped for a FIFO after the check cannot block either).
    """
    from .nifti import is_nifti_path

    if is_nifti_path(path):
        return "nifti"
    stat_regular(path, what="source file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        head = os.pread(fd, 544, 0)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read: {exc}") from exc
    finally:
        os.close(fd)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 348 and (
        head[344:348] in (b"n+1\0", b"ni1\0")
        or head[4:12] in (b"n+2\0\r\n\x1a\n", b"ni2\0\r\n\x1a\n")
    ):
        return "nifti"
    return "unknown"


def _walk(folder: str) -> list[str]:
    out: list[str] = []
    for root, _dirs, names in os.walk(folder):
        out.extend(os.path.join(root, n) for n in names)
    return sorted(out)


class ZarrReader:
    """Zarr stores (lazyvol's own, OME-Zarr 0.4/0.5 and NIfTI-Zarr written by other tools)."""

    name = "zarr"
    priority = 10

    def can_open(self, source: str) -> bool:
        return os.path.isdir(source) and any(
            os.path.isfile(os.path.join(source, n)) for n in _ZARR_METADATA
        )

    def open(self, source: str, **options: Any) -> Volume:
        import numpy as np

        from .volume import Volume
        from .zarr_io import open_zarr

        # A store holds the values as they were written (already scaled or not): ``scale`` and
        # ``series`` have nothing left to do, ``dtype`` converts lazily.
        options.pop("scale", None)
        options.pop("series", None)
        dtype = options.pop("dtype", None)
        vol = open_zarr(source, **options)
        if dtype is not None and np.dtype(dtype) != vol.dtype:
            vol = Volume(vol.data.astype(dtype), vol.affine, meta=vol.meta, source=vol.source)
        return vol

    def source_files(self, source: str, **options: Any) -> list[str]:
        return _walk(os.path.abspath(source))

    def describe(self, source: str) -> dict[str, Any]:
        return {"format": "Zarr", "path": os.path.abspath(source)}


class NiftiReader:
    """NIfTI-1/2 and Analyze files (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs)."""

    name = "nifti"
    priority = 20

    def can_open(self, source: str) -> bool:
        return os.path.isfile(source) and sniff(source) == "nifti"

    def open(self, source: str, **options: Any) -> Volume:
        from .nifti import open_nifti

        series = options.pop("series", None)
        known = {k: options.pop(k) for k in ("chunks", "scale", "dtype") if k in options}
        if options:
            raise TypeError(f"unexpected options for a NIfTI file: {sorted(options)}")
        if series is not None:
            raise TypeError(
                f"{source}: series= applies to DICOM folders; a NIfTI file is one volume"
            )
        return open_nifti(source, **known)

    def source_files(self, source: str, **options: Any) -> list[str]:
        """The file, plus the ``.img`` of an Analyze/NIfTI-pair ``.hdr``."""
        path = os.path.abspath(source)
        out = [path]
        low = path.lower()
        for hdr_ext, img_exts in _NIFTI_PAIRS:
            if low.endswith(hdr_ext):
                stem = path[: -len(hdr_ext)]
                out.extend(stem + e for e in img_exts if os.path.isfile(stem + e))
                break
        return out

    def describe(self, source: str) -> dict[str, Any]:
        return {"format": "NIfTI", "path": os.path.abspath(source)}


class DicomReader:
    """DICOM files (with or without the preamble) and folders of them (searched recursively).

    The catch-all: asked last, it accepts any folder and any regular file; the DICOM reader
    refuses what is not DICOM with a :class:`~lazyvol.errors.FormatError`.
    """

    name = "dicom"
    priority = 90

    def can_open(self, source: str) -> bool:
        return os.path.isdir(source) or os.path.isfile(source)

    def open(self, source: str, **options: Any) -> Volume:
        from .dicom import open_dicom

        return open_dicom(source, **options)

    def source_files(self, source: str, **options: Any) -> list[str]:
        vol = self.open(source, **options)
        return [os.path.abspath(f) for f in vol.meta.get("files", [])]

    def describe(self, source: str) -> dict[str, Any]:
        return {"format": "DICOM", "path": os.path.abspath(source)}


def open_source(
    path: str,
    *,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open ``path`` with the reader the registry picks for it, without any cache."""
    reader = pick(path)
    return reader.open(path, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
