"""DICOM series as kerchunk references (see :func:`lazyvol.refs.references`): one chunk per
frame, native or compressed with a maintained numcodecs codec."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import _io
from ._frame_codecs import frame_codec, single_fragment
from ._refs_common import (
    EXTRA_AXES,
    assemble,
    identity,
    jsonable,
    refuse_norange,
    scale_attrs,
    target_url,
)
from ._zarr_folder import is_zarr_folder
from .errors import FormatError, UnsupportedError

__all__ = ["dicom_refs"]


#: DicomPlan fields this module understands (with the layouts it can reference). A field added
#: later with a non-default value (a new layout) is refused rather than referenced wrongly.
_DICOM_PLAN_FIELDS = {
    "paths",
    "offsets",
    "sizes",
    "lengths",
    "slopes",
    "inters",
    "rows",
    "columns",
    "nk",
    "bits_allocated",
    "bits_stored",
    "signed",
    "pixel_vr",  # Float / Double Float Pixel Data: the dtype (DicomPlan.stored_code) says it
    "little_endian",
    "swap_ow8",
    "out_dtype",
    "scale",
    "encapsulated_syntax",
    "photometric",
    "fill",
    "stamps",  # identity of each frame's file (read-time checks), not layout
    "locations",  # where each remote frame's object is (the same paths, with storage options)
    # a codestream precision beyond BitsStored widens the dtype's range, not the layout: a Zarr
    # reader's codec returns the decoded values as lazyvol and pydicom do (_verify_decoded)
    "decoded_bits",
}


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dicom_plan(vol: Any, display: str) -> Any:
    from .chunking import source_of
    from .dicom.pixels import DicomPlan

    src = source_of(vol.data)
    plan = src[1] if src is not None else None
    if not isinstance(plan, DicomPlan):
        raise UnsupportedError(
            f"{display}: this DICOM volume is not a plain stack of frames (no frame plan); it "
            "cannot be referenced"
        )
    if plan.encodings:  # files of the series encoded differently (a per-frame layout)
        shown = ", ".join(sorted(set(plan.encodings) - {""}))
        raise UnsupportedError(
            f"{display}: the files' pixels are encoded in different ways ({shown}); a Zarr array "
            "has one codec. Convert the files to one transfer syntax (e.g. `gdcmconv --raw`), or "
            "write the volume with lazyvol.open(...).to_zarr(...)"
        )
    if plan.inflate_from:  # Deflated data sets (lazyvol.dicom.deflated)
        raise UnsupportedError(
            f"{display}: the files' data sets are Deflated (1.2.840.10008.1.2.1.99): their pixels "
            "lie in a deflate stream, at no byte offset of the file a chunk could reference. "
            "Inflate the files (`dcmconv +te`), or write the volume with "
            "lazyvol.open(...).to_zarr(...)"
        )
    if plan.stored_types:  # files of the series stored in different dtypes
        shown = ", ".join(sorted(set(plan.stored_types)))
        raise UnsupportedError(
            f"{display}: the files differ in BitsAllocated/PixelRepresentation (0028,0100)/"
            f"(0028,0103) (stored as {shown}); a Zarr array has one stored dtype. Write the "
            "volume with lazyvol.open(...).to_zarr(...)"
        )
    if plan.stored_bits:  # files of the series with different BitsStored (a per-frame mask)
        shown = ", ".join(str(b) for b in sorted(set(plan.stored_bits)))
        raise UnsupportedError(
            f"{display}: the files differ in BitsStored (0028,0101) ({shown}); references "
            "describe every chunk with one BitsStored. Write the volume with "
            "lazyvol.open(...).to_zarr(...)"
        )
    if plan.tiles and len(plan.mosaic) == 2:  # a Siemens mosaic (or a UIH GRID image)
        raise UnsupportedError(
            f"{display}: a mosaic series cannot be referenced one chunk per slice: each file is "
            f"one image of {plan.mosaic[0]} x {plan.mosaic[1]} pixels holding its slices as "
            "tiles (Siemens mosaics, UIH GRID images), so a slice's pixels are no contiguous "
            "byte range. Convert with lazyvol.open(...).to_zarr(...)"
        )
    if plan.flip_rows:  # GE epi_pepolar, reversed polarity (lazyvol.dicom.ge_phase)
        raise UnsupportedError(
            f"{display}: the frames' rows are stored in reverse order (a GE epi_pepolar volume "
            "of reversed phase-encoding polarity, UserData12 (0019,10B3)); a reference reads "
            "them in stored order. Write the volume with lazyvol.open(...).to_zarr(...)"
        )
    for f in dataclasses.fields(plan):
        if f.name in _DICOM_PLAN_FIELDS:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if getattr(plan, f.name) not in (default, None, "", 0, False, ()):
            raise UnsupportedError(
                f"{display}: frames laid out with {f.name}={_short_repr(getattr(plan, f.name))} "
                "(e.g. Siemens mosaic tiles) cannot be referenced one chunk per slice: a chunk "
                "must be one contiguous byte range. Convert with lazyvol.open(...).to_zarr(...)"
            )
    return plan


def dicom_refs(
    source: str | os.PathLike[str] | _io.Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    series: str | int | None,
    per_slice_rescale: str,
    check_unused_bits: bool,
    verify_decoded: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """References of a DICOM series in a local folder or under a remote prefix (one chunk per
    frame); remote chunks point at each object's URL without credentials."""
    from .dicom import open_dicom

    loc = _io.Location.of(source, storage_options)
    path = loc.display
    if (
        not loc.is_remote
        and os.path.isdir(loc.url)
        and any(
            os.path.exists(os.path.join(loc.url, m)) for m in ("zarr.json", ".zgroup", ".zarray")
        )
        and is_zarr_folder(loc.url)  # (not a DICOM folder holding a stray zarr.json)
    ):
        raise UnsupportedError(f"{path}: is a Zarr store already; open it with zarr directly")
    vol = open_dicom(loc, series=series, scale=False, **options)

    def where(p: str) -> _io.Location:
        return _io.Location(p, loc.options) if loc.is_remote else _io.Location.of(p)

    plan = _dicom_plan(vol, path)
    _refuse_layout(plan, path)
    shape = tuple(int(n) for n in vol.shape)
    ni, nj, nk = shape[:3]
    nt = len(plan.paths) // nk
    itemsize = plan.bits_allocated // 8
    compressed = bool(plan.encapsulated_syntax)
    # Decoders return native (little-endian here) arrays; native frames keep their file's order.
    little = plan.little_endian or compressed
    order = "|" if itemsize == 1 else ("<" if little else ">")
    dtype = np.dtype(plan.stored_code).newbyteorder(order)
    nbytes = plan.rows * plan.columns * itemsize
    codec = frame_codec(plan.encapsulated_syntax, dtype, path) if compressed else None
    ranges = _ranges(plan, nbytes, where)
    checked: bool | None = None
    if not compressed and plan.bits_stored < plan.bits_allocated:
        checked = False
        if check_unused_bits:
            _check_unused_bits(plan, dtype, nbytes, where)
            checked = True

    refs: dict[str, Any] = {}
    # each file's identity, for check_references (a replacement of the same size is seen)
    targets = {
        target_url(where(p)): identity(st)
        for p, st in zip(plan.paths, plan.stamps or [None] * len(plan.paths), strict=True)
        if st is not None
    }
    for t in range(nt):
        for k in range(nk):
            n = t * nk + k
            key = f"{k}.0.0" + (f".{t}" if len(shape) > 3 else "")
            refs[f"image/{key}"] = [target_url(where(plan.paths[n])), *ranges[n]]
    stored_shape = (nk, nj, ni, *shape[3:])
    chunks = (1, nj, ni, *(1 for _ in shape[3:]))
    dims = ["k", "j", "i", *EXTRA_AXES[: len(shape) - 3]]

    attrs, extra = _rescale(plan, shape, per_slice_rescale, path)
    meta = {k: v for k, v in vol.meta.items() if k not in ("files", "scaled")}
    group_attrs = {
        "lazyvol": {
            "affine": np.asarray(vol.affine, dtype=np.float64).tolist(),
            "affine_axes": ["i", "j", "k"],
            "stored_axes": dims,
            "source": target_url(loc),
            "meta": jsonable(meta),
            "targets": targets,
            "bits_stored": plan.bits_stored,
            "bits_allocated": plan.bits_allocated,
            **({"unused_bits_checked": checked} if checked is not None else {}),
            **(
                {"rescale": "value = image * rescale_slope[k] + rescale_intercept[k] per slice"}
                if extra
                else {}
            ),
        }
    }
    if compressed:
        group_attrs["lazyvol"]["transfer_syntax"] = plan.encapsulated_syntax
        group_attrs["lazyvol"]["decoded_checked"] = bool(verify_decoded)
    out = assemble(
        refs, "image", stored_shape, chunks, dtype, dims, attrs, group_attrs, extra, codec
    )
    if loc.is_remote:  # (before _verify_decoded, which would blame the codec)
        _probe_range(where(plan.paths[0]), ranges[0], plan.stamps[0] if plan.stamps else None)
        refuse_norange([where(p) for p in dict.fromkeys(plan.paths)], _io.ignores_range)
    if compressed and verify_decoded:
        _verify_decoded(out, vol, path, plan.paths, loc)
    return out


