"""NIfTI code tables as nibabel defines them: data types, units, intents.

``tests/test_nifti_header_parse.py`` checks them against nibabel's own recoders.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COMPONENT_INTENTS",
    "DATA_TYPES",
    "INTENTS",
    "NIFTI_SUFFIXES",
    "OTHER_COMPRESSED_SUFFIXES",
    "UNITS",
    "field_label",
    "xyzt_unit_names",
]

#: File name endings of NIfTI-1/2 and Analyze 7.5 files (single-file and header/image pairs,
#: gzipped or not), matched lower-cased.
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".hdr", ".img", ".hdr.gz", ".img.gz")
#: Endings of NIfTI/Analyze files compressed otherwise than with gzip (nibabel reads ``.bz2`` and
#: ``.zst``): known by name, so that opening one says what it is and how to read it; not read.
OTHER_COMPRESSED_SUFFIXES = tuple(
    f"{kind}{packed}" for kind in (".nii", ".hdr", ".img") for packed in (".bz2", ".xz", ".zst")
)


def _binary128() -> bool:
    """nibabel's ``have_binary128``: ``longdouble`` is IEEE binary128 (not x87 80-bit)."""
    info = np.finfo(np.longdouble)
    return bool(info.nmant == 112 and info.nexp == 15)


#: NIfTI ``datatype`` code -> numpy dtype (nibabel's ``data_type_codes``); None for the codes
#: nibabel knows but cannot read (``binary``, ``none``, ``all``; ``float128``/``complex256``
#: unless ``longdouble`` is IEEE binary128).
DATA_TYPES: dict[int, np.dtype | None] = {
    0: None,
    1: None,
    2: np.dtype("u1"),
    4: np.dtype("i2"),
    8: np.dtype("i4"),
    16: np.dtype("f4"),
    32: np.dtype("c8"),
    64: np.dtype("f8"),
    128: np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]),
    255: None,
    256: np.dtype("i1"),
    512: np.dtype("u2"),
    768: np.dtype("u4"),
    1024: np.dtype("i8"),
    1280: np.dtype("u8"),
    1536: np.dtype(np.longdouble) if _binary128() else None,
    1792: np.dtype("c16"),
    2048: np.dtype(np.clongdouble) if _binary128() else None,
    2304: np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")]),
}

#: nibabel's ``unit_codes`` labels (``get_xyzt_units``).
UNITS = {
    0: "unknown",
    1: "meter",
    2: "mm",
    3: "micron",
    8: "sec",
    16: "msec",
    24: "usec",
    32: "hz",
    40: "ppm",
    48: "rads",
}
_SPACE_MASK, _TIME_MASK = 0x07, 0x38  # nifti1.h: XYZT_TO_SPACE, XYZT_TO_TIME


def xyzt_unit_names(code: int) -> tuple[str, str]:
    """``(space unit, time unit)`` of an ``xyzt_units`` value, by the NIfTI standard's masks
    (nifti1.h ``XYZT_TO_SPACE``: bits 0-2, ``XYZT_TO_TIME``: bits 3-5; nifti_clib, FSL and ITK
    read them so): bits outside both, which some writers set, do not hide the units, and an
    undefined code in one part (space 4-7, time 56) is ``"unknown"`` without losing the other.
    nibabel's ``get_xyzt_units`` raises a KeyError for either; where it answers, this agrees."""
    space, time = int(code) & _SPACE_MASK, int(code) & _TIME_MASK
    return UNITS.get(space, "unknown"), UNITS.get(time, "unknown")


#: nibabel's ``intent_codes`` labels (``get_intent``).
INTENTS = {
    0: "none",
    2: "correlation",
    3: "t test",
    4: "f test",
    5: "z score",
    6: "chi2",
    7: "beta",
    8: "binomial",
    9: "gamma",
    10: "poisson",
    11: "normal",
    12: "non central f test",
    13: "non central chi2",
    14: "logistic",
    15: "laplace",
    16: "uniform",
    17: "non central t test",
    18: "weibull",
    19: "chi",
    20: "inverse gaussian",
    21: "extreme value 1",
    22: "p value",
    23: "log p value",
    24: "log10 p value",
    1001: "estimate",
    1002: "label",
    1003: "neuroname",
    1004: "general matrix",
    1005: "symmetric matrix",
    1006: "displacement vector",
    1007: "vector",
    1008: "pointset",
    1009: "triangle",
    1010: "quaternion",
    1011: "dimensionless",
    2001: "time series",
    2002: "node index",
    2003: "rgb vector",
    2004: "rgba vector",
    2005: "shape",
    2006: "fnirt disp field",
    2007: "fnirt cubic spline coef",
    2008: "fnirt dct coef",
    2009: "fnirt quad spline coef",
    2016: "topup cubic spline coef ",
    2017: "topup quad spline coef",
    2018: "topup field",
    3000: "ConnUnknown",
    3001: "ConnDense",
    3002: "ConnDenseSeries",
    3003: "ConnParcels",
    3004: "ConnParcelSries",
    3006: "ConnDenseScalar",
    3007: "ConnDenseLabel",
    3008: "ConnParcelScalr",
    3009: "ConnParcelDense",
    3010: "ConnDenseParcel",
    3011: "ConnPPSr",
    3012: "ConnPPSc",
}


#: NIfTI intents (nibabel's names) whose values are the components of one vector or matrix per
#: voxel: stored on dim[5] by the standard, on dim[4] by FSL (fnirt/topup fields and coefficients,
#: dtifit's V1 with an intent set) and by a 4-D file written from a cut of a 5-D one.
COMPONENT_INTENTS = frozenset(
    {
        "vector",
        "displacement vector",
        "rgb vector",
        "rgba vector",
        "general matrix",
        "symmetric matrix",
        "quaternion",
        "fnirt disp field",
        "fnirt cubic spline coef",
        "fnirt dct coef",
        "fnirt quad spline coef",
        "topup cubic spline coef",
        "topup quad spline coef",
    }
)


def field_label(fmt: str) -> str:
    """How messages name a header field of a ``ParsedHeader.format``: ``"Analyze field"`` for an
    Analyze 7.5 header (no NIfTI magic), else ``"NIfTI field"``."""
    return "Analyze field" if fmt == "analyze" else "NIfTI field"
