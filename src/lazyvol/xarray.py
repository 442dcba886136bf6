"""xarray interface: ``vol.to_xarray()`` and the ``lazyvol`` engine of ``xarray.open_dataset``.

The image is a variable named ``image`` with dims ``("i", "j", "k"[, "t"[, "dim5", ...]])`` (the voxel axes of
:class:`lazyvol.Volume`; past the three space axes, a foreign OME-Zarr store's own axis names, such
as ``c`` for channels), ``attrs["affine"]`` the 4x4 voxel-to-RAS+ affine stored as its 16
values in row order (a flat list, so that ``to_netcdf`` and every netCDF/Zarr writer can store it;
:func:`affine_of` gives it back as a 4x4 array, also from a file written that way), in mm or, for a
NIfTI file in microns or meters, in that unit as nibabel gives it; ``attrs["voxel_size_mm"]`` the
voxel sizes along i, j, k in millimetres whatever the affine's unit; and world coordinates in the
affine's unit (their ``units`` attribute names it) that cost nothing until used:

* axis-aligned affines (each voxel axis along one of x, y, z, as after reorientation or for most
  acquisitions): 1-D coordinates ``x``, ``y``, ``z`` on the matching dims, indexed, so
  ``da.sel(z=12.5, method="nearest")`` picks the slice nearest to z = 12.5 mm;
* oblique affines: ``x``, ``y``, ``z`` on ``(i, j, k)``, exact, as lazy dask arrays computed
  blockwise from the affine when asked for;
* :func:`affine_of` gives the affine of a selection (``isel``/``sel``: a crop, a step, a flip)
  from these coordinates; ``attrs`` (``affine``, ``orientation``, ``voxel_size_mm``) describe
  the volume as opened, as xarray carries attributes through a selection unchanged;
* the 4th axis' values as coordinates on ``t``: ``time`` (s) for NIfTI series with a time step,
  each ``meta["axis4_values"]`` entry (``EchoTime``, ``DiffusionBValue``, ...), ``bval`` from
  ``meta["diffusion"]``; each with its ``units`` attribute (``EchoTime`` in seconds, as BIDS);
* DICOM: ``InstanceNumber``, ``AcquisitionTime`` and ``SOPInstanceUID`` of each image, on ``k``
  (on ``k`` and the 4th axis for a 4D series: each volume's images are other files), read from
  the headers (no pixel data) only when used (the frames of an enhanced multi-frame file: the
  file's InstanceNumber and SOPInstanceUID, each frame's own FrameAcquisitionDateTime; a slice
  ``allow_gaps=True`` filled in: InstanceNumber -1, empty strings); a Zarr store converted from DICOM keeps one source
  header, not each image's: it has them only while the original files are there, unchanged.

The engine (registered in the ``xarray.backends`` entry-point group) returns lazily indexed
variables: with ``chunks=None`` a selection reads only what it needs; with ``chunks={}`` the
image is a dask array chunked as lazyvol chunks it. Nothing is read at open beyond what
:func:`lazyvol.open` reads (headers).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np

from ._source_index import source_axes
from ._xarray_images import SLICE_ATTRIBUTES, slice_attributes
from .errors import OptionError, _printable
from .nifti_codes import NIFTI_SUFFIXES
from .zarr_meta import is_lazyvol_store
from .zarr_nifti import axis4_times, mm_per_unit, space_unit

if TYPE_CHECKING:
    import xarray as xr

    from .volume import Volume

__all__ = ["LazyvolBackendEntrypoint", "affine_of", "to_xarray"]

DIMS = ("i", "j", "k", "t")
WORLD = ("x", "y", "z")


def dims_of(ndim: int, meta: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Dimension names of a volume of ``ndim`` axes: i, j, k, t, then dim5, dim6, ... (the names
    lazyvol's OME-Zarr axes give axes past the 4th).

    An OME-Zarr store names its own axes past the three space axes (``c`` for a channel axis,
    ``t`` for time, ...): ``meta["axes"]`` (volume order), as the Zarr reader records them, names
    those dimensions, so a channel axis is not called ``t``. A name that is not a string or that
    repeats another dimension's keeps the default.

    Each axis past the third is named for the source axis it is
    (:func:`lazyvol._source_index.source_axes`): after ``vol[:, :, :, 0]`` of a 5-axis volume the
    4th is the source's 5th (``dim5``, or its OME name), not ``t``.
    """
    recorded = source_axes(meta, ndim) if meta is not None else None
    sources = recorded or list(range(3, ndim))
    dims = list(DIMS[:3]) + ["t" if src == 3 else f"dim{src + 1}" for src in sources]
    axes = meta.get("axes") if meta is not None and meta.get("format") == "ome-zarr" else None
    if isinstance(axes, list) and (len(axes) == ndim or recorded is not None):
        for d, src in enumerate(sources, start=3):
            name = axes[src] if src < len(axes) else None
            if isinstance(name, str) and name and name not in (*dims[:d], *WORLD):
                dims[d] = name
    return tuple(dims[:ndim])


