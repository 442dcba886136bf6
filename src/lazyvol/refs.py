"""Virtual Zarr references: any Zarr client reads a ``.nii`` or a DICOM series in place.

``references()`` describes a source as kerchunk version-1 references
(https://fsspec.github.io/kerchunk/spec.html): a Zarr (v2 layout) group whose array ``image``
maps each chunk to ``[url, offset, length]`` of the source's own bytes. zarr, xarray and any fsspec
reference-filesystem client then read the volume without lazyvol and without a copy::

    refs = lazyvol.references("scan.nii")
    fs = fsspec.filesystem("reference", fo=refs)
    g = zarr.open_group(fs.get_mapper(""), mode="r", zarr_format=2)
    g["image"][40]                                  # slice k = 40, axes (j, i)

    ds = xarray.open_dataset(fs.get_mapper(""), engine="zarr", consolidated=True)
    ds["image"]                                     # scaled values (CF scale_factor/add_offset)

References to URLs are read through an asynchronous reference filesystem (zarr's ``FsspecStore``
needs one), with the reader's own credentials::

    fs = fsspec.filesystem("reference", fo=refs, remote_protocol="s3", asynchronous=True,
                           remote_options={"anon": True, "asynchronous": True})
    g = zarr.open_group(zarr.storage.FsspecStore(fs, read_only=True), mode="r", zarr_format=2)
    vol = lazyvol.open("reference://", storage_options={"fo": refs})  # as the source opens

What the array holds:

- the **stored values** with their exact dtype and byte order (``'>i2'`` for big-endian data);
- axes ``(k, j, i[, t, ...])``, named in ``_ARRAY_DIMENSIONS`` (the reverse of lazyvol's and
  nibabel's ``(i, j, k)``: a C-order array over bytes written i fastest), so
  ``image[...].transpose(2, 1, 0, ...)`` equals ``lazyvol.open(source, scale=False)``;
- no fill value, so no real value is ever masked;
- a series-wide rescale (NIfTI ``scl_slope``/``scl_inter``, DICOM RescaleSlope/RescaleIntercept)
  as CF ``scale_factor``/``add_offset``, which xarray applies when it decodes;
- the affine (voxel ``(i, j, k, 1)`` -> RAS+ mm, as ``lazyvol.open`` gives it) and the source's
  metadata in the group attributes under ``"lazyvol"``.

Chunks are slabs of whole slices along k for NIfTI (the slab size divides the number of slices, since
Zarr v2 stores every chunk at full size) and one slice per chunk for DICOM.

Refused, with a typed error saying why: gzip-compressed files (a gzip stream cannot be entered at a
byte offset, so no chunk has an address), compressed DICOM frames stored in several fragments or
in a syntax no imagecodecs codec decodes, a series whose files differ in transfer syntax (one codec
per array), DICOM whose unused high bits are set (a Zarr reader cannot clear them), rescale values
that differ between slices (unless ``per_slice_rescale="arrays"``), missing slices, and layouts a
chunk cannot address.

References never hold credentials: URLs are written without user or password, and every query
parameter kept (it may select the object); a URL that needs credentials in its query (a
pre-signed or SAS URL) is refused. A reader passes its own credentials as the reference
filesystem's ``remote_options``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _io
from ._io import Location
from ._location import names_version
from ._refs_common import (
    EXTRA_AXES,
    assemble,
    identity,
    jsonable,
    reference_table,
    refuse_norange,
    scale_attrs,
    target_url,
)
from ._write_target import written_through
from .errors import (
    FormatError,
    LazyvolError,
    OptionError,
    ResourceLimitError,
    SourceChangedError,
    SourceNotFoundError,
    UnknownOptionError,
    UnsupportedError,
)
from .scaling import numbers_hint
from .sources import SourceStamp

__all__ = ["check_references", "references", "write_references"]

_GZIP_SUFFIXES = (".gz", ".bgz", ".zst", ".bz2", ".xz")
_NIFTI_SUFFIXES = (".nii", ".hdr", ".img")


_COMPRESSED = (
    "a compressed file cannot be referenced: a gzip (or other) stream cannot be entered at a "
    "byte offset, so no chunk of it has an address a Zarr reader could fetch. Decompress it "
    "(gunzip) and reference the .nii, or convert it with lazyvol.open(...).to_zarr(...)"
)


def _nifti_options(loc: Location, given: list[str]) -> str:
    return (
        f"{loc.display}: unexpected options for a NIfTI file: {given}; it takes storage_options "
        "and chunk_bytes"
    )


def references(
    source: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    series: str | int | None = None,
    chunk_bytes: int | None = None,
    per_slice_rescale: str = "refuse",
    check_unused_bits: bool = True,
    verify_decoded: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Kerchunk version-1 references describing ``source`` as a Zarr v2 group with array ``image``.

    Parameters
    ----------
    source : str or path-like
        An uncompressed NIfTI-1/2 or Analyze file (``.nii``, ``.hdr``/``.img``; a single-file
        NIfTI may be a URL: ``s3://``, ``gs://``, ``https://``, ...; one named without a suffix is
        known by its content, as :func:`lazyvol.open` knows it), or a DICOM file or folder
        holding a series of native (uncompressed) frames.
    storage_options : mapping, optional
        fsspec options for a URL (credentials, endpoint); used to read the header, never written
        into the references.
    series : str or int, optional
        Which DICOM volume when the folder holds several (as :func:`lazyvol.open`).
    chunk_bytes : int, optional
        Largest NIfTI slab per chunk (default: lazyvol's chunk budget, ``LAZYVOL_CHUNK_SIZE``).
    per_slice_rescale : {"refuse", "arrays"}
        DICOM slices whose RescaleSlope/RescaleIntercept differ cannot share one CF
        ``scale_factor``: ``"refuse"`` raises; ``"arrays"`` adds arrays ``rescale_slope`` and
        ``rescale_intercept`` over ``(k[, t])`` (real value = stored x slope + intercept per
        slice) and leaves ``image`` unscaled.
    check_unused_bits : bool
        DICOM with BitsStored < BitsAllocated: read the pixel data once to prove the unused high
        bits are clean (a Zarr reader returns them as they are stored; lazyvol and pydicom clear
        or sign-extend them). ``False`` skips the read and records
        ``"unused_bits_checked": false`` in the attributes.
    verify_decoded : bool
        Compressed DICOM frames (RLE, JPEG 2000, JPEG-LS, lossless JPEG; each frame one fragment)
        are referenced with an imagecodecs numcodecs codec (``pip install
        imagecodecs-numcodecs``, needed by every reader). ``True`` decodes every chunk once
        through zarr and compares it with lazyvol's decode, refusing on any difference;
        ``False`` skips that pass.
    **options
        DICOM scan/stacking options, as :func:`lazyvol.open` takes them.

    Returns
    -------
    dict
        ``{"version": 1, "refs": {...}}``, JSON-serialisable (``json.dump(refs, f)``).

    Raises
    ------
    UnsupportedError
        A gzip file, compressed DICOM frames, dirty unused bits, per-slice rescale (refused), gaps,
        a layout chunks cannot address, a URL naming a version or needing credentials in its query.
    FormatError, SourceNotFoundError, SeriesError, OptionError
        As :func:`lazyvol.open` for the same source; an option value it cannot take.

    Notes
    -----
    References are byte offsets into the targets as they were when made. Those of a ``.nii``
    record the target's identity (group attributes ``lazyvol.meta.size``, ``lazyvol.meta.etag``,
    ...), those of a DICOM series each file's (``lazyvol.targets``: size, mtime, inode, ctime; an
    object's size, last-modified time and ETag). ``lazyvol.open("reference://", ...)`` checks each
    chunk's target against them; zarr and fsspec's reference filesystem do not: a target replaced
    since is read at the old offsets, its new bytes without an error. Run
    :func:`check_references` before other readers read references that may be stale.
    """
    loc = Location.of(source, storage_options)
    _check_options(loc, per_slice_rescale, chunk_bytes)
    _refuse_url(loc)
    dicom = {"series": series, "per_slice_rescale": per_slice_rescale}
    dicom.update(check_unused_bits=check_unused_bits, verify_decoded=verify_decoded)
    try:
        return _references_of(loc, chunk_bytes, dicom, options)
    except UnsupportedError:
        raise
    except FormatError as exc:  # (an HTML page a server sent as the file: said so)
        from .readers import refuse_html_page

        refuse_html_page(loc, exc)
        raise


