"""Draw docs/img/dicom-axes.png: how DICOM pixel indices (i, j, k) map to RAS+ millimetres.

Run from the repository root: ``python docs/_tools/axes_figure.py [OUT.png]``. The picture is
committed; re-run this script after changing it. It uses the same convention as the DICOM reader
(:func:`lazyvol.geometry.dicom_affine` on the ``dicom`` branch): i = column index, along the row
direction cosine; j = row index, along the column direction cosine; k = slice index, along
row x column (the order of increasing position along the normal); then LPS -> RAS.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

OUT = Path(__file__).resolve().parents[1] / "img" / "dicom-axes.png"

BLUE, ORANGE, GREEN, GREY = "#1f5fbf", "#d9731a", "#2a9d47", "#555555"


def _arrow(ax, start, end, color, width=2.2):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, lw=width, color=color)
    )


def _pixel_panel(ax) -> None:
    """Left: one stored slice as the scanner writes it, rows and columns on screen."""
    ncol, nrow = 6, 5
    for r in range(nrow):
        for c in range(ncol):
            ax.add_patch(
                Rectangle((c, -r - 1), 1, 1, facecolor="#eef2fa", edgecolor="#9aa8c4", lw=0.8)
            )
    ax.add_patch(Rectangle((0, -1), 1, 1, facecolor="#ffd9a8", edgecolor="#9aa8c4", lw=0.8))
    ax.plot(0.5, -0.5, "o", color=ORANGE, ms=7, zorder=5)
    ax.annotate(
        "ImagePositionPatient\n= centre of the first pixel\n(row 0, column 0), LPS mm",
        xy=(0.5, -0.5),
        xytext=(2.2, 1.6),
        fontsize=9.5,
        color=ORANGE,
        arrowprops={"arrowstyle": "->", "color": ORANGE},
    )
    _arrow(ax, (0.5, -0.5), (ncol + 0.9, -0.5), BLUE)
    ax.text(
        ncol + 1.0,
        -0.2,
        "i = column index\nalong ImageOrientationPatient[0:3]\n(row direction)",
        fontsize=9.5,
        color=BLUE,
        va="bottom",
    )
    _arrow(ax, (0.5, -0.5), (0.5, -nrow - 0.9), GREEN)
    ax.text(
        0.75,
        -nrow - 1.1,
        "j = row index\nalong ImageOrientationPatient[3:6]\n(column direction)",
        fontsize=9.5,
        color=GREEN,
        va="top",
    )
    ax.text(
        -0.8,
        -nrow - 3.4,
        "pixel (row r, column c) of slice k is voxel (i=c, j=r, k)\n"
        "PixelSpacing = [between rows (along j), between columns (along i)]\n"
        "slices k = 0, 1, ... in increasing position along the normal r x c",
        fontsize=9.5,
        color=GREY,
        ha="left",
        va="top",
        linespacing=1.5,
    )
    ax.set_xlim(-1.0, ncol + 6.2)
    ax.set_ylim(-nrow - 5.0, 3.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("1. A stored slice: rows and columns", fontsize=12, loc="left", x=0.03)


def _box_edges(origin, u, v, w):
    corners = [origin + a * u + b * v + c * w for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    edges = []
    for a in range(8):
        for b in range(a + 1, 8):
            if bin(a ^ b).count("1") == 1:
                edges.append((corners[a], corners[b]))
    return edges


def _world_panel(ax) -> None:
    """Right: an axial stack in RAS+ space, with the voxel axes i, j, k drawn from voxel (0,0,0)."""
    # An axial acquisition: IOP = [1,0,0, 0,1,0] (LPS). Row cosine +x_LPS = patient left,
    # column cosine +y_LPS = posterior, normal = +z = superior. In RAS: i -> -R, j -> -A, k -> +S.
    i_dir = np.array([-1.0, 0.0, 0.0])
    j_dir = np.array([0.0, -1.0, 0.0])
    k_dir = np.array([0.0, 0.0, 1.0])
    origin = np.array([3.0, 3.0, 0.0])
    ni, nj, nk = 6.0, 6.0, 3.0
    # slices as translucent planes
    for k in range(4):
        p0 = origin + k * k_dir
        quad = np.array([p0, p0 + ni * i_dir, p0 + ni * i_dir + nj * j_dir, p0 + nj * j_dir, p0])
        ax.plot(quad[:, 0], quad[:, 1], quad[:, 2], color="#9aa8c4", lw=0.9)
        ax.add_collection3d(
            Poly3DCollection(
                [quad[:4]], facecolor="#dfe7f7", edgecolor="none", alpha=0.35, zorder=1
            )
        )
    # world axes (RAS+) through the world origin
    L = 2.6
    w0 = np.array([-1.0, -6.5, 0.0])
    for vec, name in (
        (np.array([1, 0, 0]), "R"),
        (np.array([0, 1, 0]), "A"),
        (np.array([0, 0, 1]), "S"),
    ):
        ax.quiver(*w0, *(vec * L), color=GREY, lw=1.5, arrow_length_ratio=0.15)
        ax.text(*(w0 + vec * (L + 0.5)), name, color=GREY, fontsize=11, fontweight="bold")
    ax.text(*(w0 + np.array([0.0, 0.0, -1.4])), "RAS+ world axes", color=GREY, fontsize=9)
    # voxel axes from voxel (0, 0, 0)
    ax.scatter(*origin, color=ORANGE, s=40, depthshade=False)
    ax.text(
        *(origin + np.array([0.3, 0.3, -0.9])),
        "voxel (0,0,0)\naffine[:3, 3]",
        color=ORANGE,
        fontsize=9,
    )
    for vec, n, color, name in (
        (i_dir, ni, BLUE, "i  (-> patient Left)"),
        (j_dir, nj, GREEN, "j  (-> Posterior)"),
        (k_dir, nk, "#8a3fb8", "k  (-> Superior)"),
    ):
        ax.quiver(
            *origin, *(vec * (n + 1.2)), color=color, lw=2.4, arrow_length_ratio=0.12, zorder=10
        )
        ax.text(
            *(origin + vec * (n + 1.8)),
            name,
            color=color,
            fontsize=10,
            fontweight="bold",
            zorder=11,
        )
    ax.set_xlim(-4, 8)
    ax.set_ylim(-7, 5)
    ax.set_zlim(-1, 6)
    ax.set_box_aspect((1, 1, 0.8), zoom=1.2)
    ax.view_init(elev=22, azim=-58)
    ax.set_axis_off()
    ax.text2D(
        0.03,
        0.97,
        "2. The volume in RAS+ world space (axial example)",
        fontsize=12,
        transform=ax.transAxes,
        va="top",
    )


def draw(out: Path = OUT) -> Path:
    """Render the figure to ``out`` (PNG) and return the path.

    The panels are stacked so that the figure stays legible at the width of the docs' text column.
    """
    fig = plt.figure(figsize=(7.4, 10.4), dpi=100)
    ax1 = fig.add_axes((0.0, 0.555, 1.0, 0.41))
    ax2 = fig.add_axes((-0.06, 0.08, 1.12, 0.46), projection="3d", computed_zorder=False)
    _pixel_panel(ax1)
    _world_panel(ax2)
    fig.text(
        0.5,
        0.06,
        r"$(x, y, z)_{RAS} = \mathrm{diag}(-1,-1,1)\,\left(\mathrm{IPP}_0"
        r" + i\,\Delta_c\,\mathbf{r} + j\,\Delta_r\,\mathbf{c} + k\,\mathbf{s}\right)$",
        ha="center",
        fontsize=13,
    )
    fig.text(
        0.5,
        0.012,
        "r, c: ImageOrientationPatient row / column cosines\n"
        r"$\Delta_r, \Delta_c$: PixelSpacing;  s: step between slice positions",
        ha="center",
        fontsize=10,
        color=GREY,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