def _require_xarray() -> Any:
    try:
        import xarray
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "vol.to_xarray() needs xarray: pip install 'lazyvol[xarray]' (or pip install xarray)"
        ) from exc
    return xarray


def axis_aligned(affine: np.ndarray, atol: float = 1e-6) -> list[int] | None:
    """For each voxel axis the world axis (0=x, 1=y, 2=z) it runs along, or None if oblique."""
    rzs = np.asarray(affine, dtype=np.float64)[:3, :3]
    rows = []
    for a in range(3):
        col = rzs[:, a]
        scale = float(np.abs(col).max())
        nonzero = np.flatnonzero(np.abs(col) > atol * max(scale, 1.0))
        if len(nonzero) != 1:
            return None
        rows.append(int(nonzero[0]))
    return rows if sorted(rows) == [0, 1, 2] else None


def _world_block(
    affine: np.ndarray, row: int, block_info: dict[Any, Any] | None = None
) -> np.ndarray:
    assert block_info is not None
    loc = block_info[None]["array-location"]
    idx = np.ix_(*[np.arange(a, b, dtype=np.float64) for a, b in loc])
    return (
        affine[row, 0] * idx[0] + affine[row, 1] * idx[1] + affine[row, 2] * idx[2] + affine[row, 3]
    )


def world_coords(
    affine: np.ndarray,
    shape: tuple[int, ...],
    chunks: tuple[tuple[int, ...], ...] | None = None,
    units: str = "mm",
) -> dict[str, tuple[tuple[str, ...], Any, dict[str, str]]]:
    """``{name: (dims, values, attrs)}`` for x, y, z (RAS+) in ``units`` (the affine's: mm, or a
    NIfTI file's micron/meter): 1-D where the affine is axis-aligned, else lazy 3-D dask arrays
    (exact, computed blockwise on demand)."""
    aff = np.asarray(affine, dtype=np.float64)
    rows = axis_aligned(aff)
    out: dict[str, tuple[tuple[str, ...], Any, dict[str, str]]] = {}
    if rows is not None:
        for axis, row in enumerate(rows):
            values = aff[row, axis] * np.arange(shape[axis], dtype=np.float64) + aff[row, 3]
            attrs = {"units": units, "long_name": f"{WORLD[row]} (RAS+, scanner)"}
            out[WORLD[row]] = ((DIMS[axis],), values, attrs)
        return out
    spatial = tuple(shape[:3])
    ch = chunks[:3] if chunks is not None else "auto"
    for row in range(3):
        arr = da.map_blocks(
            _world_block,
            aff,
            row,
            chunks=da.empty(spatial, chunks=ch, dtype=np.float64).chunks,
            dtype=np.float64,
            meta=np.empty((0, 0, 0), dtype=np.float64),
        )
        attrs = {"units": units, "long_name": f"{WORLD[row]} (RAS+, scanner), exact, oblique grid"}
        out[WORLD[row]] = (DIMS[:3], arr, attrs)
    return out


#: The unit of each ``meta["axis4_values"]`` coordinate and the factor from DICOM's values to it:
#: a BIDS name in BIDS' unit (EchoTime in seconds, as the sidecar and ``meta["bids"]``), DICOM's
#: others in DICOM's (ms), counts ``"1"`` (CF's unit of a number); labels (ASLContext) have none.
_AXIS4_UNITS: dict[str, tuple[str, float]] = {
    "EchoTime": ("s", 1e-3),
    "TriggerTime": ("ms", 1.0),
    "FrameReferenceTime": ("ms", 1.0),
    "DiffusionBValue": ("s/mm2", 1.0),
    "EchoNumbers": ("1", 1.0),
    "TemporalPositionIdentifier": ("1", 1.0),
    "AcquisitionNumber": ("1", 1.0),
}


