"""Analyze 7.5 headers (no NIfTI magic), parsed by nibabel (SPM2 flavour, as ``nibabel.load``).

Analyze is rare and its geometry rules are nibabel's own (SPM's ``.mat`` sidecar, the flipped base
affine), so nibabel reads it here, over in-memory copies of the header bytes: nibabel never opens
the source. NIfTI headers are parsed without nibabel (:mod:`lazyvol.nifti_fields`).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import FormatError, LazyvolError
from .geometry import affine_problem
from .nifti_fields import CARRIED_KEY, ParsedHeader, extra_zooms
from .nifti_text import header_text, text_notes

__all__ = ["analyze_header"]


def _image(head: bytes, sidecar: Callable[[str], bytes], single: bool) -> tuple[Any, ...]:
    """nibabel's Spm2AnalyzeImage over ``head`` (and its sidecars), and what lazyvol reads of it
    (``(image, disk dtype, data offset, slope, intercept)``); nibabel's errors escape."""
    import nibabel as nib

    klass = nib.Spm2AnalyzeImage
    fmap = klass.make_file_map()
    if single:
        fmap["image"].fileobj = io.BytesIO(head)
    else:
        fmap["header"].fileobj = io.BytesIO(head)
        fmap["image"].fileobj = io.BytesIO(b"")
    for kind, holder in fmap.items():
        if kind not in ("image", "header"):  # SPM's .mat beside an Analyze pair (its affine)
            holder.fileobj = io.BytesIO(sidecar(kind))
    img = klass.from_file_map(fmap)
    proxy: Any = img.dataobj
    dtype = img.header.get_data_dtype()
    return img, dtype, int(proxy.offset), float(proxy.slope), float(proxy.inter)


def _culprit(head: bytes, sidecar: Callable[[str], bytes], single: bool) -> str | None:
    """The header field nibabel refuses, as ``name = value``: the first one whose value in a new
    header lets nibabel read the header (None when no one field does)."""
    import logging

    import nibabel as nib

    klass: Any = nib.Spm2AnalyzeImage.header_class
    try:
        hdr = klass(head[: klass.sizeof_hdr], check=False)
        fresh = klass(endianness=hdr.endianness)
    except Exception:  # (sizeof_hdr and its byte order were checked before)
        return None
    quiet = logging.getLogger("nibabel.global")  # (nibabel logs its fixes: once was enough)
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)
    try:
        for name in hdr.keys():
            if hdr[name].tobytes() == fresh[name].tobytes():
                continue
            trial = klass(head[: klass.sizeof_hdr], check=False)
            trial[name] = fresh[name]
            try:
                _image(trial.binaryblock + head[klass.sizeof_hdr :], sidecar, single)
            except Exception:
                continue
            value = hdr[name].tolist()
            return f"{name} = {value.decode('latin-1') if isinstance(value, bytes) else value!r}"
    finally:
        quiet.setLevel(level)
    return None


#: What lazyvol reads in an SPM ``.mat`` beside an Analyze pair, for messages.
SPM_MAT = "a MATLAB v4-v7 file holding a 4x4 matrix 'mat' (or 'M') of finite numbers"


def _mat_refused(mat: str, where: str, problem: str) -> FormatError:
    """The error for an SPM ``.mat`` sidecar lazyvol cannot use (the pair opens without it)."""
    return FormatError(
        f"{mat}: the .mat beside the Analyze image {where} {problem}; the image opens without "
        f"it: move or rename it (or, for SPM's affine, make it what SPM writes: {SPM_MAT})"
    )


def _load(
    where: str, head: bytes, sidecar: Callable[[str], bytes], single: bool, mat: str
) -> tuple[Any, ...]:
    """:func:`_image`, errors typed: naming the ``.mat`` sidecar (path ``mat``) when the image
    reads without it, else the header field nibabel refuses (:func:`_culprit`), as a NIfTI
    header's errors do."""
    try:
        return _image(head, sidecar, single)
    except LazyvolError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # ValueError, nibabel's HeaderDataError (no ValueError) and friends
        if sidecar("mat"):
            try:
                _image(head, lambda kind: b"", single)
            except Exception:
                pass  # (the header is refused without it too)
            else:
                raise _mat_refused(mat, where, f"is not one lazyvol can read (nibabel: {exc})")
        field = _culprit(head, sidecar, single)
        if field is None:  # (no one field: several, or the file beside the header)
            raise FormatError(
                f"{where}: invalid Analyze header (nibabel: {exc}); no single field mends it, so "
                "several are corrupt, or the image file beside it is"
            ) from exc
        raise FormatError(
            f"{where}: Analyze header field {field} is invalid (nibabel: {exc}); the header is "
            "corrupt"
        ) from exc


