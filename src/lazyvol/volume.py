"""The :class:`Volume`: a lazy dask array with its voxel-to-RAS affine and metadata."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ._chunk_spec import checked_spec
from ._cut_plan import CutPlan, cut_plan, stepped_cut
from ._meta_copy import copied_meta
from ._per_volume import cut_volumes
from ._source_index import axis4_reversed, slice_source_index
from ._warn import warn as _warn_user
from .chunking import PlanArray, as_plan_array, direct_compute_allowed, sub_array
from .errors import OptionError
from .geometry import canonical_index, orientation_codes, slice_affine, voxel_sizes
from .nifti_carry import cifti_dropped
from .nifti_fields import CARRIED_KEY, EXTENSIONS_UNREAD_KEY
from .zarr_nifti import axis4_first, axis4_is_time, axis4_step, space_unit

if TYPE_CHECKING:
    import dask.array as da
    import nibabel as nib

__all__ = ["Volume"]

#: The writers and conversions behind ``Volume.to_*``: name -> (module, function). They sit above
#: Volume in the package's layers (they import Volume for typing only), so Volume finds them by
#: module name on first use, as the reader registry finds readers: no import cycle.
WRITERS: dict[str, tuple[str, str]] = {
    "zarr": ("lazyvol.zarr_write", "write_zarr"),
    "nifti": ("lazyvol.nifti_write", "write_nifti"),
    "nibabel": ("lazyvol.nifti_write", "to_nibabel_image"),
}


def _extension(name: str) -> Any:
    """The module behind a Volume convenience (``headers``, ``xarray``), imported by name on first
    use: those modules use the readers, which sit above Volume in the package's layers."""
    return importlib.import_module(f"lazyvol.{name}")


def _writer(kind: str) -> Any:
    """The function of :data:`WRITERS` for ``kind``, imported by module name on first use."""
    module, func = WRITERS[kind]
    return getattr(importlib.import_module(module), func)


#: What a :class:`Volume` holds: a dask array, or a reader's plan until ``.data`` is used.
Array = Union["da.Array", PlanArray, CutPlan]


def _cut(data: Array, canon: tuple[slice | int, ...]) -> Array:
    """``data[canon]``; for an array straight from a reader, a new read plan covering only the
    region asked for (one slice of a 64-slice slab reads one slice), then the steps.

    A :class:`PlanArray` stays one (no dask import, no graph) when the cut is a plain box, and
    becomes a :class:`~lazyvol._cut_plan.CutPlan` (read as directly) when it takes every voxel of
    a box, with integer indices (``vol[..., t]``) or reversed axes; other steps go through
    dask. A cut of a :class:`CutPlan` is planned on its box again."""
    if isinstance(data, CutPlan):
        # (on a copy of the box without its dask array: a plain cut of the box, c[::-1] of
        # c = vol[::-1], is the box itself, whose dask array an assignment into the new cut's
        # .data would change under c, which reads it, and every later cut of c)
        return _cut(replace(data.region), data.recut(canon))
    if not isinstance(data, PlanArray):
        data = as_plan_array(data) or data  # (a reader's array after .data was used: its plan)
    bounds = []
    relative: list[slice | int] = []
    for item, n in zip(canon, data.shape, strict=True):
        if isinstance(item, int):
            bounds.append((item, item + 1))
            relative.append(0)
            continue
        idx = range(*item.indices(int(n)))
        lo, hi = min(idx[0], idx[-1]), max(idx[0], idx[-1]) + 1
        bounds.append((lo, hi))
        start = idx[0] - lo
        stop = idx[-1] - lo + (1 if item.step > 0 else -1)
        relative.append(slice(start, stop if stop >= 0 else None, item.step))
    whole = all(b == (0, int(n)) for b, n in zip(bounds, data.shape, strict=True))
    if isinstance(data, PlanArray):
        plain = all(
            isinstance(r, slice) and r.start == 0 and r.step == 1 and r.stop == hi - lo
            for r, (lo, hi) in zip(relative, bounds, strict=True)
        )
        if plain:
            return data if whole else data.sub(tuple(bounds))
        box = data if whole else data.sub(tuple(bounds))
        picked = cut_plan(box, canon if whole else tuple(relative))
        if picked is not None:
            return picked
        return stepped_cut(data, canon) if whole else stepped_cut(box, tuple(relative))
    if whole:
        return data[canon]
    region = sub_array(data, tuple(bounds))
    if region is None:
        return data[canon]
    return region[tuple(relative)]