def _probe_range(first: _io.Location, chunk: tuple[int, int], stamp: Any) -> None:
    """Read the first chunk's range of ``first`` (one request) to learn whether its HTTP(S)
    server honours ``Range`` now (the answer records it for :func:`lazyvol._io.ignores_range`):
    a series' files are small and the scan reads each whole, so a server that ignores ``Range``
    (each ranged read answered with the whole file, which a reference reader takes as the
    chunk) went unseen and its references were written."""
    if first.protocol in ("http", "https"):
        _io.read(first, chunk[0], chunk[1], expect=stamp)


def _ranges(plan: Any, nbytes: int, where: Callable[[str], _io.Location]) -> list[tuple[int, int]]:
    """``(offset, length)`` of each frame's chunk: the native frame, or its one fragment."""
    ranges: list[tuple[int, int]] = []
    if plan.encapsulated_syntax:
        for p, off, n_bytes, size in zip(
            plan.paths, plan.offsets, plan.lengths, plan.sizes, strict=True
        ):
            ranges.append(single_fragment(where(p), off, n_bytes, size))
        return ranges
    for n, (p, off, size) in enumerate(zip(plan.paths, plan.offsets, plan.sizes, strict=True)):
        if off < 0 or off + nbytes > size:
            raise FormatError(
                f"{p}: truncated: Pixel Data (7FE0,0010) of frame {n} needs {nbytes} bytes "
                f"at offset {off} but the file has {size}"
            )
        ranges.append((int(off), nbytes))
    return ranges


