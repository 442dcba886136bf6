"""The built-in readers (Zarr stores, NIfTI/Analyze files, DICOM files and folders) behind the
:class:`~lazyvol.formats.base.Reader` protocol, and :func:`open_source`, the one dispatch from a
source to its reader.

Format detection lives here and nowhere else: a Zarr store is a folder (or prefix) holding Zarr
metadata, a NIfTI file is known by its name or its magic bytes (read through the byte layer, so
the same sniff works for a path and a URL), and everything else — a folder or prefix, or a file
with or without the DICOM preamble — goes to the DICOM reader, which refuses what is not DICOM
with a :class:`~lazyvol.errors.FormatError`. Each reader imports its format's modules only when it
opens. Readers receive a :class:`~lazyvol._location.Location` (see :mod:`lazyvol.formats.base`);
the built-in ones also take a plain path (``Location.of`` passes a Location through).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _io
from ._location import Location
from ._zarr_folder import ZARR_METADATA, files_under, is_part10, is_zarr_folder
from .errors import (
    FormatError,
    LazyvolError,
    RemoteAccessError,
    ResourceLimitError,
    SourceChangedError,
    SourceNotFoundError,
    UnknownOptionError,
    UnsupportedError,
)
from .formats.registry import pick
from .nifti_codes import NIFTI_SUFFIXES, OTHER_COMPRESSED_SUFFIXES

if TYPE_CHECKING:
    from .volume import Volume

__all__ = [
    "SNIFF_BYTES",
    "DicomReader",
    "NiftiReader",
    "ZarrReader",
    "checked_read_options",
    "open_source",
    "refuse_html_page",
    "sniff",
    "sniff_head",
]

#: Bytes of a file's start the content sniff reads (a NIfTI-2 header is 540 + 4).
SNIFF_BYTES = 544


def _native(loc: Location) -> Any:
    """What a format entry point that does not take a Location yet gets: the path or the
    Location of a URL."""
    return loc if loc.is_remote else loc.url


def sniff(source: Location | str | os.PathLike[str]) -> str:
    """Format of a single file or object by its name or content: ``'nifti'``, ``'dicom'`` or
    ``'unknown'``.

    Reads at most 544 bytes through the byte layer (one ranged request for a URL, none when the
    name says NIfTI); a local FIFO, socket or device is refused before any open. An ``.img`` file
    is read too: PACS and old Siemens exports name DICOM files so, and a Part 10 file (``DICM``
    and its meta group at byte 128), or one without the preamble that starts like a data set and
    has no ``.hdr`` beside it, is DICOM, not the image file of an Analyze pair.
    """
    loc = Location.of(source)
    name = loc.name.lower()
    if name.endswith(NIFTI_SUFFIXES) and not name.endswith(".img"):
        return "nifti"
    if name.endswith(OTHER_COMPRESSED_SUFFIXES):  # (the NIfTI reader says how to read it)
        return "nifti"
    stamp = _io.stamp(loc)
    head = _io.read(loc, 0, min(stamp.size, SNIFF_BYTES), expect=stamp)
    if name.endswith(".img"):
        return "dicom" if is_part10(head) or _headerless_dicom(loc, head) else "nifti"
    return sniff_head(head)


def _headerless_dicom(loc: Location, head: bytes) -> bool:
    """An ``.img`` without the preamble (old ACR-NEMA style exports) that starts like a DICOM data
    set and has no Analyze header beside it."""
    from .dicom.header import _plausible_headerless
    from .nifti_header import header_location

    return _plausible_headerless(head) and not _is_object(header_location(loc))


def sniff_head(head: bytes) -> str:
    """Format of a file by its first :data:`SNIFF_BYTES` bytes (see :func:`sniff`)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if len(head) >= 348 and (
        head[344:348] in (b"n+1\0", b"ni1\0")
        or head[4:12] in (b"n+2\0\r\n\x1a\n", b"ni2\0\r\n\x1a\n")
    ):
        return "nifti"
    if head[:2] == b"\x1f\x8b" and sniff_head(_inflated_start(head)) == "nifti":
        return "nifti"  # gzip, not named so: read as gzip at a URL, a local file told to rename
    return "unknown"


