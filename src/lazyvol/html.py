"""Rich notebook display of a :class:`lazyvol.Volume` (``_repr_html_``): nothing is read."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from ._units import human_bytes
from .errors import _printable
from .geometry import voxel_sizes
from .zarr_nifti import space_unit

if TYPE_CHECKING:
    from .volume import Volume

__all__ = ["volume_html"]

_STYLE = (
    "<style>.lazyvol-vol table{border-collapse:collapse;font-size:12px}"
    ".lazyvol-vol td,.lazyvol-vol th{padding:1px 8px;text-align:left;vertical-align:top}"
    ".lazyvol-vol th{font-weight:600;color:#555}"
    ".lazyvol-vol .aff td{text-align:right;font-family:monospace}</style>"
)
#: meta keys shown in the summary, in this order, when present.
_SUMMARY_KEYS = (
    ("format", "format"),
    ("modality", "modality"),
    ("series_description", "series"),
    ("series_number", "series number"),
    ("axis4", "4th axis"),
)


def _value(v: Any, limit: int = 120) -> str:
    if isinstance(v, float):
        text = f"{v:.6g}"
    elif isinstance(v, list) and len(v) > 8:
        text = f"[{', '.join(map(str, v[:6]))}, ... ({len(v)} values)]"
    else:
        text = str(v)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return html.escape(text)


def _rows(rows: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)


def volume_html(vol: Volume) -> str:
    """An HTML summary: shape, dtype, voxel size, orientation, chunks, sizes, affine, metadata."""
    chunk = tuple(int(c[0]) for c in vol.chunks)
    n_chunks = int(np.prod([len(c) for c in vol.chunks]))
    unit = space_unit(vol.meta)  # the affine's unit
    rows = [
        (
            "shape",
            " &times; ".join(str(s) for s in vol.shape)
            + f" &nbsp;({', '.join('ijkt'[: vol.ndim])})",
        ),
        ("dtype", html.escape(str(vol.dtype))),
        ("voxel size", " &times; ".join(f"{s:.4g}" for s in voxel_sizes(vol.affine)) + f" {unit}"),
        ("orientation", html.escape(vol.orientation)),
        ("chunks", f"{' &times; '.join(map(str, chunk))} ({n_chunks} chunks, lazy)"),
        ("in memory", human_bytes(vol.nbytes)),
    ]
    for key, label in _SUMMARY_KEYS:
        if key in vol.meta and vol.meta[key] not in (None, ""):
            rows.append((label, _value(vol.meta[key])))
    if vol.source:
        rows.append(("source", f"<code>{html.escape(vol.source)}</code>"))
    affine = "".join(
        "<tr>" + "".join(f"<td>{x:.4g}</td>" for x in row) + "</tr>"
        for row in np.asarray(vol.affine)
    )
    parts = [
        _STYLE,
        '<div class="lazyvol-vol">',
        "<b>lazyvol.Volume</b>",
        f"<table>{_rows(rows)}</table>",
        f'<details><summary>affine (voxel &rarr; RAS+ {unit})</summary><table class="aff">{affine}</table></details>',
    ]
    bids = vol.meta.get("bids")
    if isinstance(bids, dict) and bids:
        parts.append(
            "<details><summary>acquisition (BIDS names)</summary><table>"
            + _rows([(str(k), _value(v)) for k, v in bids.items()])
            + "</table></details>"
        )
    other = {
        k: v
        for k, v in vol.meta.items()
        if k not in ("bids", "files") and k not in {key for key, _ in _SUMMARY_KEYS}
    }
    if other:
        parts.append(
            f"<details><summary>meta ({len(other)} keys)</summary><table>"
            + _rows([(str(k), _value(v)) for k, v in other.items()])
            + "</table></details>"
        )
    files = vol.meta.get("files")
    if isinstance(files, list) and files:
        parts.append(
            f"<details><summary>{len(files)} source file(s)</summary><pre>"
            + html.escape("\n".join(files[:20]) + ("\n..." if len(files) > 20 else ""))
            + "</pre></details>"
        )
    parts.append("</div>")
    # A file name that is not valid UTF-8 (a Latin-1 name from an old archive: Python holds its
    # bytes as lone surrogates) is shown with them as \xNN: the page is sent to the notebook as
    # UTF-8, which cannot hold a lone surrogate
    return _printable("".join(parts))
