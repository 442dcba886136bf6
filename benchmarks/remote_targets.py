"""Targets of the ``remote`` group (issue 17): bytes a slice costs, and the header scan's rate.

Bytes are what the loopback S3 server counted for the timed call (open + read, in a fresh
process): they transfer to a real network as they are. Times over loopback do not (no latency,
and moto copies the whole object for every ranged GET), so the time targets here are only the
header scan's (lazyvol.scan against a naive loop, both paying the same server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

G = "remote"
NII = "one slice .nii"
GZ = "one slice .nii.gz, saved seek index"
DCM = "one slice DICOM series"
ZARR = "one slice Zarr store"
SCAN = "header scan of a series"
LOOPBACK = (
    "loopback: bytes transfer to a real network, times do not (no latency; moto copies the "
    "whole object for each ranged GET)"
)


def _find(records: list[dict[str, Any]], case: str, start: str) -> dict[str, Any] | None:
    for r in records:
        if r["group"] == G and r["case"] == case and r["tool"].startswith(start):
            return r
    return None


def _moved(r: dict[str, Any] | None) -> dict[str, Any] | None:
    res = (r or {}).get("result") or {}
    return res if (r or {}).get("median") is not None and "transferred" in res else None


def _kib(b: float) -> str:
    return f"{b / 1024:,.1f} KiB"


def _na(tid: str, target: str, why: str) -> dict[str, Any]:
    return {"id": tid, "target": target, "status": "N/A", "measured": why}


def _share(tid: str, case: str, what: str, limit: float, records: list[dict[str, Any]]) -> Any:
    target = f"one slice of a remote {what} (open + slice, fresh process) transfers < {limit:.0%} of the object"
    lv, dl = _moved(_find(records, case, "lazyvol")), _moved(_find(records, case, "download"))
    if lv is None:
        return _na(tid, target, "lazyvol run missing or failed")
    share = lv["transferred"] / lv["object_bytes"]
    measured = (
        f"lazyvol {_kib(lv['transferred'])} in {lv['requests']} requests = {share:.2%} of "
        f"{_kib(lv['object_bytes'])}"
    )
    if dl is not None:
        measured += f"; download first: {_kib(dl['transferred'])}"
    return {
        "id": tid,
        "target": target,
        "status": "PASS" if share < limit else "MISS",
        "measured": measured + f" ({LOOPBACK})",
    }


def _dicom(records: list[dict[str, Any]]) -> dict[str, Any]:
    tid = "remote-dicom-slice"
    target = (
        "one slice of a remote DICOM series (scan index saved, fresh process) reads one object's "
        "pixel range: bytes beyond the prefix listing <= that one object"
    )
    lv = _moved(_find(records, DCM, "lazyvol, saved"))
    if lv is None:
        return _na(tid, target, "lazyvol (saved scan index) run missing or failed")
    beyond = lv["transferred"] - lv["listing_bytes"]
    measured = (
        f"lazyvol {_kib(lv['transferred'])} in {lv['requests']} requests: listing "
        f"{_kib(lv['listing_bytes'])}, then {_kib(beyond)} (one object {_kib(lv['one_object_bytes'])}, "
        f"its pixel range {_kib(lv['slice_bytes'])}) of a {_kib(lv['object_bytes'])} series"
    )
    first = _moved(_find(records, DCM, "lazyvol, first"))
    if first is not None:
        measured += f"; first open (every header read): {_kib(first['transferred'])}"
    return {
        "id": tid,
        "target": target,
        "status": "PASS" if beyond <= lv["one_object_bytes"] else "MISS",
        "measured": measured,
    }


def _summary(records: list[dict[str, Any]], cold: Callable[[Any], float | None]) -> dict[str, Any]:
    parts = []
    for case in (NII, GZ, DCM, ZARR):
        lv, dl = _find(records, case, "lazyvol"), _find(records, case, "download")
        ml, md = _moved(lv), _moved(dl)
        if ml is None or md is None:
            continue
        cl, cd = cold(lv), cold(dl)
        times = f", cold {cl:.3g} s vs {cd:.3g} s" if cl and cd else ""
        parts.append(
            f"{case.removeprefix('one slice ')}: lazyvol {_kib(ml['transferred'])} vs download "
            f"{_kib(md['transferred'])} ({md['transferred'] / max(1, ml['transferred']):,.1f}x "
            f"the bytes{times})"
        )
    return {
        "id": "remote-vs-download",
        "target": "(information) one remote slice with lazyvol vs downloading the whole source first",
        "status": "INFO",
        "measured": ("; ".join(parts) or "no successful pairs") + f" ({LOOPBACK})",
    }


def evaluate(records: list[dict[str, Any]], speed: Callable[..., dict[str, Any]]) -> list[Any]:
    """The remote targets; ``speed`` is :func:`benchmarks.targets._speed` (cold-column ratio)."""
    if not any(r["group"] == G for r in records):
        return []
    out = [
        _share("remote-nii-slice", NII, "`.nii`", 0.05, records),
        _share("remote-gz-slice", GZ, "`.nii.gz` with its seek index saved", 0.05, records),
        _dicom(records),
    ]
    scan = speed(
        "remote-scan",
        "header scan of a remote DICOM series (fresh process, empty cache): lazyvol.scan faster "
        "(objects/s) than a naive loop downloading each object + dcmread(stop_before_pixels)",
        ("lazyvol.scan", _find(records, SCAN, "lazyvol.scan")),
        ("naive loop", _find(records, SCAN, "naive")),
        1.0,
    )
    lvs = _find(records, SCAN, "lazyvol.scan")
    if scan["status"] in ("PASS", "MISS") and lvs is not None:
        n = (lvs.get("result") or {}).get("objects")
        ms = _moved(lvs)
        if n and ms:
            scan["measured"] += f"; {n} objects, lazyvol transferred {_kib(ms['transferred'])}"
    out.append(scan)

    def cold(r: Any) -> float | None:
        c = (r or {}).get("cold") or {}
        return c.get("median") if c.get("status") == "ok" else None

    out.append(_summary(records, cold))
    return out