def _real_affine(affine: np.ndarray, mat: str, where: str) -> np.ndarray:
    """``affine`` as float64; one of complex numbers (a ``.mat`` saved from complex values,
    which numpy's cast would cut to their real parts with only a ComplexWarning) is refused
    unless every imaginary part is 0, naming the ``.mat``."""
    if affine.dtype.kind == "c":
        if np.any(affine.imag != 0):  # (a NaN imaginary part too)
            raise _mat_refused(
                mat, where, "holds an affine of complex numbers (non-zero imaginary parts)"
            )
        affine = affine.real
    try:
        return np.asarray(affine, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # (object entries nibabel's product let through)
        raise _mat_refused(mat, where, f"holds an affine that is not numbers ({exc})") from exc


def _stored_pixdim(img: Any, head: bytes) -> list[float] | None:
    """pixdim[1:4] exactly as stored, before nibabel's load-time fixes (None if unreadable)."""
    hdr = img.header
    try:
        raw = type(hdr)(head[: hdr.sizeof_hdr], endianness=hdr.endianness, check=False)
        return [float(x) for x in raw["pixdim"][1:4]]
    except Exception:  # the checked header was read already
        return None


def analyze_header(
    where: str,
    head: bytes,
    sidecar: Callable[[str], bytes],
    *,
    single: bool = False,
    mat: str = ".mat",
) -> ParsedHeader:
    """Parse an Analyze header with nibabel into a :class:`ParsedHeader`.

    Parameters
    ----------
    where : str
        The file, for messages.
    head : bytes
        The header bytes (the whole ``.hdr``).
    sidecar : callable
        ``sidecar(kind)``: the bytes of an optional sidecar (``"mat"``), empty if absent.
    single : bool
        The header is at the start of a single data file.
    mat : str
        The path of the ``"mat"`` sidecar, for messages.

    Raises
    ------
    FormatError
        nibabel refuses the header (message names the field when it can), or the ``.mat``
        sidecar is not SPM's or holds no usable affine (message names it).
    """
    sidecar = functools.cache(sidecar)  # (read once)
    img, disk_dtype, offset, slope, inter = _load(where, head, sidecar, single, mat)
    source = "mat" if sidecar("mat") else "base"  # (nibabel refuses a .mat it does not use)
    affine = _real_affine(np.asarray(img.affine), mat, where)
    problem = affine_problem(affine)
    if source == "mat" and problem is not None:
        raise _mat_refused(mat, where, f"holds an affine that {problem}")
    hdr = img.header
    used = [float(x) for x in hdr["pixdim"][1:4]]
    stored = _stored_pixdim(img, head)
    pixdim = ", ".join(f"{x:g}" for x in used)
    fields: dict[str, Any] = {}
    try:
        descrip = header_text(hdr, "descrip")
        if descrip:
            fields["descrip"] = descrip
    except (KeyError, ValueError):
        pass
    try:
        zooms = hdr.get_zooms()
    except Exception:  # nibabel refuses odd pixdim values; the affine is what lazyvol uses
        zooms = ()
    if len(zooms) > 3 and np.isfinite(zooms[3]):
        fields["axis4_spacing"] = float(zooms[3])
    carried: dict[str, Any] = {}  # what a NIfTI written from it keeps (lazyvol.nifti_carry)
    aux = header_text(hdr, "aux_file")
    if aux:
        carried["aux_file"] = aux
    carried.update(text_notes(hdr, ("descrip", "aux_file")))
    steps = extra_zooms(zooms)
    if steps is not None:
        carried["zooms"] = steps
    if carried:
        fields[CARRIED_KEY] = carried
    return ParsedHeader(
        format="analyze",
        dim=np.asarray(hdr["dim"]).astype(np.int64),
        shape=tuple(int(n) for n in img.shape),
        disk_dtype=disk_dtype,
        offset=offset,
        slope=slope,
        inter=inter,
        raw_slope=1.0,
        raw_inter=0.0,
        candidates=[
            (source, mat if source == "mat" else f"pixdim[1:4] = [{pixdim}]", lambda: affine)
        ],
        pixdim_stored=stored if stored is not None else used,
        pixdim_used=used,
        fields=fields,
    )
