"""End-to-end demo on data it generates itself: ``python -m lazyvol.demo [--out DIR] [--size N]``.

Writes a synthetic head phantom as ``.nii.gz``, opens it lazily, slices it, computes statistics
out of core, and (when those parts are installed) caches it to Zarr and reads a DICOM series.
Run again with the same ``--out``, it replaces what it wrote there before (and nothing else: a
folder it did not make, holding files, is refused).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

#: The in-plane sizes the demo makes: two voxels at least (the DICOM series has size // 2 slices);
#: 1024 at most (a 1024-cube phantom is 2 GiB of int16 before compression).
SIZES = range(2, 1025)
#: What the demo writes in ``--out`` (and replaces when run again there), and the file that marks
#: a folder as the demo's.
OUTPUTS = ("phantom.nii.gz", "dicom", "cache", "dicom_as.nii.gz", "dicom_as.json")
MARK = ".lazyvol-demo"


def _size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n not in SIZES:
        raise argparse.ArgumentTypeError(
            f"{n} is outside {SIZES.start}..{SIZES.stop - 1} (voxels along each side of the phantom)"
        )
    return n


def _prepare(parser: argparse.ArgumentParser, out: Path) -> None:
    """Make ``out`` the demo's folder: new, empty, or one the demo wrote before (its earlier
    outputs removed, so a run with another ``--size`` does not mix two DICOM series)."""
    if out.is_symlink() or out.exists():
        if not out.is_dir():
            parser.error(f"--out {out}: is not a folder; give a new or empty folder")
        if not (out / MARK).is_file():
            if any(out.iterdir()):
                parser.error(
                    f"--out {out}: holds files the demo did not write; give a new or empty folder"
                )
        else:
            for name in OUTPUTS:
                path = out / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.is_symlink() or path.exists():
                    os.unlink(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARK).write_text("written by python -m lazyvol.demo\n", encoding="utf-8")
    except OSError as exc:
        parser.error(f"--out {out}: cannot write there ({exc.strerror or exc})")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m lazyvol.demo", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the generated data (default: a temp dir)"
    )
    parser.add_argument(
        "--size",
        type=_size,
        default=128,
        help=f"in-plane size of the phantom (default 128, {SIZES.start} to {SIZES.stop - 1})",
    )
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="lazyvol-demo-"))
    _prepare(parser, out)

    import lazyvol as lv
    from lazyvol.testing import write_phantom_nifti

    n = args.size
    affine = np.diag([0.9, 0.9, 1.5, 1.0])
    affine[:3, 3] = [-0.45 * n, -0.45 * n, -0.75 * n]
    nii = write_phantom_nifti(
        out / "phantom.nii.gz", (n, n, n), affine=affine, slope=1.0, inter=-1024.0
    )
    print(f"wrote {nii}")

    t0 = time.perf_counter()
    vol = lv.open(nii)
    print(f"opened in {1e3 * (time.perf_counter() - t0):.1f} ms (headers only): {vol}")
    axial = vol[:, :, n // 2 : n // 2 + 1]
    print(
        f"one axial slice: {axial.shape}, its affine origin {axial.affine[:3, 3].round(2).tolist()}"
    )
    t0 = time.perf_counter()
    st = lv.stats(vol, bins=64)
    print(
        f"stats in one pass over {vol.nbytes / 2**20:.1f} MiB ({time.perf_counter() - t0:.2f} s): "
        f"mean {st.mean:.2f}, std {st.std:.2f}, min {st.min}, max {st.max}, "
        f"median {st.percentiles[st.q.index(50)]:.1f}"
    )

    # A DICOM series: scanned from headers only, stacked by position, read lazily.
    from lazyvol.testing import write_dicom_series

    series_dir = out / "dicom"
    write_dicom_series(
        series_dir, (n, n, n // 2), orientation="oblique", intercept=-1024.0, shuffle_names=True
    )
    for info in lv.scan(series_dir):
        print(
            f"DICOM series {info.number} {info.description!r}: {info.shape}, {len(info.files)} files"
        )
    ct = lv.open(series_dir)
    print(f"DICOM volume: {ct}")
    print(
        f"affine (voxel -> RAS mm):\n{np.array2string(ct.affine, precision=3, suppress_small=True)}"
    )

    # Zarr: cache the gzip NIfTI once; the second open reads the Zarr copy.
    cache_dir = out / "cache"
    t0 = time.perf_counter()
    first = lv.open(nii, cache=cache_dir)
    t1 = time.perf_counter()
    again = lv.open(nii, cache=cache_dir)
    mean_cached = float(again.data.mean().compute())
    t2 = time.perf_counter()
    print(f"cache: first open wrote a Zarr copy in {t1 - t0:.2f} s; reopen + mean {t2 - t1:.2f} s")
    assert abs(mean_cached - st.mean) < 1e-6 * max(1.0, abs(st.mean)), "cached data differs"
    assert first.shape == again.shape
    nifti_out = ct.to_nifti(out / "dicom_as.nii.gz")
    print(f"DICOM series streamed to {nifti_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
