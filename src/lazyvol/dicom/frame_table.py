"""A stacked volume's frame table (:class:`FrameTable`: where each frame is and how it is stored),
its rescale pairs and its output dtype: the last step of :func:`lazyvol.dicom.stacking.build_volume`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..scaled_dtypes import scaled_dtype_bits, scaled_dtype_images
from .bids_extra import printed
from .model import NATIVE_SYNTAXES, FrameTable, pixel_encoding, stored_dtype
from .records import FrameRecord
from .vendor import SAME_FLOAT

__all__ = [
    "STORED_DTYPES",
    "dicom_rescale",
    "frame_table",
    "output_dtype",
    "philips_keys",
    "rescale_pair",
    "stored_dtypes_warning",
]

#: How the warning about images stored in several dtypes begins.
STORED_DTYPES = "BitsAllocated/PixelRepresentation (0028,0100)/(0028,0103) differ between the files"


def output_dtype(frames: FrameTable) -> np.dtype:
    """The dtype holding every image's rescaled values exactly where it can: from the widest
    BitsStored (:func:`~lazyvol.scaled_dtypes.scaled_dtype_bits`); when the images differ in stored
    dtype, from each one's own range and rescale (:func:`~lazyvol.scaled_dtypes.scaled_dtype_images`).
    A compressed image's range is that of the precision its decoder returns when wider
    (``FrameTable.value_kinds``). Filled-in slices (no file) do not count."""
    images = [
        (np.dtype(t), b, s, i)
        for (t, b), s, i, p in zip(
            frames.value_kinds(), frames.slopes, frames.inters, frames.paths, strict=True
        )
        if p
    ]
    if frames.stored_types:
        return scaled_dtype_images(images)
    bits = max(b for _, b, _, _ in images)
    return scaled_dtype_bits(frames.stored_dtype, bits, [(s, i) for _, _, s, i in images])


def frame_table(
    first: FrameRecord,
    slots_all: list[FrameRecord | None],
    scale_of: dict[int, tuple[float, float]],
) -> FrameTable:
    """Where each frame is (k fastest, then the 4th axis; filled-in slices have no file)."""
    remote = any(r.etag for r in slots_all if r)
    encodings = tuple(pixel_encoding(r) if r else "" for r in slots_all)
    stored_bits = tuple((r or first).bits_stored for r in slots_all)
    stored_types = tuple(stored_dtype(r or first) for r in slots_all)
    inflate_from = tuple(r.deflated[0] if r and r.deflated else -1 for r in slots_all)
    return FrameTable(
        paths=tuple(r.path if r else "" for r in slots_all),
        offsets=tuple(r.pixel_offset if r else -1 for r in slots_all),
        slopes=tuple(scale_of[id(r)][0] if r else 1.0 for r in slots_all),
        inters=tuple(scale_of[id(r)][1] if r else 0.0 for r in slots_all),
        sizes=tuple(r.size if r else 0 for r in slots_all),
        lengths=tuple(
            (r.pixel_length if r.number_of_frames > 1 else -1) if r else -1 for r in slots_all
        ),
        rows=first.rows,
        columns=first.columns,
        bits_allocated=first.bits_allocated,
        bits_stored=first.bits_stored,
        signed=bool(first.pixel_representation),
        little_endian=NATIVE_SYNTAXES.get(first.transfer_syntax, (False, True))[1],
        pixel_vr=first.pixel_vr,
        transfer_syntax=first.transfer_syntax,
        photometric=first.photometric,
        idents=tuple(
            (r.size, r.mtime_ns, r.inode, r.ctime_ns) if r else (0, 0, 0, 0) for r in slots_all
        ),
        etags=tuple(r.etag if r else "" for r in slots_all) if remote else (),
        encodings=encodings if len(set(encodings) - {""}) > 1 else (),
        stored_bits=stored_bits if len(set(stored_bits)) > 1 else (),
        stored_types=stored_types if len(set(stored_types)) > 1 else (),
        inflate_from=inflate_from if max(inflate_from, default=-1) >= 0 else (),
        flip_rows=bool((first.acq or {}).get("_ge_reversed")),
        decoded_bits=max(
            (r.codestream_bits for r in slots_all if r and r.codestream_bits > r.bits_stored),
            default=0,
        ),
    )


def dicom_rescale(r: FrameRecord) -> tuple[float, float]:
    """(slope, intercept) an image's DICOM attributes give its values: RescaleSlope/
    RescaleIntercept (a slope of 0 read as 1), where a Philips image's real-world value mapping
    replaces a slope of 1 / an intercept of 0 (dcm2niix's rule, ``FrameRecord.philips_rwv``)."""
    slope, inter = r.rescale_slope or 1.0, r.rescale_intercept
    rwv = getattr(r, "philips_rwv", None)
    if rwv:
        slope = rwv[0] if abs(slope - 1) <= SAME_FLOAT else slope
        inter = rwv[1] if abs(inter) <= SAME_FLOAT else inter
    return slope, inter


def rescale_pair(r: FrameRecord, philips_fp: bool) -> tuple[float, float]:
    """(slope, intercept) applied to stored values: DICOM rescale (:func:`dicom_rescale`), or
    Philips floating point. A RescaleSlope of 0 is read as 1
    (:func:`~lazyvol.dicom.checks.check_records` does so, with a warning, before the volume's
    pairs are taken; duplicates are compared before that)."""
    slope, inter = dicom_rescale(r)
    ss = r.philips_scale_slope
    if philips_fp and ss:
        return 1.0 / ss, inter / (slope * ss)
    return slope, inter


def philips_keys(first: FrameRecord, fp: bool) -> dict[str, Any]:
    """The Philips scaling keys of a sidecar, from a volume's first image, as dcm2niix writes them:
    PhilipsRWVSlope / PhilipsRWVIntercept where a real-world value mapping states a value other
    than 1 / 0 (``FrameRecord.philips_rwv``, applied or not); PhilipsRescaleSlope /
    PhilipsRescaleIntercept (:func:`dicom_rescale`), PhilipsScaleSlope (2005,100E) and
    UsePhilipsFloatNotDisplayScaling where it states a scale slope: 1 when the values are the
    floating-point ones (``fp``: philips_scaling="fp"; or both scalings agree), else 0 (dcm2niix writes its ``-p``
    option, 1 by default, whether it applied it or not; lazyvol says which values it gives)."""
    out: dict[str, Any] = {}
    rwv = getattr(first, "philips_rwv", None)
    if rwv:
        out["PhilipsRWVSlope"], out["PhilipsRWVIntercept"] = (printed(v) for v in rwv)
    if first.philips_scale_slope:
        slope, inter = dicom_rescale(first)
        same = abs(slope * first.philips_scale_slope - 1) <= 1e-6  # (the two scalings agree)
        out["UsePhilipsFloatNotDisplayScaling"] = int(fp or same)
        out["PhilipsRescaleSlope"], out["PhilipsRescaleIntercept"] = printed(slope), printed(inter)
        out["PhilipsScaleSlope"] = printed(first.philips_scale_slope)
    return out


def philips_scaling(frames: list[FrameRecord], use_fp: bool) -> tuple[str | None, bool]:
    """``(meta["philips_scaling"] or None, warn)`` of a volume's images.

    With ``use_fp`` (``philips_scaling="fp"``): the formula, or a warning when some images have no
    Philips scale slope (2005,100E). Without: when the images carry a scale slope that makes the
    floating-point values differ from the RescaleSlope/RescaleIntercept ones, a note saying which
    ones these are. dcm2niix's precise-float option (-p y, its default) writes the floating-point
    values only when every image of a file it writes shares one RescaleSlope, RescaleIntercept and
    scale slope (one scaling per volume, and per echo: it writes each echo apart). When they vary,
    an enhanced file's frames are written as display values, as lazyvol gives them by default (no
    warning); images stored one per file as display values in 32-bit floats under the first
    image's floating-point scaling in the NIfTI header (scl_slope 1 / SS, scl_inter
    RI / (RS * SS): checked against dcm2niix), so dcm2niix's scaled values are neither: a warning.
    A warning too where the scalings are uniform and lazyvol's display values are not dcm2niix's
    floating-point ones. Either way, images whose real-world value mapping replaced their rescale
    (:func:`dicom_rescale`) are said (:func:`_rwv_note`).
    """
    note, warn = _scale_slope_note(frames, use_fp)
    rwv = _rwv_note(frames)
    if rwv:
        note = f"{note}; {rwv}" if note else f"rescale: scaled values (scale=True) are {rwv}"
    return note, warn


def _scale_slope_note(frames: list[FrameRecord], use_fp: bool) -> tuple[str | None, bool]:
    """:func:`philips_scaling` of the private scale slope (2005,100E)."""
    n_fp = sum(1 for r in frames if r.philips_scale_slope and r.rescale_slope)
    # dcm2niix writes each echo to a file of its own: one scaling per echo is "one per volume".
    echoes: dict[tuple[Any, Any], set[tuple[Any, ...]]] = {}
    for r in frames:
        scaling = (*dicom_rescale(r), r.philips_scale_slope)
        echoes.setdefault((r.echo_number, r.echo_time), set()).add(scaling)
    uniform = all(len(scalings) <= 1 for scalings in echoes.values())
    classic = all(r.number_of_frames == 1 and r.mosaic is None for r in frames)
    varying = _DCM2NIIX_CLASSIC if classic else _DCM2NIIX_VARYING
    if use_fp:
        if n_fp == len(frames):
            return (
                "fp: (stored * RescaleSlope + RescaleIntercept) / (RescaleSlope * scale slope "
                "(2005,100E))" + ("" if uniform else varying.format(too=""))
            ), False
        return (
            f"fp asked, but {len(frames) - n_fp} of {len(frames)} images have no Philips scale "
            "slope (2005,100E): those keep RescaleSlope/RescaleIntercept"
        ), True
    differ = any(
        r.philips_scale_slope and abs(dicom_rescale(r)[0] * r.philips_scale_slope - 1) > 1e-6
        for r in frames
    )
    if not differ:
        return None, False
    head = (
        "rescale: scaled values (scale=True) are RescaleSlope/RescaleIntercept ones (Philips "
        "display values, the DICOM standard); these images also carry a Philips scale slope "
        "(2005,100E)"
    )
    if not uniform:
        too = ": lazyvol gives the display values" if classic else ", as lazyvol does"
        return head + varying.format(too=too) + (
            '; philips_scaling="fp" gives floating-point values, (stored * RS + RI) / (RS * SS)'
        ), classic
    return head + (
        ", and dcm2niix's Philips precise-float option (-p y, its default) writes "
        'floating-point values, (stored * RS + RI) / (RS * SS): philips_scaling="fp" gives those'
    ), True


def _rwv_note(frames: list[FrameRecord]) -> str:
    """What a volume's Philips real-world value mappings did to its rescale ("" when nothing)."""
    replaced = [
        r for r in frames if dicom_rescale(r) != (r.rescale_slope or 1.0, r.rescale_intercept)
    ]
    if not replaced:
        return ""
    pairs = sorted({dicom_rescale(r) for r in replaced})
    values = f"slope {pairs[0][0]:g}, intercept {pairs[0][1]:g}" if len(pairs) == 1 else "per image"
    return (
        f"real-world values: in {len(replaced)} of {len(frames)} images the RealWorldValueSlope "
        "(0040,9225) / RealWorldValueIntercept (0040,9224) of RealWorldValueMappingSequence "
        f"(0040,9096) replace a RescaleSlope of 1 / RescaleIntercept of 0 (the rescale now: "
        f"{values}), as dcm2niix does for Philips (its sidecar's PhilipsRWVSlope / "
        "PhilipsRWVIntercept); scale=False gives the stored values"
    )


#: How a Philips note says that dcm2niix writes display values for a volume of varying scalings
#: (an enhanced file's frames), and what it writes for images stored one per file.
_DCM2NIIX_VARYING = (
    "; RescaleSlope, RescaleIntercept and the scale slope vary between the images: dcm2niix "
    "writes display values for such a volume{too} (its precise-float option needs one scaling "
    "per volume)"
)
_DCM2NIIX_CLASSIC = (
    "; RescaleSlope, RescaleIntercept and the scale slope vary between the images (stored one "
    "per file): dcm2niix writes their display values as 32-bit floats under the first image's "
    "floating-point scaling in its NIfTI header (scl_slope 1 / SS, scl_inter RI / (RS * SS)), "
    "so its scaled values are neither display nor floating-point ones{too}"
)


def stored_dtypes_warning(counts: dict[str, int], dtype: str) -> str:
    """The warning of a volume whose images are stored in several dtypes (``counts``: images of
    each), read into ``dtype``."""
    shown = ", ".join(f"{t} ({n} images)" for t, n in counts.items())
    return (
        f"{STORED_DTYPES} (stored as {shown}): each image read as its own header says, into {dtype}"
    )
