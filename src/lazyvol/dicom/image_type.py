"""ImageType (0008,0008) as dcm2niix writes it in a BIDS sidecar: the values split as it splits
them, with the image kind appended (:func:`bids_image_type`), and the NonlinearGradientCorrection
it reads from them for every vendor (:func:`nonlinear_gradient_correction`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bids_image_type", "nonlinear_gradient_correction"]

#: The longest ImageType text dcm2niix keeps (its values joined by "_"); the rest is cut off.
_IMAGE_TYPE_CHARS = 65


def bids_image_type(values: Sequence[str], component: str = "") -> list[str]:
    """ImageType as dcm2niix writes it in a sidecar (heudiconv and other BIDS tools match on it).

    dcm2niix joins the DICOM values with "_" (cut after 65 characters), splits the text at every
    "_" (``M_FFE`` gives "M", "FFE"; empty values are dropped, but a leading one), and appends the
    image kind the data state but the text does not name between underscores: MAGNITUDE (``_M_``,
    ``_MAGNITUDE_``), PHASE (``_P_``, any ``PHASE``), REAL (``_R_``, ``_REAL_``), IMAGINARY (``_I_``,
    ``_IMAGINARY_``), or the ComplexImageComponent / GE (0043,102F) kind (``component``); a real
    image whose text holds "B0" and "MAP" gets FIELDMAPHZ alone.
    """
    text = "_".join(str(v) for v in values)[:_IMAGE_TYPE_CHARS]
    if not text:
        return []
    first, *rest = text.split("_")
    out = [first, *(part for part in rest if part)]
    kind = str(component or "").upper()[:2]
    flags = {
        "MAGNITUDE": "_M_" in text or "_MAGNITUDE_" in text or kind == "MA",
        "PHASE": "_P_" in text or "PHASE" in text or kind == "PH",
        "REAL": "_R_" in text or "_REAL_" in text or kind == "RE",
        "IMAGINARY": "_I_" in text or "_IMAGINARY_" in text or kind == "IM",
    }
    if flags["REAL"] and "B0" in text and "MAP" in text:
        return [*out, "FIELDMAPHZ"]
    return out + [k for k, on in flags.items() if on and f"_{k}_" not in text]


def nonlinear_gradient_correction(values: Sequence[str]) -> bool | None:
    """NonlinearGradientCorrection from ImageType, as dcm2niix writes it for any vendor (an
    anonymiser may drop Manufacturer; UIH and others write these values too): in the text it
    reads (the values joined by "_", cut after 65 characters; case and spaces as written) false
    where ``_ND`` occurs (not distortion corrected; it wins, as dcm2niix writes it last), else
    true where ``_DIS2D`` or ``_DIS3D`` does, else None. A first value is not matched (no "_"
    before it) and a value holding these letters after its start is (``NDX``, ``M_ND``)."""
    text = "_".join(str(v) for v in values)[:_IMAGE_TYPE_CHARS]
    if "_ND" in text:
        return False
    return True if "_DIS2D" in text or "_DIS3D" in text else None
