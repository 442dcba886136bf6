"""Synthetic test data with known truth, for tests, benchmarks and users' own experiments.

NIfTI files are written with nibabel's header and streamed slab by slab, so volumes larger than
memory can be made; DICOM series are written with pydicom (see :mod:`lazyvol.testing.dicom`);
OME-Zarr images as other tools write them with zarr-python (:mod:`lazyvol.testing.ome_zarr`).

:class:`ReaderTests` (with :class:`ReaderCase`) is the reader conformance kit
(:mod:`lazyvol.testing.conformance`): a pytest base class every reader -- built in or third-party --
subclasses to check the :class:`~lazyvol.formats.base.Reader` contract. It is loaded on first use,
since it needs pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dicom import (
    DicomSeriesTruth,
    dicom_time,
    write_dicom_4d_series,
    write_dicom_series,
    write_enhanced_dicom,
    write_nm_tomo,
)
from .mosaic import MosaicSeriesTruth, write_mosaic_series, write_uih_grid_series
from .nifti import phantom_slab, write_phantom_nifti
from .ome_zarr import ome_zarr_attributes, write_ome_zarr

if TYPE_CHECKING:
    from .conformance import ReaderCase, ReaderTests


def __getattr__(name: str) -> Any:
    """``ReaderTests`` and ``ReaderCase``, imported on first use (they need pytest)."""
    if name in ("ReaderTests", "ReaderCase"):
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module 'lazyvol.testing' has no attribute {name!r}")


__all__ = [
    "DicomSeriesTruth",
    "MosaicSeriesTruth",
    "ReaderCase",
    "ReaderTests",
    "dicom_time",
    "ome_zarr_attributes",
    "phantom_slab",
    "write_dicom_4d_series",
    "write_dicom_series",
    "write_enhanced_dicom",
    "write_mosaic_series",
    "write_nm_tomo",
    "write_ome_zarr",
    "write_phantom_nifti",
    "write_uih_grid_series",
]
