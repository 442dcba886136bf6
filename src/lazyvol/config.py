"""Runtime settings: cache location, chunk budget and resource limits.

Settings come from environment variables first, then from dask's configuration under ``lazyvol.*``,
then from the defaults below.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "cache_dir",
    "chunk_budget",
    "configured_chunk_budget",
    "is_flag",
    "max_chunk_bytes",
    "max_scan_files",
    "max_volume_bytes",
    "setting_bytes",
    "setting_count",
    "setting_seconds",
    "usable_cores",
]

#: Default chunk budget in bytes. Dask's own ``array.chunk-size`` (128 MiB) with one chunk in flight
#: per thread plus its reduction temporaries does not fit the 256 MiB peak a streaming mean must
#: keep, so lazyvol plans smaller slabs unless ``lazyvol.chunk-size`` says otherwise.
DEFAULT_CHUNK_BYTES = 32 * 2**20

#: Default refusal limit for a single volume's size in memory (after scaling): 1 TiB.
DEFAULT_MAX_VOLUME_BYTES = 2**40

#: Default refusal limit for one stored chunk of a Zarr array (decoded, whole): 2 GiB. Reading any
#: voxel of a chunk decodes all of it, so a store whose chunk_shape claims more would allocate
#: that much per task (Blosc, zarr's usual codec, cannot hold more than 2 GiB in a chunk anyway).
DEFAULT_MAX_CHUNK_BYTES = 2**31

#: Default refusal limit for the files one DICOM scan lists: a million (a 100k-file study folder
#: fits ten times; the listing of a million paths alone takes a few hundred MB).
DEFAULT_MAX_SCAN_FILES = 1_000_000


#: Byte units as ``dask.utils.parse_bytes`` reads them (lower case; decimal and binary).
_UNITS = {
    "": 1,
    "b": 1,
    **{p: 1000**i for i, p in enumerate("kmgtp", 1)},
    **{p + "b": 1000**i for i, p in enumerate("kmgtp", 1)},
    **{p + "i": 1024**i for i, p in enumerate("kmgtp", 1)},
    **{p + "ib": 1024**i for i, p in enumerate("kmgtp", 1)},
}


def _parse_bytes(value: object) -> int:
    """``"32MiB"``, ``"1 GB"``, ``"4e6"`` or an int as bytes, like ``dask.utils.parse_bytes``
    (which reads the forms this does not, and raises for the invalid ones), without dask."""
    if isinstance(value, int):
        return value
    text = str(value).strip().replace(" ", "")
    split = len(text) - len(text.lstrip("0123456789.eE+-"))
    number, unit = text[:split], text[split:].lower()
    if number and unit in _UNITS:
        try:
            return int(float(number) * _UNITS[unit])
        except ValueError:
            pass
    import dask.utils

    return int(dask.utils.parse_bytes(str(value)))


def _dask_config_files_exist() -> bool:
    """True when a YAML file dask would read at import may exist (the paths ``dask.config`` searches)."""
    dirs = [
        os.environ.get("DASK_ROOT_CONFIG", "/etc/dask"),
        os.path.join(sys.prefix, "etc", "dask"),
        os.path.join(os.path.expanduser("~"), ".config", "dask"),
    ]
    if os.environ.get("DASK_CONFIG"):
        dirs.append(os.environ["DASK_CONFIG"])
    return any(os.path.isdir(d) or os.path.isfile(d) for d in dirs)


def _dask_setting(key: str) -> Any:
    """``dask.config.get("lazyvol.<key>")`` without importing dask when nothing could set it.

    dask's configuration comes from ``dask.config.set`` (dask is then imported already), from
    ``DASK_*`` environment variables and from YAML files: dask is imported only when one of those
    may hold a value, so ``import lazyvol`` and opening a NIfTI file stay free of dask's import.
    """
    if "dask" not in sys.modules:
        env_key = "DASK_LAZYVOL__" + key.upper().replace("-", "_")
        if env_key not in os.environ and not _dask_config_files_exist():
            return None
    import dask.config

    return dask.config.get(f"lazyvol.{key}", None)


def cache_dir() -> Path:
    """Directory of lazyvol's caches (Zarr entries, gzip seek indexes, DICOM scan indexes).

    ``LAZYVOL_CACHE_DIR`` wins; otherwise the platform's user cache directory (platformdirs).
    The directory is not created here.
    """
    env = os.environ.get("LAZYVOL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("lazyvol"))


def setting_bytes(value: object, name: str, minimum: int = 1) -> int:
    """A size setting's value (``"32MiB"``, ``"1 GB"``, ``4e6``, an int) as bytes, at least
    ``minimum``; ``name`` (the environment variable or dask config key it came from) is named in
    the :class:`~lazyvol.errors.OptionError` a value that is no such size raises."""
    try:
        nbytes = _parse_bytes(value)
    except (ValueError, TypeError, OverflowError):
        nbytes = None
    if nbytes is None or nbytes < minimum:
        from .errors import OptionError

        raise OptionError(
            f"{name}={value!r} is not a size lazyvol can use: give a number of bytes of at least "
            f"{minimum}, optionally with a unit (e.g. '32MiB', '1GB', '4e6'), or unset it for "
            "the default"
        )
    return nbytes


def _bytes_setting(env_name: str, key: str) -> int | None:
    """A size the user set: the environment variable ``env_name`` (wins), else dask's config
    ``lazyvol.<key>``; None when neither is set. A value that is not a positive size raises
    :class:`~lazyvol.errors.OptionError` naming the variable (a chunk budget of 0 or -5 made
    one-voxel chunks: millions of tasks)."""
    env = os.environ.get(env_name)
    if env:
        return setting_bytes(env, env_name)
    value = _dask_setting(key)
    return setting_bytes(value, f"lazyvol.{key}") if value is not None else None


def chunk_budget() -> int:
    """Bytes per chunk for ``chunks="auto"``: ``LAZYVOL_CHUNK_SIZE``, ``lazyvol.chunk-size``, or 32 MiB."""
    configured = _bytes_setting("LAZYVOL_CHUNK_SIZE", "chunk-size")
    return DEFAULT_CHUNK_BYTES if configured is None else configured


def configured_chunk_budget() -> int | None:
    """The chunk budget the user set (``LAZYVOL_CHUNK_SIZE`` or ``lazyvol.chunk-size``), else None.

    :func:`lazyvol.chunking.normalize_chunks` uses it to let a reader's own default chunk size
    (DICOM slabs, ``.nii.gz`` blocks) give way to an explicit setting, without importing dask when
    nothing could have set one.
    """
    return _bytes_setting("LAZYVOL_CHUNK_SIZE", "chunk-size")


def check_volume_bytes(nbytes: int, claim: str) -> None:
    """Refuse a volume of ``nbytes`` over :func:`max_volume_bytes`, before anything is allocated.

    ``claim`` opens the message: who claims the bytes (``"<file>: header dim [...] claims"``).

    Raises
    ------
    lazyvol.ResourceLimitError
        Over the limit.
    """
    limit = max_volume_bytes()
    if nbytes > limit:
        from .errors import ResourceLimitError

        raise ResourceLimitError(
            f"{claim} {nbytes} bytes, over the limit of {limit} (raise LAZYVOL_MAX_VOLUME_BYTES if "
            "this is real)"
        )


def check_chunk_bytes(
    nbytes: int, claim: str, *, unit: str = "chunk", remedy: str = "rechunk the store"
) -> None:
    """Refuse a stored chunk of ``nbytes`` (decoded) over :func:`max_chunk_bytes`, before any is
    read. ``claim`` opens the message, as for :func:`check_volume_bytes`; ``unit`` names what is
    decoded whole (a Zarr chunk, a compressed DICOM frame) and ``remedy`` the other way past.

    Raises
    ------
    lazyvol.ResourceLimitError
        Over the limit.
    """
    limit = max_chunk_bytes()
    if nbytes > limit:
        from .errors import ResourceLimitError

        raise ResourceLimitError(
            f"{claim} {nbytes} bytes per {unit}, over the limit of {limit}: reading any voxel "
            f"decodes a whole {unit} (raise LAZYVOL_MAX_CHUNK_BYTES if this is real, or {remedy})"
        )


def max_chunk_bytes() -> int:
    """Largest stored Zarr chunk or compressed DICOM frame (decoded bytes) lazyvol agrees to read.

    ``LAZYVOL_MAX_CHUNK_BYTES`` or ``lazyvol.max-chunk-bytes``; default 2 GiB. A store whose
    ``chunk_shape`` claims more, or a compressed DICOM series whose Rows x Columns do, is refused
    at open with :class:`lazyvol.ResourceLimitError`.
    """
    configured = _bytes_setting("LAZYVOL_MAX_CHUNK_BYTES", "max-chunk-bytes")
    return DEFAULT_MAX_CHUNK_BYTES if configured is None else configured


def max_volume_bytes() -> int:
    """Largest volume (bytes in memory after scaling) lazyvol agrees to open.

    ``LAZYVOL_MAX_VOLUME_BYTES`` or ``lazyvol.max-volume-bytes``; default 1 TiB. A header that claims
    more is refused at open with :class:`lazyvol.ResourceLimitError` before anything is allocated.
    """
    configured = _bytes_setting("LAZYVOL_MAX_VOLUME_BYTES", "max-volume-bytes")
    return DEFAULT_MAX_VOLUME_BYTES if configured is None else configured


def max_scan_files() -> int:
    """Most files one DICOM folder scan agrees to list.

    ``LAZYVOL_MAX_SCAN_FILES`` or ``lazyvol.max-scan-files``; default one million. A scan pointed at
    a larger tree (a whole archive, ``/`` by mistake) is refused with
    :class:`lazyvol.ResourceLimitError` while listing, before any header is read.
    """
    env = os.environ.get("LAZYVOL_MAX_SCAN_FILES")
    if env:
        return setting_count(env, "LAZYVOL_MAX_SCAN_FILES")
    value = _dask_setting("max-scan-files")
    if value is None:
        return DEFAULT_MAX_SCAN_FILES
    return setting_count(value, "lazyvol.max-scan-files")


def setting_count(value: object, name: str, minimum: int = 1) -> int:
    """A whole number of at least ``minimum`` from a setting (``"200000"``, ``2e5``), or an
    :class:`~lazyvol.errors.OptionError` naming the setting."""
    try:
        number = float(str(value).strip())
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number >= minimum and number == int(number)):
        from .errors import OptionError

        raise OptionError(
            f"{name}={value!r} is not a count lazyvol can use: give a whole number of at least "
            f"{minimum}, or unset it for the default"
        )
    return int(number)


def setting_seconds(value: object, name: str) -> float:
    """A time setting's positive, finite number of seconds (``"30"``, ``"2.5"``), or an
    :class:`~lazyvol.errors.OptionError` naming the setting."""
    try:
        seconds = float(str(value).strip())
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        from .errors import OptionError

        raise OptionError(
            f"{name}={value!r} is not a time lazyvol can use: give a positive, finite number of "
            "seconds (e.g. '30', '2.5'), or unset it for the default"
        )
    return seconds


def is_flag(value: object) -> bool:
    """Whether ``value`` is a True/False option as Python takes one: a bool, a numpy bool, or the
    integer 1 or 0 (``"no"``, 2, 1.0 or None are not: a string is true whatever it says)."""
    import numbers

    import numpy as np

    if isinstance(value, bool | np.bool_):
        return True
    return isinstance(value, numbers.Integral) and value in (0, 1)


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
