"""The refusal of a stack whose slice steps are irregular: which steps, between which files."""

from __future__ import annotations

from collections.abc import Sequence

from .model import GroupOptions
from .records import FrameRecord

__all__ = ["irregular_spacing"]

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