def _xarray_kind(obj: Any) -> str | None:
    """The class name of an xarray object (``"DataArray"``, ``"Variable"``...), else None
    (without importing xarray)."""
    kind = type(obj)
    return kind.__name__ if kind.__module__.startswith("xarray.") else None


def xarray_dask(obj: Any) -> Any:
    """An xarray DataArray or Variable as a dask array (its own when dask-backed, else chunked
    ``"auto"``: a lazily indexed one, ``xr.open_dataset(path, engine="lazyvol")``, is then read a
    chunk at a time); anything else as it is. Taken through ``numpy.asarray``, the whole array was
    read into memory first, a 4D series of many GiB with it."""
    if _xarray_kind(obj) not in ("DataArray", "Variable"):
        return obj
    import dask.array as da

    chunked = obj if obj.chunks is not None else obj.chunk("auto")
    data = chunked.data
    return data if isinstance(data, da.Array) else obj


def _voxel_order(obj: Any) -> Any:
    """An xarray DataArray with lazyvol's voxel dims ``i``, ``j``, ``k`` in another order
    (``image.transpose("k", "j", "i")``) put back in that order, its other dims after them in
    theirs: the affine's columns are the named axes (:func:`lazyvol.xarray.affine_of`), and the
    array was taken in the order it came, its voxels at another voxel's place."""
    if _xarray_kind(obj) != "DataArray":
        return obj
    dims = obj.dims
    if not {"i", "j", "k"} <= set(dims) or dims[:3] == ("i", "j", "k"):
        return obj
    return obj.transpose("i", "j", "k", *(d for d in dims if d not in ("i", "j", "k")))


def _volume_array(data: Any) -> Array:
    """The array a :class:`Volume` holds for ``data`` (its constructor's and its ``data``
    setter's): a reader's plan as it is, a dask array (a reader's unmodified one as its plan, so
    small reads skip dask), an xarray DataArray as its dask array (:func:`xarray_dask`),
    anything else through ``numpy.asarray`` with ``chunks="auto"``.

    Raises
    ------
    lazyvol.OptionError
        Fewer than 3 axes, or a dask array of unknown chunk sizes (NaN in its shape).
    """
    arr: Array
    data = xarray_dask(_voxel_order(data))  # (a DataArray: its dask array, not a whole read)
    if isinstance(data, PlanArray | CutPlan):
        arr = data
    else:
        import dask.array as da

        if isinstance(data, da.Array):
            # A reader's unmodified array: keep its plan, so small reads skip dask.
            arr = as_plan_array(data) or data
        else:
            values = np.asarray(data)
            if values.dtype.hasobject:  # (dask's bare NotImplementedError from chunks="auto")
                raise OptionError(
                    f"a Volume holds numbers; this array of shape {values.shape} has dtype "
                    f"{values.dtype} (Python objects): convert it first, e.g. "
                    "numpy.asarray(data, dtype='float32')"
                )
            arr = da.from_array(values, chunks="auto")
    if arr.ndim < 3:
        raise OptionError(f"a Volume needs at least 3 axes (i, j, k); got shape {arr.shape}")
    if any(n != n for n in arr.shape):  # (NaN: a dask array of unknown chunk sizes)
        raise OptionError(
            f"a Volume needs known chunk sizes; this dask array's shape is {arr.shape} (after "
            "a boolean mask or another operation of data-dependent size): call its "
            ".compute_chunk_sizes() first"
        )
    return arr


