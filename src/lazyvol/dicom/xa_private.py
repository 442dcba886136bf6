"""Siemens XA's private blocks in group 0021, wherever their creators put them.

XA software writes the image block "SIEMENS MR SDI 02" at (0021,0011), so its elements are
(0021,11xx): the polarity (0021,111C), the phase-encode bandwidth (0021,1153), the per-frame
sequence (0021,11FE); and the series block "SIEMENS MR SDS 01" at (0021,0010): the protocol text
(ASCCONV, the CSA series header's MrPhoenixProtocol of older software) in (0021,1019), at the top
level of a classic file and inside the shared functional group's private sequence (0021,10FE) of
an enhanced one. A PACS may move a private block to another number when it rewrites a file
(dcm2niix's dcm_qa_agfa: an Agfa PACS moved blocks to (0021,0010)); the creator element then says
where it went, and dcm2niix reads the elements there. As dcm2niix, without such a creator in the
file the elements are read at their usual number (whatever owns that block), and so are elements
absent from the creator's block.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SDI_BLOCKS",
    "SDI_CREATOR",
    "SDI_TAGS",
    "SDS_CREATOR",
    "TIME_AFTER_START",
    "XA_PROTOCOL_TAGS",
    "sdi_element",
    "sdi_tag",
    "sdi_tags",
    "xa_protocol_at",
]

SDI_CREATOR = "SIEMENS MR SDI 02"
SDS_CREATOR = "SIEMENS MR SDS 01"
#: The blocks searched for a creator, the usual ones (0x10 SDS, 0x11 SDI) among them.
SDI_BLOCKS = (0x10, 0x11, 0x12, 0x13)
_USUAL = {SDI_CREATOR: 0x11, SDS_CREATOR: 0x10}
_GROUP = 0x0021
#: The protocol text (0021,1019) and the private sequence (0021,10FE) of the SDS block.
_PROTOCOL, _SDS_SEQUENCE = 0x19, 0xFE


def _tag(block: int, element: int) -> int:
    return (_GROUP << 16) | (block << 8) | element


def sdi_tags(elements: tuple[int, ...]) -> frozenset[int]:
    """The header-scan tags needed to read ``elements`` of the block wherever it is: the creator
    elements (0021,0010-0013) and each element in each of those blocks."""
    return frozenset(
        {(_GROUP << 16) | b for b in SDI_BLOCKS}
        | {_tag(b, e) for b in SDI_BLOCKS for e in elements}
    )


#: Read at the top level of classic files: the polarity (0x1C), the phase-encode bandwidth (0x53),
#: RealDwellTime (0x42), the active coil elements (0x4F), TimeAfterStart (0x04) of the SDI block
#: and PATModeText (0x09) and the table position (0x05) of the SDS block (the tags of every
#: block, whichever creator owns it).
SDI_TAGS = sdi_tags((0x1C, 0x53, 0x42, 0x4F, 0x04, 0x09, 0x05))
#: TimeAfterStart (0021,1104) of the SDI block (DS, seconds since the run started): an XA classic
#: slice's acquisition time, from which dcm2niix takes its SliceTiming.
TIME_AFTER_START = 0x04
#: Where the protocol text (0021,1019) may lie, in whichever block: located by the header scan,
#: never read there (about 100 kB; the sidecar reads it once per volume).
XA_PROTOCOL_TAGS = frozenset(_tag(b, _PROTOCOL) for b in SDI_BLOCKS)


def _creator_text(value: Any) -> str:
    value = getattr(value, "value", value)
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1")
    return str(value or "").strip(" \x00").upper()


def sdi_tag(raw: dict[int, Any], element: int, creator: str = SDI_CREATOR) -> int:
    """The tag of ``element`` (the low byte: 0x1C for (0021,111C)) of the block of ``creator``
    (the SDI block by default) in a header scan's raw elements: in the block whose creator is
    ``creator`` when it is there, else the usual one (files that name the creator in one block and
    write the elements in the usual one are read as dcm2niix reads them)."""
    for block in SDI_BLOCKS:
        if _creator_text(raw.get((_GROUP << 16) | block)) == creator:
            if _tag(block, element) in raw:
                return _tag(block, element)
    return _tag(_USUAL[creator], element)


def sdi_element(ds: Any, element: int, creator: str = SDI_CREATOR, *, raw: bool = False) -> Any:
    """The data element ``element`` of the block of ``creator`` (the SDI block by default) of a
    pydicom data set (a functional group, or an item of its private sequence (0021,11FE),
    ``element`` 0xFE), or None. ``raw``: as the data set holds it (pydicom's raw element, with
    its position, when not yet read), else converted."""
    if not hasattr(ds, "get"):
        return None
    get = ds.get_item if raw and hasattr(ds, "get_item") else ds.get
    for block in SDI_BLOCKS:
        found_creator = ds.get((_GROUP << 16) | block)
        if found_creator is not None and _creator_text(found_creator) == creator:
            found = get(_tag(block, element))
            if found is not None:
                return found
    return get(_tag(_USUAL[creator], element))


def _position(elem: Any) -> tuple[int, int, bool] | None:
    """(where the value starts in the bytes it was read from, its length, whether it was read in
    place: a sequence of undefined length, whose items are then read from the same bytes) of a
    pydicom element, raw or converted."""
    tell = getattr(elem, "value_tell", getattr(elem, "file_tell", None))
    if not isinstance(tell, int) or tell < 0:
        return None
    length = getattr(elem, "length", None)
    if length is None:  # (converted: the length of its bytes; a sequence's is not kept)
        value = getattr(elem, "value", None)
        length = len(value) if isinstance(value, bytes) else -1
    in_place = length == 0xFFFFFFFF or bool(getattr(elem, "is_undefined_length", False))
    return tell, length, in_place


def xa_protocol_at(shared_el: Any, shared: Any) -> list[int] | None:
    """Where the protocol text (0021,1019) of an enhanced file lies, [offset, length] in the file:
    in the first item of the SDS block's private sequence (0021,10FE) of the shared functional
    group ``shared`` (the first item of the top-level element ``shared_el``); None when it has
    none.

    pydicom reads a sequence of defined length from its bytes, so the positions of the elements
    of its items count from the start of its value; one of undefined length is read in place,
    from the bytes around it."""
    outer = _position(shared_el)
    seq = sdi_element(shared, _SDS_SEQUENCE, SDS_CREATOR, raw=True)
    inner = _position(seq) if seq is not None else None
    if outer is None or inner is None:
        return None
    base = 0 if outer[2] else outer[0]
    base += 0 if inner[2] else inner[0]
    try:
        items = sdi_element(shared, _SDS_SEQUENCE, SDS_CREATOR).value
        text = sdi_element(items[0], _PROTOCOL, SDS_CREATOR, raw=True) if items else None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        return None  # (a private sequence pydicom cannot parse: not read)
    at = _position(text) if text is not None else None
    if at is None or at[1] <= 0:  # (a size past the read limit is said at stacking)
        return None
    return [base + at[0], at[1]]
