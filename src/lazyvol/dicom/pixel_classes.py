"""Which DICOM objects hold pixels, and so why a header without Pixel Data is skipped: an image
(or another class that holds pixels) cut short, or a complete object of a class that holds none
(a structured report, spectroscopy, a physiological log, an RT plan), valid DICOM lazyvol does not
read. Decided by the standard's classes, never by words of a vendor's private class name.
"""

from __future__ import annotations

from .header_values import ValueReader, _tag_str

__all__ = ["no_pixels_reason"]


def no_pixels_reason(sop_class: str, r: ValueReader, cut: str = "") -> tuple[str, bool]:
    """Why a header without Pixel Data is skipped (truncated image, or not an image), and
    whether for a valid file of a kind lazyvol does not read (``HeaderSkip.unsupported``);
    ``cut`` names the values the end of the file cut short (the file is truncated, whatever its
    class)."""
    if sop_class:
        from pydicom.uid import UID  # only for the message of a skipped file

        name = UID(sop_class).name
    else:
        name = "unknown SOP class"
    missing = [k for k in ("Rows", "Columns", "BitsAllocated") if k not in r]
    if cut:
        names = "".join(f", {k} {_tag_str(k)}" for k in missing)
        reason = (
            f"{name} file truncated inside {cut}: required attributes missing (Pixel Data "
            f"(7FE0,0010){names})"
        )
    elif "Image" in name and missing:
        # An image SOP class whose file ends before its image attributes: cut in its header.
        names = ", ".join(f"{k} {_tag_str(k)}" for k in missing)
        reason = (
            f"{name} file truncated: required attributes missing ({names}, Pixel Data (7FE0,0010))"
        )
    elif "Image" in name:
        reason = f"{name} file without Pixel Data (7FE0,0010): truncated?"
    elif not sop_class:
        # No SOP class in the file meta or the data set (every DICOM object states one): the
        # file ends in its file meta group or before its data set, not a file of another kind.
        reason = (
            "truncated: no SOPClassUID (0008,0016) and no Pixel Data (7FE0,0010) (the file ends in "
            "its file meta group or before its data set)"
        )
    elif _without_pixels(sop_class, name) and (
        sop_class in _GRID_WITHOUT_PIXELS or not any(k in r for k in ("Rows", "Columns"))
    ):
        # A complete file of a class without pixels (a structured report, a spectroscopy or
        # physiological-log object, an RT plan): valid DICOM lazyvol does not read.
        return f"no Pixel Data (7FE0,0010): not an image ({_PRIVATE_NAMES.get(name, name)})", True
    else:
        # A class that holds pixels (a parametric map, a segmentation, a vendor's private one:
        # not known to hold none) or a header with image attributes: cut before its pixels.
        reason = f"{name} file without Pixel Data (7FE0,0010): truncated?"
    return reason, False


#: Standard SOP classes whose objects hold pixels without "Image" in their name (PS3.3 / PS3.4);
#: RT Dose is not among them: one may hold dose-volume histograms only.
_PIXEL_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.30",  # Parametric Map
        "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
        "1.2.840.10008.5.1.4.1.1.66.7",  # Label Map Segmentation
        "1.2.840.10008.5.1.4.1.1.66.8",  # Heightmap Segmentation
        "1.2.840.10008.5.1.4.1.1.81.1",  # Ophthalmic Thickness Map
        "1.2.840.10008.5.1.4.1.1.82.1",  # Corneal Topography Map
        "1.2.840.10008.5.1.4.1.1.77.1.5.8",  # Ophthalmic OCT B-scan Volume Analysis
        "1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
        "1.2.840.10008.5.1.4.1.1.501.4",  # DICOS 2D AIT
        "1.2.840.10008.5.1.4.1.1.501.5",  # DICOS 3D AIT
    }
)
#: Vendors' private classes known to hold no pixels: Siemens CSA Non-Image (physiological logs,
#: spectroscopy, raw data).
_NO_PIXELS_PRIVATE = frozenset({"1.3.12.2.1107.5.9.1"})
#: Names of those private classes, for messages.
_PRIVATE_NAMES = {"1.3.12.2.1107.5.9.1": "Siemens CSA Non-Image Storage (1.3.12.2.1107.5.9.1)"}
#: Classes without pixels whose objects state Rows and Columns all the same (the grid of their
#: spectroscopy voxels; MR Spectroscopy makes them Type 1): such a file is complete, not an image
#: cut before its pixels.
_GRID_WITHOUT_PIXELS = frozenset({"1.2.840.10008.5.1.4.1.1.4.2", *_NO_PIXELS_PRIVATE})


def _without_pixels(sop_class: str, name: str) -> bool:
    """Is ``sop_class`` (named ``name``, the UID itself when not a standard one) a class whose
    objects hold no pixels: a standard class that is no image class, or a known private one? An
    unknown class may hold pixels (a vendor's private image class)."""
    if sop_class in _NO_PIXELS_PRIVATE:
        return True
    return name != sop_class and "Image" not in name and sop_class not in _PIXEL_CLASSES
