"""Read slabs of native (uncompressed) DICOM frames straight from their byte offsets.

A :class:`DicomPlan` (small, frozen, picklable) says where each frame is; :func:`read_block` is the
only function dask tasks call: it opens each file it needs, reads the frame's bytes at the recorded
offset, closes it, and never parses a DICOM header. Frames of remote objects (the plan carries
their :class:`~lazyvol._io.Location`) are exact ranged reads through the byte layer, each object
checked against the ETag it had when scanned. Values match pydicom's ``pixel_array``: unused high
bits (BitsStored < BitsAllocated) cleared (unsigned) or sign-extended (signed), big-endian swapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._blockpool import block_array
from .._cachedhash import CachedHash
from .._io import Location, RangeRequest, pread_full, read, read_ranges, reads_check, verify
from ..errors import FormatError, SourceChangedError, SourceNotFoundError
from ..sources import SourceStamp, display_path
from .codestream import frame_problem, jpeg_sample_bytes
from .decoding import decode_frame
from .deflated import inflate_spans
from .frame_reads import mirrored, ow8_pairs, runs_read_alike
from .frame_rescale import rescale_frame_into
from .model import DEFLATED_SYNTAX, stored_code

__all__ = ["DicomPlan", "read_block"]


@dataclass(frozen=True)
class DicomPlan(CachedHash):
    """Everything a task needs to read frames: no open files, no datasets."""

    __hash__ = CachedHash.__hash__  # once per plan, not per task (see lazyvol._cachedhash)

    paths: tuple[str, ...]
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    lengths: tuple[int, ...]
    slopes: tuple[float, ...]
    inters: tuple[float, ...]
    rows: int
    columns: int
    nk: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    little_endian: bool
    swap_ow8: bool
    out_dtype: str
    scale: bool
    #: Encapsulated (compressed) transfer syntax UID, "" for native data.
    encapsulated_syntax: str = ""
    photometric: str = "MONOCHROME2"
    #: Value of slices filled in for missing ones (allow_gaps=True); NaN only for float output.
    fill: float = 0.0
    #: Identity of each frame's file when scanned (None for a filled-in slice); empty: not checked.
    stamps: tuple[SourceStamp | None, ...] = ()
    #: Siemens mosaic: tile index of each frame in its file (empty: frames are whole images).
    tiles: tuple[int, ...] = ()
    #: Siemens mosaic: (Rows, Columns) of the mosaic image holding the tiles.
    mosaic: tuple[int, ...] = ()
    #: Remote frames: the object of each frame (None for a filled-in slice); empty: local files.
    locations: tuple[Location | None, ...] = ()
    #: Each frame's pixel encoding (lazyvol.dicom.model.pixel_encoding; "" for a filled-in slice)
    #: when the files differ; empty: every frame is read as the fields above say.
    encodings: tuple[str, ...] = ()
    #: Each frame's BitsStored when the files differ; empty: every frame has ``bits_stored``.
    stored_bits: tuple[int, ...] = ()
    #: Each frame's stored dtype ("u2", "i2" ...) when the files differ in it; empty: all alike.
    stored_types: tuple[str, ...] = ()
    #: VR of the pixel element: OF / OD (Float / Double Float Pixel Data) hold IEEE floats.
    pixel_vr: str = ""
    #: Rows stored in reverse order (FrameTable.flip_rows): row j is read from stored row -1 - j.
    flip_rows: bool = False
    #: Bits of a decoded frame's values when wider than its BitsStored (FrameTable.decoded_bits).
    decoded_bits: int = 0
    #: Deflated files: where each frame's file's deflate stream starts (FrameTable.inflate_from).
    inflate_from: tuple[int, ...] = ()

    @property
    def stored_code(self) -> str:
        """Native stored dtype code of the frames (``"=i2"``, ``"=f4"`` ...)."""
        return "=" + stored_code(self.bits_allocated, self.signed, self.pixel_vr)

    def location(self, n: int) -> Location | None:
        """The remote object of frame ``n`` (None: a local file)."""
        return self.locations[n] if self.locations else None


_MONO = ("MONOCHROME1", "MONOCHROME2")
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def _open_frame_file(plan: DicomPlan, n: int) -> int:
    """Descriptor of frame ``n``'s file, checked to be the file scanned.

    One ``fstat`` on the descriptor the read then uses (no extra open): size, mtime, inode and
    ctime must match the scan, else :class:`~lazyvol.errors.SourceChangedError` naming the file
    (a rewrite can move Pixel Data to another offset). ``O_NONBLOCK``: a path replaced by a FIFO
    cannot block the read.
    """
    path = plan.paths[n]
    try:
        fd = os.open(path, _O_FLAGS)
    except FileNotFoundError:
        raise SourceChangedError(
            f"{display_path(path)}: the file was removed or moved after the series was opened; "
            "open the series again"
        ) from None
    except OSError as exc:
        raise FormatError(f"{display_path(path)}: cannot read frame pixel data: {exc}") from exc
    stamp = plan.stamps[n] if plan.stamps else None
    if stamp is not None:
        try:
            stamp.verify(fd)
        except BaseException:
            os.close(fd)
            raise
    return fd


def _check_frame_file(plan: DicomPlan, n: int, fd: int) -> None:
    """After a read through ``fd`` (:func:`_open_frame_file`): one ``fstat``, raising
    :class:`~lazyvol.errors.SourceChangedError` when the file changed during the read (a write
    moves its ctime), so an in-place rewrite never gives a mix of old and new pixels."""
    stamp = plan.stamps[n] if plan.stamps else None
    if stamp is not None:
        stamp.verify(fd)


def _remote_bytes(plan: DicomPlan, n: int, offset: int, length: int) -> bytes:
    """Exactly ``length`` bytes of frame ``n``'s object from ``offset``, checked against its
    stamp (HTTP with a strong ETag: If-Match on the request; otherwise size and ETag compared
    after the read)."""
    loc = plan.location(n)
    assert loc is not None
    stamp = plan.stamps[n] if plan.stamps else None
    try:
        data = read(loc, offset, length, expect=stamp)
    except SourceNotFoundError:
        raise SourceChangedError(
            f"{loc.display}: the object was removed after the series was opened; open the "
            "series again"
        ) from None
    except FormatError:
        if stamp is not None:
            verify(loc, stamp)  # a shorter object is a changed one: say so
        raise
    if stamp is not None and not reads_check(loc, stamp):
        verify(loc, stamp)
    return data


def _fetch_remote(plan: DicomPlan, ns: list[int], nbytes: list[int]) -> dict[int, bytes]:
    """The native bytes of remote frames ``ns`` (``nbytes[i]`` bytes of frame ``ns[i]``): all
    requests in flight at once, each checked against its object's scan-time stamp (size, ETag)
    where the answers can be (:func:`lazyvol._io.reads_check`); the other objects are checked
    after the reads (one HEAD each, in flight at once too)."""
    if not ns or not any(nbytes):
        return {}
    stamps = plan.stamps or (None,) * len(plan.paths)
    reqs: list[RangeRequest] = []
    for n, k in zip(ns, nbytes, strict=True):
        loc = plan.location(n)
        if loc is not None:
            reqs.append((loc, plan.offsets[n], k, stamps[n]))
    try:
        datas = read_ranges(reqs)
    except SourceNotFoundError as exc:
        raise SourceChangedError(
            f"{exc}; an object was removed after the series was opened: open the series again"
        ) from None
    except FormatError:
        _verify_objects(plan, ns, all_objects=True)  # a shorter object is a changed one: say so
        raise
    _verify_objects(plan, ns)
    return dict(zip(ns, datas, strict=True))


def _verify_objects(plan: DicomPlan, ns: list[int], *, all_objects: bool = False) -> None:
    """Each distinct object of frames ``ns`` is still the one scanned (one HEAD each, at once):
    those whose reads did not check their answers themselves, or ``all_objects``."""
    if not plan.stamps:
        return
    todo: dict[str, tuple[Location, SourceStamp]] = {}
    for n in ns:
        loc, stamp = plan.location(n), plan.stamps[n]
        if loc is not None and stamp is not None and (all_objects or not reads_check(loc, stamp)):
            todo.setdefault(loc.url, (loc, stamp))
    if len(todo) <= 1:
        for loc, stamp in todo.values():
            verify(loc, stamp)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(8, len(todo))) as pool:
        for _ in pool.map(lambda item: verify(*item), todo.values()):
            pass


def _frame_bytes(plan: DicomPlan, n: int, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes of frame ``n``'s file from ``offset`` (exactly, for an object)."""
    if plan.location(n) is not None:
        return _remote_bytes(plan, n, offset, length)
    fd = _open_frame_file(plan, n)
    try:
        with os.fdopen(fd, "rb") as f:
            f.seek(offset)
            data = f.read(length)
            _check_frame_file(plan, n, fd)
            return data
    except OSError as exc:
        raise FormatError(f"{plan.paths[n]}: cannot read frame pixel data: {exc}") from exc