def _affine_matrix(affine: Any) -> np.ndarray:
    """``affine`` as a float64 array; text, complex or ragged entries are an
    :class:`~lazyvol.errors.OptionError` (they were numpy's bare ValueError, or for a complex
    matrix a cast that dropped the imaginary parts with only a ComplexWarning)."""
    try:
        raw = np.asarray(affine)
        if raw.dtype.kind not in "biufO":
            raise TypeError(f"its entries have dtype {raw.dtype}")
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise OptionError(
            f"a Volume's affine must be a 4x4 matrix of real numbers, got {affine!r:.200} "
            f"({exc}): pass the voxel-to-world matrix as floats"
        ) from exc


class Volume:
    """A lazily read image volume: a chunked dask array, a 4x4 affine and metadata.

    Parameters
    ----------
    data : dask.array.Array or numpy.ndarray
        The voxel values, axes ``(i, j, k[, t])``. A numpy array is wrapped with ``chunks="auto"``.
        (Readers pass a :class:`lazyvol.chunking.PlanArray`: ``data`` then becomes its dask
        array the first time it is used, and small reads skip dask entirely.)
    affine : (4, 4) array_like, optional
        Voxel ``(i, j, k)`` to RAS+ millimetres. Default: identity.
    meta : mapping, optional
        Source metadata (JSON-friendly values). Per-index values of the 4th axis go under
        ``meta["axis4_values"]`` as ``{name: list}`` and are sliced with it, as are the diffusion
        table ``meta["diffusion"]`` and the PET frame lists of ``meta["bids"]``
        (``lazyvol._per_volume``).
    source : str, optional
        Human-readable description of where the data comes from.

    Attributes
    ----------
    data : dask.array.Array
        The voxel values, axes ``(i, j, k[, t])``; nothing is read until it is computed.
    affine : numpy.ndarray
        (4, 4) float64: voxel indices ``(i, j, k)`` to RAS+ millimetres, as nibabel's
        ``img.affine``.
    meta : dict
        What the reader found: the format, scaling, DICOM series attributes, the files read,
        ``meta["axis4_values"]`` (per-index values of the 4th axis), ``meta["bids"]``
        (acquisition parameters under BIDS names, DICOM), ``meta["diffusion"]`` ... Its
        per-volume lists are those of the volumes this one holds, in its order, after a cut
        along the 4th axis too (``meta["source_index"]["t"]`` gives their source volumes).
    source : str
        The path the volume was opened from (empty for volumes made in memory).

    Raises
    ------
    lazyvol.OptionError
        ``data`` of fewer than 3 axes or of unknown chunk sizes (also when assigned to
        ``vol.data``), an affine that is not 4x4 or not finite.

    Examples
    --------
    >>> import numpy as np, lazyvol as lv
    >>> vol = lv.Volume(np.zeros((4, 5, 6), dtype="int16"), np.diag([2.0, 2.0, 3.0, 1.0]))
    >>> vol[1:3, ::2, 2:].shape
    (2, 3, 4)
    >>> vol[1:3, ::2, 2:].affine[:3, 3].tolist()
    [2.0, 0.0, 6.0]
    """

    def __init__(
        self,
        data: da.Array | np.ndarray | PlanArray | CutPlan,
        affine: np.ndarray | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> None:
        arr = _volume_array(data)
        aff = np.eye(4) if affine is None else _affine_matrix(affine)
        if aff.shape != (4, 4):
            raise OptionError(f"affine must be 4x4, got {aff.shape}")
        if not np.isfinite(aff).all():
            # (every reader refuses such a file; a Volume made of one failed later: its repr and
            # orientation with numpy's bare LinAlgError 'SVD did not converge', so did to_xarray)
            r, c = (int(x) for x in np.argwhere(~np.isfinite(aff))[0])
            raise OptionError(
                f"a Volume's affine has non-finite entries (affine[{r}, {c}] is {aff[r, c]}): pass "
                "the finite voxel-to-world matrix of the data (or none: the identity)"
            )
        self._arr: Array = arr
        self.affine: np.ndarray = aff
        self.meta: dict[str, Any] = dict(meta or {})
        self.source: str = str(source)

    def __getstate__(self) -> dict[str, Any]:
        # A reader's unmodified dask array is pickled as its plan: dask pickles the graph alone,
        # without the plan, and the copy would read every block through dask.
        state = dict(self.__dict__)
        plan = None if isinstance(self._arr, PlanArray | CutPlan) else as_plan_array(self._arr)
        if plan is not None:
            state["_arr"] = plan
        return state

    # -- array-like properties ----------------------------------------------------------------
    @property
    def data(self) -> da.Array:
        """The voxel values as a dask array (built from the reader's plan on first use)."""
        arr = self._arr
        if isinstance(arr, PlanArray | CutPlan):
            arr = self._arr = arr.to_dask()
        return arr

    @data.setter
    def data(self, value: da.Array | np.ndarray) -> None:
        # (checked as the constructor checks its data: a numpy array is wrapped, fewer than 3
        # axes or unknown chunk sizes are refused here, not at a later .shape or .compute)
        self._arr = _volume_array(value)

    def _array(self) -> Array:
        """The volume's array: its read plan, or the plan's dask array once that has been
        assigned into (``other.data[0, 0, 0] = 7`` on a volume sharing it), whose values the plan
        no longer gives."""
        arr = self._arr
        if isinstance(arr, PlanArray | CutPlan) and arr.assigned():
            arr = self._arr = arr.to_dask()
        return arr

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the volume, ``(i, j, k[, t])``."""
        return tuple(int(n) for n in self._arr.shape)

    @property
    def dtype(self) -> np.dtype:
        """Exactly the dtype that computing the data returns."""
        return np.dtype(self._arr.dtype)

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return int(self._arr.ndim)

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """Dask chunk lengths per axis."""
        return tuple(tuple(int(n) for n in c) for c in self._arr.chunks)

    @property
    def nbytes(self) -> int:
        """Bytes the whole volume takes in memory once computed."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def spacing(self) -> tuple[float, ...]:
        """Voxel sizes along i, j, k (from the affine, in its unit: mm, or a NIfTI's own micron or
        meter, ``lazyvol.zarr_nifti.space_unit``), then the 4th axis' step when known:
        a NIfTI's ``pixdim[4]`` in its time unit, a DICOM time series' RepetitionTime in seconds
        (none for echoes), as :meth:`to_nifti` writes it; ``vol[..., ::2]``: twice the step."""
        sizes = voxel_sizes(self.affine)
        step, _ = axis4_step(self.meta) if self.ndim > 3 else (None, None)
        return sizes if step is None else (*sizes, step)

    @property
    def orientation(self) -> str:
        """Orientation code such as ``'RAS'`` or ``'LPS'`` (the direction each axis points to)."""
        return orientation_codes(self.affine)

    # -- lazy operations -----------------------------------------------------------------------
    def __getitem__(self, index: object) -> Volume:
        """Cut the volume lazily; the affine changes as nibabel's ``img.slicer[index]`` changes it,
        and with a negative step its origin moves to the new first voxel (nibabel 5.4's slicer
        keeps the old one there)."""
        canon = canonical_index(index, self.shape)
        for axis, item in enumerate(canon):
            if axis < 3 and not isinstance(item, slice):
                raise IndexError(
                    f"integer index {item} on spatial axis {axis} would drop it (nibabel refuses "
                    f"this too); use {item}:{item + 1}, or vol.data[...] for a plain array"
                )
            # (canonical slices: no negative start; a stop of None runs to index 0)
            stop = -1 if isinstance(item, slice) and item.stop is None else getattr(item, "stop", 0)
            if isinstance(item, slice) and not range(item.start, stop, item.step):
                raise IndexError(f"empty slice on axis {axis}")
        affine = slice_affine(self.affine, canon)
        data = _cut(self._array(), canon)
        meta = copied_meta(self.meta)
        slice_source_index(meta, canon, self.shape)
        if self.ndim > 3:
            cut_volumes(meta, canon[3], self.shape[3])
        if data.size == 0:
            raise IndexError("empty slice requested")
        return Volume(data, affine, meta=meta, source=self.source)

    def rechunk(self, chunks: Any) -> Volume:
        """Same volume with other dask chunks (``vol.data.rechunk``); a spec dask would read
        otherwise than meant (``True``, ``"-1"``, a dict key that is no axis number) is an
        :class:`~lazyvol.errors.OptionError`, as for ``lv.open(..., chunks=)``."""
        spec = checked_spec(chunks, self.shape, self.source)
        return Volume(self.data.rechunk(spec), self.affine, meta=self.meta, source=self.source)

    def compute(self, **kwargs: Any) -> np.ndarray:
        """Read the whole volume into a numpy array (``kwargs`` go to ``dask.compute``).

        A volume straight from a reader, or a box cut from one (``vol[:, :, 500:501]``), is read
        by running its read plan in this process: no dask graph, no scheduler, no import of
        ``dask.distributed``. The values, dtype and errors are those of ``vol.data.compute()``,
        which runs instead when ``kwargs`` are given, when dask's configuration names a
        scheduler, or when a ``dask.distributed`` client is current. The array keeps the memory
        order of the blocks read (Fortran for NIfTI, DICOM and lazyvol's Zarr stores, as the files
        lay them out), where dask's result is a C array (a transposing copy of every byte).
        """
        if not kwargs and direct_compute_allowed():
            arr = self._array()
            # .data may have been used already: its array still carries the reader's plan
            plan = arr if isinstance(arr, PlanArray | CutPlan) else as_plan_array(arr)
            if plan is not None:
                return plan.compute()
        return np.asarray(self.data.compute(**kwargs))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(vol, dtype=...)``: an integer dtype follows ``dtype=``'s rule (a value
        it cannot hold, a fraction, NaN or one past its range, raises
        :class:`~lazyvol.errors.DataTypeError`), where numpy's cast wraps or truncates."""
        arr = self.compute()
        if dtype is None or np.dtype(dtype) == arr.dtype:
            return arr
        if np.dtype(dtype).kind in "iu":
            from .scaling import apply_scale

            return apply_scale(arr, 1.0, 0.0, np.dtype(dtype), where=str(self.source or "volume"))
        return arr.astype(dtype)

    # -- conversions ---------------------------------------------------------------------------
    def to_nibabel(self) -> nib.Nifti1Image:
        """A ``nibabel.Nifti1Image`` over this volume; its data stays lazy until asked for.

        The dask array is the image's data object, so ``img.dataobj`` is lazy and
        ``img.get_fdata()`` computes it. The affine is set as sform and qform, with codes that
        say what it is (the source's own, as :meth:`to_nifti` writes them), in the affine's
        space unit. A volume opened with ``scale=False`` gives an image of stored values, with a
        warning when its source has a scaling (as :meth:`to_nifti`).
        """
        _warn_stored_values(self.meta, "to_nibabel", "image", "users of the image take")
        _warn_reversed_time(self.meta, "to_nibabel")
        _warn_dropped_extensions(self, "to_nibabel")
        return _writer("nibabel")(self)

    def to_zarr(self, store: str | os.PathLike[str], **kwargs: Any) -> str:
        """Write an OME-Zarr v3 store; see :func:`lazyvol.zarr_write.write_zarr` for the options.

        A volume opened with ``scale=False`` is written as it holds, stored values, with a warning
        when its source has a scaling (as :meth:`to_nifti`); a volume of more than 5 axes, with
        a warning that the store has no OME-Zarr metadata (OME-Zarr images have 2 to 5 axes).
        """
        from .zarr_ome import ome_holds  # (on first use: not needed to open a file)

        where = os.fspath(store)
        _warn_stored_values(self.meta, where, "store", "readers of the store take")
        _warn_reversed_time(self.meta, where)
        _warn_dropped_extensions(self, where)
        if not ome_holds(self.ndim):
            _warn_user(
                f"lazyvol: {where}: a {self.ndim}-axis volume is written without OME-Zarr "
                "metadata (OME-Zarr images have 2 to 5 axes), so OME-Zarr and NIfTI-Zarr readers "
                "do not read the store; lazyvol does (its own attributes hold the axes and the "
                "affine); write a selection of at most 5 axes (e.g. vol[..., 0]) for an OME-Zarr "
                "store",
                RuntimeWarning,
            )
        result: str = _writer("zarr")(self, store, **kwargs)
        return result

    def to_nifti(self, path: str | os.PathLike[str], **kwargs: Any) -> str:
        """Stream the volume to ``.nii`` / ``.nii.gz``; see :func:`lazyvol.nifti_write.write_nifti`.

        A volume opened with ``scale=False`` is written as it holds, stored values, with a warning
        when its source has a scaling (neither applied nor written).
        """
        _warn_stored_values(self.meta, os.fspath(path), "file", "readers of the file take")
        _warn_reversed_time(self.meta, os.fspath(path))
        _warn_dropped_extensions(self, os.fspath(path))
        result: str = _writer("nifti")(self, path, **kwargs)
        return result

    def to_xarray(self, **kwargs: Any) -> Any:
        """A lazily read ``xarray.DataArray`` named ``image`` with world coordinates in mm (RAS).

        See :func:`lazyvol.xarray.to_xarray` (needs the ``xarray`` extra).
        """
        return _extension("xarray").to_xarray(self, **kwargs)

    # -- headers and notebook display ---------------------------------------------------------
    @property
    def header(self) -> Any:
        """The source's full header, read without pixel data.

        NIfTI: the ``nibabel`` header (``for key, value in vol.header.items()``). DICOM: the
        ``pydicom.Dataset`` of the first slice (``vol.header.PatientName``). See
        :func:`lazyvol.headers.volume_header`.
        """
        return _extension("headers").volume_header(self)

    def dicom_header(self, k: int = 0, t: int = 0) -> Any:
        """The ``pydicom.Dataset`` behind slice ``k`` (and 4th-axis index ``t``) of this volume.

        Indices count in this volume (after ``vol[:, :, 10:]``, ``k=0`` is source slice 10).
        Enhanced multi-frame files give the frame's data set with its functional groups merged
        into the top level. See :func:`lazyvol.headers.dicom_header`.
        """
        return _extension("headers").dicom_header(self, k, t)

    def plot(self, point: Any = None, **kwargs: Any) -> Any:
        """Three orthogonal slices through ``point`` (default: the centre) with mm axes.

        See :func:`lazyvol.plot.plot_volume` (needs matplotlib).
        """
        from .plot import plot_volume

        return plot_volume(self, point, **kwargs)

    def _repr_html_(self) -> str:
        from .html import volume_html

        return volume_html(self)

    def __repr__(self) -> str:
        chunk = tuple(c[0] for c in self.chunks)
        vox = ", ".join(f"{s:.4g}" for s in voxel_sizes(self.affine))
        src = f" source={self.source!r}" if self.source else ""
        return (
            f"<lazyvol.Volume shape={self.shape} dtype={self.dtype} chunks={chunk} "
            f"voxel=({vox}) {space_unit(self.meta)} orientation={self.orientation}{src}>"
        )


