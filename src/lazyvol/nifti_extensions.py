"""The extension frames after a NIfTI header: walked as nibabel walks them, kept in bounded memory.

Each frame kept becomes a small dict in ``Volume.meta`` (``{"code": ecode, "base64": content}``:
a NIfTI written from the volume carries them). A header of many tiny frames (16-byte frames
filling the 16 MiB of header bytes read at open: about a million) made about a million such dicts,
some 280 MiB of Python objects for 16 MiB of header, copied with every ``meta``. At most
:data:`MAX_EXTENSIONS` frames are kept; the walk goes on past them (checking every frame where
nibabel does) without keeping anything, and says that some were left unread, as for frames past
the header bytes read (the writers warn that they are not written).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from .errors import FormatError

__all__ = ["MAX_EXTENSIONS", "walk_extensions"]

#: Most extension frames kept at open. Real files carry a handful (dcm2niix's DICOM or JSON
#: sidecar, AFNI's attributes, one CIFTI-2 XML, FreeSurfer's tags).
MAX_EXTENSIONS = 4096


def walk_extensions(
    head: bytes,
    size_hdr: int,
    vox_offset: float,
    where: str,
    order: str,
    single: bool,
    whole: bool,
) -> tuple[list[dict[str, Any]], bool]:
    """Walk the extension frames as nibabel does (``Nifti1Extensions.from_fileobj``), raising
    where nibabel does: a frame that is cut short, or (a single file) runs past ``vox_offset``
    into the data. Returns the first :data:`MAX_EXTENSIONS` as
    :data:`~lazyvol.nifti_fields.EXTENSIONS_KEY` holds them, and whether every one was kept. A
    frame of esize 0 followed by zeros only, up to ``vox_offset``, is padding: the walk stops
    there, as niftilib (ITK, FSL, AFNI) stops (nibabel fails on it). ``whole``: ``head`` holds
    every header byte (else the frames reaching past its end are left unread, not refused, those
    before them kept: the file's size is checked against the data's end anyway); ``order``: the
    header's byte order (``"<"`` or ``">"``)."""
    flag = head[size_hdr : size_hdr + 4]
    found: list[dict[str, Any]] = []
    if len(flag) < 4 or flag[0:1] == b"\x00":
        return found, True
    frame_of = struct.Struct(order + "ii")
    pos = size_hdr + 4
    left = vox_offset - pos
    every = True
    while not single or left >= 16:
        if len(head) - pos < 8:
            if pos == len(head) and not single:
                return found, every
            if not whole:
                return found, False
            raise FormatError(
                f"{where}: invalid NIfTI/Analyze header (NIfTI extensions): failed to read "
                "extension header; the header is corrupt or cut short"
            )
        esize, code = frame_of.unpack_from(head, pos)
        pos += 8
        end = pos - 8 + int(left) if single else len(head)
        if esize == 0 and not any(head[pos - 8 : end]):
            return found, every  # zero padding up to vox_offset: the frames end, as niftilib reads
        if single and esize > left:
            raise FormatError(
                f"{where}: invalid NIfTI header (NIfTI extensions): the extension at byte "
                f"{pos - 8} (esize {esize}) runs past vox_offset {vox_offset:g} into the image "
                "data; the header is corrupt"
            )
        want = esize - 8
        got = min(want, len(head) - pos) if want >= 0 else len(head) - pos
        if got != want and not whole and pos + got == len(head):
            return found, False
        if got != want:
            raise FormatError(
                f"{where}: invalid NIfTI/Analyze header (NIfTI extensions): failed to read "
                f"extension content (esize {esize}); the header is corrupt or cut short"
            )
        if len(found) < MAX_EXTENSIONS:
            # the content as nibabel keeps it: its padding (trailing NULs) stripped
            content = head[pos : pos + want].rstrip(b"\0")
            found.append({"code": code, "base64": base64.b64encode(content).decode()})
        else:
            every = False
        pos += got
        left -= esize
    return found, every
