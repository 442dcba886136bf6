"""The refusal of a stack whose slice steps are irregular: which steps, between which files."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .model import GroupOptions
from .records import FrameRecord

__all__ = ["far_slices", "irregular_spacing"]

#: Irregular steps named besides the first (a damaged position far off the others makes two: the
#: gap it leaves and the step to where it was written; both name it).
_NAMED = 4


def irregular_spacing(
    base: Sequence[FrameRecord],
    spacing: float,
    bad: Sequence[tuple[int, float]],
    tol: float,
    opts: GroupOptions,
) -> str:
    """The message of a stack whose steps ``bad`` ((index in ``base``, step) of each) differ from
    ``spacing`` by more than ``tol``: the first step's files, and those of the next few."""
    i, step = bad[0]
    msg = (
        f"irregular slice spacing: expected {spacing:.6g} mm between slices but found "
        f"{step:.6g} mm between {base[i].where} and {base[i + 1].where}"
    )
    if len(bad) > 1:
        more = [f"{s:.6g} mm between {base[j].where} and {base[j + 1].where}" for j, s in bad[1:]]
        shown = "; ".join(more[:_NAMED]) + ("; ..." if len(more) > _NAMED else "")
        msg += f" ({len(bad)} irregular steps in all; also {shown})"
    return msg + (
        f" (tolerance {tol:.3g} mm: spacing_rtol={opts.spacing_rtol:g} of the spacing, at "
        f"least spacing_atol={opts.spacing_atol:g} mm or the positions' written precision)"
    )


#: A grid of more slots than this many times the slices held is not filled even with allow_gaps
#: (1e9 mm on a 2.5 mm grid would be 4e8 slots: a list of that many before a slice is read).
_FILL_MOST = 100


def far_slices(base: Sequence[FrameRecord], slots: np.ndarray, allow_gaps: bool) -> str:
    """Why the sorted slices ``base`` at grid ``slots`` (:func:`lazyvol.slice_grid.grid_slots`)
    are not taken for a grid with slices missing ("" when they may be): fewer than half of its
    slots hold a slice (the rule the spacing's own grid follows, ``regular_grid_errors``), so
    its largest step is likelier a damaged ImagePositionPatient than missing slices (z = 1e5 mm
    on a 2.5 mm grid: 40,000 slices); the slices beyond that step (its shorter side) named.
    With ``allow_gaps`` (asked for: slices may be missing) only a grid of more than
    ``_FILL_MOST`` times the slices is refused."""
    held, n_slots = len(base), int(slots[-1]) + 1
    if n_slots <= (_FILL_MOST if allow_gaps else 2) * held:
        return ""
    i = int(np.argmax(np.diff(slots)))  # (the largest step: between base[i] and base[i + 1])
    side = base[: i + 1] if i + 1 <= held - i - 1 else base[i + 1 :]
    shown = ", ".join(r.where for r in side[:_NAMED]) + (", ..." if len(side) > _NAMED else "")
    return (
        f"; the grid through them has {n_slots} slots for {held} slices: likelier than slices "
        f"missing, ImagePositionPatient (0020,0032) is damaged in {shown} ({len(side)} slice(s) "
        "beyond the largest step): check those files' positions, or remove them to open the rest"
        + (
            ""
            if n_slots > _FILL_MOST * held
            else " (allow_gaps=True fills a grid of slices missing)"
        )
    )
