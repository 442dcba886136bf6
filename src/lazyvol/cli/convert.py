"""``lazyvol convert`` (a volume to .zarr, .nii or .nii.gz in bounded memory) and ``lazyvol
references`` (kerchunk references: any Zarr client reads a .nii or a DICOM series in place)."""

from __future__ import annotations

import argparse
import os

from ._common import (
    CommandError,
    _check_output_file,
    _check_series_applies,
    _check_source,
    _series_arg,
    _show_progress,
    check_output_folder,
    warn_volume_notes,
)
from ._dicom_options import dicom_kwargs
from ._sources import is_url, open_chosen, source_kwargs


def _output_kind(dst: str) -> str:
    if not dst:
        raise CommandError("the destination is empty; give a path ending in .zarr, .nii or .nii.gz")
    low = dst.lower().rstrip("/")
    if low.endswith(".zarr"):
        return "zarr"
    if low.endswith((".nii", ".nii.gz")):
        if dst.endswith("/"):  # (it wrote the file x.nii.gz where the folder x.nii.gz/ was asked)
            raise CommandError(
                f"{dst}: a NIfTI destination is a file, not a folder; drop the trailing '/'"
            )
        return "nifti"
    if not is_url(dst) and os.path.isdir(dst):
        # (dcm2niix's -o names an output folder; convert writes one volume, to the file named)
        raise CommandError(
            f"{dst}: is a folder; give the file to write in it, such as "
            f"{os.path.join(dst, 'volume.nii.gz')} (or .nii, .zarr): convert writes one volume"
        )
    raise CommandError(
        f"{dst}: unknown output format; the destination must end in .zarr, .nii or .nii.gz"
    )


def cmd_convert(args: argparse.Namespace) -> int:
    """``lazyvol convert``."""

    dst = args.dst
    kind = _output_kind(dst)
    if is_url(dst):
        raise CommandError(
            f"{dst}: the destination must be a local path (writing to URLs is not supported)"
        )
    if not is_url(args.src) and os.path.abspath(dst) == os.path.abspath(args.src):
        raise CommandError(f"{dst}: the destination is the source")
    if args.no_sidecars and kind == "zarr":
        raise CommandError(f"{dst}: --no-sidecars applies to NIfTI destinations (.nii, .nii.gz)")
    if os.path.lexists(dst) and not args.overwrite:
        raise CommandError(f"{dst} exists; pass --overwrite to replace it (left untouched)")
    check_output_folder(dst, dst)
    kwargs = source_kwargs(args, args.src)
    _check_source(args.src)
    _check_series_applies(args.src, args.series)
    opts = dicom_kwargs(args, args.src)
    vol, _ = open_chosen(args.src, args.series, **kwargs, **opts)
    warn_volume_notes(vol)
    progress = _show_progress(args)
    if kind == "zarr":
        out = vol.to_zarr(dst, overwrite=args.overwrite, progress=progress)
    else:
        sidecars = not args.no_sidecars
        out = vol.to_nifti(dst, overwrite=args.overwrite, progress=progress, sidecars=sidecars)
    if not args.quiet:
        print(f"wrote {out or dst}  ({' x '.join(str(s) for s in vol.shape)} {vol.dtype})")
    return 0


def cmd_references(args: argparse.Namespace) -> int:
    """``lazyvol references``."""
    import lazyvol as lv

    from ..refs import write_references

    _check_output_file(args.output, "-o", args.overwrite)
    kwargs = source_kwargs(args, args.src)
    _check_source(args.src)
    _check_series_applies(args.src, args.series)
    if args.per_slice_rescale is not None:
        _check_series_applies(args.src, args.per_slice_rescale, "--per-slice-rescale")
    opts = dicom_kwargs(args, args.src)
    refs, _ = open_chosen(
        args.src,
        args.series,
        lambda series: lv.references(
            args.src,
            series=_series_arg(series),
            per_slice_rescale=args.per_slice_rescale or "refuse",
            **kwargs,
            **opts,
        ),
    )
    out = write_references(refs, args.output, overwrite=args.overwrite)  # WriteError on failure
    if not args.quiet:
        chunks = sum(1 for k in refs["refs"] if k.startswith("image/") and ".z" not in k)
        print(f"wrote {out}  ({chunks} chunk references)")
    return 0