def _axis4_coords(vol: Volume) -> dict[str, tuple[tuple[str, ...], Any, dict[str, str]]]:
    out: dict[str, tuple[tuple[str, ...], Any, dict[str, str]]] = {}
    if vol.ndim < 4:
        return out
    t = dims_of(vol.ndim, vol.meta)[3]
    nt = vol.shape[3]
    meta = vol.meta
    values = meta.get("axis4_values")
    if isinstance(values, dict):
        for name, vals in values.items():
            if isinstance(vals, list | tuple) and len(vals) == nt:
                arr = np.asarray(vals)
                unit, factor = _AXIS4_UNITS.get(str(name), ("", 1.0))
                if unit and arr.dtype.kind in "biuf":
                    if factor != 1.0:  # (rounded as dcm2niix prints seconds: 6 digits)
                        arr = np.asarray([float(f"{v * factor:.6g}") for v in arr.tolist()])
                    out[str(name)] = ((t,), arr, {"units": unit})
                elif arr.dtype.kind in "biufUS":
                    out[str(name)] = ((t,), arr, {})
    diffusion = meta.get("diffusion")
    if isinstance(diffusion, dict):
        bvals = diffusion.get("bvals")
        if isinstance(bvals, list) and len(bvals) == nt:
            out.setdefault("bval", ((t,), np.asarray(bvals, dtype=np.float64), {"units": "s/mm2"}))
    times = axis4_times(meta, nt) if "time" not in out else None
    if times is not None:
        out["time"] = ((t,), times, {"units": "s"})
    return out


def _flat_affine(affine: Any) -> list[float]:
    """The 4x4 affine as its 16 values in row order (a netCDF-safe attribute)."""
    return [float(x) for x in np.asarray(affine, dtype=np.float64).reshape(16)]


def affine_of(obj: Any) -> np.ndarray:
    """The 4x4 voxel-to-RAS+ affine of a DataArray or Dataset made by lazyvol, for its grid as it
    is now: after ``isel``/``sel`` (a crop, a step, a flip, one slice kept), as after a netCDF or
    Zarr round trip.

    ``attrs["affine"]`` holds the affine of the volume as opened (its 16 values in row order, as
    :meth:`lazyvol.Volume.to_xarray` and the ``lazyvol`` engine write it; xarray carries attributes
    through a selection unchanged). Where the object has its world coordinates ``x``, ``y``, ``z``
    the affine is the one they state: voxel (0, 0, 0) of the selection at their first values,
    each voxel axis ``i``, ``j``, ``k`` their step along it (an axis of one voxel, or dropped by an
    integer index, keeps the opened affine's column); a selection that is no regular grid (a list
    of indices with uneven steps) has none: ValueError. Without coordinates (or given a mapping of
    attributes) the stored affine is returned; a 4x4 array is accepted there too.

    Raises
    ------
    KeyError
        No ``affine`` attribute (not made by lazyvol).
    ValueError
        The attribute holds no 16 values, or the coordinates are no regular grid.

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> from lazyvol.xarray import affine_of
    >>> vol = lv.Volume(np.zeros((4, 4, 4), "uint8"), np.diag([2.0, 2.0, 3.0, 1.0]))
    >>> image = vol.to_xarray()
    >>> np.array_equal(affine_of(image), vol.affine)
    True
    >>> affine_of(image.isel(k=slice(1, None, 2)))[2].tolist()  # z: every 2nd slice from z = 3
    [0.0, 0.0, 6.0, 3.0]
    """
    attrs = getattr(obj, "attrs", obj)
    try:
        value = attrs["affine"]
    except KeyError:
        raise KeyError(
            "no 'affine' attribute: not made by lazyvol (to_xarray or its engine)"
        ) from None
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 16:
        raise ValueError(f"attrs['affine'] holds {arr.size} values; a 4x4 affine has 16")
    stored = arr.reshape(4, 4)
    coords = getattr(obj, "coords", None)
    if coords is None or not all(name in coords for name in WORLD):
        return stored
    return _coords_affine(obj, stored)