def _inflated_start(head: bytes) -> bytes:
    """The start of the gzip stream ``head`` begins, inflated up to :data:`SNIFF_BYTES` (empty
    when it does not inflate)."""
    import zlib

    try:
        return zlib.decompressobj(31).decompress(head, SNIFF_BYTES)
    except zlib.error:
        return b""


def _is_object(loc: Location) -> bool:
    try:
        _io.stamp(loc)
    except LazyvolError:
        return False
    return True


def _is_file(loc: Location) -> bool:
    """Whether the URL ``loc`` names an object, its size stated or not (one request)."""
    try:
        return _io.kind(loc) == "file"
    except LazyvolError:
        return False


class ZarrReader:
    """Zarr stores (lazyvol's own, OME-Zarr 0.4/0.5 and NIfTI-Zarr written by other tools)."""

    name = "zarr"
    priority = 10

    def can_open(self, source: Location) -> bool:
        source = Location.of(source)
        if not source.is_remote:
            return is_zarr_folder(source.url)
        if source.name.lower().endswith((*NIFTI_SUFFIXES, ".dcm")):
            return False  # a file by its name: no requests for metadata that cannot be there
        # (by HEAD, as StoreRoot.exists asks: a metadata file the server encodes on the fly
        # states no size, which a stamp refuses, but is read whole and decoded)
        return any(_is_file(source.join(n)) for n in ZARR_METADATA)

    def open(self, source: Location, **options: Any) -> Volume:
        source = Location.of(source)

        from .zarr_io import open_zarr

        # A store holds the values as they were written (``scale`` applies only a NIfTI-Zarr
        # header's scaling); ``series`` has nothing to do, ``dtype`` converts lazily.
        options.pop("series", None)
        return open_zarr(_native(source), **options)

    def source_files(self, source: Location, **options: Any) -> list[str]:
        source = Location.of(source)
        if not source.is_remote:
            return files_under(os.path.abspath(source.url))
        try:
            return [child.url for child, _stamp in _io.list_objects(source)]
        except (SourceNotFoundError, RemoteAccessError) as exc:
            if isinstance(exc, SourceNotFoundError) and source.protocol not in ("http", "https"):
                raise
            unlisted = exc  # (a listing denied: a bucket, or a web folder, read without one)
        # A web server need not list its folders, nor a bucket's reader have s3:ListBucket: a
        # lazyvol store is named by its manifest (the checksums of every chunk and of the array
        # metadata, each read verified against them).
        from .zarr_meta import LEGACY_MANIFEST, MANIFEST

        for name in (MANIFEST, LEGACY_MANIFEST):
            if _is_file(source.join(name)):
                return [source.join(name).url]
        if isinstance(unlisted, RemoteAccessError):
            raise unlisted
        raise SourceNotFoundError(f"{source.display}: the server lists no folder here")

    def describe(self, source: Location) -> dict[str, Any]:
        source = Location.of(source)
        return {"format": "Zarr", "path": source.display}