def _decode(plan: DicomPlan, n: int) -> np.ndarray:
    """Decode frame ``n`` of an encapsulated file with one of pydicom's plugins for its syntax
    (:func:`~.decoding.decode_frame`)."""
    path = plan.paths[n]
    offset = plan.offsets[n]
    length = plan.lengths[n]
    buf = _frame_bytes(plan, n, offset, plan.sizes[n] - offset if length < 0 else length)
    if length >= 0:
        # One frame's items of a multi-frame file: wrap them as a one-frame encapsulated value.
        if len(buf) < length:
            raise FormatError(f"{path}: truncated: frame {n} items end past the end of the file")
        buf = _EMPTY_TABLE + buf + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    else:
        buf = _without_offset_table(buf)
    _check_codestream(plan, n, buf)
    attrs: dict[str, Any] = {
        "rows": plan.rows,
        "columns": plan.columns,
        "samples_per_pixel": 1,
        # (one sample a pixel: the decoders only check the photometric, so a value that is no
        # monochrome one, junk or empty, reads as it does in native data, as dcm2niix reads it)
        "photometric_interpretation": plan.photometric if plan.photometric in _MONO else _MONO[1],
        "bits_allocated": plan.bits_allocated,
        "bits_stored": plan.bits_stored,
        "pixel_representation": int(plan.signed),
        "number_of_frames": 1,
        "pixel_keyword": "PixelData",
    }
    width = 8 * jpeg_sample_bytes(plan.encapsulated_syntax, buf)
    if 0 < width < plan.bits_allocated:
        # JPEG samples narrower than allocated (8 bits under 16 or 32, 12 or 16 under 32): decoded
        # in the size decoders return (pydicom's fail shaped as wider samples), then widened
        attrs["bits_allocated"] = width
        if plan.bits_stored > width:  # (unsigned samples, within a wider BitsStored's range)
            attrs.update(bits_stored=width, pixel_representation=0)
    arr = decode_frame(plan.encapsulated_syntax, buf, attrs, f"{path}: decoding volume frame {n}")
    return arr.reshape(plan.rows, plan.columns).astype(plan.stored_code, copy=False)