def _references_of(
    loc: Location, chunk_bytes: int | None, dicom: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    """:func:`references` of ``loc``, its options checked."""
    name = urlpath_name(loc)
    kind = _content_kind(loc, name)
    if kind == "compressed":
        raise UnsupportedError(f"{loc.display}: {_COMPRESSED}")
    if kind == "nifti":
        if options or dicom["series"] is not None:
            raise UnknownOptionError(_nifti_options(loc, sorted(options) or ["series"]))
        if loc.is_remote:
            layout = _remote_nifti(loc)
        else:
            layout = _local_nifti(loc.url)
        return _nifti_refs(layout, chunk_bytes)
    from ._refs_dicom import dicom_refs

    return dicom_refs(loc, **dicom, **options)


def write_references(
    refs: Mapping[str, Any], path: str | os.PathLike[str], *, overwrite: bool = True
) -> str:
    """Save references as JSON at ``path``, atomically (a temporary file, then a rename), so a
    reader never sees a half-written file. Returns the path written. Through a symbolic link
    the file it names is written (the link kept, as :meth:`Volume.to_nifti` does); a FIFO,
    socket or device there, or behind the link (``/dev/stdout``), is refused.

    ``overwrite=False`` never replaces a file at ``path``, even one created while this one was
    written (it is published without clobbering).

    Any fsspec client opens the file: ``fsspec.filesystem("reference", fo=path)``.

    Raises
    ------
    lazyvol.WriteError
        The file cannot be written (a folder at ``path``, a missing or read-only folder, a full
        disk), or exists and ``overwrite`` is false; nothing is left at or changed at ``path``.
    """
    import json

    from ._fsutil import atomic_file
    from .errors import WriteError

    target = os.path.abspath(os.fspath(path))
    try:  # (through a link, as to_nifti: /dev/stdout was replaced, a pipe behind it refused)
        with atomic_file(written_through(target), text=True, overwrite=overwrite) as f:
            json.dump(refs, f, separators=(",", ":"))
    except WriteError:
        raise
    except FileExistsError as exc:
        raise WriteError(
            f"{target} exists; pass overwrite=True to replace it (left untouched)"
        ) from exc
    except OSError as exc:
        raise WriteError(
            f"{target}: writing the references failed ({exc.strerror or exc}); choose a writable "
            "file location with free space (nothing was written there)"
        ) from exc
    return target


def _check_options(loc: Location, per_slice_rescale: Any, chunk_bytes: Any) -> None:
    """Refuse option values :func:`references` cannot take (:class:`OptionError`)."""
    if per_slice_rescale not in ("refuse", "arrays"):
        raise OptionError(
            f"{loc.display}: per_slice_rescale={per_slice_rescale!r}: use 'refuse' or 'arrays'"
        )
    if chunk_bytes is not None and (
        isinstance(chunk_bytes, bool)
        or not isinstance(chunk_bytes, numbers.Integral)
        or chunk_bytes <= 0
    ):
        raise OptionError(
            f"{loc.display}: chunk_bytes={chunk_bytes!r}: give a positive number of bytes (an "
            "integer), or None for lazyvol's chunk budget"
        )


def _refuse_url(loc: Location) -> None:
    """Refuse, before any read, a URL that references cannot express: one naming a version of
    its object (references cannot pin it for their readers) or needing credentials in its query
    (references cannot hold them)."""
    target_url(loc)
    if names_version(loc.url):
        raise UnsupportedError(
            f"{loc.display}: names one version of its object, which references cannot pin for "
            "their readers: fsspec's s3fs/gcsfs read the newest version of a target URL's object "
            "unless each reader passes version_aware=True in its remote_options, so the "
            "references would give other bytes than these offsets were taken from. Copy that "
            "version to its own key and reference it, or read it with lazyvol.open"
        )


#: Magic numbers of the compressed streams no chunk can address (gzip, zstd, bzip2, xz).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")


def _content_kind(loc: Location, name: str) -> str:
    """``"compressed"``, ``"nifti"`` or ``"dicom"`` (a DICOM file, folder or prefix): by the name's
    suffix, else, for one file or object, by its first bytes as :func:`lazyvol.open` knows a
    format (a NIfTI or a gzip stream named without a suffix: content-addressed keys)."""
    if name.endswith(_GZIP_SUFFIXES):
        return "compressed"
    if name.endswith(_NIFTI_SUFFIXES):
        return "nifti"
    if loc.names_prefix:  # (an HTTP server answers it with an index page: no object)
        return "dicom"
    if loc.is_remote:
        try:
            stamp = _io.stamp(loc)  # an object (a prefix has none)
        except LazyvolError:
            return "dicom"
    elif os.path.isfile(loc.url):
        stamp = SourceStamp.of(loc.url)
    else:
        return "dicom"
    from .readers import SNIFF_BYTES, sniff_head

    # one read (one request for a URL), of the object stamped
    head = _io.read(loc, 0, min(stamp.size, SNIFF_BYTES), expect=stamp)
    if head.startswith(_COMPRESSED_MAGIC):
        return "compressed"
    return "nifti" if sniff_head(head) == "nifti" else "dicom"


def urlpath_name(loc: Location) -> str:
    """The lower-case file name of a location (:attr:`Location.name`: an HTTP query dropped,
    an object key's "?" and "#" kept)."""
    return loc.name.lower()


# -- NIfTI -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _NiftiLayout:
    url: str
    display: str
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype
    slope: float
    inter: float
    affine: np.ndarray
    meta: dict[str, Any]


def _local_nifti(path: str) -> _NiftiLayout:
    """Layout from lazyvol's own NIfTI reader (all its header checks apply)."""
    from .nifti import open_nifti
    from .nifti_header import data_location, header_location

    vol = open_nifti(path, scale=True)
    meta = dict(vol.meta)
    # A pair's files, found by their names as open_nifti found them (a single file, a name
    # without a suffix too, is both); nibabel.load refuses headers open reads.
    loc = Location.of(path)
    data_file = os.path.abspath(data_location(loc).url)
    header_file = os.path.abspath(header_location(loc).url)
    if data_file.lower().endswith(_GZIP_SUFFIXES):
        raise UnsupportedError(
            f"{path}: its image data {data_file} is compressed; a gzip stream cannot be entered at "
            "a byte offset, so no chunk of it has an address. Decompress it first"
        )
    stamp = _io.stamp(Location.of(os.path.abspath(data_file)))
    meta.update(path=stamp.path, **identity(stamp))
    if header_file != stamp.path:  # a pair: its .hdr holds the scaling and the affine referenced
        head = _io.stamp(Location.of(header_file))
        meta["header"] = {"path": head.path, **identity(head)}
    return _NiftiLayout(
        url=os.path.abspath(data_file),
        display=os.path.abspath(path),
        offset=int(meta["vox_offset"]),
        shape=tuple(int(n) for n in vol.shape),
        dtype=np.dtype(meta["stored_dtype"]),
        slope=float(meta["scl_slope"]),
        inter=float(meta["scl_inter"]),
        affine=np.asarray(vol.affine, dtype=np.float64),
        meta=meta,
    )


def _remote_nifti(loc: Location) -> _NiftiLayout:
    """Layout of a remote single-file NIfTI from lazyvol's own NIfTI reader (every header check
    and the affine rules of ``lazyvol.open``: a NaN or zero sform gives way to a usable qform, an
    image with no usable affine is refused), pinned to the object's size and ETag."""
    from .nifti import open_nifti
    from .nifti_gzhead import is_gzipped

    if urlpath_name(loc).endswith((".hdr", ".img")):
        raise UnsupportedError(
            f"{loc.display}: remote Analyze/NIfTI pairs (.hdr/.img) are not supported yet; "
            "reference a single-file .nii"
        )
    stamp = _io.stamp(loc)
    vol = open_nifti(loc, scale=True)
    if is_gzipped(loc, stamp):  # (a gzip stream not named .gz, which lazyvol.open reads)
        raise UnsupportedError(f"{loc.display}: {_COMPRESSED}")
    meta = dict(vol.meta)
    slope, inter = float(meta["scl_slope"]), float(meta["scl_inter"])
    if not (math.isfinite(slope) and math.isfinite(inter)):
        raise FormatError(
            f"{loc.display}: NIfTI field scl_slope={slope} / scl_inter={inter} is not finite: no "
            "scale_factor can express it"
        )
    refuse_norange([loc], _io.ignores_range)
    now = _io.stamp(loc)
    if _io.changed(loc, stamp, now) is not None:
        raise SourceChangedError(
            f"{loc.display}: the object changed while its header was read "
            f"({_what_changed(stamp, now)}); make the references again"
        )
    url = target_url(loc)
    meta.update(path=url, **identity(stamp))
    return _NiftiLayout(
        url=url,
        display=loc.display,
        offset=int(meta["vox_offset"]),
        shape=tuple(int(n) for n in vol.shape),
        dtype=np.dtype(meta["stored_dtype"]),
        slope=slope,
        inter=inter,
        affine=np.asarray(vol.affine, dtype=np.float64),
        meta=meta,
    )


def _slab(nk: int, plane_bytes: int, budget: int) -> int:
    """Largest divisor of ``nk`` whose slab of planes fits ``budget`` (at least 1).

    Divisors come in pairs (d, nk // d) with d <= sqrt(nk): O(sqrt(nk)) steps.
    """
    limit = max(1, budget // max(1, plane_bytes))
    best = 1
    d = 1
    while d * d <= nk:
        if nk % d == 0:
            for kc in (d, nk // d):
                if best < kc <= limit:
                    best = kc
        d += 1
    return best


#: Most chunk references one call writes (each is a JSON entry of about 100 bytes).
MAX_CHUNK_REFS = 4_000_000


def _nifti_refs(lay: _NiftiLayout, chunk_bytes: int | None) -> dict[str, Any]:
    from .config import chunk_budget

    dtype = lay.dtype
    if dtype.fields is not None or dtype.kind not in "biufc":
        raise UnsupportedError(
            f"{lay.display}: NIfTI data type {dtype} (RGB/structured) cannot be referenced as a "
            f"plain Zarr array; {numbers_hint(dtype)}, and write that with .to_zarr(...)"
        )
    ni, nj, nk = lay.shape[:3]
    rest = lay.shape[3:]
    plane = ni * nj * dtype.itemsize
    kc = _slab(nk, plane, chunk_budget() if chunk_bytes is None else int(chunk_bytes))
    volume_bytes = plane * nk
    n_refs = (nk // kc) * math.prod(rest)
    if n_refs > MAX_CHUNK_REFS:
        raise ResourceLimitError(
            f"{lay.display}: dim {list(lay.shape)} in slabs of {kc} slice(s) needs {n_refs} chunk "
            f"references, over the limit of {MAX_CHUNK_REFS}; pass a larger chunk_bytes"
        )
    refs: dict[str, Any] = {}
    stored_shape = (nk, nj, ni, *rest)
    chunks = (kc, nj, ni, *(1 for _ in rest))
    dims = ["k", "j", "i", *EXTRA_AXES[: len(rest)]]
    if len(rest) > len(EXTRA_AXES):
        raise UnsupportedError(f"{lay.display}: {len(lay.shape)} dimensions; at most 7 are known")
    for rest_index in np.ndindex(*rest) if rest else [()]:
        # Axes after k are Fortran-ordered on disk: the first (t) varies fastest.
        flat = 0
        stride = 1
        for idx, n in zip(rest_index, rest, strict=True):
            flat += idx * stride
            stride *= n
        for kb in range(nk // kc):
            off = lay.offset + flat * volume_bytes + kb * kc * plane
            key = ".".join(str(x) for x in (kb, 0, 0, *rest_index))
            refs[f"image/{key}"] = [lay.url, int(off), int(kc * plane)]
    attrs = scale_attrs(lay.slope, lay.inter)
    group_attrs = {
        "lazyvol": {
            "affine": lay.affine.tolist(),
            "affine_axes": ["i", "j", "k"],
            "stored_axes": dims,
            "source": lay.url,
            "meta": jsonable(lay.meta),
        }
    }
    return assemble(refs, "image", stored_shape, chunks, dtype, dims, attrs, group_attrs)


def check_references(
    refs: Mapping[str, Any] | str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> int:
    """Check that the targets of references are still what the references were made from.

    Each distinct target gets one stat or HEAD request. A target that is no longer the file the
    references were made from (those of a ``.nii`` record its identity in ``lazyvol.meta`` of the
    group attributes, those of a DICOM series each file's in ``lazyvol.targets``, compared as
    ``lazyvol.open`` compares a source: a local file's size, mtime, inode and ctime; an object's
    size, ETag and last-modified time; for a pair, its ``.hdr`` too), or that no longer holds
    every byte range referenced, or that is gone, raises. References made by lazyvol versions
    that recorded no per-file identity for a DICOM series get the presence and length check
    only.

    Parameters
    ----------
    refs : mapping or path
        References as :func:`references` returns them, or the path of a JSON file holding them.
    storage_options : mapping, optional
        fsspec options to reach remote targets (credentials, endpoint).

    Returns
    -------
    int
        The number of files checked (a pair's ``.hdr`` counts as one).

    Raises
    ------
    SourceChangedError
        A target changed, shrank or was removed: make the references again.
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        A server refused or failed.
    FormatError
        ``refs`` holds no kerchunk references (not JSON, or not their structure).
    """
    meta, targets, ends = reference_table(refs)
    for url, end in sorted(ends.items()):
        own = targets.get(url)
        _check_target(url, end, {"path": url, **own} if own else meta, storage_options)
    head = meta.get("header")  # a pair's .hdr: not read by the references, but described by them
    if isinstance(head, Mapping) and isinstance(head.get("path"), str):
        _check_target(head["path"], 0, head, storage_options)
        return len(ends) + 1
    return len(ends)


def _check_target(
    url: str, end: int, meta: Mapping[str, Any], storage_options: Mapping[str, Any] | None
) -> None:
    """Raise SourceChangedError unless ``url`` holds ``end`` bytes and, when ``meta`` records
    its identity, still has that size and ETag."""
    loc = Location.of(url, storage_options if _io.is_url(url) else None)
    again = "make the references again"
    try:
        now = _io.stamp(loc)
    except SourceNotFoundError:
        raise SourceChangedError(
            f"{loc.display}: a target of the references was removed; {again}"
        ) from None
    if meta.get("path") in (loc.identity, url) and "size" in meta:
        made = SourceStamp(
            now.path,
            int(meta["size"]),
            int(meta.get("mtime_ns") or 0),
            int(meta.get("inode") or 0),
            int(meta.get("ctime_ns") or 0),
            str(meta.get("etag") or ""),
        )
        if _differs(loc, made, now):
            raise SourceChangedError(
                f"{loc.display}: the target changed after the references were made "
                f"({_what_changed(made, now)}); {again}"
            )
    if now.size < end:
        raise SourceChangedError(
            f"{loc.display}: the target has {now.size} bytes but the references read up to "
            f"byte {end}: it changed after they were made; {again}"
        )


def _differs(loc: Location, made: SourceStamp, now: SourceStamp) -> bool:
    """Whether the target ``now`` is not the one the references were ``made`` from (a field the
    references did not record, 0 or empty, is not compared: references of older versions)."""
    if loc.is_remote:
        return _io.changed(loc, made, now) is not None
    optional = (
        (made.mtime_ns, now.mtime_ns),
        (made.inode, now.inode),
        (made.ctime_ns, now.ctime_ns),
    )
    return made.size != now.size or any(a and a != b for a, b in optional)


def _what_changed(made: SourceStamp, now: SourceStamp) -> str:
    """The identity fields that differ between two stamps of a target, for a message (its size
    when none differs as written: a last-modified time compared at a coarser precision)."""
    names = {"size": "size", "etag": "ETag", "mtime_ns": "modified (ns)"}
    names.update(inode="inode", ctime_ns="ctime (ns)")
    out = [
        f"{label} {getattr(made, k) or '?'} -> {getattr(now, k) or '?'}"
        for k, label in names.items()
        if getattr(made, k) != getattr(now, k)
    ]
    return ", ".join(out) or f"size {made.size} -> {now.size}"
