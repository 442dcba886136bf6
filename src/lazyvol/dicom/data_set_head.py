"""The first bytes of a DICOM data set: explicit or implicit VR, and in which byte order, as pydicom
decides them (the element walker's and pydicom's reader's one test, :mod:`lazyvol.dicom.header`)."""

from __future__ import annotations

import struct

__all__ = ["byte_order_problem", "data_set_implicit", "looks_explicit"]


def looks_explicit(vr: bytes) -> bool:
    """Do the two bytes after a data set's first tag read as an explicit VR (two capital letters)?

    pydicom's test (``filereader._is_implicit_vr``): a 4-byte implicit length would have to exceed
    16 kB to look like one.
    """
    return len(vr) == 2 and 0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B


def data_set_implicit(says_implicit: bool, head: bytes) -> bool:
    """Whether the data set whose first 6 bytes are ``head`` is implicit VR, as pydicom decides it:
    by the first element's bytes, whatever the transfer syntax says (exporters relabel files in
    both directions); by the transfer syntax when the data set is shorter than that."""
    if len(head) < 6:
        return says_implicit
    return not looks_explicit(head[4:6])


def byte_order_problem(tsyntax: str, head: bytes) -> str:
    """Why the data set whose first 4 bytes are ``head`` is not in the byte order its transfer
    syntax ``tsyntax`` says ("" when it is, or when that cannot be told): its first element's
    group is a data set's (below 0x0100, as every image attribute's) only read in the other order.
    Neither lazyvol nor pydicom reads such a file (read in the stated order its elements are
    nonsense, their lengths running past the end of the file: it looked truncated)."""
    if len(head) < 4 or not tsyntax.startswith("1.2.840.10008.1.2"):
        return ""  # a private or unknown syntax: pydicom decides the encoding
    big = tsyntax == "1.2.840.10008.1.2.2"
    stated, other = (">", "<") if big else ("<", ">")
    group, elem = struct.unpack(f"{stated}HH", head[:4])
    swapped, swapped_elem = struct.unpack(f"{other}HH", head[:4])
    if group < 0x0100 or not 0 < swapped < 0x0100:
        return ""
    said, found = ("big", "little") if big else ("little", "big")
    return (
        f"the data set is {found} endian but TransferSyntaxUID (0002,0010) {tsyntax} says "
        f"{said} endian (its first element reads as ({swapped:04X},{swapped_elem:04X}) in "
        f"{found}-endian order, ({group:04X},{elem:04X}) in the stated one): the file meta is "
        "wrong; fix its transfer syntax or re-export the file"
    )
