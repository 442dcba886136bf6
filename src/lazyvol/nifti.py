"""NIfTI-1/2 and Analyze reader: nibabel's header rules and affine, pixel bytes read in dask tasks.

A source is a local path or a URL (``s3://``, ``gs://``, ``https://``, ...): headers come through
the byte layer (:mod:`lazyvol.nifti_header`), pixel bytes inside dask tasks
(:mod:`lazyvol.nifti_plan`). Uncompressed files are read straight from their byte offset (a memory
map locally, exact ranged reads remotely). ``.gz`` files go through :mod:`lazyvol.gzaccess`
locally (rapidgzip, else indexed_gzip: one shared handle per file and process while no seek index
exists, one handle per thread importing the saved index afterwards) and :mod:`lazyvol.gz_remote`
for URLs (one streamed pass that saves a dense seek index; ranged reads from the nearest seek
point once it exists).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import _io, gz_remote, gzaccess
from ._location import Location
from .chunking import PlanArray, normalize_chunks, plan_array
from .config import check_volume_bytes
from .errors import FormatError, SourceNotFoundError
from .nifti_codes import field_label
from .nifti_fields import ParsedHeader, vox_offset_error
from .nifti_gzhead import compressed_error, data_compression, is_gzipped
from .nifti_header import (
    NIFTI_SUFFIXES,
    check_header,
    checked_affine,
    data_location,
    gzip_isize,
    header_location,
    header_meta,
    inflate,
    is_nifti_path,
    is_single_file,
    load_image,
)
from .nifti_pair import near_miss
from .nifti_plan import NiftiPlan, read_block
from .scaled_dtypes import scaled_dtype
from .scaling import check_cast, check_integer_scaling, nifti_scaling
from .sources import SourceStamp, content_sample, fingerprint
from .volume import Volume

__all__ = [
    "NIFTI_SUFFIXES",
    "NiftiPlan",
    "build_gzip_index",
    "clear_gzip_handles",
    "is_nifti_path",
    "open_nifti",
    "read_block",
]

GZ_SPACING = gzaccess.GZ_SPACING
GZ_MAX_POINTS = gzaccess.GZ_MAX_POINTS
gz_spacing = gzaccess.gz_spacing

#: deflate cannot compress better than about 1032:1; a header claiming more data than that is lying.
_MAX_DEFLATE_RATIO = 1032
#: Most uncompressed bytes counted at open in a ``.nii.gz`` too small for what its header claims
#: (only to say how much it holds: the file is refused either way).
_MAX_COUNT = 256 * 2**20


def _scaling(loc: Location, hdr: ParsedHeader, scale: bool) -> tuple[float, float]:
    """``(slope, inter)``: the scaling that applies (nibabel's, except that an infinite stored
    slope or intercept is an error, not "no scaling"; :func:`lazyvol.scaling.nifti_scaling`)."""
    if not scale or hdr.disk_dtype.kind not in "biufc":
        # RGB and other structured types carry no scaling (NIfTI standard).
        return 1.0, 0.0
    if hdr.format == "analyze":  # no scl_ fields: SPM's scale factor, as nibabel reads it
        return nifti_scaling(hdr.slope, hdr.inter, str(loc))
    return nifti_scaling(hdr.raw_slope, hdr.raw_inter, str(loc))


def _stated_scaling(loc: Location, hdr: ParsedHeader) -> tuple[float, float]:
    """The scaling ``scale=True`` would apply, or the stored fields where it would refuse them."""
    try:
        return _scaling(loc, hdr, True)
    except FormatError:
        return hdr.raw_slope, hdr.raw_inter


def _check_sizes(
    loc: Location,
    data: Location,
    stamp: SourceStamp,
    shape: tuple[int, ...],
    end: int,
    what: str,
    compressed: bool,
) -> None:
    """Refuse a data file (``compressed``: a gzip stream) that cannot hold the ``end`` bytes the
    header needs (the message names the data file: the ``.img`` of a pair)."""
    size = stamp.size
    where = str(loc) if data == loc else f"{data} (data of {loc})"
    if not compressed:
        kind = (
            "" if is_single_file(data) else data_compression(data, stamp, end)
        )  # (a .nii: read_head)
        if kind:  # read as voxels, the compressed bytes were garbage (or "truncated")
            raise compressed_error(data, kind, header=header_location(data))
        if size < end:
            raise FormatError(
                f"{where}: truncated: the header needs {end} bytes ({what}) but the file has {size}"
            )
        return
    reach = size * _MAX_DEFLATE_RATIO  # the most uncompressed bytes the file can hold
    isize = gzip_isize(data, stamp, header=loc)
    # A trailer no member of this file could have written (ISIZE beyond what its bytes inflate
    # to, knowable for files under 4 MiB): the last bytes are not a trailer. A file cut short
    # (or bytes after the last member): inflate it through the data, cheap at that size. The
    # bytes left by a cut pass for a trailer with odds size * 1032 / 2**32 (nearly never for a
    # few hundred KiB); such a file, and any over 4 MiB, fails when the cut part is read.
    not_a_trailer = isize is not None and reach < 2**32 and isize > reach
    # A truncated file, or a file of several gzip members (the trailer then gives the last
    # member's size only): count what the members really hold.
    short = isize is not None and end < 2**32 and isize < end
    if not (end > reach or not_a_trailer or short):
        return
    need = end
    if not_a_trailer:
        need = end + 2**20  # past the data, to its end: a cut in the trailer leaves the data
    elif end > reach:
        need = min(end, _MAX_COUNT)  # the file cannot hold ``end``: count to say what it holds
    held = inflate(data, stamp, need, keep=False, chunk=2**20)  # raises on a stream cut short
    if isinstance(held, int) and held < end:
        if held >= need:  # pragma: no cover - needs a stream inflating past _MAX_COUNT
            raise FormatError(
                f"{where}: truncated or its header corrupt: header dim {list(shape)} claims {what} "
                f"but the gzip file has only {size} bytes; no deflate stream expands that much"
            )
        raise FormatError(
            f"{where}: truncated: the header needs {end} uncompressed bytes ({what}) but the "
            f"gzip stream holds {held}"
        )


def open_nifti(
    source: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    chunks: Any = "auto",
    scale: bool = True,
    dtype: Any = None,
) -> Volume:
    """Open a NIfTI-1/2 or Analyze image lazily, from a path or a URL.

    Parameters
    ----------
    source : str, path-like or Location
        ``.nii``, ``.nii.gz``, ``.hdr``/``.img`` (optionally gzipped): a local path or an fsspec
        URL (``s3://``, ``gs://``, ``https://``, ...).
    storage_options : mapping, optional
        fsspec options for a URL (credentials never appear in a repr, token or message).
    chunks : "auto" or dask chunk spec
        ``"auto"``: whole planes in slabs along the last spatial axis, one time point at a time,
        sized to :func:`lazyvol.config.chunk_budget`.
    scale : bool
        Apply ``scl_slope``/``scl_inter`` (dtype rule in :mod:`lazyvol.scaling`); ``False`` gives
        stored values.
    dtype : dtype, optional
        Force the output dtype (e.g. ``float64``).

    Returns
    -------
    Volume

    Raises
    ------
    SourceNotFoundError
        ``source`` (or the ``.img`` of an ``.hdr``) does not exist.
    FormatError
        Not a NIfTI/Analyze file, a corrupt header, or a file shorter than its header says (a
        ``.nii.gz`` holding less than the header needs, or whose gzip stream is cut short).
    ResourceLimitError
        The header claims more data than the configured limit (``LAZYVOL_MAX_VOLUME_BYTES``).
    RemoteAccessError, RemoteReadError, RemoteTimeoutError
        A server refused or failed (see :mod:`lazyvol._io`).
    """
    loc = Location.of(source, storage_options)
    first = _io.stamp(loc)  # exists, and is a regular file / an object
    hdr, data_loc, head = load_image(loc, first)  # head: the .hdr of a pair opened by its .img
    check_header(loc, hdr)
    try:
        stamp = first if data_loc == loc else _io.stamp(data_loc)
    except SourceNotFoundError:
        raise SourceNotFoundError(
            f"{loc}: its image data file {data_loc} is missing{near_miss(data_loc)}"
        ) from None
    slope, inter = _scaling(loc, hdr, scale)
    disk_dtype, offset, shape = hdr.disk_dtype, hdr.offset, hdr.shape
    out_dtype = np.dtype(dtype) if dtype is not None else scaled_dtype(disk_dtype, [(slope, inter)])
    if dtype is not None:
        check_cast(str(loc), disk_dtype, out_dtype, f"{field_label(hdr.format)} datatype")
        check_integer_scaling(str(loc), out_dtype, [(slope, inter)], "scl_slope / scl_inter")
    n_voxels = int(np.prod(shape, dtype=object))
    data_bytes = n_voxels * disk_dtype.itemsize
    check_volume_bytes(n_voxels * out_dtype.itemsize, f"{loc}: header dim {list(shape)} claims")
    single = is_single_file(loc)
    min_offset = {"nifti2": 540}.get(hdr.format, 348) if single else 0
    if offset < min_offset:
        raise vox_offset_error(loc, offset, hdr.format == "nifti2", single, field_label(hdr.format))
    what = f"vox_offset {offset} + {data_bytes} bytes of {disk_dtype} data for dim {list(shape)}"
    if hdr.bitpix not in (None, 0, disk_dtype.itemsize * 8):  # (the datatype may be damaged)
        what += f"; but bitpix = {hdr.bitpix} says {hdr.bitpix}-bit voxels: is datatype damaged?"
    compressed = is_gzipped(data_loc, stamp)
    _check_sizes(loc, data_loc, stamp, shape, offset + data_bytes, what, compressed)
    if not data_loc.is_remote:  # tasks may run in another working directory
        data_loc = Location(os.path.abspath(data_loc.url))
    plan = NiftiPlan(
        loc=data_loc,
        stamp=stamp,
        offset=offset,
        shape=shape,
        disk_dtype=disk_dtype,
        slope=slope,
        inter=inter,
        out_dtype=out_dtype,
        compressed=compressed,
        header=head if head != stamp else None,
        # (the stream at open, beside a stamp a same-size replacement may keep)
        gz_tail=_stream_sample(data_loc, stamp) if compressed else b"",
    )
    return _volume(loc, {first, head}, hdr, plan, chunks, scale)


def _stream_sample(data: Location, stamp: SourceStamp) -> bytes:
    """What tells the gzip stream opened from another of the same stamp: a remote object's
    trailer where its stamp cannot (:func:`lazyvol.gz_remote.stream_tail`), a local file's
    :func:`lazyvol.sources.content_sample` (its seek index's name, checked at its first read)."""
    if data.is_remote:
        return gz_remote.stream_tail(data, stamp)
    return content_sample(os.path.abspath(data.url), stamp.size)


#: Default bytes per chunk of a gzip-compressed image (an explicit ``LAZYVOL_CHUNK_SIZE`` /
#: ``lazyvol.chunk-size`` wins). Every block of a ``.nii.gz`` is inflated into memory of its own
#: (an uncompressed file's blocks are memory-mapped pages instead), so the block size is what a
#: streaming reduction holds per thread. Measured on a quiet 2-core machine, first-pass mean of
#: int16 phantoms of 256 MiB / 1 GiB / 4 GiB, peak anonymous memory: 203 / 215 / 239 MiB with
#: 16 MiB blocks against 231 / 259 / 287 MiB with the general 32 MiB default, at the same speed.
GZ_CHUNK_BYTES = 16 * 2**20


def _volume(
    loc: Location,
    opened: set[SourceStamp],
    hdr: ParsedHeader,
    plan: NiftiPlan,
    chunks: Any,
    scale: bool,
) -> Volume:
    shape, out_dtype = plan.shape, np.dtype(plan.out_dtype)
    spatial = min(3, len(shape))
    default = GZ_CHUNK_BYTES if plan.compressed else None
    # chunks= is for the shape the volume shows: a 1-D/2-D image padded to (i, j, 1); a tuple
    # for the file's shape (nibabel's) is taken too, and "auto" chunks the file's
    own = chunks is None or (isinstance(chunks, str) and chunks == "auto")
    own = own or (isinstance(chunks, tuple | list) and len(chunks) == len(shape))
    norm = normalize_chunks(
        chunks,
        shape if own else shape + (1,) * (3 - len(shape)),
        out_dtype,
        spatial_ndim=spatial,
        default_budget=default,
        where=loc.display,
    )[: len(shape)]
    stamps = {plan.stamp, *opened}
    options: dict[str, Any] = {"scale": scale, "dtype": out_dtype.str, "chunks": norm}
    if loc.is_remote and loc.options:
        options["storage"] = loc.options.redacted()  # endpoints matter; credentials never
    token = fingerprint(sorted(stamps, key=lambda s: s.path), **options)
    data: Any = plan_array(read_block, plan, shape, norm, out_dtype, f"lazyvol-nifti-{token}")
    # meta states the file's scaling, applied (scale=True) or not: a volume of stored values
    # still says what they mean
    slope, inter = (plan.slope, plan.inter) if scale else _stated_scaling(loc, hdr)
    meta = header_meta(hdr, loc, plan.disk_dtype, slope, inter, scale)
    affine = checked_affine(loc.display, hdr, meta)
    if "nifti_fields" in meta:  # the axes the carried per-axis fields describe (nifti_carry)
        meta["nifti_fields"] = {
            **meta["nifti_fields"],
            "affine": np.asarray(affine).tolist(),
            "shape": [int(n) for n in shape],
        }
    if len(shape) < 3:
        # A 1D/2D image: pad to (i, j, k) as nibabel's affine already covers three axes.
        assert isinstance(data, PlanArray)
        data = data.to_dask().reshape(shape + (1,) * (3 - len(shape)))
    return Volume(data, affine, meta=meta, source=loc.url if not loc.is_remote else loc.display)


def clear_gzip_handles() -> None:
    """Close the gzip handles (local and remote) this process keeps between tasks."""
    gzaccess.clear_handles()
    gz_remote.clear_handles()


def build_gzip_index(
    source: str | os.PathLike[str] | Location, *, storage_options: Mapping[str, Any] | None = None
) -> Path:
    """Inflate a ``.nii.gz`` once and save its seek index in the cache directory.

    Later reads of any slab, in any process, then cost a seek plus at most one seek-point spacing
    of inflate (locally 4 MiB, wider for files over 1 GiB, see :func:`gz_spacing`; remotely
    256 KiB, see ``lazyvol.gz_remote.spacing``). A local index is in indexed_gzip's format,
    which rapidgzip reads too; a remote one is keyed by URL, size, ETag and last-modified time.

    Parameters
    ----------
    source : str, path-like or Location
        A gzipped NIfTI/Analyze image file (the ``.nii.gz`` or ``.img.gz``), local or a URL.
    storage_options : mapping, optional
        fsspec options for a URL.

    Returns
    -------
    pathlib.Path
        Where the index was saved.
    """
    loc = Location.of(source, storage_options)
    vol = open_nifti(loc)  # checks the header first
    data_end = (
        int(vol.meta["vox_offset"])
        + int(np.prod(vol.shape, dtype=np.int64)) * np.dtype(vol.meta["stored_dtype"]).itemsize
    )
    data = data_location(loc)
    stamp = _io.stamp(data)
    if data.is_remote:
        return gz_remote.build_index(
            gz_remote.RemoteGz(data, stamp, data_end, gz_remote.stream_tail(data, stamp))
        )
    return gzaccess.build_index(gzaccess.GzSource.of(data.url, data_end, os.stat(data.url)))