class NiftiReader:
    """NIfTI-1/2 and Analyze files (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs)."""

    name = "nifti"
    priority = 20

    def can_open(self, source: Location) -> bool:
        source = Location.of(source)
        if source.names_prefix or (not source.is_remote and not os.path.isfile(source.url)):
            return False  # (a prefix URL: no request for its index page)
        try:
            return sniff(source) == "nifti"
        except LazyvolError:
            return False

    def open(self, source: Location, **options: Any) -> Volume:
        source = Location.of(source)
        from .nifti import open_nifti

        series = options.pop("series", None)
        known = {k: options.pop(k) for k in ("chunks", "scale", "dtype") if k in options}
        if options:
            raise UnknownOptionError(
                f"{source}: unexpected options for a NIfTI file: {sorted(options)}; it takes "
                "series, chunks, scale, dtype, cache, storage_options"
            )
        if series is not None:
            raise TypeError(
                f"{source}: series= applies to DICOM folders; a NIfTI file is one volume"
            )
        return open_nifti(source, **known)

    def source_files(self, source: Location | str, **options: Any) -> list[str]:
        """The file, plus the other file of an Analyze/NIfTI pair when it exists (the image of a
        ``.hdr``, the header of an ``.img``) and its SPM ``.mat`` when there is one (it gives the
        affine): a pair is one source, whichever file is named."""
        source = Location.of(source)
        from .nifti_header import data_location, header_location, sidecar_location

        other = data_location(source)
        if other == source:
            other = header_location(source)
        out = [source, other] if other != source and _is_object(other) else [source]
        if len(out) == 2:
            try:
                mat = sidecar_location(source)
            except LazyvolError:  # one version of one file of a pair: refused at open
                mat = None
            if mat is not None and _is_object(mat):
                out.append(mat)
        return [loc.url if loc.is_remote else os.path.abspath(loc.url) for loc in out]

    def describe(self, source: Location) -> dict[str, Any]:
        source = Location.of(source)
        return {"format": "NIfTI", "path": source.display}


class DicomReader:
    """DICOM files (with or without the preamble) and folders of them (searched recursively).

    The catch-all: asked last, it accepts any folder and any regular file (any URL); the DICOM
    reader refuses what is not DICOM with a :class:`~lazyvol.errors.FormatError`.
    """

    name = "dicom"
    priority = 90

    def can_open(self, source: Location) -> bool:
        source = Location.of(source)
        if source.is_remote:
            return True
        return os.path.isdir(source.url) or os.path.isfile(source.url)

    def open(self, source: Location, **options: Any) -> Volume:
        source = Location.of(source)
        _refuse_other_format(source)  # the catch-all: a file of another format is named so
        from .dicom import open_dicom

        return open_dicom(_native(source), **options)

    def source_files(self, source: Location, **options: Any) -> list[str]:
        source = Location.of(source)
        return self.files_of(self.open(source, **options), source)

    @staticmethod
    def files_of(vol: Volume, source: Location) -> list[str]:
        """The files of the series ``vol`` was opened from ``source`` with (``meta["files"]``):
        absolute paths for a local source (what :meth:`source_files` returns, without opening
        the series again)."""
        files = [str(f) for f in vol.meta.get("files", [])]
        return files if source.is_remote else [os.path.abspath(f) for f in files]

    def describe(self, source: Location) -> dict[str, Any]:
        source = Location.of(source)
        return {"format": "DICOM", "path": source.display}


#: Other image formats, by suffix: named in the refusal, not read as (not-)DICOM.
_OTHER_FORMATS = {
    ".mgz": "FreeSurfer MGH",
    ".mgh": "FreeSurfer MGH",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
    ".mnc": "MINC",
    ".par": "Philips PAR/REC",
    ".rec": "Philips PAR/REC",
    ".npy": "NumPy array",
    ".npz": "NumPy archive",
    ".h5": "HDF5",
    ".hdf5": "HDF5",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".head": "AFNI BRIK/HEAD",
    ".brik": "AFNI BRIK/HEAD",
    ".brik.gz": "AFNI BRIK/HEAD",
    ".trk": "TrackVis streamlines",
    ".tck": "MRtrix streamlines",
    ".gii": "GIFTI surface data",
}


