"""Synthetic test data with known truth, for tests, benchmarks and users' own experiments.

NIfTI files are written with nibabel's header and streamed slab by slab, so volumes larger than
memory can be made; DICOM series are written with pydicom (see :mod:`lazyvol.testing.dicom`).
"""

from __future__ import annotations

from .dicom import (
    DicomSeriesTruth,
    write_dicom_4d_series,
    write_dicom_series,
    write_enhanced_dicom,
)
from .mosaic import MosaicSeriesTruth, write_mosaic_series
from .nifti import phantom_slab, write_phantom_nifti

__all__ = [
    "DicomSeriesTruth",
    "MosaicSeriesTruth",
    "phantom_slab",
    "write_dicom_4d_series",
    "write_dicom_series",
    "write_enhanced_dicom",
    "write_mosaic_series",
    "write_phantom_nifti",
]