def _warn_stored_values(meta: dict[str, Any], where: str, what: str, readers: str) -> None:
    """Warn when a volume opened with ``scale=False`` is written (to the ``what`` at ``where``)
    while its source has a scaling: the stored values are written as they are and the scaling is
    neither applied nor written, so ``readers`` (e.g. "readers of the file take") the stored
    values for real ones."""
    scaling = _unapplied_scaling(meta)
    if scaling:
        _warn_user(
            f"lazyvol: {where}: this volume holds stored values (opened with scale=False): its "
            f"source's {scaling} is neither applied nor written in the {what}, so {readers} the "
            "stored values for real ones; open with scale=True for real values",
            RuntimeWarning,
        )


def _warn_dropped_extensions(vol: Volume, dest: str) -> None:
    """Warn when a NIfTI written from ``vol`` leaves out some of its source's header extensions:
    those past the header bytes read at open or past the first ones kept, or a CIFTI-2 extension
    and intent (:func:`lazyvol.nifti_carry.cifti_dropped`)."""
    fields = vol.meta.get(CARRIED_KEY)
    if isinstance(fields, dict) and fields.get(EXTENSIONS_UNREAD_KEY):
        from .nifti_extensions import MAX_EXTENSIONS
        from .nifti_header import MAX_HEADER_BYTES

        _warn_user(
            f"lazyvol: {dest}: the source's header extensions past the first "
            f"{MAX_HEADER_BYTES // 2**20} MiB of its header, or past its first {MAX_EXTENSIONS} "
            "extensions, were not read at open: they are not written (those before them are); "
            "nibabel's nib.save(nib.load(src), ...) keeps them",
            RuntimeWarning,
        )
    if cifti_dropped(vol.meta, vol.affine, vol.shape):
        _warn_user(
            f"lazyvol: {dest}: the volume is cut from a CIFTI-2 file, whose XML extension (ecode "
            "32) describes the grid as opened: the CIFTI intent and extension are not written (a "
            "plain NIfTI); write the whole volume to keep them",
            RuntimeWarning,
        )


