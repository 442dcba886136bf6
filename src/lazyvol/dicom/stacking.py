"""One stackable group of frame records -> one volume: pure steps, each with its own failure.

:func:`build_volume` runs them in order: a new :class:`SeriesInfo` with the series' metadata;
duplicates and readability (:mod:`.support`, :mod:`.checks`); slice order and geometry -- by
position (:func:`_order_by_position`, 4th-axis rules in :mod:`.ordering`, spacing and gaps in
:func:`_slice_step`) or, as an opt-in fallback, by InstanceNumber (:func:`_order_by_instance`);
then the frame table, rescale and output dtype (:mod:`.frame_table`) and metadata
(:func:`_finish`). A step that cannot go on returns a :class:`Problem`, recorded on the volume
(``info.error``) and raised when it is opened.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import geometry as geo
from .. import slice_grid
from .checks import check_records, declared_spacing, missing_uid_notes, moved_volume
from .diffusion import diffusion_meta, flag_derived
from .duplicates import drop_duplicates
from .echo_split import echo_time_note
from .frame_table import (
    frame_table,
    output_dtype,
    philips_scaling,
    rescale_pair,
    stored_dtypes_warning,
)
from .grouping import image_component, usual_orientation
from .gz_copies import split_copies
from .image_notes import component_conflicts, mixed_descriptions, mixed_photometric
from .label_positions import moved_labels
from .model import GroupOptions, SeriesInfo, stored_dtype
from .mosaic import annotate_volume
from .mosaic_positions import moved_mosaics
from .ordering import RANK_INSTANCE, Axis4Order, order_volumes
from .records import FrameRecord, echo_number_of
from .repeat_notes import repeats_note, runs_note, uneven_repeats_cause
from .shear import shear_notes
from .sidecar_derived import annotate_sidecar
from .source import Fetch, RemoteFetch, read_local
from .stack_notes import (
    atol_too_large,
    copies_note,
    incomplete_note,
    instance_gaps,
    instance_hint,
    instance_order_blocker,
    malformed_hint,
    off_numbered_stack,
    rounding_doubt,
    spacing_missing,
    stack_remedy,
    thickness_note,
    top_level_notes,
)
from .step_notes import far_slices, irregular_spacing
from .support import geometry_missing, support_error

__all__ = ["Problem", "build_volume"]


#: Remote objects whose readability is checked at once.
REMOTE_CHECKS = 16


@dataclass(frozen=True)
class Problem:
    """Why a group cannot be one volume: ``kind`` ("series", "format", "unsupported", "option":
    an option's value does not suit it) and message."""

    kind: str
    message: str


@dataclass
class _Stack:
    """What the steps share: the volume being built and the notes they add to it."""

    info: SeriesInfo
    first: FrameRecord
    opts: GroupOptions
    warnings: list[str]
    relaxations: dict[str, Any] = field(default_factory=dict)
    fetch: Fetch = read_local
    #: The InstanceNumbers of every image of the series (None: those of the volume's own images).
    held: frozenset[int | None] | None = None

    @property
    def meta(self) -> dict[str, Any]:
        return self.info.meta


_DEFAULTS = GroupOptions()

#: Slices in volume order: ``volumes[t][k]`` (None: a slice filled in with allow_gaps=True).
Volumes = list[list[FrameRecord]] | list[list[FrameRecord | None]]


def _new_info(
    uid_records: list[FrameRecord],
    key: str,
    reasons: list[str],
    incomplete: list[tuple[str, str]],
) -> SeriesInfo:
    """The volume's :class:`SeriesInfo` before stacking: ids, series metadata, warnings."""
    first = uid_records[0]
    incomplete, copies = split_copies(incomplete, uid_records)
    warnings = [incomplete_note(incomplete), *copies] if incomplete else copies
    uid = first.series_uid
    sid = hashlib.sha1(f"{uid}\0{key}".encode()).hexdigest()[:8]
    meta: dict[str, Any] = {
        "format": "DICOM",
        "modality": first.modality,
        "series_uid": uid,
        "series_number": first.series_number,
        "series_description": first.series_description,
        "study_uid": first.study_uid,
        "sop_class_uid": first.sop_class_uid,
        "transfer_syntax": first.transfer_syntax,
        "photometric": first.photometric,
        "stored_dtype": stored_dtype(first),
        "bits_stored": first.bits_stored,
    }
    if first.photometric == "MONOCHROME1":
        meta["monochrome1"] = (
            "values are as stored: MONOCHROME1 means high values display dark; invert for display "
            "(lazyvol does not)"
        )
    if not uid:
        warnings += missing_uid_notes(uid_records)
    return SeriesInfo(
        id=sid,
        uid=uid,
        number=first.series_number,
        description=first.series_description,
        modality=first.modality,
        shape=(first.columns, first.rows, len(uid_records)),
        affine=np.eye(4),
        files=sorted(r.path for r in uid_records),
        reasons=list(reasons),
        warnings=warnings,
        meta=meta,
    )


def build_volume(
    uid_records: list[FrameRecord],
    key: str,
    reasons: list[str],
    opts: GroupOptions,
    incomplete: list[tuple[str, str]],
    fetch: Fetch = read_local,
    held: frozenset[int | None] | None = None,
) -> SeriesInfo:
    """One stackable group (see :func:`lazyvol.dicom.grouping.split_series`) as one volume.

    ``incomplete``: the files of its series the scan skipped, ``(path, reason)``. ``held``: the
    InstanceNumbers of every image of its SeriesInstanceUID, the other volumes split from it
    included (an InstanceNumber gap is a number none holds); None: its own images'.

    Never raises for bad data: a group that cannot be a volume has ``info.error`` set.
    """
    info = _new_info(uid_records, key, reasons, incomplete)
    st = _Stack(info, uid_records[0], opts, info.warnings, fetch=fetch, held=held)
    records, dup_error = drop_duplicates(
        uid_records, st.warnings, fetch, philips_fp=opts.philips_scaling == "fp"
    )
    problem: Problem | None = Problem(*dup_error) if dup_error else None
    if problem is None:
        info.files = sorted({r.path for r in records})
        found = check_records(records, st.meta, st.warnings)  # values (dicom/checks.py)
        problem = Problem(*found) if found else None
    if problem is None:
        found = _first_support_error(records, fetch)
        problem = Problem(*found) if found else None
    if problem is None:
        stacked = _geometry(st, records)
        if isinstance(stacked, Problem):
            problem = stacked
        else:
            _finish(st, *stacked)
            return info
    info.error, info.error_kind = problem.message, problem.kind
    info.dtype = stored_dtype(st.first)
    return info


def _first_support_error(records: list[FrameRecord], fetch: Fetch) -> tuple[str, str] | None:
    """The first record's (in order) reason its pixels cannot be read, or None.

    Objects of a bucket are checked many at once (a check may wait on ranged reads of the item
    headers of encapsulated Pixel Data); local files one after the other.
    """
    if not isinstance(fetch, RemoteFetch) or len(records) < 2:
        for rec in records:
            found = support_error(rec, fetch)
            if found:
                return found
        return None
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(REMOTE_CHECKS) as pool:
        for found in pool.map(lambda rec: support_error(rec, fetch), records):
            if found:
                return found
    return None


def _geometry(st: _Stack, records: list[FrameRecord]) -> tuple[Volumes, str | None] | Problem:
    """Slice order, 4th axis and affine (set on ``st.info``): by position, or by InstanceNumber
    when positions are missing; ``instance_order=True`` lets either (or no PixelSpacing) through."""
    missing = [r for r in records if r.iop is None or r.ipp is None]
    no_spacing = [r for r in records if r.pixel_spacing is None]
    if missing and not st.opts.instance_order:
        return Problem("series", geometry_missing(missing, records))
    if no_spacing and not st.opts.instance_order:
        return Problem("series", spacing_missing(no_spacing))
    if missing:
        stacked, what = _order_by_instance(st, records), "ordered by InstanceNumber"
    else:  # (InstanceNumber order mirrored slices numbered against their stated positions)
        stacked, what = _order_by_position(st, records), "at their stated positions"
    if (missing or no_spacing) and not isinstance(stacked, Problem):
        st.relaxations["instance_order"] = True
        what += "; orientation/position missing" if missing else ""
        what += "; pixel spacing missing (1 mm assumed)" if no_spacing else ""
        st.meta["geometry_approximate"] = "slices " + what
        st.warnings.append("geometry approximate: " + st.meta["geometry_approximate"])
    return stacked


def _order_by_instance(
    st: _Stack, records: list[FrameRecord]
) -> tuple[Volumes, str | None] | Problem:
    """Opt-in fallback without positions: InstanceNumber order (flagged by :func:`_geometry`)."""
    blocker = instance_order_blocker(records)  # (one image needs no order)
    if blocker:
        return Problem("series", f"instance_order=True was passed, but {blocker}")
    ordered = sorted(records, key=lambda r: (r.instance_number or 0, r.path))
    iop = usual_orientation(records) or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ps = st.first.pixel_spacing or [1.0, 1.0]
    _, _, normal = geo.dicom_cosines(iop)
    dk = declared_spacing(st.first)[0] or 1.0
    origin, step = slice_grid.numbered_stack([r.ipp for r in ordered], normal, dk)
    if off := off_numbered_stack(ordered, origin, step):
        return Problem("series", f"instance_order=True was passed, but {off}")
    st.info.affine = geo.dicom_affine(iop, ps, origin, step)
    return [ordered], None


def _order_by_position(
    st: _Stack, records: list[FrameRecord]
) -> tuple[Volumes, str | None] | Problem:
    """Slices sorted along the normal; repeated positions ordered into a 4th axis; affine."""
    first = st.first
    iop = usual_orientation(records)  # (never the first file's: names must not choose it)
    assert iop is not None
    try:
        _, _, normal = geo.dicom_cosines(iop)
    except ValueError as exc:
        return Problem("format", f"{first.path}: {exc}")
    pos = np.array([r.ipp for r in records], dtype=np.float64)
    proj = slice_grid.slice_projections(pos, normal)
    order = np.lexsort((np.arange(len(records)), proj))
    proj_sorted = proj[order]
    recs_sorted = [records[i] for i in order]
    mixed = _mixed_rounding([recs_sorted])  # (once: every comparison allows for it)
    stacked = _fourth_axis(st, proj_sorted, recs_sorted, mixed * float(np.abs(normal).sum()) / 2)
    if isinstance(stacked, Problem):
        return stacked
    volumes, axis4 = stacked
    base = volumes[0]
    stepped = _slice_step(st, volumes, axis4, normal, mixed)
    if isinstance(stepped, Problem):
        return stepped
    stacked_volumes, slice_step = stepped
    q = st.meta.get("position_precision_mm")
    if q and len(base) > 1:
        # Positions written coarsely: a slant of the stack within their rounding is no gantry
        # tilt (a 40-slice oblique stack written with two decimals slanted by ~0.03 degrees).
        extent = np.subtract(base[-1].ipp or [0, 0, 0], base[0].ipp or [0, 0, 0])
        if slice_grid.along_within_rounding(extent, normal, float(q)):
            slice_step = normal * float(np.dot(slice_step, normal))
    shear, note = shear_notes(slice_step, iop, st.meta.get("orientation_precision_deg", 0.0))
    st.meta.update(shear)
    if note:
        st.warnings.append(note)
    st.info.affine = geo.dicom_affine(
        iop, first.pixel_spacing or [1.0, 1.0], base[0].ipp or [0, 0, 0], slice_step
    )
    st.warnings.extend(instance_gaps(base, records, st.held, st.meta.get("filled_slices", ())))
    return stacked_volumes, axis4


def _fourth_axis(
    st: _Stack, proj_sorted: np.ndarray, recs_sorted: list[FrameRecord], mixed: float
) -> tuple[list[list[FrameRecord]], str | None] | Problem:
    """Distinct positions (within tolerance); when they repeat, the volumes of the 4th axis.
    ``mixed``: how far along the normal :func:`_mixed_rounding` moves a position (each
    coordinate by up to half of it: not sqrt(3) times it, which merged slices 1.5 mm apart)."""
    extent = float(proj_sorted[-1] - proj_sorted[0]) if len(proj_sorted) > 1 else 0.0
    same_tol = slice_grid.same_position_tolerance(extent)
    # (a series partly rewritten coarsely: repeats of one position differ by that rounding)
    same_tol = max(same_tol, mixed * (1.0 + 1e-6))
    bins: list[list[int]] = [[0]]
    for n in range(1, len(proj_sorted)):
        if proj_sorted[n] - proj_sorted[bins[-1][0]] <= same_tol:
            bins[-1].append(n)
        else:
            bins.append([n])
    groups = [[recs_sorted[i] for i in b] for b in bins]
    places = [float(proj_sorted[b[0]]) for b in bins]
    if moved := moved_mosaics(groups, places) or moved_labels(groups, places):
        return Problem("series", moved)  # (a mosaic file, a labelled volume: a volume of its own)
    if len(bins) == len(recs_sorted):  # (no position repeats)
        return [recs_sorted], None
    one_size = len({len(b) for b in bins}) == 1
    found = order_volumes(groups, instance_order=st.opts.instance_order) if one_size else None
    if not isinstance(found, Axis4Order):
        head = repeats_note(places, groups)
        copies = copies_note(groups, st.fetch, st.opts.philips_scaling == "fp")
        if found is None:
            return Problem(
                "series",
                head + ": positions repeat a different number of times, so the images "
                "cannot form volumes of equal size ("
                + (copies or uneven_repeats_cause(groups, st.held or ()))
                + ")",
            )
        order_hint = instance_hint(recs_sorted, groups, st.opts.instance_order)
        runs = runs_note(groups)
        hint = malformed_hint(
            recs_sorted, copies or (f"{runs}. {order_hint}" if runs else order_hint)
        )
        return Problem(
            "series",
            head
            + f". No rule gives a consistent volume order (tried: {found})."
            + (f" {hint}" if hint else ""),
        )
    st.meta["axis4_values"] = found.values
    st.meta["axis4_rule"] = found.rule
    if found.note:
        st.warnings.append(found.note)
    if found.rule == RANK_INSTANCE and st.opts.instance_order:
        st.relaxations["instance_order"] = True
    return found.volumes, found.keyword


def _slice_step(
    st: _Stack,
    volumes: list[list[FrameRecord]],
    axis4: str | None,
    normal: np.ndarray,
    mixed: float,
) -> tuple[Volumes, np.ndarray] | Problem:
    """The step between slices (from the positions; regular, or with gaps filled on request);
    ``mixed``: :func:`_mixed_rounding` of the series' records, which every comparison allows for."""
    opts, first = st.opts, st.first
    base = volumes[0]
    p_first = np.array([r.ipp for r in base], dtype=np.float64)
    proj_base = slice_grid.slice_projections(p_first, normal)
    if len(base) <= 1:
        declared, source = declared_spacing(first)
        dk = 1.0 if declared is None else declared
        st.meta["slice_spacing_source"] = source or "none (single slice; 1 mm assumed)"
        tol = max(opts.spacing_atol, math.sqrt(3.0) * slice_grid.position_quantum(p_first))
        moved = moved_volume(volumes, p_first, max(tol, mixed), axis4)
        return Problem("series", moved) if moved else (volumes, normal * dk)
    if (opts.spacing_rtol, opts.spacing_atol) != (_DEFAULTS.spacing_rtol, _DEFAULTS.spacing_atol):
        st.relaxations["spacing_tolerance"] = {
            "spacing_rtol": opts.spacing_rtol,
            "spacing_atol": opts.spacing_atol,
        }
    kept = (len(st.warnings), dict(st.meta), dict(st.relaxations))
    # (a 4D series partly rewritten: the coarse files may lie in any volume, the first one too)
    q = max(slice_grid.volumes_quantum([[r.ipp for r in v] for v in volumes]), mixed)
    changing = np.abs(np.asarray(normal, float))[np.ptp(p_first, axis=0) > 0]
    floor = q * float(changing.sum()) * (1.0 + 1e-6)
    # (a tolerance up to the positions' rounding is theirs; under 2 um: repeated positions, later)
    wide = slice_grid.coarser_than_half_step(proj_base, opts.spacing_rtol, opts.spacing_atol)
    taken = max(floor, q * (1.0 + 1e-6))  # (q: the rounding rounding_doubt advises as spacing_atol)
    if wide is not None and opts.spacing_atol > max(taken, _DEFAULTS.spacing_atol):
        return Problem("option", atol_too_large(opts.spacing_atol, wide, taken, base))
    step = float(np.sort(np.diff(np.sort(proj_base)))[(len(proj_base) - 1) // 2])  # (median)
    # (rounding as coarse as half the spacing: a missing slice moves a step by a whole one, so
    # steps across a "gap" may be the rounding alone)
    doubt = (
        rounding_doubt(q, floor, proj_base.tolist())
        if opts.spacing_atol < 2.0 * floor >= step
        else ""
    )
    strict = _regular_step(
        st, volumes, axis4, p_first, proj_base, opts.spacing_atol, doubt=doubt, mixed=mixed
    )
    if not isinstance(strict, Problem):
        return strict
    # Positions written coarsely (Philips, anonymisers: two decimals; GE: six digits) break a
    # 1e-3 mm comparison by their rounding alone (dcm2niix reads such series): compared again
    # within it -- each coordinate off by up to q / 2, a step by up to q times the normal's
    # components along the coordinates that change -- and said so; a stack failing both is
    # refused with the coarse comparison's reason (the strict one may name only rounding).
    # A step read from rounded positions is off the true one by up to the rounding, and the
    # median step (the strict comparison's) as much again: then compared within the rounding,
    # each slice with the grid through the first and last (float noise allowed for: 2.03 - 2.02
    # is 0.0100000000000002).
    _restore(st, kept)  # a failed attempt leaves nothing behind
    if 2.0 * floor <= opts.spacing_atol or (doubt and doubt in strict.message):
        return strict
    if floor >= step / 2:
        # (no rounding as coarse as half the spacing: a missing slice moves a step by a whole
        # one; a fine grid written exactly, 0.1 mm apart, shows one decimal as a rounding would)
        return Problem(
            strict.kind,
            f"{strict.message} (the positions show a {q:g} mm rounding: too coarse to tell a "
            f"{step:.3g} mm step's rounding from a missing slice, so not allowed for)",
        )
    floor = max(floor, opts.spacing_atol)
    coarse = _regular_step(st, volumes, axis4, p_first, proj_base, floor, q, mixed=mixed)
    if isinstance(coarse, Problem):  # (past the rounding too: its reason is the real one)
        _restore(st, kept)
        return coarse
    st.meta["position_precision_mm"] = q
    st.warnings.append(
        f"ImagePositionPatient (0020,0032) is written to {q:g} mm: the slices are compared with "
        f"a regular grid within {floor:.3g} mm (their rounding), not their steps within "
        f"spacing_atol={opts.spacing_atol:g} mm"
    )
    return coarse


def _restore(st: _Stack, kept: tuple[int, dict[str, Any], dict[str, Any]]) -> None:
    """Undo what a failed stacking attempt added to ``st`` (warnings, meta, relaxations)."""
    del st.warnings[kept[0] :]
    st.meta.clear()
    st.meta.update(kept[1])
    st.relaxations.clear()
    st.relaxations.update(kept[2])


def _regular_step(
    st: _Stack,
    volumes: list[list[FrameRecord]],
    axis4: str | None,
    p_first: np.ndarray,
    proj_base: np.ndarray,
    floor: float,
    quantum: float = 0.0,
    doubt: str = "",
    *,
    mixed: float,
) -> tuple[Volumes, np.ndarray] | Problem:
    """:func:`_slice_step` of a stack of several slices, positions compared within ``floor`` mm
    (at least); ``quantum``: the step of the positions' last written digit when ``floor`` is
    their rounding (0: compared strictly); ``doubt``: the advice on slices missing when their
    steps may be that rounding alone (:func:`~.stack_notes.rounding_doubt`); ``mixed``: the
    :func:`_mixed_rounding` of ``volumes``."""
    opts, first, base = st.opts, st.first, volumes[0]
    spacing, bad = slice_grid.regular_grid_errors(
        proj_base, rel=opts.spacing_rtol, floor=floor, rounded=quantum > 0
    )
    tol = slice_grid.spacing_tolerance(spacing, opts.spacing_rtol, floor)
    out: Volumes = volumes
    if bad:
        msg = irregular_spacing(base, spacing, bad, tol, opts)
        slots = slice_grid.grid_slots(proj_base, spacing, tol)
        if slots is None or len(volumes) > 1 or int(slots[-1]) + 1 == len(base):
            return Problem(
                "series", msg + ". lazyvol never averages spacing; " + stack_remedy(base)
            )
        if far := far_slices(base, slots, opts.allow_gaps):  # (a damaged position: no gap)
            return Problem("series", msg + far)
        if not opts.allow_gaps:
            missing_n = int(slots[-1]) + 1 - len(base)
            if doubt:
                return Problem("series", f"{msg}; {missing_n} slice(s) missing, or none: {doubt}")
            return Problem(
                "series",
                msg + f"; {missing_n} slice(s) missing. Pass allow_gaps=True to fill them "
                "lazily (with fill=, default 0, NaN for float output) on a regular grid",
            )
        grid: list[FrameRecord | None] = [None] * (int(slots[-1]) + 1)
        for rec, slot in zip(base, slots):
            grid[int(slot)] = rec
        filled = [n for n, rec in enumerate(grid) if rec is None]
        slice_step = (p_first[-1] - p_first[0]) / float(slots[-1])
        st.relaxations["allow_gaps"] = True
        st.meta["filled_slices"] = filled
        st.warnings.append(f"{len(filled)} missing slice(s) filled at k = {filled}")
        out = [grid]
    else:
        slots = np.arange(len(base), dtype=np.float64)
        slice_step = (p_first[-1] - p_first[0]) / (len(base) - 1)
    # Every slice on the line through the first and last (a gantry tilt is such a line too): the
    # projections checked above say nothing about a slice moved within its own plane.
    dev = p_first - (p_first[0] + np.outer(slots, slice_step))
    off = np.linalg.norm(dev, axis=1)
    # (rounded, each coordinate that changes is off the line by up to a quantum: half at the
    # slice, half at the first and last; float noise allowed for. Per coordinate, not as a
    # distance: integral x of 0 and 3 show a 1 mm rounding, which moves no slice 1.2 mm in x)
    changes = np.ptp(p_first, axis=0) > 0
    rounded = np.all(np.abs(dev) <= np.where(changes, quantum, 0.0) * (1.0 + 1e-6) + 1e-9, axis=1)
    line_tol = max(tol, 0.01 * min(first.pixel_spacing or [1.0, 1.0]))
    off = np.where(rounded, 0.0, off)
    worst = int(np.argmax(off))
    if off[worst] > line_tol:
        return Problem(
            "series",
            f"{base[worst].where} (ImagePositionPatient {list(base[worst].ipp or [])}) is "
            f"{off[worst]:.4g} mm off the line through the first and last slices' positions: the "
            f"slices are not one stack; {stack_remedy(base)}",
        )
    moved = moved_volume(volumes, p_first, max(tol, mixed), axis4)
    return Problem("series", moved) if moved else (out, slice_step)


def _mixed_rounding(volumes: Sequence[Sequence[FrameRecord | None]]) -> float:
    """How far (mm, per coordinate) repeats of one position may differ when some volumes'
    positions were rewritten coarsely (:func:`lazyvol.slice_grid.mixed_writer_quantum`)."""
    ipps = [r.ipp for vol in volumes for r in vol if r is not None and r.ipp is not None]
    return slice_grid.mixed_writer_quantum(ipps) * (1.0 + 1e-6)


def _finish(st: _Stack, volumes: Volumes, axis4: str | None) -> None:
    """Shape, frame table, rescale and output dtype, and the volume's metadata."""
    info, meta, first, opts = st.info, st.meta, st.first, st.opts
    slots_all: list[FrameRecord | None] = [r for vol in volumes for r in vol]
    ordered_frames = [r for r in slots_all if r is not None]
    nk = len(volumes[0])
    shape: tuple[int, ...] = (first.columns, first.rows, nk)
    if len(volumes) > 1:
        shape = (*shape, len(volumes))
    info.shape = shape
    info.axis4 = axis4
    info.files = list(dict.fromkeys(r.path for r in ordered_frames))  # a file once, not per frame
    use_fp = opts.philips_scaling == "fp"
    scale_of = {id(r): rescale_pair(r, use_fp) for r in ordered_frames}
    pairs = [scale_of[id(r)] for r in ordered_frames]
    note, warn = philips_scaling(ordered_frames, use_fp)
    if note is not None:
        meta["philips_scaling"] = note
    if warn:
        st.warnings.append(str(note))
    uniq = sorted(set(pairs))
    if len(uniq) == 1:
        meta["rescale"] = {"slope": uniq[0][0], "intercept": uniq[0][1]}
    else:
        meta["rescale"] = "per slice"
    if st.relaxations:
        meta["relaxations"] = st.relaxations
    meta["spacing"] = [float(x) for x in geo.voxel_sizes(info.affine)]
    echoes = sorted({n for r in ordered_frames if (n := echo_number_of(r)) is not None})
    if echoes:
        meta["echo_numbers"] = echoes
    echo_times = sorted({r.echo_time for r in ordered_frames if r.echo_time is not None})
    if echo_times:
        meta["echo_times"] = echo_times
    st.warnings.extend(n for n in [echo_time_note(volumes)] if n)
    for meta_key, note in top_level_notes(ordered_frames).items():
        meta[meta_key] = note
        st.warnings.append(note)
    mixed_photometric(ordered_frames, st.meta, st.warnings)
    component_conflicts(ordered_frames, st.warnings)
    mixed_descriptions(ordered_frames, st.warnings)
    st.warnings.extend(n for n in [thickness_note(ordered_frames)] if n)
    component = image_component(first)
    if component:
        meta["image_component"] = component
    # each volume's diffusion values from an image that states them (the others agree, or lack
    # them: ordering._inconsistent); its first image when none does
    firsts = [
        next((r for r in vol if r is not None and r.b_value is not None), None)
        or next(r for r in vol if r is not None)
        for vol in volumes
    ]
    diffusion = diffusion_meta(firsts, st.warnings, nk)
    if diffusion:
        meta["diffusion"] = diffusion
    info.frames = frame_table(first, slots_all, scale_of)
    info.dtype = output_dtype(info.frames).str.lstrip("<>=|")
    if info.frames.encodings:  # files encoded differently: each frame is read its own way
        meta["transfer_syntaxes"] = sorted({r.transfer_syntax for r in slots_all if r})
    if info.frames.stored_bits or info.frames.stored_types:
        # BitsStored, BitsAllocated or PixelRepresentation differs: each frame read its own way
        meta.update(info.frames.bits_meta())
    if "stored_dtype_counts" in meta:
        st.warnings.append(stored_dtypes_warning(meta["stored_dtype_counts"], info.dtype))
    annotate_volume(info, slots_all)
    if info.error is None:
        annotate_sidecar(info, slots_all, nk, (first, use_fp), st.fetch)
    flag_derived(meta, volumes, st.warnings)
