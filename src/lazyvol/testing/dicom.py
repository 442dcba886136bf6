"""Synthetic DICOM with known truth (written with pydicom).

:func:`write_dicom_series` writes one single-frame image file per slice of a volume whose voxel
values, geometry (RAS affine) and rescale parameters are known exactly, in any orientation, with the
encodings real archives use (implicit/explicit VR, big endian, 8/16/32-bit, signed/unsigned,
BitsStored < BitsAllocated), and with the traps lazyvol must get right (reversed instance numbers,
shuffled file names, gantry tilt, per-slice rescale). :func:`write_enhanced_dicom` writes one
enhanced multi-frame file, :func:`write_dicom_4d_series` a 4D series of single-frame files,
:func:`write_nm_tomo` a SPECT reconstruction (NM multi-frame).
"""

from __future__ import annotations

from .dicom_4d import write_dicom_4d_series
from .dicom_base import (
    DicomSeriesTruth,
    _ds_str,
    _phantom_values,
    dicom_time,
    orientation_cosines,
)
from .dicom_enhanced import write_enhanced_dicom
from .dicom_nm import write_nm_tomo
from .dicom_series import write_dicom_series, write_series

__all__ = [
    "DicomSeriesTruth",
    "_ds_str",
    "_phantom_values",
    "dicom_time",
    "orientation_cosines",
    "write_dicom_4d_series",
    "write_dicom_series",
    "write_enhanced_dicom",
    "write_nm_tomo",
    "write_series",
]