def _refuse_other_format(loc: Location) -> None:
    """Refuse a file named as another image format whose content is not DICOM, naming the format
    (it went to the DICOM reader and was refused as "not a DICOM file")."""
    name = loc.name.lower()
    suffix = next((s for s in _OTHER_FORMATS if name.endswith(s)), None)
    if suffix is None:
        return
    if not (_is_object(loc) if loc.is_remote else os.path.isfile(loc.url)):
        return  # a folder (or nothing): the DICOM reader says what it finds
    if sniff(loc) != "unknown":
        return
    raise UnsupportedError(
        f"{loc.display}: {_OTHER_FORMATS[suffix]} ({suffix}) is not a format lazyvol reads "
        "(NIfTI-1/2, Analyze, DICOM, Zarr); convert it to NIfTI first (nibabel reads MGH, "
        "PAR/REC and AFNI BRIK/HEAD, SimpleITK reads NRRD, MetaImage and MINC; streamlines and "
        "surfaces are no image volume)"
    )


def open_source(
    source: Location | str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    series: str | int | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
    **options: Any,
) -> Volume:
    """Open ``source`` (a path, a URL or a Location) with the reader the registry picks for it,
    without any cache."""
    loc = Location.of(source, storage_options)
    dtype, scale = checked_read_options(dtype, scale, loc)
    reader = pick(loc)
    try:
        vol = reader.open(loc, series=series, chunks=chunks, scale=scale, dtype=dtype, **options)
    except FormatError as exc:
        if reader.name != "zarr":  # (a store's metadata files are checked as they are read)
            refuse_html_page(loc, exc)
        raise
    _record_header_files(vol)
    return vol


def refuse_html_page(loc: Location, exc: FormatError) -> None:
    """Raise a FormatError saying so when the HTTP(S) object a reader refused (``exc``) is an
    HTML page (:func:`lazyvol._remote_errors.html_page`: its first bytes, one ranged read), not
    a file damaged as ``exc`` says; return otherwise (also when that read fails)."""
    from ._remote_errors import html_page, html_refusal

    if loc.protocol not in ("http", "https") or loc.names_prefix or loc.url.endswith("/"):
        return
    if isinstance(exc, SourceChangedError | ResourceLimitError):
        return
    try:
        size = _io.stamp(loc).size
        head = _io.read(loc, 0, min(size, 256)) if size else b""
    except (OSError, LazyvolError):
        return
    if html_page(head):
        raise FormatError(html_refusal(loc.display, exc)) from exc


def checked_read_options(dtype: Any, scale: Any, loc: Location) -> tuple[Any, bool]:
    """``(dtype, scale)`` of a read of ``loc`` (:func:`open_source`, so :func:`lazyvol.open` and
    :func:`lazyvol.cache.open_cached` alike), checked before anything is read: ``dtype`` as numpy's
    dtype (None kept), a numeric one (a string or object dtype would turn values into truncated
    text or Python objects); ``scale`` as a Python bool, from True / False, a numpy bool or the
    integers 1 / 0 (``scale="no"`` is true: refused, as other values)."""
    import numpy as np

    from .config import is_flag
    from .errors import OptionError

    if not is_flag(scale):
        raise OptionError(f"{loc.display}: scale={scale!r}: takes True or False")
    if dtype is None:
        return None, bool(scale)
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{loc.display}: dtype={dtype!r} is not a data type ({exc})") from None
    if dt.kind not in "biufc":
        raise OptionError(
            f"{loc.display}: dtype={dtype!r} ({dt}) is not numeric: pass a numeric dtype such as "
            "'float32', 'int16' or 'uint8'"
        )
    return dt, bool(scale)


def _record_header_files(vol: Volume) -> None:
    """Put the token of the files whose headers describe ``vol`` (their stamps at open: no more
    I/O) in its meta, where it travels with every selection and into a Zarr store written from
    it: the store then shows those files' headers only while they are these files
    (:func:`lazyvol.headers.check_store_sources`). A store's volume has its own."""
    from ._opened import opened_stamps
    from .sources import HEADER_FILES_KEY, fingerprint, header_paths

    if HEADER_FILES_KEY in vol.meta:
        return
    paths = header_paths(vol.meta)
    stamps = opened_stamps(vol) if paths else {}
    if paths and all(p in stamps for p in paths):
        vol.meta[HEADER_FILES_KEY] = fingerprint([stamps[p] for p in paths])
