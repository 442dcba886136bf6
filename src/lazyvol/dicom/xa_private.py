"""Siemens XA's private block "SIEMENS MR SDI 02" in group 0021, wherever its creator put it.

XA software writes the block at (0021,0011), so its elements are (0021,11xx): the polarity
(0021,111C), the phase-encode bandwidth (0021,1153), the per-frame sequence (0021,11FE). A PACS
may move a private block to another number when it rewrites a file (dcm2niix's dcm_qa_agfa: an
Agfa PACS moved blocks to (0021,0010)); the creator element then says where it went, and
dcm2niix reads the elements there. As dcm2niix, without such a creator in the file the elements
are read at their usual number (whatever owns that block), and so are elements absent from the
creator's block.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SDI_BLOCKS", "SDI_CREATOR", "SDI_TAGS", "sdi_element", "sdi_tag", "sdi_tags"]

SDI_CREATOR = "SIEMENS MR SDI 02"
#: The blocks searched for the creator, its usual one (0x11) among them.
SDI_BLOCKS = (0x10, 0x11, 0x12, 0x13)
_USUAL = 0x11
_GROUP = 0x0021


def _tag(block: int, element: int) -> int:
    return (_GROUP << 16) | (block << 8) | element


def sdi_tags(elements: tuple[int, ...]) -> frozenset[int]:
    """The header-scan tags needed to read ``elements`` of the block wherever it is: the creator
    elements (0021,0010-0013) and each element in each of those blocks."""
    return frozenset(
        {(_GROUP << 16) | b for b in SDI_BLOCKS}
        | {_tag(b, e) for b in SDI_BLOCKS for e in elements}
    )


#: The polarity (0x1C) and the phase-encode bandwidth (0x53), read at the top level of classic files.
SDI_TAGS = sdi_tags((0x1C, 0x53))


def _creator_text(value: Any) -> str:
    value = getattr(value, "value", value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    return str(value or "").strip(" \x00").upper()


def sdi_tag(raw: dict[int, Any], element: int) -> int:
    """The tag of ``element`` (the low byte: 0x1C for (0021,111C)) of the SDI block in a header
    scan's raw elements: in the block whose creator is "SIEMENS MR SDI 02" when it is there, else
    the usual one (files that name the creator in one block and write the elements in the usual
    one are read as dcm2niix reads them)."""
    for block in SDI_BLOCKS:
        if _creator_text(raw.get((_GROUP << 16) | block)) == SDI_CREATOR:
            if _tag(block, element) in raw:
                return _tag(block, element)
    return _tag(_USUAL, element)


def sdi_element(ds: Any, element: int) -> Any:
    """The data element ``element`` of the SDI block of a pydicom data set (a functional group, or
    an item of its private sequence (0021,11FE), ``element`` 0xFE), or None."""
    if not hasattr(ds, "get"):
        return None
    for block in SDI_BLOCKS:
        creator = ds.get((_GROUP << 16) | block)
        if creator is not None and _creator_text(creator) == SDI_CREATOR:
            found = ds.get(_tag(block, element))
            if found is not None:
                return found
    return ds.get(_tag(_USUAL, element))