def _coords_affine(obj: Any, stored: np.ndarray) -> np.ndarray:
    """The affine the world coordinates of ``obj`` state (see :func:`affine_of`)."""
    sizes = dict(obj.sizes)
    world = [obj.coords[name] for name in WORLD]
    for c in world:
        if any(d not in DIMS[:3] for d in c.dims):
            raise ValueError(f"coordinate {c.name!r} on {c.dims}: not on the voxel axes i, j, k")
    present = [d for d in DIMS[:3] if d in sizes]
    # (one voxel line per coordinate and axis: cheap also for an oblique grid's lazy 3-D ones)
    origin = np.array([float(c.isel({d: 0 for d in c.dims}).values) for c in world])
    out = stored.copy()
    out[:3, 3] = origin
    scale = max(float(np.abs(stored[:3, :3]).max()), 1.0)
    for axis, dim in enumerate(DIMS[:3]):
        n = sizes.get(dim, 1)
        if n < 2:
            continue  # (one voxel, or the axis dropped: the opened affine's column)
        rest = {d: 0 for d in present if d != dim}
        lines = np.stack(
            [
                np.asarray(c.isel({d: v for d, v in rest.items() if d in c.dims}).values)
                if dim in c.dims
                else np.full(n, origin[row])  # (not varying along the axis)
                for row, c in enumerate(world)
            ]
        )  # (3, n): the world position of each voxel along the axis
        steps = np.diff(lines, axis=1)
        if not np.allclose(steps, steps[:, :1], rtol=1e-6, atol=1e-6 * scale):
            raise ValueError(
                f"the {WORLD} coordinates along {dim!r} are not evenly spaced (a selection by a "
                "list of uneven indices): such a grid has no affine; select with a slice"
            )
        if np.linalg.norm(steps[:, 0]) <= 1e-6 * np.linalg.norm(stored[:3, axis]):
            # (one voxel taken again and again, isel(i=[2, 2, 2]): a zero column, a singular
            # affine that put every voxel along the axis at one place)
            raise ValueError(
                f"the {WORLD} coordinates along {dim!r} do not advance (a selection repeating "
                "one index): such a grid has no affine; select with a slice"
            )
        out[:3, axis] = steps[:, 0]
    # A selection of the opened grid (whole steps, a whole-voxel start) is that grid's affine
    # times the selection's index map, exactly (as lazyvol.Volume slicing gives it), not the
    # rounding of coordinate differences.
    try:
        index_map = np.linalg.solve(stored, out)
    except np.linalg.LinAlgError:
        return out
    whole = np.round(index_map)
    if np.allclose(index_map, whole, rtol=0.0, atol=1e-6):
        return stored @ whole
    return out


def _attrs(vol: Volume) -> dict[str, Any]:
    """The image's attributes: netCDF-safe values only (numbers, strings, flat lists)."""
    attrs: dict[str, Any] = {
        "affine": _flat_affine(vol.affine),
        "orientation": vol.orientation,
        # in mm whatever the affine's unit (a NIfTI in microns or meters keeps its coordinates,
        # and their units attribute, in that unit)
        "voxel_size_mm": [float(s) * mm_per_unit(space_unit(vol.meta)) for s in vol.spacing[:3]],
    }
    # a file name that is not valid UTF-8 (a Latin-1 name from an old archive: os.fsdecode gives
    # its bytes as lone surrogates, which made to_netcdf raise) is kept with those bytes as \xNN
    if vol.source:
        attrs["source"] = _printable(str(vol.source))
    for key in ("format", "modality", "series_description", "series_uid", "axis4"):
        value = vol.meta.get(key)
        if isinstance(value, str | int | float):
            attrs[key] = _printable(value) if isinstance(value, str) else value
    return attrs


def _coords(vol: Volume, chunks: tuple[tuple[int, ...], ...] | None) -> dict[str, Any]:
    coords: dict[str, Any] = {}
    coords.update(world_coords(vol.affine, vol.shape, chunks, space_unit(vol.meta)))
    coords.update(_axis4_coords(vol))
    coords.update(slice_attributes(vol, dims_of(vol.ndim, vol.meta)[2:]))
    return coords


def _index_world(obj: Any) -> Any:
    """Index the 1-D world coordinates (``.sel(z=...)``) of an axis-aligned image."""
    for name in WORLD:
        if name in obj.coords and obj.coords[name].ndim == 1 and name not in obj.xindexes:
            obj = obj.set_xindex(name)
    return obj


