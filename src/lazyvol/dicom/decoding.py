"""One compressed frame decoded by one of pydicom's decoder plugins, chosen, never a fallback.

pydicom's decoder for a transfer syntax tries its plugins in turn and returns the image of the
first that does not raise: a frame one plugin rejects as damaged is then decoded by the next, which
may accept the damage and return a partly wrong image without a word (libjpeg, through pylibjpeg,
decodes a corrupted JPEG or JPEG-LS stream that CharLS or Pillow reject). So lazyvol names the
plugin (``decoding_plugin``): the first installed one in :data:`_ORDER`, pydicom's own order but
CharLS (pyjpegls) first for JPEG-LS (the reference implementation, which finds damage libjpeg
decodes; JPEG-LS decoding is exact, so both give the same values of a sound frame), skipping those
that cannot decode the frame's kind (GDCM and Pillow: JPEG Extended of other than 8 bits, as their
pydicom plugins say). That plugin's failure is the frame's error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FormatError
from ..scaled_dtypes import stored_range
from .codestream import ENCAPSULATED_UNCOMPRESSED

__all__ = ["decode_frame", "decoded_range", "decoding_plugin"]

_JPEG_LS = ("pyjpegls", "gdcm", "pylibjpeg")
_JPEG = ("gdcm", "pylibjpeg", "pillow")
#: Transfer syntax UID -> its plugins, most preferred first (pydicom 3's order but for JPEG-LS);
#: a plugin installed but not listed comes after these, by name.
_ORDER: dict[str, tuple[str, ...]] = {
    "1.2.840.10008.1.2.4.50": _JPEG,  # baseline
    "1.2.840.10008.1.2.4.51": _JPEG,  # extended
    "1.2.840.10008.1.2.4.57": ("gdcm", "pylibjpeg"),  # lossless
    "1.2.840.10008.1.2.4.70": ("gdcm", "pylibjpeg"),  # lossless SV1
    "1.2.840.10008.1.2.4.80": _JPEG_LS,
    "1.2.840.10008.1.2.4.81": _JPEG_LS,
    "1.2.840.10008.1.2.4.90": _JPEG,  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": _JPEG,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": ("pylibjpeg",),  # HTJ2K lossless
    "1.2.840.10008.1.2.4.202": ("pylibjpeg",),  # HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203": ("pylibjpeg",),  # HTJ2K
    "1.2.840.10008.1.2.5": ("pylibjpeg", "pydicom"),  # RLE
}
#: Plugins that cannot decode JPEG Extended of other than 8 bits (their pydicom plugins raise).
_EIGHT_BIT_EXTENDED = ("gdcm", "pillow")


def decoding_plugin(syntax: str, available: tuple[str, ...], bits_stored: int) -> str:
    """The plugin to decode a frame of ``syntax`` with (of the ``available`` ones; "": none can).

    Parameters
    ----------
    syntax : str
        Transfer syntax UID of the frame.
    available : tuple of str
        Names of the plugins installed (pydicom's ``Decoder.available_plugins``).
    bits_stored : int
        BitsStored of the frame.

    Returns
    -------
    str
        The plugin's name, or "" when no installed plugin decodes such a frame.
    """
    order = _ORDER.get(syntax, ())
    ranked = [p for p in order if p in available] + sorted(p for p in available if p not in order)
    if syntax == "1.2.840.10008.1.2.4.51" and bits_stored != 8:
        ranked = [p for p in ranked if p not in _EIGHT_BIT_EXTENDED]
    return ranked[0] if ranked else ""


def _reason(exc: BaseException) -> str:
    """The plugin's own words in a decoder's error (pydicom prefixes them with a line of its own
    and the plugin's name)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Unable to decode"):
        lines = [line.split(": ", 1)[-1] for line in lines[1:]]
    return " ".join(lines) or type(exc).__name__


def decode_frame(syntax: str, buf: bytes, attrs: dict[str, Any], where: str) -> np.ndarray:
    """Decode the one-frame encapsulated value ``buf`` with the plugin :func:`decoding_plugin`
    chooses, and no other.

    Parameters
    ----------
    syntax : str
        Transfer syntax UID of the frame.
    buf : bytes
        The frame's items, as an encapsulated value of one frame.
    attrs : dict
        pydicom's decoding options (``rows``, ``columns``, ``bits_stored`` ...).
    where : str
        How messages name the frame (its file and number).

    Returns
    -------
    numpy.ndarray
        The decoded samples, as the plugin returns them.

    Raises
    ------
    FormatError
        The plugin fails on the frame (damaged data), or no installed plugin decodes its kind.
    """
    if syntax == ENCAPSULATED_UNCOMPRESSED:
        return _uncompressed_frame(buf, attrs, where)
    from pydicom.pixels import get_decoder

    decoder = get_decoder(syntax)
    name = decoding_plugin(syntax, decoder.available_plugins, int(attrs["bits_stored"]))
    if not name:
        raise FormatError(
            f"{where}: no installed decoder of {decoder.UID.name} decodes "
            f"{attrs['bits_stored']}-bit samples (installed: "
            f"{', '.join(decoder.available_plugins) or 'none'}); install pylibjpeg-libjpeg "
            "(pip install 'lazyvol[codecs]')"
        )
    try:
        arr, _ = decoder.as_array(buf, index=0, decoding_plugin=name, **attrs)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # decoder plugins raise many types on corrupt data, and a
        # Rust (pyo3) decoder's panic is a BaseException (pyo3_runtime.PanicException)
        raise FormatError(
            f"{where} ({decoder.UID.name}) failed: {name} rejects its compressed data: "
            f"{_reason(exc)}. The frame is damaged, or not what its header says; no other "
            "decoder is tried (one that accepted damaged data would return a partly made-up "
            "image): re-export the file, or decompress it with another tool (gdcmconv --raw)"
        ) from exc
    return np.asarray(arr)


def _uncompressed_frame(buf: bytes, attrs: dict[str, Any], where: str) -> np.ndarray:
    """The values of the one-frame Encapsulated Uncompressed value ``buf`` (its items): its
    fragments' bytes, little endian, exactly Rows x Columns samples of BitsAllocated bits (an odd
    count padded by one byte), read as native data are: the bits above BitsStored cleared, or
    copies of the sign bit for signed values (pydicom's native reading)."""
    from pydicom.encaps import get_frame

    rows, columns, bits = int(attrs["rows"]), int(attrs["columns"]), int(attrs["bits_allocated"])
    name = "Encapsulated Uncompressed Explicit VR Little Endian"
    try:
        frame = get_frame(buf, 0, number_of_frames=1)
    except Exception as exc:  # (pydicom raises several types on malformed items)
        raise FormatError(f"{where} ({name}): its items cannot be read ({exc})") from exc
    size = rows * columns * (bits // 8)
    if bits % 8 or len(frame) - size not in (0, 1):
        raise FormatError(
            f"{where} ({name}): its fragments hold {len(frame)} bytes, but Rows x Columns x "
            f"BitsAllocated/8 = {rows} x {columns} x {bits}/8 = {size}: the header does not "
            "describe its pixels; fix Rows/Columns/BitsAllocated or re-export the file"
        )
    kind = "i" if attrs["pixel_representation"] else "u"
    values = np.frombuffer(frame, dtype=f"<{kind}{bits // 8}", count=rows * columns).copy()
    shift = bits - int(attrs["bits_stored"])
    if 0 < shift < bits:
        np.left_shift(values, shift, out=values)
        np.right_shift(values, shift, out=values)
    return values.reshape(rows, columns)


def decoded_range(
    values: np.ndarray,
    bits_stored: int,
    decoded_bits: int,
    scaling: tuple[float, float],
    out_dtype: np.dtype,
    where: str,
) -> tuple[int, int] | None:
    """The range a decoded frame's integer ``values`` lie in, for the scaling to trust: that of
    BitsStored ``bits_stored`` widened to ``decoded_bits`` (the codestream precision found at
    open; within the values' dtype), which chose the volume's dtype, checked: a decoder returns a
    JPEG 2000 or JPEG-LS codestream's values whatever BitsStored says, and a later frame may hold
    wider samples than those read at open.

    Parameters
    ----------
    values : numpy.ndarray
        The decoded stored values (an integer dtype).
    bits_stored, decoded_bits : int
        The frame's BitsStored, and the volume's ``FrameTable.decoded_bits``.
    scaling : tuple of float
        (slope, intercept) the values are scaled by.
    out_dtype : numpy.dtype
        The integer dtype they are scaled into.
    where : str
        How messages name the frame (its file and number).

    Returns
    -------
    tuple of int or None
        The range; None when the values lie beyond it but still fit ``out_dtype`` once scaled
        (each value is then checked as it is scaled).

    Raises
    ------
    FormatError
        Values beyond that range that do not fit ``out_dtype`` once scaled: they would wrap.
    """
    bits = min(max(bits_stored, decoded_bits), 8 * values.dtype.itemsize)
    bound = stored_range(values.dtype, bits)
    if not values.size:
        return bound
    lo, hi = int(values.min()), int(values.max())
    if bound[0] <= lo and hi <= bound[1]:
        return bound
    slope, inter = scaling
    ends = sorted((lo * slope + inter, hi * slope + inter))
    info = np.iinfo(out_dtype)
    if info.min <= ends[0] and ends[1] <= info.max:
        return None
    widened = " (widened to the codestream precision read at open)" if bits > bits_stored else ""
    said = "scaled, they" if (slope, inter) != (1.0, 0.0) else "they"
    raise FormatError(
        f"{where}: decoded values {lo} .. {hi} lie beyond the {bits}-bit range of BitsStored "
        f"(0028,0101) = {bits_stored}{widened} that the volume's dtype was chosen for; "
        f"{said} do not fit {np.dtype(out_dtype)} and would wrap. The frame's codestream "
        "holds wider samples than the header states (its decoder returns them, as pydicom's): "
        "fix BitsStored (0028,0101) / HighBit (0028,0102) or re-encode the file, or open it "
        "with dtype='float32' (or a wider integer dtype) to read them as decoded"
    )