#: An empty Basic Offset Table item.
_EMPTY_TABLE = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"


def _without_offset_table(buf: bytes) -> bytes:
    """The encapsulated value ``buf`` of a single-frame file with an empty Basic Offset Table:
    its one frame is all its fragments (PS3.5 A.4), whatever its table says; a table stating
    another offset than 0 (damaged) made the decoder (and the codestream checks) look for the
    frame elsewhere, where pydicom reads the fragments."""
    if len(buf) < 8 or buf[:4] != _EMPTY_TABLE[:4]:
        return buf  # (no table item: the decoder's own error names it)
    length = int.from_bytes(buf[4:8], "little")
    if length == 0 or length == 0xFFFFFFFF or 8 + length > len(buf):
        return buf
    return _EMPTY_TABLE + buf[8 + length :]


def _check_codestream(plan: DicomPlan, n: int, buf: bytes) -> None:
    """Refuse frame ``n`` when its codestream states another image size than Rows and Columns, a
    precision beyond BitsAllocated or more than one sample a pixel (the only kind read), or an
    RLE frame's segments decode past Rows and Columns, or its codestream is cut short
    (:func:`~.codestream.frame_problem`)."""
    problem = frame_problem(
        plan.encapsulated_syntax, buf, plan.rows, plan.columns, plan.bits_allocated, 1
    )
    if problem:
        raise FormatError(f"{plan.paths[n]}: volume frame {n}'s {problem}")


