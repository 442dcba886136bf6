"""``lazyvol.scan``: the DICOM volumes of a file, a folder or a bucket prefix, from headers only."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._io import Location, names_content
from ..errors import OptionError, SourceNotFoundError, UnknownOptionError
from ..sources import SourceStamp
from .beside import with_beside_notes
from .listing import Listed, list_source
from .model import GroupOptions, ScanReport, SeriesInfo, damage_skip, decided_here
from .saved_scan import indexable, listing_digest, load_report, save_report

if TYPE_CHECKING:
    from .records import FrameRecord

__all__ = ["GROUP_OPTIONS", "SCAN_OPTIONS", "scan"]

GROUP_OPTIONS = {
    "allow_gaps",
    "fill",
    "instance_order",
    "stack_localizers",
    "spacing_rtol",
    "spacing_atol",
    "split_4d",
    "philips_scaling",
}
SCAN_OPTIONS = {"workers", "use_index", "follow_symlinks", "progress"}

#: The skip reason of a file whose image a volume holds from another file (an export copied
#: twice): the volume's warning names the first few pairs.
DROPPED_COPY = (
    "exact duplicate: the same image (SOPInstanceUID and pixel values) as a file of a volume; "
    "dropped"
)
#: The skip reason of a file read whose image no volume holds for another reason.
NOT_PLACED = "read, but in no volume"


def scan(
    source: str | os.PathLike[str] | Location,
    *,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    workers: int | None = None,
    use_index: bool = True,
    follow_symlinks: bool = False,
    **options: Any,
) -> ScanReport:
    """List the DICOM volumes under ``source`` without reading pixel data.

    Parameters
    ----------
    source : str, path-like or Location
        A DICOM file or a folder (searched recursively), or an fsspec URL of an object or of a
        prefix holding a series (``s3://bucket/<series uid>/`` as the NCI Imaging Data Commons
        lays it out; ``gs://``, ``https://`` and anything fsspec lists).
    storage_options : mapping, optional
        fsspec options of a URL (credentials, ``endpoint_url``, ``anon=True``, ...); never saved
        or shown.
    progress : bool
        Show a progress bar (tqdm) while headers are parsed.
    workers : int, optional
        Processes parsing local headers (pydicom parsing holds the GIL, so threads do not help);
        default: all cores for large folders; for smaller ones this process, sharing the files
        with one forked child where that pays (Linux, no other thread running, a few hundred
        files or more; ``LAZYVOL_FORK=0`` turns it off). ``workers=1``: this process only.
        Remote headers are fetched with many ranged requests in flight at once instead.
    use_index : bool
        Use and update the persisted scan index in the lazyvol cache directory (an unchanged file is
        not parsed again; changed files are noticed by size and modification time, objects by
        their ETag).
    follow_symlinks : bool
        Follow symbolic links (directory loops are detected).
    **options
        Stacking relaxations: ``instance_order=True`` (stack by InstanceNumber when positions are
        missing; geometry flagged approximate), ``stack_localizers=True``, ``spacing_rtol`` /
        ``spacing_atol`` (slice position tolerance, default 1e-3 relative, 1e-3 mm floor),
        ``allow_gaps=True`` with ``fill=`` (fill missing slices on the regular grid),
        ``split_4d=True`` (one 3D volume per echo / temporal position instead of a 4th axis).
        ``instance_order=True`` also stacks repeated positions by InstanceNumber rank when no
        other rule gives a consistent volume order (``meta["axis4_rule"]`` names the rule used).
        ``philips_scaling="fp"``: Philips floating-point values (SV*RS+RI)/(RS*SS) with the
        private scale slope SS (2005,100E), as dcm2niix writes them; the default ``"rescale"``
        applies the DICOM-standard RescaleSlope/RescaleIntercept (Philips "display" values).

    Returns
    -------
    ScanReport
        A list of :class:`SeriesInfo`, one per volume, with ``.skipped`` = [(path, reason), ...].
    """
    loc = Location.of(source, storage_options)
    group_options, workers = _checked_options(loc, workers, options)
    if not loc.is_remote and not os.path.exists(loc.url):
        shown = loc.display if isinstance(source, Location) else os.fspath(source)
        raise SourceNotFoundError(f"{shown}: no such file or directory")
    root: str | Location = loc if loc.is_remote else loc.url
    listing = list_source(loc, follow_symlinks)
    folder = loc.is_remote or os.path.isdir(loc.url)
    indexed = use_index and folder and _trusted(root, listing[0])
    # The report holds the listing's own skips (links not followed, special files) too: they and
    # follow_symlinks are part of what it was made from.
    made_from = {"follow_symlinks": follow_symlinks, "listing_skips": sorted(listing[1])}
    given = {k: getattr(group_options, k) for k in options}  # (as Python values, for JSON)
    digest = listing_digest(listing[0], **made_from, **given) if indexed else ""
    saved = load_report(root, digest, listing[0]) if indexed else None
    if saved is not None:
        return with_beside_notes(saved)
    # Parsing and grouping are imported only when headers are to be read: an unchanged folder's
    # reopen reads its saved report alone.
    from .scan_index import scan_files
    from .series import build_series
    from .source import RemoteFetch

    files = scan_files(
        root,
        progress=progress,
        workers=workers,
        use_index=use_index,
        follow_symlinks=follow_symlinks,
        listing=listing,
    )
    why = dict(files.skipped)
    infos = build_series(
        files.records,
        options=group_options,
        incomplete={uid: [(p, why[p]) for p in ps] for uid, ps in files.incomplete.items()},
        fetch=RemoteFetch(loc.options, _listed_stamps(files.records)) if loc.is_remote else None,
    )
    named = {p for paths in files.incomplete.values() for p in paths}
    unnamed = [p for p, why in files.skipped if p not in named and damage_skip(why)]
    skipped = files.skipped + _copies_dropped(files.records, infos)
    report = ScanReport(infos, sorted(skipped), files.unsupported, unnamed)
    if indexed and decided_here(report):  # (a refusal for want of a decoder is decided again)
        save_report(root, digest, report, listing[0])
    return with_beside_notes(report)


def _trusted(root: str | Location, files: list[Listed]) -> bool:
    """Whether a report saved for ``root``'s listing may be saved and reused: not for a URL
    carrying a credential, nor for a prefix holding an object whose ETag does not name its
    content (none, or nginx's time-and-size one: a same-size rewrite within the Last-Modified
    second keeps its stamp, so its headers are read again)."""
    if not indexable(root):
        return False
    remote = isinstance(root, Location) and root.is_remote
    return not remote or all(names_content(f[5], f[1], f[2]) for f in files)


def _checked_options(
    loc: Location, workers: Any, options: dict[str, Any]
) -> tuple[GroupOptions, int | None]:
    """The stacking options of a scan of ``loc`` and ``workers`` (a Python or numpy integer, as an
    int), their names and values checked before any file is read."""
    unknown = set(options) - GROUP_OPTIONS
    if unknown:
        raise UnknownOptionError(
            f"{loc.display}: unknown DICOM option(s) {sorted(unknown)}; known: {sorted(GROUP_OPTIONS)}"
        )
    try:
        group_options = GroupOptions(**options)
    except OptionError as exc:
        raise OptionError(f"{loc.display}: {exc}") from None
    if workers is None:
        return group_options, None
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral):  # (np.bool_ too)
        raise OptionError(
            f"{loc.display}: workers={workers!r}: takes a number of processes (1 or more) or None"
        )
    if workers < 1:
        raise OptionError(f"{loc.display}: workers={workers}: takes 1 or more, or None")
    return group_options, int(workers)


def _copies_dropped(records: list[FrameRecord], infos: list[SeriesInfo]) -> list[tuple[str, str]]:
    """``(path, reason)`` of each file read whose image is in no volume: a copy of one kept
    (the same SOPInstanceUID and pixels, dropped by the stacking), so that the report accounts
    for every file (the volume's warning names only the first few copies)."""
    placed = {p for info in infos for p in info.files}
    if len(placed) == len({r.path for r in records}):
        return []
    kept = {r.sop_instance_uid for r in records if r.path in placed and r.sop_instance_uid}
    out = {}
    for r in records:
        if r.path not in placed and r.path not in out:
            out[r.path] = DROPPED_COPY if r.sop_instance_uid in kept else NOT_PLACED
    return list(out.items())


def _listed_stamps(records: list[FrameRecord]) -> dict[str, SourceStamp]:
    """Each remote object's stamp as listed when its header was read (by URL): what the scan's
    later reads of it (item headers, offset tables, duplicate checks) are checked against."""
    return {r.path: SourceStamp(r.path, r.size, r.mtime_ns, etag=r.etag) for r in records}
