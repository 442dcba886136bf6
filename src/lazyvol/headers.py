"""A volume's source header -- the nibabel header or the pydicom data sets -- without pixel data.

:attr:`lazyvol.Volume.header` and :meth:`lazyvol.Volume.dicom_header` delegate here, as does
``lazyvol info --header``. NIfTI headers come from :func:`nibabel.load` (which reads only the
header); DICOM data sets from :func:`pydicom.dcmread` with ``stop_before_pixels=True``. For enhanced
(multi-frame) files, the data set of frame ``f`` has the shared and the frame's functional groups
merged into its top level, so ``ds.ImagePositionPatient`` is that frame's position, as for classic
one-slice-per-file series.

Slices are numbered in the volume at hand: after ``vol[:, :, 10:20]``, ``vol.dicom_header(0)``
is the data set of the source's slice 10. The reader's indices are tracked in
``vol.meta["source_index"]`` when a DICOM volume is cut.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ._location import display_url, is_url
from ._opened import opened_plan, opened_stamps
from ._source_index import SOURCE_INDEX_KEY, slice_source_index
from ._source_index import is_dicom as _is_dicom
from ._zarr_folder import is_zarr_folder
from .errors import FormatError, LazyvolError, SourceChangedError, SourceNotFoundError
from .sources import HEADER_FILES_KEY, header_files_token

T = TypeVar("T")

if TYPE_CHECKING:
    from .volume import Volume

__all__ = [
    "SOURCE_INDEX_KEY",
    "dicom_header",
    "dicom_headers",
    "format_header",
    "header_to_dict",
    "slice_source_index",
    "source_header",
    "volume_header",
]


class HeaderError(LazyvolError, ValueError):
    """The volume has no source header that lazyvol can give (built in memory, a Zarr store ...)."""


# -- reading -----------------------------------------------------------------------------------------


def _is_zarr(source: str) -> bool:
    # (the registry's rule: a DICOM folder holding a stray zarr.json is no store)
    return (
        bool(source)
        and os.path.isfile(os.path.join(source, "zarr.json"))
        and is_zarr_folder(source)
    )


@functools.lru_cache(maxsize=64)
def _read_dataset(path: str, size: int, mtime_ns: int, ino: int, ctime_ns: int) -> Any:
    import pydicom

    from .dicom.deflated import header_dataset

    try:
        return header_dataset(path)  # (dcmread's, but a Deflated data set's read as it inflates)
    except (OSError, ValueError, EOFError, pydicom.errors.InvalidDicomError) as exc:
        raise FormatError(f"{path}: cannot read the DICOM header again: {exc}") from exc


def read_dataset(path: str) -> Any:
    """The pydicom data set of ``path`` without its pixel data (cached while the file is unchanged:
    same size, mtime, inode and ctime)."""
    return copy.deepcopy(peek_dataset(path))


def peek_dataset(path: str) -> Any:
    """:func:`read_dataset` without the copy: the cached data set itself, to read values from,
    never to change."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceNotFoundError(
            f"{path}: no such file (was it moved since it was opened?)"
        ) from None
    return _read_dataset(path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _read_unchanged(vol: Any, path: str, read: Callable[[], T]) -> T:
    """``read()`` of ``path``'s header, checked against the file ``vol`` was opened from before
    and after it (SourceChangedError naming the file: never another file's header). Files whose
    stamp is not known (a volume without a read plan) are read unchecked."""
    opened = opened_stamps(vol).get(os.path.abspath(path))
    if opened is not None:
        opened.verify()
    out = read()
    if opened is not None:
        opened.verify()  # not changed while it was read
    return out


#: SharedFunctionalGroupsSequence (5200,9229) and PerFrameFunctionalGroupsSequence (5200,9230).
_FUNCTIONAL_GROUPS = frozenset({0x52009229, 0x52009230})


def merge_frame(ds: Any, frame: int) -> Any:
    """Data set of frame ``frame`` (0-based) of an enhanced multi-frame data set ``ds``.

    The items of SharedFunctionalGroupsSequence and of the frame's PerFrameFunctionalGroupsSequence
    item are copied into the top level (frame groups win over shared ones): each functional group
    sequence is kept, and the attributes of its first item are added too (so
    ``ds.ImagePositionPatient``, ``ds.RescaleSlope`` or ``ds.EchoTime`` are the frame's). The
    two functional group sequences themselves are removed: they are never copied (pydicom walks
    every item of a sequence set into a data set, so copying the frames' sequence made each frame
    cost as much as all of them).
    """
    from pydicom.dataset import Dataset

    out = Dataset()
    for tag, elem in ds.items():
        if tag not in _FUNCTIONAL_GROUPS:
            out[tag] = elem
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    out.preamble = getattr(ds, "preamble", None)
    shared = ds.get("SharedFunctionalGroupsSequence")
    per = ds.get("PerFrameFunctionalGroupsSequence")
    if per is not None and not 0 <= frame < len(per):
        raise IndexError(f"frame {frame} is out of range: the file has {len(per)} frames")
    for groups in (shared[0] if shared else None, per[frame] if per is not None else None):
        if groups is None:
            continue
        for group in groups:
            out[group.tag] = group
            if group.VR == "SQ" and len(group.value):
                for elem in group.value[0]:
                    out[elem.tag] = elem
    name = getattr(ds, "filename", None)
    if isinstance(name, str):
        out.filename = name
    return out


def _frame_numbers(report: Any) -> dict[tuple[str, int], int]:
    """(path, pixel offset) -> frame number in its file, from every volume a scan found."""
    offsets: dict[str, set[int]] = {}
    for info in report:
        fr = info.frames
        if fr is None:
            continue
        for p, off in zip(fr.paths, fr.offsets, strict=False):
            if p:
                offsets.setdefault(p, set()).add(int(off))
    return {(p, off): n for p, offs in offsets.items() for n, off in enumerate(sorted(offs))}


def _series_info(vol: Volume) -> tuple[Any, Any]:
    from .dicom import scan

    options = dict(vol.meta.get("relaxations") or {})
    report = scan(_opened_path(vol), **options)
    want = vol.meta.get("series_id")
    for info in report:
        if info.id == want:
            return info, report
    raise HeaderError(
        f"{vol.source}: volume {want} is not found there any more (the folder changed since it "
        "was opened); open it again"
    )


def check_store_sources(vol: Any) -> None:
    """For a volume read from a lazyvol Zarr store (or a selection of one): raise unless the
    files its headers would be read from are the ones the store was written from (their token,
    recorded at the writing and carried in the volume's meta: :data:`lazyvol.sources.
    HEADER_FILES_KEY`). A store keeps the pixels, not each source file's header.

    Raises
    ------
    HeaderError
        A store that records no token (written by an older lazyvol, or from a remote source).
    SourceChangedError
        The files changed since, are gone, or are other files at the same paths.
    """
    meta = getattr(vol, "meta", None) or {}
    if HEADER_FILES_KEY not in meta or opened_stamps(vol):
        return  # (read from its source files, as opened: each header read checks its file)
    want = meta[HEADER_FILES_KEY]
    if want is None:
        raise HeaderError(
            f"{vol.source}: this Zarr store does not record which source files it was written "
            "from (an older lazyvol, or a remote source), so their headers cannot be shown as "
            "its own; open the source itself"
        )
    if header_files_token(meta) != want:
        # (the same check for a store's volume and for a cut through dask of a volume opened from
        # its files: neither holds a read plan that tells them apart)
        raise SourceChangedError(
            f"{vol.source}: the source files of this volume (opened from them, or from a Zarr "
            "store written from them) changed since, are gone, or are other files at the same "
            "paths: their headers are not the volume's; open the source again (a store: write "
            "it again)"
        )


def _dicom_source(vol: Volume) -> None:
    if _is_zarr(vol.source):
        header = vol.meta.get("source_header")
        if header is None:
            raise HeaderError(_no_header(vol))
        return
    if not _is_dicom(vol.meta):
        raise HeaderError(
            f"{vol.source or 'this volume'}: not a DICOM volume (format "
            f"{vol.meta.get('format', 'unknown')!r}); use vol.header"
        )
    if vol.source and is_url(_opened_path(vol)):
        raise HeaderError(
            f"{display_url(_opened_path(vol))}: lazyvol reads the headers of local DICOM files "
            "only (not of a remote source); download the series and open the local copy"
        )
    if not vol.source or not os.path.exists(_opened_path(vol)):
        raise SourceNotFoundError(
            f"{vol.source}: the DICOM source of this volume is gone; its header cannot be read "
            "(a Zarr store written by lazyvol keeps the pixels and the affine, not the source's "
            "headers)"
        )
    check_store_sources(vol)


def _opened_path(vol: Volume) -> str:
    """The DICOM folder or file ``vol`` was opened from, absolute when recorded at open (a
    relative ``vol.source`` names another place after a chdir)."""
    return str(vol.meta.get("path") or vol.source)


def _no_header(vol: Volume) -> str:
    """Why a Zarr store has no source header to show, and where one is."""
    files = vol.meta.get("files")
    if isinstance(files, list) and files:
        hint = os.path.commonpath([os.path.dirname(f) for f in files])
    else:
        hint = str(vol.meta.get("path") or "")
    if vol.meta.get("format") == "ome-zarr" or not hint:
        return (
            f"{vol.source}: a Zarr store without a NIfTI or DICOM header (its metadata is the "
            "OME-Zarr attributes: lazyvol info without --header shows the geometry they give)"
        )
    return (
        f"{vol.source}: this Zarr store keeps no copy of its source's header; open the source it "
        f"was written from ({hint}) to read it"
    )


def dicom_header(vol: Volume, k: int = 0, t: int = 0) -> Any:
    """The pydicom data set behind slice ``k`` (and 4th-axis index ``t``) of ``vol``.

    See :meth:`lazyvol.Volume.dicom_header`.
    """
    return dicom_headers(vol, [(k, t)])[0]


def dicom_headers(
    vol: Volume,
    slices: Sequence[tuple[int, int]],
    read: Callable[[str], Any] | None = None,
    *,
    filled_ok: bool = False,
) -> list[Any]:
    """:func:`dicom_header` of each ``(k, t)`` of ``slices``, the folder looked up once (a
    series' per-image values without a scan per image). ``read``: how a file's data set is read
    (default :func:`read_dataset`, a copy the caller may change). A slice ``allow_gaps=True``
    filled in has no header: ``None`` in its place with ``filled_ok``, else a ``HeaderError``."""
    _dicom_source(vol)
    if _is_zarr(vol.source):
        return [_stored_dataset(vol.meta["source_header"]) for _ in slices]
    nk = vol.shape[2]
    nt = vol.shape[3] if vol.ndim > 3 else 1
    idx = vol.meta.get("source_index")
    wanted = []
    for k, t in slices:
        for name, value, n in (("k", k, nk), ("t", t, nt)):
            if not -n <= int(value) < n:
                raise IndexError(
                    f"{name}={value} is out of range for a volume with {n} along {name}"
                )
        k, t = int(k) % nk, int(t) % nt
        if isinstance(idx, dict):
            k, t = int(idx["k"][k]), int(idx["t"][t])
        wanted.append((k, t))
    info, report = _series_info(vol)
    frames = info.frames
    if frames is None:
        raise HeaderError(
            f"{vol.source}: volume {info.id} is not one volume in its folder now ({info.error}); "
            "if the folder changed since it was opened, open it again"
        )
    _same_files(vol, frames.paths)
    numbers = None
    out: list[Any] = []
    for k, t in wanted:
        pos = t * int(info.shape[2]) + k
        if pos >= len(frames.paths):
            raise IndexError(
                f"slice {k}, volume {t} is beyond the {len(frames.paths)} frames found"
            )
        path = frames.paths[pos]
        if not path and filled_ok:
            out.append(None)
            continue
        if not path:
            raise HeaderError(
                f"{vol.source}: slice {k} (volume {t}) has no file: it was filled in "
                "(allow_gaps=True)"
            )
        ds = _read_unchanged(vol, path, functools.partial(read or read_dataset, path))
        nframes = int(ds.get("NumberOfFrames", 1) or 1)
        if nframes > 1 and "PerFrameFunctionalGroupsSequence" in ds:
            numbers = _frame_numbers(report) if numbers is None else numbers
            ds = merge_frame(ds, numbers.get((path, int(frames.offsets[pos])), 0))
        out.append(ds)
    return out


def _same_files(vol: Volume, paths: Sequence[str]) -> None:
    """Raise SourceChangedError unless ``paths`` (the series' images as its folder is scanned
    now) are the files ``vol`` was opened from (``meta["files"]``): with a file added, removed or
    renamed since, slice ``k`` of the scan is another image than the volume's slice ``k``."""
    files = vol.meta.get("files")
    if isinstance(files, list) and sorted({p for p in paths if p}) != sorted(map(str, files)):
        raise SourceChangedError(
            f"{vol.source}: the series' files in its folder changed since this volume was opened "
            "(a file added, removed or renamed): their headers would be other images'; open it "
            "again"
        )


def _stored_dataset(doc: Any) -> Any:
    from pydicom.dataset import Dataset

    if isinstance(doc, dict) and doc and all(len(str(key)) == 8 for key in doc):
        return Dataset.from_json(doc)
    return doc


def _local_nifti_header(loc: Any) -> Any:
    """The header of the local NIfTI or Analyze image ``loc`` as its file holds it, with its
    extensions (:func:`_nifti_header_bytes`). Not through ``nibabel.load``: nibabel opens a
    ``.gz`` with indexed_gzip, which kills the process (segmentation fault) on a file name that
    is not valid UTF-8; and its image header has scl_slope / scl_inter reset to NaN and
    vox_offset to 0 (its array proxy keeps them), hiding the file's scaling and data offset."""
    from . import _io
    from .nifti_header import header_location, is_single_file

    if is_single_file(loc):
        return _nifti_header_bytes(loc, _io.stamp(loc), None)
    return _nifti_header_bytes(loc, None, _io.stamp(header_location(loc)))


def _nifti_header_class(raw: bytes, single: bool) -> Any:
    """The nibabel header class :func:`nibabel.load` gives a NIfTI / Analyze header starting
    with ``raw`` (``single``: a header in the data file, not a pair's ``.hdr``)."""
    import nibabel as nib
    from nibabel.nifti1 import Nifti1PairHeader
    from nibabel.nifti2 import Nifti2PairHeader

    size = int.from_bytes(raw[:4], "little")
    if size not in (348, 540):
        size = int.from_bytes(raw[:4], "big")
    if size == 540:
        return nib.Nifti2Header if single else Nifti2PairHeader
    if raw[344:348] in (b"n+1\0", b"ni1\0"):
        return nib.Nifti1Header if single else Nifti1PairHeader
    return nib.Spm2AnalyzeHeader  # (a pair without NIfTI magic: Analyze, as nibabel loads it)


def _nifti_header_bytes(loc: Any, stamp: Any, pair_header: Any) -> Any:
    """The header of a NIfTI or Analyze volume (``loc``, stamped ``stamp``; ``pair_header``: the
    stamp of a pair's ``.hdr``, else None), its bytes read again through the byte layer: the
    first 548 bytes (a short inflate for ``.gz``), then the extensions up to ``vox_offset`` (a
    pair's whole ``.hdr``) when the extension flag says there are some, up to
    ``MAX_HEADER_BYTES`` (those past it left out with a warning, as ``open`` leaves them out of
    the volume: a ``vox_offset`` claim is never read whole, a ``.gz`` never inflated to it);
    checked against the stamps at open (SourceChangedError when the object changed)."""
    import io

    from . import _io
    from .nifti_gzhead import is_gzip_name, read_head
    from .nifti_header import MAX_HEADER_BYTES, header_location

    single = pair_header is None
    hdr_loc = loc if single else header_location(loc)
    hdr_stamp = stamp if single else pair_header
    head = read_head(hdr_loc, 548, hdr_stamp)
    cls = _nifti_header_class(head, single)
    if single:
        bare = cls.from_fileobj(io.BytesIO(head[: cls.sizeof_hdr]), check=False)  # (no exts)
        vox = int(bare.get("vox_offset", 0))
        flag = head[cls.sizeof_hdr : cls.sizeof_hdr + 1]  # (0: no extensions, nothing to read)
        need = 0 if flag in (b"", b"\0") else min(vox, MAX_HEADER_BYTES)
        capped = need == MAX_HEADER_BYTES < vox
    else:  # a pair's .hdr holds the header and extensions only: all of it (bounded)
        need = MAX_HEADER_BYTES if is_gzip_name(hdr_loc) else min(hdr_stamp.size, MAX_HEADER_BYTES)
    if need > len(head):
        head = read_head(hdr_loc, need, hdr_stamp)
    if not single:
        capped = len(head) >= MAX_HEADER_BYTES
    if not _io.reads_check(hdr_loc, hdr_stamp):
        _io.verify(hdr_loc, hdr_stamp)  # (an S3 or GCS read is not checked by itself)
    try:
        if capped and hasattr(cls, "exts_klass"):  # (NIfTI: extensions past the bytes read)
            return _capped_header(cls, head, hdr_loc.display, single)
        return cls.from_fileobj(io.BytesIO(head), check=False)
    except LazyvolError:
        raise
    except Exception as exc:  # nibabel's own errors are not typed for us
        if hasattr(cls, "exts_klass"):  # (extension frames nibabel fails on, open reads)
            try:
                return _walked_header(cls, head, hdr_loc.display, single, whole=True)
            except Exception:
                pass  # (nibabel's error says more)
        raise FormatError(f"{hdr_loc.display}: nibabel cannot read the header: {exc}") from exc


def _capped_header(cls: Any, head: bytes, where: str, single: bool) -> Any:
    """The header of a NIfTI whose extensions run past the bytes read at open (``head``, the
    first ``MAX_HEADER_BYTES``): its fields and the extensions within them, as ``open`` keeps
    them, with a warning; nibabel, handed the bytes, fails on the extension they cut."""
    from ._warn import warn
    from .nifti_header import MAX_HEADER_BYTES

    hdr = _walked_header(cls, head, where, single, whole=False)
    warn(
        f"lazyvol: {where}: the header's extensions past its first {MAX_HEADER_BYTES // 2**20} "
        f"MiB are not read (the {len(hdr.extensions)} before them are kept); nibabel's "
        "nib.load of a local copy reads them all",
        RuntimeWarning,
    )
    return hdr


def _walked_header(cls: Any, head: bytes, where: str, single: bool, *, whole: bool) -> Any:
    """The NIfTI header in ``head`` (``whole``: all its bytes) with its extensions as ``open``
    walks them: nibabel's walk fails on frames open reads (an esize that is not a multiple of
    16, then zero padding, where niftilib stops)."""
    import base64
    import io

    import nibabel as nib

    from .nifti_fields import CARRIED_KEY, EXTENSIONS_KEY, parse_nifti

    hdr = cls.from_fileobj(io.BytesIO(head[: cls.sizeof_hdr]), check=False)
    carried = parse_nifti(head, where, single=single, whole=whole).fields.get(CARRIED_KEY, {})
    for ext in carried.get(EXTENSIONS_KEY, []):
        content = base64.b64decode(ext["base64"])
        hdr.extensions.append(nib.nifti1.Nifti1Extension(int(ext["code"]), content))
    return hdr


def volume_header(vol: Volume) -> Any:
    """The source's full header: a nibabel header (NIfTI) or the first slice's data set (DICOM).

    A NIfTI opened from a URL has its header bytes read again from the object, checked against
    its stamp at open (SourceChangedError when it changed). See :attr:`lazyvol.Volume.header`.
    """
    if _is_zarr(vol.source):
        header = vol.meta.get("source_header")
        if header is None:
            raise HeaderError(_no_header(vol))
        return _stored_dataset(header)
    fmt = str(vol.meta.get("format", ""))
    if _is_dicom(vol.meta):
        return dicom_header(vol, 0, 0)
    if fmt.lower().startswith(("nifti", "analyze")) or vol.meta.get("path"):
        path = str(vol.meta.get("path") or vol.source)
        plan = opened_plan(vol)
        if hasattr(plan, "stamp") and hasattr(plan, "loc") and plan.loc.is_remote:
            return _nifti_header_bytes(plan.loc, plan.stamp, plan.header)
        if is_url(path):
            raise HeaderError(
                f"{display_url(path)}: this volume was computed from a remote NIfTI, whose "
                "header is read through the volume opened from the URL: read its header (or "
                "open the URL again)"
            )
        if not os.path.exists(path):
            raise SourceNotFoundError(
                f"{path}: the NIfTI source of this volume is gone; its header cannot be read (a "
                "Zarr store written by lazyvol keeps the pixels and the affine, not the header)"
            )
        check_store_sources(vol)
        from ._location import Location
        from .nifti_header import header_location

        loc = Location.of(path)

        def load() -> Any:
            try:
                return _local_nifti_header(loc)
            except LazyvolError:
                raise  # (named by the file already: no second "cannot read the header")
            except Exception as exc:  # nibabel's own errors are not typed for us
                raise FormatError(f"{path}: nibabel cannot read the header: {exc}") from exc

        return _read_unchanged(vol, header_location(loc).url, load)
    raise HeaderError(
        f"{vol.source or 'this volume'} has no source header (it was made in memory, not opened "
        "from a file)"
    )


def source_header(
    path: str, *, series: str | int | None = None, index: int = 0, **options: Any
) -> Any:
    """Header of ``path`` as ``lazyvol info --header`` prints it: slice ``index`` for DICOM.

    DICOM series that cannot be opened as a volume (refused by the reader) still give the header
    of their ``index``-th file, so a refusal can be investigated. ``options``: DICOM stacking
    options (``allow_gaps=True``, ...), as :func:`lazyvol.open` takes them.
    """
    import lazyvol as lv

    from .formats import pick

    if pick(path).name != "dicom":
        return volume_header(lv.open(path))
    from .dicom import scan
    from .dicom.choose import select as _select

    report = scan(path, **options)
    info = _select(report, path, series)
    try:
        if info.error is None:
            vol = lv.open(path, series=info.id, **options)
            return dicom_header(vol, index)
        files = list(info.files)
        if not -len(files) <= index < len(files):
            raise IndexError(f"slice {index} is out of range: the series has {len(files)} files")
        return read_dataset(files[index])
    except IndexError as exc:
        raise HeaderError(f"{path}: {exc}") from None


# -- output --------------------------------------------------------------------------------------------


def _bulk(elem: Any) -> str:
    return f"bulkdata:{elem.keyword or elem.tag} ({len(elem.value or b'')} bytes, not shown)"


def header_to_dict(header: Any) -> dict[str, Any]:
    """JSON-friendly form: NIfTI ``{field: value}``; DICOM the DICOM JSON model (PS3.18 F.2)."""
    from pydicom.dataset import Dataset

    if isinstance(header, Dataset):
        return {
            "format": "DICOM",
            "path": getattr(header, "filename", None)
            if isinstance(getattr(header, "filename", None), str)
            else None,
            "elements": header.to_json_dict(
                bulk_data_threshold=1024, bulk_data_element_handler=_bulk
            ),
        }
    out: dict[str, Any] = {"format": type(header).__name__}
    fields: dict[str, Any] = {}
    for key, value in header.items():
        arr = np.asarray(value)
        if arr.dtype.kind == "S":
            fields[key] = arr.tobytes().rstrip(b"\0").decode("latin-1")
        elif arr.dtype.kind == "f":
            fields[key] = (
                [None if not np.isfinite(v) else float(v) for v in arr.ravel()]
                if arr.ndim
                else (None if not np.isfinite(arr) else float(arr))
            )
        else:
            fields[key] = arr.tolist()
    out["fields"] = fields
    return out


def format_header(header: Any) -> str:
    """Text form: nibabel's and pydicom's own printouts."""
    from pydicom.dataset import Dataset

    if isinstance(header, Dataset):
        name = getattr(header, "filename", None)
        head = f"# {name}\n" if isinstance(name, str) else ""
        return head + str(header)
    return str(header)
