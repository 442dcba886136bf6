"""Sidecar files of a NIfTI written from DICOM: the BIDS JSON and FSL ``.bval`` / ``.bvec``.

Written by :func:`lazyvol.nifti_write.write_nifti` beside the NIfTI, from the volume's ``meta`` and
its affine only (no DICOM parsing here): ``meta["bids"]`` (filled by ``lazyvol.dicom.bids`` at open)
and ``meta["diffusion"]`` (b-values and gradient directions in the DICOM patient frame, LPS).

b-vectors follow FSL's convention as dcm2niix writes them: the component of each gradient along
each *voxel* axis of the written image, the first component negated when the voxel-to-world matrix
has a positive determinant (FSL treats voxel space as radiological). Computed from the gradients in
the patient frame and the affine of the volume as written, they stay right however the volume was
sliced, flipped or transposed. SliceTiming and PhaseEncodingDirection also refer to voxel axes; they
are mapped the same way (``meta["bids_affine"]`` is the affine they were recorded for). The
diffusion table and the PET frame lists (:data:`PER_VOLUME_KEYS`) hold one value per volume: a
cut volume's ``meta`` holds those of its own volumes (``lazyvol._per_volume`` cuts them).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ._fileset import image_left, listed_names, recover_set
from ._fsutil import atomic_write_bytes
from ._per_volume import PER_VOLUME_KEYS, ms_seconds
from ._source_index import source_stride
from ._warn import warn as _warn_user
from .errors import WriteError
from .geometry import axis_map
from .zarr_nifti import repetition_time

__all__ = [
    "PER_VOLUME_KEYS",
    "any_sidecar_paths",
    "asl_partner",
    "recover_sets",
    "check_shared",
    "fsl_bvals_bvecs",
    "fsl_bvecs",
    "sidecar",
    "sidecar_files",
    "sidecar_paths",
    "set_images",
    "own_context",
    "sharing_images",
    "world_gradients",
    "write_sidecars",
]

_LPS_TO_RAS = np.array([-1.0, -1.0, 1.0])


def fsl_bvecs(gradients_lps: Any, affine: Any) -> np.ndarray:
    """FSL b-vectors, shape (3, n): gradients (LPS unit vectors, n x 3) in the voxel axes of ``affine``.

    Parameters
    ----------
    gradients_lps : array-like, (n, 3)
        Gradient directions in the DICOM patient frame; zero vectors stay zero.
    affine : array-like, (4, 4)
        Voxel-to-RAS affine of the image the b-vectors go with.
    """
    g = np.asarray(gradients_lps, dtype=np.float64).reshape(-1, 3) * _LPS_TO_RAS
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    unit = m / np.linalg.norm(m, axis=0)
    vox = np.linalg.solve(unit, g.T)  # (3, n): components along the voxel axes
    if np.linalg.det(m) > 0:
        vox[0] = -vox[0]
    # Round-off of the solve (orientation cosines written to ~6 decimals are not quite
    # orthogonal) is no component: below 1e-6 of a unit vector is 0, as dcm2niix's projections
    # onto the cosines give it (9.9e-08 was written where dcm2niix writes 0).
    vox[np.abs(vox) < 1e-6] = 0.0
    return vox


def world_gradients(bvecs: Any, affine: Any) -> np.ndarray:
    """Inverse of :func:`fsl_bvecs`: FSL b-vectors (3, n) of an image to LPS directions (n, 3)."""
    v = np.array(bvecs, dtype=np.float64).reshape(3, -1)
    m = np.asarray(affine, dtype=np.float64)[:3, :3]
    if np.linalg.det(m) > 0:
        v[0] = -v[0]
    unit = m / np.linalg.norm(m, axis=0)
    out: np.ndarray = (unit @ v).T * _LPS_TO_RAS
    return out


def _fmt(x: float) -> str:
    return f"{x:.6g}" if x != 0 else "0"


def fsl_bvals_bvecs(diffusion: dict[str, Any], affine: Any) -> tuple[str, str]:
    """Text of the ``.bval`` (one line) and ``.bvec`` (three lines) files, space separated as dcm2niix."""
    bvals = [float(b) for b in diffusion["bvals"]]
    vecs = fsl_bvecs(diffusion["gradients_lps"], affine)
    bval = " ".join(_fmt(b) for b in bvals) + "\n"
    bvec = "".join(" ".join(_fmt(float(x)) for x in row) + "\n" for row in vecs)
    return bval, bvec


def sidecar(
    meta: dict[str, Any], affine: Any = None, shape: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """The JSON sidecar of a volume (``meta``, ``affine``, ``shape``) under BIDS names.

    SliceTiming and PhaseEncodingDirection refer to voxel axes: they are mapped onto the axes of
    the volume as it is now (sliced, flipped, transposed since it was opened) and left out when
    that mapping is not a plain reindexing.
    """
    doc = dict(meta.get("bids") or {})
    per_axis = [
        k for k in ("SliceTiming", "PhaseEncodingDirection", "PhaseEncodingAxis") if k in doc
    ]
    if per_axis and affine is not None and shape is not None:
        m = axis_map(meta.get("bids_affine"), affine)
        for key in per_axis:
            value = doc.pop(key)
            if m is None:
                continue
            if key == "SliceTiming":
                # the current k axis must be the open-time k axis (any step and direction)
                if m[2, 2] == 0 or len(shape) < 3:
                    continue
                ks = [int(m[2, 2] * k + m[2, 3]) for k in range(shape[2])]
                if all(0 <= k < len(value) for k in ks):
                    doc[key] = [value[k] for k in ks]
            else:
                old_axis = "ijk".index(value[0])
                new_axis = int(np.flatnonzero(m[old_axis, :3])[0])
                sign = int(np.sign(m[old_axis, new_axis])) * (-1 if value.endswith("-") else 1)
                name = "ijk"[new_axis]
                doc[key] = name if key == "PhaseEncodingAxis" or sign > 0 else name + "-"
    doc.update(_echo_of_the_volume(meta, doc))
    nt = (shape[3] if len(shape) > 3 else 1) if shape is not None else None
    for key in PER_VOLUME_KEYS:
        if (
            key in doc
            and nt is not None
            and not (isinstance(doc[key], list) and len(doc[key]) == nt)
        ):
            doc.pop(key)  # (not the volume's: cut in a way its meta does not record)
    stride = source_stride(meta)
    if stride > 1 and "RepetitionTime" in doc and repetition_time(meta) is not None:
        # vol[..., ::2] of a time series: its volumes are two TRs apart (pixdim[4] says so too)
        doc["RepetitionTime"] = float(doc["RepetitionTime"]) * stride
    doc["ConversionSoftware"] = "lazyvol"
    try:
        from importlib.metadata import version

        doc["ConversionSoftwareVersion"] = version("lazyvol")
    except Exception:
        pass
    return doc


def _echo_of_the_volume(meta: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """EchoTime (s) and EchoNumber of a multi-echo volume cut to one echo (``vol[..., e]`` or
    ``vol[..., e:e+1]``): the opened volume's sidecar has none (its echoes differ), while
    dcm2niix writes each echo apart with its own. Nothing when the volume holds several echoes."""
    if "EchoTime" in doc:
        return {}
    picked = meta.get("axis4_index")
    values = meta.get("axis4_values")
    one: dict[str, Any] = {}
    for key in ("EchoTime", "EchoNumbers"):
        if isinstance(picked, dict) and isinstance(picked.get(key), int | float):
            one[key] = picked[key]
        elif isinstance(values, dict) and isinstance(values.get(key), list):
            distinct = set(values[key])
            if len(distinct) == 1 and isinstance(next(iter(distinct)), int | float):
                one[key] = next(iter(distinct))
    out: dict[str, Any] = {}
    if "EchoTime" in one:
        out["EchoTime"] = ms_seconds(one["EchoTime"])  # ms -> s, as dcm2niix
        if "EchoNumbers" in one:
            out["EchoNumber"] = int(one["EchoNumbers"])
    return out


def _stem(path: str) -> str:
    lower = path.lower()
    for ext in (".nii.gz", ".nii"):
        if lower.endswith(ext):
            return path[: -len(ext)]
    return path


def write_sidecars(vol: Any, path: str) -> list[str]:
    """Write the sidecar files of :func:`sidecar_files` (each atomically); returns their paths."""
    files = sidecar_files(vol, path)
    for where, text in files.items():
        _atomic_write(where, text)
    return list(files)


def sidecar_files(vol: Any, path: str) -> dict[str, str]:
    """The text of ``<stem>.json`` (DICOM-derived volumes), ``.bval``/``.bvec`` (diffusion series)
    and BIDS ``_aslcontext.tsv`` (Philips ASL series: label or control, volume by volume), by
    absolute path, in the order they are written; nothing is written here.

    The b-vectors are in this volume's voxel axes (FSL convention, see
    :mod:`lazyvol.dicom.diffusion`); a volume cut along its 4th axis has the table of the volumes
    it holds, in its order (``lazyvol._per_volume``); one whose table has another length than
    its 4th axis gets no ``.bval``/``.bvec``, and a warning.
    """
    meta = vol.meta
    if meta.get("format") != "DICOM":
        return {}
    stem = _stem(os.path.abspath(os.fspath(path)))
    written: dict[str, str] = {}
    doc = sidecar(meta, vol.affine, tuple(vol.shape))
    written[stem + ".json"] = json.dumps(doc, indent="\t") + "\n"
    context = _asl_context(meta, vol.shape[3] if vol.ndim > 3 else 1)
    if context:
        written[_asl_context_path(stem)] = "volume_type\n" + "".join(f"{c}\n" for c in context)
    if meta.get("diffusion"):
        nt = vol.shape[3] if vol.ndim > 3 else 1
        diff = meta["diffusion"]
        bvals, grads = diff.get("bvals", []), diff.get("gradients_lps", [])
        if not len(bvals) == len(grads) == nt:
            _warn_user(
                f"{path}: the diffusion table (meta['diffusion']) has {len(bvals)} b-values and "
                f"{len(grads)} directions but the volume has {nt} along its 4th axis, so which "
                "volume each is, is not known; .bval/.bvec not written",
            )
            return written
        written[stem + ".bval"], written[stem + ".bvec"] = fsl_bvals_bvecs(diff, vol.affine)
    return written


def _asl_context(meta: dict[str, Any], nt: int) -> list[str] | None:
    """The label/control kind of each volume of a Philips ASL series (``meta["axis4_values"]
    ["ASLContext"]``, cut with the volume), None when not known for every volume."""
    values = meta.get("axis4_values")
    context = values.get("ASLContext") if isinstance(values, dict) else None
    if (
        isinstance(context, list)
        and len(context) == nt
        and all(isinstance(c, str) for c in context)
    ):
        return context
    return None


def _asl_context_path(stem: str) -> str:
    """BIDS ``<name>_aslcontext.tsv`` beside ``<name>_asl.nii``; ``<stem>_aslcontext.tsv`` else."""
    return (stem[:-4] if stem.endswith("_asl") else stem) + "_aslcontext.tsv"


def _atomic_write(path: str, text: str) -> None:
    atomic_write_bytes(path, text)


def sidecar_paths(meta: dict[str, Any], dest: str, *, every: bool = False) -> list[str]:
    """The sidecar files written with NIfTI ``dest`` for a volume with ``meta`` (none unless DICOM).

    ``every``: every sidecar :func:`write_sidecars` writes with ``dest`` for some volume: the
    files that describe whatever image has that name. ``<name>_aslcontext.tsv`` is among them
    only when it is this name's own: ``dest`` is ``<name>_asl.nii[.gz]`` (BIDS), or the volume
    (``meta``) has an ASL context, so writes it there; else it is ``<name>_asl``'s.
    """
    stem = _stem(dest)
    asl = _has_asl_context(meta)
    if every:
        out = [stem + ".json", stem + ".bval", stem + ".bvec"]
        return [*out, _asl_context_path(stem)] if asl or stem.endswith("_asl") else out
    if meta.get("format") != "DICOM":
        return []
    out = [stem + ".json"]
    if meta.get("diffusion"):
        out += [stem + ".bval", stem + ".bvec"]
    if asl:
        out.append(_asl_context_path(stem))
    return out


def set_images(dest: str) -> list[str]:
    """The NIfTI images whose sidecars are all ``dest``'s: ``<name>.nii`` and ``<name>.nii.gz``
    (``dest`` one of them)."""
    stem = _stem(dest)
    return [stem + ".nii", stem + ".nii.gz"]


def asl_partner(dest: str) -> tuple[str, list[str]]:
    """The ``_aslcontext.tsv`` of NIfTI ``dest``'s set and the other images whose sets hold it
    too: ``<name>_asl.nii[.gz]`` for ``<name>.nii``, ``<name>.nii[.gz]`` for ``<name>_asl.nii``
    (an ASL volume written under either name writes ``<name>_aslcontext.tsv``)."""
    stem = _stem(dest)
    other = stem[:-4] if stem.endswith("_asl") else stem + "_asl"
    return _asl_context_path(stem), set_images(other + ".nii")


def recover_sets(dest: str, where: str) -> None:
    """Finish what killed writers of the set of NIfTI ``dest`` (and ``where``, the file a link
    names) left (:func:`lazyvol._fileset.recover_set`): of its image or of the other images
    sharing its sidecars (``.nii`` / ``.nii.gz``; the ``_aslcontext.tsv`` of ``<name>`` and
    ``<name>_asl``)."""
    sets = (dest, where)
    sidecars = [p for n in sets for p in any_sidecar_paths(n)]
    shared = dict(asl_partner(n) for n in sets)
    ours = [i for n in sets for i in set_images(n)]
    listed: dict[str, list[str]] = {}
    for context, partners in shared.items():
        # (a killed writer of the partner image set its old image aside with the shared labels:
        # recovered first as a whole, else this write, not seeing that image, takes the labels
        # for its own set and replaces or removes them)
        if image_left(partners, listed):
            recover_set(partners[0], any_sidecar_paths(partners[0]), partners, {context: ours})
            listed = {}  # (the folder changed)
    recover_set(where, sidecars, ours, shared, listed)


def any_sidecar_paths(dest: str) -> list[str]:
    """Every file :func:`write_sidecars` may write with NIfTI ``dest``, for any volume (an
    ``_aslcontext.tsv`` that may be ``<name>_asl``'s too)."""
    stem = _stem(dest)
    return [stem + ".json", stem + ".bval", stem + ".bvec", _asl_context_path(stem)]


def sharing_images(
    meta: dict[str, Any], dest: str, listed: dict[str, list[str]] | None = None
) -> list[str]:
    """The other NIfTI images whose sidecars have the names of ``dest``'s (``every``, see
    :func:`sidecar_paths`): ``<name>.nii`` beside ``<name>.nii.gz`` and the reverse, and
    ``<name>_asl.nii[.gz]`` when ``<name>``'s set has ``<name>_aslcontext.tsv``; for
    ``<name>_asl.nii[.gz]`` not written yet, ``<name>.nii[.gz]`` when ``<name>_aslcontext.tsv``
    is there (an ASL volume written as ``<name>.nii`` wrote it, ``<name>_asl`` not existing
    then); each with its suffix in any case too (``<name>.NII.GZ``, ``<name>_asl.Nii``), as
    found in the folder.
    ``listed``: the folders' names already listed (folder: names), filled as they are listed, so
    one write lists a folder once."""
    stem = _stem(dest)
    ext = dest[len(stem) :]
    other = stem + (ext[:-3] if ext.lower().endswith(".gz") else ext + ".gz")
    out = [other]
    if not stem.endswith("_asl") and _asl_context_path(stem) in sidecar_paths(
        meta, dest, every=True
    ):
        out += [stem + "_asl.nii", stem + "_asl.nii.gz"]
    elif (
        stem.endswith("_asl")
        and os.path.lexists(_asl_context_path(stem))
        and not os.path.lexists(dest)
    ):
        out += [stem[:-4] + ".nii", stem[:-4] + ".nii.gz"]
    return [*out, *_spelled_otherwise([dest, *out], {} if listed is None else listed)]


def check_shared(meta: dict[str, Any], dest: str, where: str) -> tuple[list[str], list[str]]:
    """Refuse another image whose sidecars have the names of NIfTI ``dest``'s (and, ``where``
    being the file a link ``dest`` names, of that file's) when a write of a volume with ``meta``
    would replace, remove or write one of them (:func:`sharing_images`: ``.nii`` beside
    ``.nii.gz``). Run before the write and again under the folders' lock before publishing, as
    another writer may publish such an image meanwhile. Returns every sidecar name of the set
    (:func:`sidecar_paths` ``every``) and those present.

    Raises
    ------
    WriteError
        Such an image exists, or a folder has a sidecar's name.
    """
    stems = [dest] if where == dest else [dest, where]  # (a link: the set of the file it names too)
    names = list(dict.fromkeys(p for n in stems for p in sidecar_paths(meta, n, every=True)))
    listed: dict[str, list[str]] = {}  # (each folder listed once)
    names += [
        p
        for n in stems
        if _asl_context_path(_stem(n)) not in names and (p := own_context(n, listed))
    ]
    taken = [p for p in names if os.path.lexists(p)]
    if folder := next((p for p in taken if os.path.isdir(p) and not os.path.islink(p)), None):
        raise WriteError(  # (it would be moved aside, then deleted as a leftover)
            f"{folder}: is a folder, where a sidecar of {dest} goes; move or rename it, or pass "
            "sidecars=False (nothing written)"
        )
    if not taken and not sidecar_paths(meta, dest):  # (the write changes none of them)
        return names, taken
    for name in stems:
        found = sharing_images(meta, name, listed)
        if others := [p for p in found if _another_image(p, dest, where)]:
            shared = ", ".join(os.path.basename(p) for p in sidecar_paths(meta, name, every=True))
            raise WriteError(
                f"{others[0]}: another image has the sidecar names of {name} ({shared}), which "
                "this write would replace, remove or write; remove it, choose another name, or "
                "pass sidecars=False (nothing written)"
            )
    return names, taken


def own_context(dest: str, listed: dict[str, list[str]] | None = None) -> str | None:
    """``<name>_aslcontext.tsv`` when it is in the set of NIfTI ``dest`` (``<name>.nii[.gz]``)
    whatever volume is written: present, and no ``<name>_asl`` image (the suffix in any case)
    whose it would be, nor one a killed writer set aside, so an ASL volume written as
    ``<name>.nii`` wrote it (:func:`sharing_images` takes it so too). An overwrite by a volume
    without ASL context removes it, as a DWI's ``.bval``: it was left describing the old image's
    volumes beside the new one. ``listed`` as for :func:`sharing_images`."""
    if _stem(dest).endswith("_asl"):
        return None
    context, partners = asl_partner(dest)  # (<name>_asl.nii[.gz])
    if not os.path.lexists(context):
        return None
    if any(os.path.lexists(p) for p in partners):
        return None
    listed = {} if listed is None else listed
    if image_left(partners, listed):  # (a killed writer's: set aside with its image, 8d446f0)
        return None
    return None if _spelled_otherwise(partners, listed) else context


def _another_image(path: str, dest: str, where: str) -> bool:
    """``path`` exists and is neither the name written nor the file written through it."""
    if not os.path.lexists(path) or os.path.abspath(path) in (dest, where):
        return False
    return os.path.realpath(path) != where


def _spelled_otherwise(paths: list[str], listed: dict[str, list[str]]) -> list[str]:
    """The files beside each of ``paths`` whose names differ from its name only in the suffix'
    case (``x.NII.GZ`` for ``x.nii.gz``): another image with the same sidecar names (``_stem``
    ignores the suffix' case), on a file system that tells the names apart. ``listed``: the
    folders listed so far (folder: names), each listed once."""
    out: list[str] = []
    for path in paths:
        folder, name = os.path.split(path)
        stem = _stem(name)
        found = [
            os.path.join(folder, n)
            for n in listed_names(folder, listed)
            if n != name and n.lower() == name.lower() and _stem(n) == stem
        ]
        out += [p for p in found if not _same_file(p, path)]  # (a file system ignoring case)
    return list(dict.fromkeys(out))


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _has_asl_context(meta: dict[str, Any]) -> bool:
    values = meta.get("axis4_values")
    return isinstance(values, dict) and bool(values.get("ASLContext"))
