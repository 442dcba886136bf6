"""Choose one volume of a scan: by row, id, SeriesNumber, SeriesInstanceUID, or description."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._location import display_url
from .._zarr_folder import ZARR_METADATA
from ..errors import (
    FormatError,
    LazyvolError,
    MultipleSeriesError,
    OptionError,
    SeriesError,
    UnsupportedError,
)
from ..nifti_codes import NIFTI_SUFFIXES
from .model import ScanReport, SeriesInfo

__all__ = ["only_openable", "other_formats_hint", "select"]

#: Characters of a volume's refusal a candidate line shows (the whole is in lazyvol.scan).
_REFUSAL_SHOWN = 160


def _candidates(infos: list[SeriesInfo] | ScanReport, report: ScanReport) -> str:
    """One line per volume: how to choose it (``#row``, SeriesNumber, id), what it is, and why
    it cannot be opened when it cannot."""
    rows = {id(i): n for n, i in enumerate(report)}
    return "\n".join(
        f"  #{rows.get(id(i), '?')}  number={i.number_text()}  id={i.id}  uid={i.uid}  "
        f"description={i.description!r}  shape={i.shape_text()}"
        + i.split_text()
        + i.refusal_text(_REFUSAL_SHOWN)
        for i in infos
    )


#: Single-image volumes alike but for their SeriesInstanceUID that make a listing say so.
_ALIKE_SINGLES = 3


def _uid_per_image_hint(infos: list[SeriesInfo] | ScanReport) -> str:
    """What a listing adds when several volumes are one image each, alike in SeriesNumber,
    description, modality and image size but each under its own SeriesInstanceUID: the images of
    one series whose files an export or anonymiser gave a new SeriesInstanceUID each (lazyvol
    never stacks images of different series; dcm2niix does not put them back together either).
    "" otherwise."""
    alike: dict[tuple[Any, ...], set[str]] = {}
    for i in infos:
        if len(i.files) == 1 and not i.error and len(i.shape) == 3 and i.shape[2] == 1:
            key = (i.number, i.description, i.modality, i.shape[:2])
            alike.setdefault(key, set()).add(i.uid)
    key, uids = max(alike.items(), key=lambda kv: len(kv[1]), default=((), set()))
    if len(uids) < _ALIKE_SINGLES:
        return ""
    return (
        f"; {len(uids)} of them are single images alike (SeriesNumber {key[0]}, description "
        f"{key[1]!r}, {key[3][0]}x{key[3][1]}) each under its own SeriesInstanceUID (0020,000E), "
        "as an export or anonymiser that gave every file a new one leaves a series: lazyvol "
        "never stacks images of different series; give the files their series' one "
        "SeriesInstanceUID again (or re-export them) to open them as one volume"
    )


def _one(found: list[SeriesInfo], report: ScanReport, path: str, what: str) -> SeriesInfo | None:
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise MultipleSeriesError(
            f"{path}: {what} matches {len(found)} volumes{_uid_per_image_hint(found)}; choose "
            "one by its id (or '#row'):\n" + _candidates(found, report),
            found,
        )
    return None


def _number(value: Any) -> int | None:
    """A SeriesNumber as an int (None when absent or not a number)."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _slash(path: str, report: ScanReport) -> str:
    """A hint for a web folder's URL without its final ``/``: the server answers it (or redirects
    it) with the folder's HTML index page, which is then one object that is not DICOM."""
    one = len(report.skipped) == 1 and report.skipped[0][0].rstrip("/") == str(path).rstrip("/")
    if one and str(path).lower().startswith(("http://", "https://")) and not path.endswith("/"):
        return (
            f"; if {path} is a folder, end the URL with '/' ({path}/): a web server answers a "
            "folder's URL with its HTML index page"
        )
    return ""


#: The metadata files of a Zarr store (v3, v2) at its root and in each of its groups and arrays.
_ZARR_METADATA = (*ZARR_METADATA, ".zarray")


def _zarr_stores(paths: list[str]) -> list[str]:
    """The outermost Zarr stores the files lie in: a folder named ``*.zarr``, or one holding a
    store's metadata file (a store need not be named ``.zarr``)."""
    roots = set()
    for p in paths:
        low = p.replace("\\", "/").lower()
        if ".zarr/" in low:
            roots.add(p[: low.index(".zarr/") + 5])
        head, _, name = p.replace("\\", "/").rpartition("/")
        if name in _ZARR_METADATA and head:
            roots.add(p[: len(head)])
    return sorted(r for r in roots if not any(r.startswith(o + c) for o in roots for c in "/\\"))


def other_formats_hint(skipped: list[tuple[str, str]] | list[list[str]]) -> str:
    """For a folder that holds no DICOM image but NIfTI files or Zarr stores (a BIDS dataset, a
    folder of conversions): ``"; it holds ..."`` saying to open them by their own paths (a folder
    is read as a DICOM series), or ``""``."""
    nifti = [p for p, *_ in skipped if p.lower().endswith(NIFTI_SUFFIXES)]
    stores = _zarr_stores([p for p, *_ in skipped])
    found = [f"{len(nifti)} NIfTI file(s) (e.g. {nifti[0]})"] if nifti else []
    found += [f"{len(stores)} Zarr store(s) (e.g. {stores[0]})"] if stores else []
    if not found:
        return ""
    return (
        f"; it holds {' and '.join(found)}: lazyvol reads a folder as DICOM files, so open each "
        "NIfTI file or Zarr store by its own path"
    )


def _without_choice(report: ScanReport, path: str) -> SeriesInfo:
    """The volume opened when no ``series`` is given: the only one; else why none, or which."""
    if len(report) == 1:
        return report[0]
    if not report:
        # (each file as messages show a source: a signed URL's signature is a credential)
        reasons = "; ".join(f"{display_url(p)}: {r}" for p, r in report.skipped[:5])
        more = f" (and {len(report.skipped) - 5} more)" if len(report.skipped) > 5 else ""
        if not report.skipped:
            raise FormatError(f"{path}: no DICOM file found (the folder holds no files)")
        # Only valid files of kinds lazyvol does not read: say so by the error's class too.
        unsupported = all(p in report.unsupported for p, _ in report.skipped)
        cls = UnsupportedError if unsupported else FormatError
        hint = _slash(path, report) + other_formats_hint(report.skipped)
        raise cls(f"{path}: no DICOM image volume found. Skipped: {reasons}{more}{hint}")
    if all(info.error for info in report):
        # Nothing to choose: every volume is refused (e.g. every file's NumberOfFrames
        # lies, so each is a volume of its own): their refusals, typed as the first one.
        kinds: dict[str, type[LazyvolError]] = {
            "format": FormatError,
            "unsupported": UnsupportedError,
            "option": OptionError,
        }
        refusal = kinds.get(report[0].error_kind, SeriesError)
        why = "\n".join(f"  #{n} [{info.id}]: {info.error}" for n, info in enumerate(report[:5]))
        more = f"\n  (and {len(report) - 5} more, see lazyvol.scan)" if len(report) > 5 else ""
        raise refusal(f"{path}: none of its {len(report)} volumes can be opened:\n{why}{more}")
    raise MultipleSeriesError(
        f"{path} holds {len(report)} volumes{_uid_per_image_hint(report)}; choose one with "
        "series= (a SeriesNumber, a SeriesInstanceUID or a unique prefix, a description, an id, "
        "or '#row'):\n" + _candidates(report, report),
        list(report),
    )


def only_openable(infos: list[SeriesInfo] | ScanReport) -> SeriesInfo | None:
    """The one volume of ``infos`` that can be opened when every other is refused (a folder with a
    scan and a series that has a gap), else None: none or several can be opened, or a refused
    one shares its SeriesInstanceUID (a part split off the same series, whose refusal may leave
    the openable part incomplete, is never passed over without a choice)."""
    openable = [i for i in infos if not i.error]
    if len(openable) != 1 or len(infos) < 2:
        return None
    pick = openable[0]
    if any(i.uid == pick.uid for i in infos if i is not pick):
        return None
    return pick


def select(report: ScanReport, path: str, series: str | int | None) -> SeriesInfo:
    """The volume ``series`` names in ``report``.

    ``series`` is, in the order tried: ``"#N"`` (row N of :func:`lazyvol.scan`, negative from the end),
    a volume id, a SeriesNumber (an int or a string of digits), a SeriesInstanceUID or a unique
    prefix of one, a SeriesDescription (exact, then a unique case-insensitive substring). A
    choice matching several volumes is a :class:`MultipleSeriesError` listing them.
    """
    if series is None:
        return _without_choice(report, path)
    if isinstance(series, bool) or not isinstance(series, int | np.integer | str):
        raise OptionError(
            f"{path}: series={series!r} ({type(series).__name__}): takes a SeriesNumber (an int "
            "or a string of digits), a SeriesInstanceUID, a description, an id or '#row'"
        )
    s = str(int(series)) if isinstance(series, int | np.integer) else str(series).strip()
    if not s:
        raise SeriesError(f"{path}: series= is empty")
    if s.startswith("#"):
        try:
            row = int(s[1:])
        except ValueError:
            raise SeriesError(
                f"{path}: series={s!r}: '#' must be followed by a row number"
            ) from None
        if not -len(report) <= row < len(report):
            raise SeriesError(
                f"{path}: series={s!r}: there are {len(report)} volumes (rows #0 to "
                f"#{len(report) - 1}):\n" + _candidates(report, report)
            )
        return report[row]
    found = _one([i for i in report if i.id == s], report, path, f"id {s}")
    if found is not None:
        return found
    if s.lstrip("-").isdigit():
        found = _one(
            [i for i in report if _number(i.number) == int(s)],
            report,
            path,
            f"SeriesNumber {s}",
        )
        if found is not None:
            return found
        hint = ""
        if -len(report) <= int(s) < len(report):
            hint = f" (for row {s} of the scan, write '#{s}')"
        raise SeriesError(
            f"{path}: no volume has SeriesNumber {s}{hint}; found:\n" + _candidates(report, report)
        )
    by_uid = [i for i in report if i.uid == s]
    if len(by_uid) > 1:
        raise MultipleSeriesError(
            f"{path}: SeriesInstanceUID {s} was split into {len(by_uid)} volumes; choose one by "
            "its id (or '#row'):\n" + _candidates(by_uid, report),
            by_uid,
        )
    for what, match in (
        ("SeriesInstanceUID", lambda i: i.uid == s),
        ("SeriesInstanceUID prefix", lambda i: bool(i.uid) and i.uid.startswith(s)),
        ("SeriesDescription", lambda i: (i.description or "") == s),
        (
            "SeriesDescription",
            lambda i: (i.description or "").casefold() == s.casefold(),
        ),
        (
            "SeriesDescription substring",
            lambda i: s.casefold() in (i.description or "").casefold(),
        ),
    ):
        found = _one([i for i in report if match(i)], report, path, f"{what} {s!r}")
        if found is not None:
            return found
    raise SeriesError(
        f"{path}: no volume matches series={s!r} (tried id, SeriesNumber, SeriesInstanceUID or its "
        "prefix, SeriesDescription); found:\n" + _candidates(report, report)
    )
