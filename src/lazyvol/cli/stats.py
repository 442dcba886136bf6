"""``lazyvol stats``: statistics of a volume computed chunk by chunk (bounded memory), per channel
for RGB data and per volume with ``--per-volume``."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    CommandError,
    _check_series_applies,
    _check_source,
    _print_json,
    _series_row,
    _series_text,
    _show_progress,
    warn_volume_notes,
)
from ._dicom_options import dicom_kwargs
from ._sources import display_source, is_url, open_chosen, source_kwargs


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) or (hasattr(x, "dtype") and getattr(x.dtype, "kind", "") == "f"):
        return f"{x:.6g}"
    return str(x)


def _stats_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"bins": args.bins, "exact_percentiles": args.exact_percentiles}
    if args.range:
        lo, hi = args.range
        if not lo <= hi:
            raise CommandError(f"--range {lo:g} {hi:g}: LO must not be greater than HI")
        kwargs["range"] = (lo, hi)
    if args.percentiles:
        qs = []
        for part in args.percentiles.split(","):
            try:
                q = float(part)
            except ValueError:
                raise CommandError(
                    f"--percentiles {args.percentiles}: {part!r} is not a number"
                ) from None
            if not 0 <= q <= 100:
                raise CommandError(f"--percentiles {args.percentiles}: {part} is outside 0..100")
            qs.append(q)
        kwargs["percentiles"] = tuple(qs)
    return kwargs


def _channels(vol: Any, mask: Any) -> list[tuple[str | None, Any, Any]]:
    """(name, volume, mask) per channel: one unnamed entry, or one per component of a vector
    image (NIfTI dim[5] and on: a displacement field, DTI V1), per field of RGB / structured
    data, or both. A mask with the same components is taken component by component."""
    import numpy as np

    from .._stats.request import component_axes
    from ..volume import Volume

    out = []
    axes = [a for a, _src in component_axes(vol.shape, vol.meta)]
    for pos in np.ndindex(*(vol.shape[a] for a in axes)):
        index: list[Any] = [slice(None)] * vol.ndim
        for a, i in zip(axes, pos):
            index[a] = i
        comp = vol[tuple(index)] if axes else vol  # a cut records which source axes remain
        cmask = mask
        if axes and mask is not None and mask.shape == vol.shape:
            cmask = Volume(mask.data[tuple(index)], mask.affine, meta=mask.meta, source=mask.source)
        cname = ",".join(map(str, pos)) if axes else None
        for name, sub in _fields(comp):
            both = f"{cname} {name}" if cname is not None and name is not None else cname or name
            out.append((both, sub, cmask))
    return out


def _fields(vol: Any) -> list[tuple[str | None, Any]]:
    """(name, volume) per field of RGB / structured data; one unnamed entry otherwise."""
    from ..volume import Volume

    names = vol.dtype.names
    if not names:
        return [(None, vol)]
    out = []
    for name in names:
        sub = vol.data[name]
        if sub.dtype.kind not in "biuf" or sub.ndim != vol.data.ndim:
            raise CommandError(
                f"{vol.source or 'the volume'}: channel {name!r} holds {sub.dtype} values; "
                "statistics need numbers"
            )
        out.append((name, Volume(sub, vol.affine, meta=vol.meta, source=vol.source)))
    return out


def _open_mask(args: argparse.Namespace) -> Any:
    import lazyvol as lv

    if not args.mask:
        return None
    from ..errors import MultipleSeriesError

    # the mask shares the source's storage options when it is a URL too
    kwargs = source_kwargs(args, args.mask) if is_url(args.mask) else {}
    try:
        return lv.open(args.mask, **kwargs)
    except MultipleSeriesError as e:
        # --series chooses the source's volume, never the mask's: its hint would not help
        shown = display_source(args.mask)
        listing = str(e).partition("\n")[2]  # (the mask's volumes, to choose N from)
        raise MultipleSeriesError(
            f"--mask {shown} holds {len(e.series)} volumes, and --series chooses only the "
            f"volume of {display_source(args.path)}; write the mask's volume to a file first "
            f"(lazyvol convert {shown} --series N mask.nii.gz) and pass that as --mask"
            + (f"; N is one of:\n{listing}" if listing else ""),
            e.series,
        ) from None


def cmd_stats(args: argparse.Namespace) -> int:
    """``lazyvol stats``."""

    from .._stats import stats

    kwargs = _stats_kwargs(args)
    _check_source(args.path)
    if args.mask is not None:  # an empty --mask "" is an error, not "no mask"
        _check_source(args.mask, "--mask")
    _check_series_applies(args.path, args.series)
    opts = dicom_kwargs(args, args.path)  # the source's; a DICOM mask is stacked as it is
    vol, picked = open_chosen(args.path, args.series, **source_kwargs(args, args.path), **opts)
    warn_volume_notes(vol)
    if vol.dtype.kind not in "biuf" and not vol.dtype.names:
        raise CommandError(
            f"{display_source(args.path)}: statistics need integer, boolean or floating-point "
            f"data; this volume holds {vol.dtype}"
        )
    mask = _open_mask(args)
    if args.per_volume:
        if vol.ndim < 4:
            raise CommandError(f"--per-volume: {args.path} is 3D (shape {vol.shape})")
        kwargs["axis"] = tuple(range(3))
    results = []
    for name, channel, cmask in _channels(vol, mask):
        res = stats(channel, mask=cmask, progress=_show_progress(args), **kwargs)
        results.append((name, res))
    head: dict[str, Any] = {
        "path": display_source(args.path),
        "mask": args.mask and display_source(args.mask),
    }
    if args.series is not None or picked:  # the volume picked in the folder, as `info` names it
        head["series"] = _series_row(vol)
    if args.json:
        if results[0][0] is None:
            _print_json({**head, **results[0][1].to_dict()})
        else:
            _print_json(
                {**head, "dtype": str(vol.dtype), "channels": {n: r.to_dict() for n, r in results}}
            )
        return 0
    print(f"{head['path']}  {vol.dtype}  {' x '.join(str(s) for s in vol.shape)}")
    if "series" in head:
        print(f"series   {_series_text(head['series'])}")
    if args.mask:
        print(f"mask     {head['mask']}")
    _print_results(results)
    return 0


def _print_results(results: list[tuple[str | None, Any]]) -> None:
    import numpy as np

    passes = 0
    for cname, res in results:
        if cname is not None:
            print(f"== channel {cname}")
        rows = [res] if not res.shape else [res[i] for i in np.ndindex(*res.shape)]
        for idx, r in enumerate(rows):
            if res.shape:
                print(f"-- volume {idx}")
            for name in ("count", "nan_count", "nonzero", "min", "max", "sum", "mean", "std"):
                print(f"{name:<10}{_fmt(getattr(r, name))}")
            if r.q:
                pct = "  ".join(
                    f"p{q:g}={_fmt(v)}" for q, v in zip(r.q, np.atleast_1d(r.percentiles).tolist())
                )
                err = np.atleast_1d(r.percentile_error)
                finite = err[~np.isnan(err)]  # all NaN: no values (an empty mask, all-NaN data)
                if np.all(err == 0):
                    bound = "exact"
                else:
                    bound = f"+/- {_fmt(float(finite.max()))}" if finite.size else "no values"
                print(f"percentiles ({bound}): {pct}")
        passes += res.passes
    filled = results[0][1].filled_slices if results else ()
    if filled:
        shown = ", ".join(map(str, filled))
        print(f"(left out: slice(s) k = {shown}, filled by --allow-gaps: not data)")
    print(f"(read the data {passes} time(s))")
