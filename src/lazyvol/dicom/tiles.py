"""What every mosaic layout shares: one volume's slices stored as tiles of one image.

A Siemens MOSAIC (:mod:`lazyvol.dicom.mosaic`) and a UIH GRID (:mod:`lazyvol.dicom.grid`) file
hold the ``n`` slices of one volume as tiles laid out row by row, tile ``k`` at tile row
``k // columns`` and tile column ``k % columns``. :func:`tile_layout` checks that the image holds
such a grid; a file that cannot be unpacked stays one record marked with the reason
(:func:`fail`), which :func:`mosaic_error` turns into the error raised when it is opened: a mosaic
is never read as one slice.
"""

from __future__ import annotations

from .model import TRUNCATED_REMEDY
from .records import FrameRecord, upper_values
from .vendor import vendor_of

__all__ = [
    "GRID_MARK",
    "MAX_TILES",
    "MOSAIC_MARK",
    "fail",
    "is_grid_tile",
    "is_mosaic",
    "is_uih",
    "is_vframe",
    "mosaic_error",
    "tile_layout",
]

#: Most slices one mosaic may claim (scanners write up to a few hundred): a header claim is never
#: turned into an unbounded number of records.
MAX_TILES = 4096

#: Marks a Siemens mosaic file that could not be split into tiles.
MOSAIC_MARK = "MOSAIC:"
#: Marks a UIH GRID file that could not be split into tiles (see :mod:`lazyvol.dicom.grid`).
GRID_MARK = "GRID:"


def is_mosaic(rec: FrameRecord) -> bool:
    """ImageType (0008,0008) contains MOSAIC."""
    return "MOSAIC" in upper_values(rec.image_type)


def is_uih(manufacturer: str | None) -> bool:
    """Does Manufacturer (0008,0070) name United Imaging (UIH, as
    :func:`~lazyvol.dicom.vendor.vendor_of` tells vendors apart)?"""
    return vendor_of((manufacturer or "").strip()) == "UIH"


def is_vframe(rec: FrameRecord) -> bool:
    """ImageType (0008,0008) contains VFRAME (a UIH GRID, :mod:`lazyvol.dicom.grid`)."""
    return any(str(t).strip().upper() == "VFRAME" for t in rec.image_type or [])


def is_grid_tile(rec: FrameRecord) -> bool:
    """Is ``rec`` a tile of a UIH GRID (located by its own item, not by a slice spacing)?"""
    return rec.mosaic is not None and (is_vframe(rec) or is_uih(rec.manufacturer))


def fail(
    rec: FrameRecord, what: str, tile: tuple[int, int] | None = None, mark: str = MOSAIC_MARK
) -> FrameRecord:
    """Keep the file as one record that says why it is not readable (raised when opened).

    With the tile size known, the record takes it, so the file stays in the volume of the
    series' good mosaics and opening that volume names this file and the problem. ``mark``:
    :data:`GRID_MARK` for a UIH GRID file (:mod:`lazyvol.dicom.grid`).
    """
    rec.bad_attributes = [*(rec.bad_attributes or []), f"{mark} {what}"]
    rec.mosaic = None
    if tile is not None:
        rec.rows, rec.columns = tile
    return rec


def mosaic_error(rec: FrameRecord) -> tuple[str, str] | None:
    """(kind, message) when ``rec`` is a mosaic file that could not be split into tiles."""
    if rec.mosaic is not None:
        return None
    grid = [b[len(GRID_MARK) + 1 :] for b in rec.bad_attributes or [] if b.startswith(GRID_MARK)]
    if grid:
        return "format", (
            f"{rec.path}: UIH GRID image (one volume's slices as tiles of one image; ImageType "
            f"(0008,0008) {rec.image_type}): {grid[0]}; lazyvol does not read a mosaic as one slice"
        )
    why = [b[len(MOSAIC_MARK) + 1 :] for b in rec.bad_attributes or [] if b.startswith(MOSAIC_MARK)]
    if not why and (not is_mosaic(rec) or rec.number_of_frames > 1):
        return None  # an enhanced file's frame: read as a slice (see frames_are_slices)
    detail = why[0] if why else "the mosaic was not unpacked"
    kind = "MOSAIC" if is_mosaic(rec) else "mosaic (NumberOfImagesInMosaic > 1)"
    return "format", (
        f"{rec.path}: Siemens {kind} image (ImageType (0008,0008) {rec.image_type}): {detail}; "
        "lazyvol does not read a mosaic as one slice"
    )


def tile_layout(
    rec: FrameRecord, n: int, grid: tuple[int, int], count: str, mark: str = MOSAIC_MARK
) -> tuple[int, int] | FrameRecord:
    """The tile size (rows, columns) of mosaic ``rec`` holding ``n`` slices as a ``grid`` of
    (tile rows, tile columns), or the failed record (see :func:`fail`).

    ``count`` names the attribute that gave ``n`` (for the messages).
    """
    if n < 1:
        return fail(rec, f"{count} = {n}: a mosaic holds at least one slice", mark=mark)
    if n > MAX_TILES:
        return fail(
            rec,
            f"{count} = {n} is implausible (more than {MAX_TILES} slices in one image); not "
            "unpacked",
            mark=mark,
        )
    mrows, mcols = rec.rows, rec.columns
    grows, gcols = grid
    tile = (mrows // grows, mcols // gcols)
    if grows > mrows or gcols > mcols or mrows % grows or mcols % gcols:
        return fail(
            rec,
            f"{count} = {n} needs a grid of {grows}x{gcols} tiles, which does not divide the "
            f"{mrows}x{mcols} mosaic (Rows (0028,0010) x Columns (0028,0011))",
            mark=mark,
        )
    if rec.number_of_frames != 1:
        return fail(
            rec,
            f"NumberOfFrames (0028,0008) = {rec.number_of_frames} in a mosaic (expected 1)",
            tile,
            mark,
        )
    itemsize = max(1, rec.bits_allocated // 8)
    need = mrows * mcols * itemsize * max(1, rec.samples_per_pixel)
    if rec.pixel_length >= 0 and (
        rec.pixel_length < need or rec.pixel_offset + need > rec.data_size
    ):
        return fail(
            rec,
            f"Pixel Data (7FE0,0010) holds {min(rec.pixel_length, rec.data_size - rec.pixel_offset)} "
            f"bytes but the {mrows}x{mcols} mosaic needs {need} (truncated file?): "
            + TRUNCATED_REMEDY,
            tile,
            mark,
        )
    return tile
