"""The units of OME-NGFF axes (its UDUNITS-2 lists) and what they are worth: millimetres per space
unit, for the affine lazyvol reads from OME scale and translation; seconds per time unit, for a
time axis in a unit NIfTI has no code for (minute, hour, day, ...), written to NIfTI in seconds.
Low level: it imports only :mod:`lazyvol.errors`.
"""

from __future__ import annotations

from typing import Any

from .errors import UnsupportedError

__all__ = ["MM_PER_UNIT", "SECONDS_PER_UNIT", "space_unit_name"]

#: Millimetres per unit, for every space unit OME-NGFF allows (its UDUNITS-2 list).
MM_PER_UNIT = {
    "yoctometer": 1e-21,
    "zeptometer": 1e-18,
    "attometer": 1e-15,
    "femtometer": 1e-12,
    "picometer": 1e-9,
    "angstrom": 1e-7,
    "nanometer": 1e-6,
    "micrometer": 1e-3,
    "millimeter": 1.0,
    "centimeter": 10.0,
    "inch": 25.4,
    "decimeter": 100.0,
    "foot": 304.8,
    "yard": 914.4,
    "meter": 1000.0,
    "hectometer": 1e5,
    "kilometer": 1e6,
    "mile": 1609344.0,
    "megameter": 1e9,
    "gigameter": 1e12,
    "terameter": 1e15,
    "petameter": 1e18,
    "parsec": 3.0856775814913673e19,
    "exameter": 1e21,
    "zettameter": 1e24,
    "yottameter": 1e27,
}
#: Seconds per unit, for every time unit OME-NGFF allows (its UDUNITS-2 list).
SECONDS_PER_UNIT = {
    "yoctosecond": 1e-24,
    "zeptosecond": 1e-21,
    "attosecond": 1e-18,
    "femtosecond": 1e-15,
    "picosecond": 1e-12,
    "nanosecond": 1e-9,
    "microsecond": 1e-6,
    "millisecond": 1e-3,
    "centisecond": 1e-2,
    "decisecond": 1e-1,
    "second": 1.0,
    "minute": 60.0,
    "hectosecond": 1e2,
    "kilosecond": 1e3,
    "hour": 3600.0,
    "day": 86400.0,
    "megasecond": 1e6,
    "gigasecond": 1e9,
    "terasecond": 1e12,
    "petasecond": 1e15,
    "exasecond": 1e18,
    "zettasecond": 1e21,
    "yottasecond": 1e24,
}
#: Spellings other writers use for OME-NGFF's unit names: words (compared in lower case) ...
_ALIASES = {
    "millimetre": "millimeter",
    "micron": "micrometer",
    "micrometre": "micrometer",
    "nanometre": "nanometer",
    "centimetre": "centimeter",
    "metre": "meter",
}
#: ... and SI symbols (compared exactly).
_SYMBOLS = {
    "mm": "millimeter",
    "um": "micrometer",
    "\u00b5m": "micrometer",
    "\u03bcm": "micrometer",
    "nm": "nanometer",
    "cm": "centimeter",
    "m": "meter",
}


def space_unit_name(store: str, axis: str, unit: Any) -> str:
    """OME-NGFF's name of the unit of a space axis (no unit: millimeter, lazyvol's own
    convention); a unit that is not an OME length unit is refused, never read as millimetres."""
    if unit in (None, ""):
        return "millimeter"
    # Names compare in any case; symbols exactly ("Mm" is a megametre, not "mm").
    text = str(unit).strip()
    name = _SYMBOLS.get(text) or _ALIASES.get(text.lower(), text.lower())
    if name not in MM_PER_UNIT:
        raise UnsupportedError(
            f"{store}: OME axis {axis!r} has unit {unit!r}, which is not one of OME-NGFF's space "
            f"units ({', '.join(sorted(MM_PER_UNIT))}); the voxel size cannot be given in mm"
        )
    return name