def _refuse_layout(plan: Any, path: str) -> None:
    """Refuse frames no Zarr chunk can address as they are stored."""
    if plan.swap_ow8:
        raise UnsupportedError(
            f"{path}: 8-bit pixels in an OW element of a big-endian file are byte-swapped in "
            "pairs; no Zarr dtype reads them. Convert with lazyvol.open(...).to_zarr(...)"
        )
    if plan.photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"):
        raise UnsupportedError(
            f"{path}: PhotometricInterpretation (0028,0004) = {plan.photometric!r}; only "
            "single-sample frames can be referenced"
        )
    if plan.bits_allocated not in (8, 16, 32, 64):
        raise UnsupportedError(
            f"{path}: BitsAllocated (0028,0100) = {plan.bits_allocated}: not a whole-byte dtype"
        )
    missing = [n for n, p in enumerate(plan.paths) if not p]
    if missing:
        raise UnsupportedError(
            f"{path}: {len(missing)} slice(s) are missing and would be filled in "
            "(allow_gaps=True); a referenced chunk must exist in a file. Reference the series "
            "without allow_gaps"
        )


def _rescale(
    plan: Any, shape: tuple[int, ...], per_slice_rescale: str, path: str
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, list[str]]]]:
    """CF scale attributes of a series-wide rescale, or per-slice arrays, or a refusal."""
    nk = shape[2]
    nt = len(plan.paths) // nk
    slopes = np.asarray(plan.slopes, dtype=np.float64)
    inters = np.asarray(plan.inters, dtype=np.float64)
    uniform = bool(np.all(slopes == slopes[0]) and np.all(inters == inters[0]))
    attrs: dict[str, Any] = {}
    extra: dict[str, tuple[np.ndarray, list[str]]] = {}
    if uniform:
        attrs = scale_attrs(float(slopes[0]), float(inters[0]))
    elif per_slice_rescale == "arrays":
        grid = (nk, nt) if len(shape) > 3 else (nk,)
        sdims = ["k", "t"] if len(shape) > 3 else ["k"]
        extra["rescale_slope"] = (slopes.reshape(nt, nk).T.reshape(grid), sdims)
        extra["rescale_intercept"] = (inters.reshape(nt, nk).T.reshape(grid), sdims)
    else:
        k0 = next(n for n in range(len(slopes)) if (slopes[n], inters[n]) != (slopes[0], inters[0]))
        raise UnsupportedError(
            f"{path}: RescaleSlope (0028,1053) / RescaleIntercept (0028,1052) differ between "
            f"slices (frame 0: {slopes[0]:g} / {inters[0]:g}, frame {k0} "
            f"({plan.paths[k0]}): {slopes[k0]:g} / {inters[k0]:g}); one CF scale_factor cannot "
            "express that. Pass per_slice_rescale='arrays' for per-slice arrays, or convert "
            "with lazyvol.open(...).to_zarr(...)"
        )
    return attrs, extra