def _warn_reversed_time(meta: dict[str, Any], dest: str) -> None:
    """Warn when a volume's 4th axis runs backwards in time (``vol[..., ::-1]``) and the time of its
    first volume is not written: the file or store states the interval between its volumes, and
    0 where the first volume's time would be (:func:`lazyvol.zarr_nifti.axis4_origin`). Not for
    a 4th axis that is no time (a vector's components, a spectrum, echoes, b-values)."""
    if not (axis4_reversed(meta) and axis4_is_time(meta) and axis4_first(meta)):
        return
    _warn_user(
        f"lazyvol: {dest}: the volume's 4th axis runs backwards in time (source volumes "
        f"{meta['source_index']['t'][:3]}...), which NIfTI (pixdim[4] > 0) and OME-Zarr (a time "
        "scale lazyvol writes > 0) cannot state: the interval between volumes is written, the "
        "time of the first volume (NIfTI toffset, the OME time translation) is not (0); "
        "lazyvol.zarr_nifti.axis4_times(vol.meta, n) gives the true times",
        RuntimeWarning,
    )


def _unapplied_scaling(meta: dict[str, Any]) -> str:
    """The source's scaling a volume opened with ``scale=False`` does not apply ("" if none)."""
    if meta.get("scaled") is not False:
        return ""
    rescale = meta.get("rescale")  # DICOM
    if rescale == "per slice":
        return "per-slice RescaleSlope/RescaleIntercept"
    if isinstance(rescale, dict) and (rescale.get("slope"), rescale.get("intercept")) != (1, 0):
        return f"RescaleSlope {rescale.get('slope')} / RescaleIntercept {rescale.get('intercept')}"
    slope, inter = meta.get("scl_slope", 1.0), meta.get("scl_inter", 0.0)  # NIfTI
    if rescale is None and (slope, inter) != (1.0, 0.0):
        return f"scl_slope {slope} / scl_inter {inter}"
    return ""