def to_xarray(vol: Volume, *, name: str = "image", slice_attributes: bool = True) -> xr.DataArray:
    """The volume as a lazily read ``xarray.DataArray`` (see the module docstring).

    Parameters
    ----------
    vol : Volume
    name : str
        The DataArray's name.
    slice_attributes : bool
        DICOM: add InstanceNumber, AcquisitionTime and SOPInstanceUID along ``k`` (and the 4th
        axis of a 4D series) (lazy).

    Returns
    -------
    xarray.DataArray
        Backed by ``vol.data`` (dask): nothing is read until computed.

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> vol = lv.Volume(np.zeros((4, 5, 6), "int16"), np.diag([2.0, 2.0, 3.0, 1.0]))
    >>> image = vol.to_xarray()
    >>> image.dims
    ('i', 'j', 'k')
    >>> image.z.values.tolist()
    [0.0, 3.0, 6.0, 9.0, 12.0, 15.0]
    >>> float(image.sel(z=6.2, method="nearest").z)
    6.0
    """
    xr = _require_xarray()
    coords = _coords(vol, vol.chunks)
    if not slice_attributes:
        for key in SLICE_ATTRIBUTES:
            coords.pop(key, None)
    arr = xr.DataArray(
        vol.data, dims=dims_of(vol.ndim, vol.meta), coords=coords, name=name, attrs=_attrs(vol)
    )
    return _index_world(arr)


# -- the xarray engine ---------------------------------------------------------------------------------


try:
    from xarray.backends import BackendArray as _BackendArray
    from xarray.backends import BackendEntrypoint as _BackendEntrypoint
except ImportError:  # pragma: no cover - xarray not installed
    _BackendArray = object  # type: ignore[assignment,misc]
    _BackendEntrypoint = object  # type: ignore[assignment,misc]


class VolumeBackendArray(_BackendArray):  # type: ignore[misc,valid-type]
    """Lazily indexed array over a :class:`lazyvol.Volume` for xarray (basic indexing).

    A selection reads only the slabs it needs (through :meth:`lazyvol.Volume.__getitem__`, which
    plans reads for the region only).
    """

    def __init__(self, vol: Volume) -> None:
        self.vol = vol
        self.shape = vol.shape
        self.dtype = vol.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        from xarray.core import indexing

        from ._xarray_keys import forward_empty_slices

        return indexing.explicit_indexing_adapter(
            forward_empty_slices(key, self.shape),
            self.shape,
            indexing.IndexingSupport.BASIC,
            self._raw,
        )

    def _raw(self, key: tuple[Any, ...]) -> np.ndarray:
        canon: list[slice] = []
        squeeze: list[int] = []
        for axis, item in enumerate(key):
            if isinstance(item, int | np.integer):
                i = int(item) % self.shape[axis]
                canon.append(slice(i, i + 1))
                squeeze.append(axis)
            else:
                canon.append(item)
        sizes = [len(range(*s.indices(n))) for s, n in zip(canon, self.shape, strict=True)]
        if 0 in sizes:
            out = np.empty(sizes, dtype=self.dtype)
        else:
            out = self.vol[tuple(canon)].compute()
        return out.reshape([n for a, n in enumerate(out.shape) if a not in squeeze])