def _verify_decoded(
    refs: dict[str, Any], vol: Any, path: str, files: tuple[str, ...], loc: _io.Location
) -> None:
    """Decode every chunk as a Zarr reader will (fsspec reference filesystem, zarr, the codec)
    and compare it with lazyvol's own decode (pydicom's decoders): refuse on any difference."""
    import fsspec
    import zarr

    store: Any
    if loc.is_remote:
        # zarr's FsspecStore needs an asynchronous reference filesystem for remote targets
        afs = fsspec.filesystem(
            "reference",
            fo=refs,
            remote_protocol=loc.protocol,
            remote_options={**loc.options.to_dict(), "asynchronous": True},
            asynchronous=True,
            skip_instance_cache=True,
        )
        store = zarr.storage.FsspecStore(afs, read_only=True, path="")
    else:
        store = fsspec.filesystem("reference", fo=refs).get_mapper("")
    arr: Any = zarr.open_group(store, mode="r", zarr_format=2)["image"]
    data = vol.data
    nk = int(vol.shape[2])
    for t, rest in enumerate(np.ndindex(*vol.shape[3:]) if vol.ndim > 3 else [()]):
        for k in range(nk):
            where = (
                f"{path}: slice k={k}" + (f", t={t}" if rest else "") + f" ({files[t * nk + k]})"
            )
            try:
                got = np.asarray(arr[(k, slice(None), slice(None), *rest)])
            except Exception as exc:
                raise UnsupportedError(
                    f"{where} cannot be decoded through its Zarr reference "
                    f"({type(exc).__name__}: {exc}); convert with lazyvol.open(...).to_zarr(...)"
                ) from None
            want = np.asarray(data[(slice(None), slice(None), k, *rest)]).T
            if got.shape != want.shape or not np.array_equal(got, want):
                raise UnsupportedError(
                    f"{where} decoded through its Zarr reference differs from the "
                    "pixel values DICOM defines (the codec and pydicom disagree, e.g. on sign or "
                    "unused bits); convert with lazyvol.open(...).to_zarr(...)"
                )


def _check_unused_bits(
    plan: Any, dtype: np.dtype, nbytes: int, where: Callable[[str], _io.Location]
) -> None:
    """Read every frame once: refuse when bits above BitsStored are not what a reader that
    ignores them would get (cleared for unsigned data, the sign extension for signed data)."""
    shift = plan.bits_allocated - plan.bits_stored
    native = dtype.newbyteorder("=")
    for n, (p, off) in enumerate(zip(plan.paths, plan.offsets, strict=True)):
        raw = _io.map_array(where(p), int(off), (nbytes // dtype.itemsize,), dtype).astype(native)
        clean = np.right_shift(np.left_shift(raw, shift), shift)
        bad = np.flatnonzero(raw != clean)
        if bad.size:
            raise UnsupportedError(
                f"{p}: frame {n} stores {int(raw[bad[0]])} where BitsStored (0028,0101) = "
                f"{plan.bits_stored} of BitsAllocated (0028,0100) = {plan.bits_allocated} gives "
                f"{int(clean[bad[0]])}: the unused high bits are set ({bad.size} pixels), and a "
                "Zarr reader would return them as stored. Convert with "
                "lazyvol.open(...).to_zarr(...)"
            )