def _frame(plan: DicomPlan, n: int) -> np.ndarray:
    """Stored values of frame ``n`` as a (rows, columns) array in native byte order."""
    nbytes = plan.rows * plan.columns * (plan.bits_allocated // 8)
    if plan.encapsulated_syntax == DEFLATED_SYNTAX:
        return _native_frame(plan, n, _inflated(plan, n, [(plan.offsets[n], nbytes)])[0], 0)
    if plan.encapsulated_syntax:
        return _decode(plan, n)
    start, length = plan.offsets[n], nbytes
    if plan.swap_ow8:  # 8-bit data in an OW element of a big-endian file: its byte pairs
        start, length = ow8_pairs(plan.offsets[n], nbytes)
    return _native_frame(plan, n, _frame_bytes(plan, n, start, length), plan.offsets[n] - start)


def _native_frame(plan: DicomPlan, n: int, buf: bytes, lead: int) -> np.ndarray:
    """Frame ``n``'s stored values from ``buf``, its native bytes (``lead`` bytes before them:
    the first of a byte pair of a big-endian OW element)."""
    nbytes = plan.rows * plan.columns * (plan.bits_allocated // 8)
    if len(buf) < lead + nbytes:
        raise FormatError(
            f"{plan.paths[n]}: truncated: Pixel Data (7FE0,0010) needs {lead + nbytes} bytes at "
            f"offset {plan.offsets[n] - lead} but only {len(buf)} could be read (the file changed "
            "since it was scanned?)"
        )
    stored = np.dtype(plan.stored_code)
    if plan.swap_ow8:
        swapped = np.frombuffer(buf, dtype=">u2").astype("<u2").view(np.uint8)
        arr = swapped[lead : lead + nbytes].view(stored)
    else:
        arr = np.frombuffer(buf, dtype=stored.newbyteorder("<" if plan.little_endian else ">"))
    arr = arr.astype(stored)  # native order; always a writable copy
    shift = plan.bits_allocated - plan.bits_stored
    if shift:
        # As pydicom (correct_unused_bits): clear unused high bits, sign-extend signed data.
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    return arr.reshape(plan.rows, plan.columns)


def _inflated(plan: DicomPlan, n: int, spans: list[tuple[int, int]]) -> list[bytes]:
    """The bytes of ``spans`` (ascending ``(offset, length)`` of inflated bytes) of the Deflated
    data set of frame ``n``'s file, in one pass (:func:`~.deflated.inflate_spans`), its file
    checked as a native frame's is."""
    start, size, path = plan.inflate_from[n], plan.sizes[n], plan.paths[n]
    if plan.location(n) is not None:
        return inflate_spans(
            lambda pos, k: _remote_bytes(plan, n, pos, k), start, size, spans, path
        )
    fd = _open_frame_file(plan, n)
    try:
        with os.fdopen(fd, "rb") as f:

            def read(pos: int, k: int) -> bytes:
                f.seek(pos)
                return f.read(k)

            got = inflate_spans(read, start, size, spans, path)
            _check_frame_file(plan, n, fd)
            return got
    except OSError as exc:
        raise FormatError(f"{path}: cannot read frame pixel data: {exc}") from exc


def _inflated_frames(plan: DicomPlan, ns: list[int]) -> dict[int, bytes]:
    """The native bytes of the Deflated frames among ``ns`` (a mosaic's tiles: none, their files
    are read whole by :func:`_read_tiles`): one pass over each file's stream."""
    if not plan.inflate_from or plan.tiles:
        return {}
    by_file: dict[str, list[int]] = {}
    for n in ns:
        if plan.paths[n] and plan.inflate_from[n] >= 0:
            by_file.setdefault(plan.paths[n], []).append(n)
    out: dict[int, bytes] = {}
    for group in by_file.values():
        group.sort(key=lambda n: plan.offsets[n])
        kinds = plan.stored_types or (plan.stored_code,) * len(plan.paths)
        size = plan.rows * plan.columns
        spans = [(plan.offsets[n], size * np.dtype(kinds[n]).itemsize) for n in group]
        out.update(zip(group, _inflated(plan, group[0], spans), strict=True))
    return out


def _read_into(
    plan: DicomPlan, n: int, dest: np.ndarray, fetched: dict[int, bytes] | None = None
) -> None:
    """Read the stored bytes of native frame ``n`` straight into ``dest`` (C-contiguous, one frame).

    One ``preadv`` per frame into the caller's buffer: no intermediate ``bytes`` object, no copy.
    ``fetched``: remote frames already fetched (:func:`_fetch_remote`).
    """
    path = plan.paths[n]
    offset = plan.offsets[n]
    if dest.size == 0:
        return  # Rows or Columns 0: nothing to read (as the per-frame path)
    if not dest.flags.c_contiguous:
        raise ValueError("internal: frame buffer must be C-contiguous")
    view = memoryview(dest.data).cast("B")
    length = view.nbytes
    if plan.location(n) is not None:
        view[:] = fetched[n] if fetched and n in fetched else _remote_bytes(plan, n, offset, length)
        return
    fd = _open_frame_file(plan, n)
    try:
        try:
            got = pread_full(fd, view, offset)
            _check_frame_file(plan, n, fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read frame pixel data: {exc}") from exc
    if got < length:
        raise FormatError(
            f"{path}: truncated: Pixel Data (7FE0,0010) needs {length} bytes at offset {offset} but "
            f"only {got} could be read (the file changed since it was scanned?)"
        )


#: The header fields of a DICOM rescale, as errors name them.
def _read_native_frames(
    plan: DicomPlan,
    ns: list[int],
    dest: np.ndarray,
    out_dtype: np.dtype,
    sj: slice,
    si: slice,
    full: bool,
    fetched: dict[int, bytes] | None = None,
) -> None:
    """Fill ``dest`` (frames, nj, ni) with frames ``ns`` of native data, scaled and selected.

    Each frame is read with one ``preadv`` straight into the output (when its dtype is the stored
    dtype and the whole frame is asked for) or into one reused frame buffer, and its byte order,
    unused high bits and rescale are applied at once, while the frame is still in the CPU cache
    (whole-slab passes are memory-bound and measured slower).
    """
    stored = np.dtype(plan.stored_code)
    in_place = full and stored == out_dtype and (not plan.scale or out_dtype.kind in "iu")
    bounce = None if in_place else np.empty((1, plan.rows, plan.columns), dtype=stored)
    shift = plan.bits_allocated - plan.bits_stored
    for b, n in enumerate(ns):
        if not plan.paths[n]:
            dest[b] = plan.fill  # a missing slice filled in (allow_gaps=True)
            continue
        frame = dest[b : b + 1] if bounce is None else bounce
        _read_into(plan, n, frame, fetched)
        if not plan.little_endian:
            frame.byteswap(inplace=True)
        if shift:
            # As pydicom (correct_unused_bits): clear unused high bits, sign-extend signed data.
            np.left_shift(frame, shift, out=frame)
            np.right_shift(frame, shift, out=frame)
        rescale_frame_into(
            plan, n, frame, frame if bounce is None else dest[b : b + 1], out_dtype, sj, si
        )


def read_block(plan: DicomPlan, index: tuple[slice, ...]) -> np.ndarray:
    """Block ``index`` (slices over i, j, k[, t]) of the volume, dtype ``plan.out_dtype``."""
    si, sj, sk = index[0], index[1], index[2]
    st = index[3] if len(index) > 3 else None
    ks = range(*sk.indices(plan.nk))
    nt = len(plan.paths) // plan.nk
    ts = range(*st.indices(nt)) if st is not None else range(1)
    out_dtype = np.dtype(plan.out_dtype)
    ni = len(range(*si.indices(plan.columns)))
    nj = len(range(*sj.indices(plan.rows)))
    # Frames are (j, i) in C order: fill a (t, k, j, i) pooled block (lazyvol._blockpool: a pass's
    # slabs reuse its pages) frame by frame, hand back its transposed view (i, j, k[, t]).
    buf = block_array(len(ts) * len(ks) * nj * ni, out_dtype).reshape(len(ts), len(ks), nj, ni)
    full = ni == plan.columns and nj == plan.rows and si.step in (None, 1) and sj.step in (None, 1)
    if plan.flip_rows:  # the same rows, taken from the other end (never read in place)
        sj, full = mirrored(sj, plan.rows), False
    # Deflated frames: one pass over each file's stream for the whole block (its 4D volumes too)
    inflated = _inflated_frames(plan, [t * plan.nk + k for t in ts for k in ks])
    for a, t in enumerate(ts):
        ns = [t * plan.nk + k for k in ks]
        runs = runs_read_alike(plan, ns)
        fetched = _fetch_native(plan, ns, runs)
        if inflated:
            fetched = {**(fetched or {}), **inflated}
        for way, b0, b1 in runs:
            _read_frames(way, ns[b0:b1], buf[a, b0:b1], out_dtype, sj, si, full, fetched)
    out = buf.transpose(3, 2, 1, 0)
    return out if st is not None else out[..., 0]


def _reads_native(plan: DicomPlan) -> bool:
    """Are ``plan``'s frames whole native frames (read with :func:`_read_native_frames`)?"""
    return not (plan.tiles or plan.encapsulated_syntax or plan.swap_ow8)


def _fetch_native(
    plan: DicomPlan, ns: list[int], runs: list[tuple[DicomPlan, int, int]]
) -> dict[int, bytes] | None:
    """The remote native frames of all of a block's runs, in one batch of requests in flight at
    once (a batch per run would put the runs' round trips one after another: a chunk whose
    BitsStored or encoding changes from slice to slice, one trip per slice); None for local
    files."""
    if not plan.locations:
        return None
    native = {
        n: plan.rows * plan.columns * (way.bits_allocated // 8)
        for way, b0, b1 in runs
        if _reads_native(way)
        for n in ns[b0:b1]
        if plan.paths[n]
    }
    return _fetch_remote(plan, list(native), list(native.values()))


def _read_frames(
    plan: DicomPlan,
    ns: list[int],
    dest: np.ndarray,
    out_dtype: np.dtype,
    sj: slice,
    si: slice,
    full: bool,
    fetched: dict[int, bytes] | None = None,
) -> None:
    """Fill ``dest`` (frames, nj, ni) with frames ``ns``, all encoded as ``plan`` says
    (``fetched``: remote native frames fetched already, :func:`_fetch_native`, and Deflated
    frames inflated already, :func:`_inflated_frames`)."""
    if plan.tiles:
        _read_tiles(plan, ns, dest, out_dtype, sj, si)
        return
    if _reads_native(plan):
        _read_native_frames(plan, ns, dest, out_dtype, sj, si, full, fetched)
        return
    deflated = plan.encapsulated_syntax == DEFLATED_SYNTAX
    for b, n in enumerate(ns):
        if not plan.paths[n]:
            dest[b] = plan.fill  # a missing slice filled in (allow_gaps=True)
            continue
        frame = _native_frame(plan, n, fetched[n], 0) if deflated and fetched else _frame(plan, n)
        rescale_frame_into(plan, n, frame[None], dest[b : b + 1], out_dtype, sj, si)


def _mosaic_rows(plan: DicomPlan, n: int, row0: int, nrows: int) -> np.ndarray:
    """Stored values of mosaic rows ``[row0, row0 + nrows)`` of native frame ``n``: one pread."""
    mcols = plan.mosaic[1]
    itemsize = plan.bits_allocated // 8
    kind = "i" if plan.signed else "u"
    out = np.empty((nrows, mcols), dtype=f"={kind}{itemsize}")
    start = plan.offsets[n] + row0 * mcols * itemsize
    tmp = replace(
        plan,
        offsets=(start,),
        paths=(plan.paths[n],),
        stamps=(plan.stamps[n],) if plan.stamps else (),
        locations=(plan.locations[n],) if plan.locations else (),
    )
    _read_into(tmp, 0, out)
    if not plan.little_endian:
        out.byteswap(inplace=True)
    shift = plan.bits_allocated - plan.bits_stored
    if shift:
        np.left_shift(out, shift, out=out)
        np.right_shift(out, shift, out=out)
    return out


def _read_tiles(
    plan: DicomPlan,
    ns: list[int],
    dest: np.ndarray,
    out_dtype: np.dtype,
    sj: slice,
    si: slice,
) -> None:
    """Fill ``dest`` (frames, nj, ni) with mosaic tiles ``ns``, reading only the tile rows needed.

    Tiles are grouped by file; for native data each run of consecutive tile rows of one file is
    read with one pread (a tile of a g x g mosaic costs 1/g of the file); a compressed mosaic is
    decoded once per call.
    """
    mrows, mcols = plan.mosaic
    tr, tc = plan.rows, plan.columns
    grid = mcols // tc
    by_file: dict[str, list[tuple[int, int]]] = {}
    for b, n in enumerate(ns):
        if not plan.paths[n]:
            dest[b] = plan.fill
            continue
        by_file.setdefault(plan.paths[n], []).append((b, n))
    full_plan = replace(plan, rows=mrows, columns=mcols)
    for items in by_file.values():
        n0 = items[0][1]
        if plan.encapsulated_syntax or plan.swap_ow8:
            whole = _frame(full_plan, n0)
            runs = [(0, mrows // tr, whole)]
        else:
            trows = sorted({plan.tiles[n] // grid for _, n in items})
            runs = []
            lo = prev = trows[0]
            for r in [*trows[1:], None]:
                if r is not None and r == prev + 1:
                    prev = r
                    continue
                runs.append((lo, prev + 1, _mosaic_rows(plan, n0, lo * tr, (prev + 1 - lo) * tr)))
                if r is not None:
                    lo = prev = r
        for b, n in items:
            k = plan.tiles[n]
            trow, tcol = divmod(k, grid)
            block = next(arr for lo_, hi_, arr in runs if lo_ <= trow < hi_)
            lo_row = next(lo_ for lo_, hi_, _ in runs if lo_ <= trow < hi_)
            r0 = (trow - lo_row) * tr
            tile = block[None, r0 : r0 + tr, tcol * tc : (tcol + 1) * tc]
            rescale_frame_into(plan, n, tile, dest[b : b + 1], out_dtype, sj, si)