def _looks_like_ours(path: str) -> bool:
    low = path.lower()
    if low.endswith(NIFTI_SUFFIXES) or low.endswith((".dcm", ".ima")):
        return True
    if os.path.isdir(path):
        return is_lazyvol_store(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO: it would block
            return False
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


#: xarray's decoder keywords, passed to every engine when given (``mask_and_scale`` is handled).
_DECODERS = (
    "mask_and_scale",
    "decode_times",
    "decode_timedelta",
    "use_cftime",
    "concat_characters",
    "decode_coords",
)


def _cf_scaling(meta: dict[str, Any], source: str) -> dict[str, float]:
    """``scale_factor`` / ``add_offset`` of stored values (``mask_and_scale=False``), as other
    engines leave them undecoded, so a dataset written on decodes them again; none when the
    source has no scaling or its values are true ones already (a store lazyvol wrote).

    Raises
    ------
    lazyvol.OptionError
        The source's values have no single scaling (DICOM slices with their own rescales).
    """
    if meta.get("scaled") is not False:
        return {}  # (the values are true ones: a store written by lazyvol holds them scaled)
    rescale = meta.get("rescale")  # DICOM: a dict, or "per slice"
    if rescale == "per slice":
        raise OptionError(
            f"{source}: mask_and_scale=False (or decode_cf=False) asks for stored values with "
            "one scale_factor/add_offset, but its slices have their own RescaleSlope/"
            "RescaleIntercept; open it with lazyvol.open(..., scale=False) for the stored values "
            "(vol.meta['rescale'] says so), or leave mask_and_scale on"
        )
    if isinstance(rescale, dict):
        slope, inter = rescale.get("slope", 1.0), rescale.get("intercept", 0.0)
    else:
        slope, inter = meta.get("scl_slope", 1.0), meta.get("scl_inter", 0.0)  # NIfTI
    if not all(isinstance(v, int | float) for v in (slope, inter)) or (slope, inter) == (1, 0):
        return {}
    return {"scale_factor": float(slope), "add_offset": float(inter)}


class LazyvolBackendEntrypoint(_BackendEntrypoint):  # type: ignore[misc,valid-type]
    """``xarray.open_dataset(path, engine="lazyvol")``: NIfTI, DICOM (file or folder) and Zarr.

    Keyword arguments beyond xarray's (``series``, ``scale``, ``dtype`` and the DICOM options) go
    to :func:`lazyvol.open`; ``lazyvol_cache`` is its ``cache`` (xarray keeps ``cache=`` for its
    own in-memory caching and never passes it on). Of xarray's decoders, ``mask_and_scale=False``
    (and ``decode_cf=False``) gives the stored values, as ``scale=False``; the others
    (``decode_times``, ``decode_timedelta``, ``use_cftime``, ``concat_characters``,
    ``decode_coords``) change nothing: nothing here is CF-encoded (``time`` is already a number of
    seconds). A keyword lazyvol does not take: :class:`~lazyvol.errors.UnknownOptionError`.
    """

    description = "NIfTI, DICOM and Zarr volumes with their RAS affine, via lazyvol"
    url = ""
    open_dataset_parameters = (
        "filename_or_obj",
        "drop_variables",
        "series",
        "scale",
        "dtype",
        "lazyvol_cache",
        *_DECODERS,
    )

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        series: str | int | None = None,
        scale: bool | None = None,
        dtype: Any = None,
        lazyvol_cache: Any = None,
        mask_and_scale: bool | None = None,
        **options: Any,
    ) -> xr.Dataset:
        """Open ``filename_or_obj`` with :func:`lazyvol.open` as a Dataset with one ``image``."""
        import xarray as xr

        import lazyvol as lv

        from ._xarray_keys import lazily_indexed, lazily_indexed_coords

        if not isinstance(filename_or_obj, str | os.PathLike):
            raise TypeError(
                f"the lazyvol engine opens paths, not {type(filename_or_obj).__name__} objects"
            )
        for name in _DECODERS:
            options.pop(name, None)  # (nothing CF-encoded to decode)
        if scale and mask_and_scale is False:
            raise OptionError(
                f"{os.fspath(filename_or_obj)}: scale=True asks for scaled values and "
                "mask_and_scale=False (or decode_cf=False) for stored ones; give one of them"
            )
        vol = lv.open(
            os.fspath(filename_or_obj),
            series=series,
            scale=mask_and_scale is not False if scale is None else scale,
            dtype=dtype,
            cache=lazyvol_cache,
            **options,
        )
        dims = dims_of(vol.ndim, vol.meta)
        backend = VolumeBackendArray(vol)
        data = lazily_indexed(backend)
        encoding = {
            "preferred_chunks": {d: c[0] for d, c in zip(dims, vol.chunks, strict=True)},
            "dtype": vol.dtype,
            "source": os.fspath(filename_or_obj),
        }
        attrs = _attrs(vol)
        if mask_and_scale is False and scale is None:
            attrs.update(_cf_scaling(vol.meta, os.fspath(filename_or_obj)))
        image = xr.Variable(dims, data, attrs=attrs, encoding=encoding)
        coords = lazily_indexed_coords(_coords(vol, vol.chunks))
        drop = {drop_variables} if isinstance(drop_variables, str) else set(drop_variables or ())
        variables = {} if "image" in drop else {"image": image}
        ds = xr.Dataset(
            variables,
            coords={k: v for k, v in coords.items() if k not in drop},
            attrs={k: v for k, v in _attrs(vol).items() if k in ("affine", "source")},
        )
        return _index_world(ds)

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """NIfTI/Analyze and ``.dcm`` names, files with the DICOM marker, lazyvol Zarr stores."""
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        return _looks_like_ours(os.fspath(filename_or_obj))
