"""ImageType (0008,0008) as dcm2niix writes it in a BIDS sidecar: the values split as it splits
them, with the image kind appended (:func:`bids_image_type`), and the NonlinearGradientCorrection
it reads from them for every vendor (:func:`nonlinear_gradient_correction`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "IMAGE_TYPE_TEXT",
    "KINDS_APART",
    "bids_image_type",
    "nonlinear_gradient_correction",
    "raw_image",
    "stated_text",
]

#: The longest ImageType text dcm2niix keeps (its values joined by "_"); the rest is cut off.
_IMAGE_TYPE_CHARS = 65
#: A record's ``acq`` key holding ImageType's text as written, where stripping its values changes
#: it (:func:`stated_text`).
IMAGE_TYPE_TEXT = "_image_type_text"
#: A record's ``acq`` key: its frame is one of a Philips enhanced file whose frames are of several
#: kinds (ComplexImageComponent), which dcm2niix writes one volume per kind with that kind alone
#: (:func:`bids_image_type`'s ``apart``).
KINDS_APART = "_kinds_apart"


def stated_text(value: object) -> str | None:
    """ImageType's raw value (bytes) as dcm2niix reads it: up to its first NUL, one trailing
    padding space dropped, the spaces around its values kept (``"M \\ND"`` is ``M `` and ``ND``;
    ``"  DIS2D"`` is no ``_DIS2D``; ``"N\\x00D"`` is ``N``); None where that is the stripped values
    joined by "\\" (the usual file: no NUL before its end) or the value is not bytes."""
    if not isinstance(value, bytes | bytearray):
        return None
    raw = bytes(value)
    text = raw.split(b"\x00", 1)[0].decode("latin-1")
    text = text[:-1] if text.endswith(" ") else text
    stripped = "\\".join(t.strip(" ") for t in text.split("\\")) if text.strip(" ") else ""
    inner_nul = b"\x00" in raw.rstrip(b"\x00 ")  # (the values read on past it: "N\x00D")
    return text if (text and text != stripped) or inner_nul else None


def raw_image(values: Sequence[str], text: str | None = None) -> bool | None:
    """RawImage as dcm2niix writes it for any modality: false where "DERIVED" (upper case) occurs
    in the text it reads (the values joined by "_", cut after 65 characters: a DERIVED after the
    cut is not seen), else None. ``text`` as for :func:`bids_image_type`."""
    return False if "DERIVED" in _text(values, text) else None


def _text(values: Sequence[str], text: str | None) -> str:
    """The "_"-joined text dcm2niix reads, cut after 65 characters."""
    joined = text.replace("\\", "_") if text is not None else "_".join(str(v) for v in values)
    return joined[:_IMAGE_TYPE_CHARS]


def bids_image_type(
    values: Sequence[str], component: str = "", text: str | None = None, apart: bool = False
) -> list[str]:
    """ImageType as dcm2niix writes it in a sidecar (heudiconv and other BIDS tools match on it).

    dcm2niix joins the DICOM values with "_" (cut after 65 characters), splits the text at every
    "_" (``M_FFE`` gives "M", "FFE"; empty values are dropped, but a leading one), and appends the
    image kind the data state but the text does not name between underscores: MAGNITUDE (``_M_``,
    ``_MAGNITUDE_``), PHASE (``_P_``, any ``PHASE``), REAL (``_R_``, ``_REAL_``), IMAGINARY (``_I_``,
    ``_IMAGINARY_``), or the ComplexImageComponent / GE (0043,102F) kind (``component``); a real
    image whose text holds "B0" and "MAP" gets FIELDMAPHZ alone. ``text``: the value as written
    (:func:`stated_text`), where it is not the values joined. ``apart``: a volume of one kind of
    a Philips enhanced file holding several (:data:`KINDS_APART`), which dcm2niix writes with its
    own kind alone appended, MAGNITUDE never, the text's kinds not (checked against the installed
    dcm2niix on magnitude / phase / real / imaginary mixes under texts naming M, P, R and I).
    """
    text = _text(values, text)
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
    if apart:  # (the volume's own kind only; its magnitude none)
        flags = {k: k == str(component or "").upper() and k != "MAGNITUDE" for k in flags}
    if flags["REAL"] and "B0" in text and "MAP" in text:
        return [*out, "FIELDMAPHZ"]
    return out + [k for k, on in flags.items() if on and f"_{k}_" not in text]


def nonlinear_gradient_correction(values: Sequence[str], text: str | None = None) -> bool | None:
    """NonlinearGradientCorrection from ImageType, as dcm2niix writes it for any vendor (an
    anonymiser may drop Manufacturer; UIH and others write these values too): in the text it
    reads (the values joined by "_", cut after 65 characters; case and spaces as written) false
    where ``_ND`` occurs (not distortion corrected; it wins, as dcm2niix writes it last), else
    true where ``_DIS2D`` or ``_DIS3D`` does, else None. A first value is not matched (no "_"
    before it) and a value holding these letters after its start is (``NDX``, ``M_ND``).
    ``text`` as for :func:`bids_image_type`."""
    text = _text(values, text)
    if "_ND" in text:
        return False
    return True if "_DIS2D" in text or "_DIS3D" in text else None
