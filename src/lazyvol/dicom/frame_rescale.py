"""The rescale of one DICOM frame into its place in an output block (shared by the native,
decoded and tiled readers of :mod:`.pixels`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..scaled_dtypes import stored_range
from ..scaling import cast_into, scale_into, scale_rounded_into
from .decoding import decoded_range

if TYPE_CHECKING:
    from .pixels import DicomPlan

__all__ = ["RESCALE_FIELDS", "rescale_frame_into"]

#: The header fields a DICOM frame's rescale comes from, as messages name them.
RESCALE_FIELDS = "RescaleSlope / RescaleIntercept (0028,1053) / (0028,1052)"


def rescale_frame_into(
    plan: DicomPlan,
    n: int,
    src: np.ndarray,
    dest: np.ndarray,
    out_dtype: np.dtype,
    sj: slice,
    si: slice,
) -> None:
    """``dest[...] = scaled(src)[..., sj, si]`` for frames with the rescale of frame ``n``.

    Integer outputs exactly (:func:`lazyvol.scaling.scale_into`), in place when ``src`` is
    ``dest``; float outputs computed in float64 and rounded once
    (:func:`lazyvol.scaling.scale_rounded_into`). A float output the rescale can overflow (a
    slope beyond any real one, :func:`~lazyvol.scaling.may_overflow`) is checked: a stored value
    that became inf or NaN raises, naming frame ``n``'s file.
    """
    slope, inter, where = plan.slopes[n], plan.inters[n], plan.paths[n]
    if out_dtype.kind in "iu":
        # An integer output: exact where the frame's values lie in the range that chose the dtype
        # (native: BitsStored's, as read; decoded: checked here, decoded_range), else scaled
        # exactly or in float64 and checked to fit (scale_into).
        if not plan.scale:
            slope, inter = 1.0, 0.0
        bits = plan.stored_bits[n] if plan.stored_bits else plan.bits_stored
        known = stored_range(src.dtype, bits) if src.dtype.kind in "iu" else None
        fields = RESCALE_FIELDS if plan.scale else ""
        part = src if src is dest else src[..., sj, si]
        if known and plan.encapsulated_syntax:
            scaling, frame = (slope, inter), f"{where}: volume frame {n}"
            known = decoded_range(part, bits, plan.decoded_bits, scaling, out_dtype, frame)
        scale_into(part, dest, slope, inter, where=where, fields=fields, stored=known)
        return
    if not plan.scale:
        if src is not dest:
            cast_into(src[..., sj, si], dest, where=where)
        return
    # A float output: as pydicom's Modality LUT, the rescale (DS values: 0.3 is no float32) in
    # float64, each value rounded once to out_dtype (float32 arithmetic was up to 2 units in the
    # last place off the real value).
    part = src[..., sj, si]
    scale_rounded_into(part, dest, slope, inter, where=where, fields=RESCALE_FIELDS)
