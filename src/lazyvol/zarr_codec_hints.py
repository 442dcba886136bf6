"""A Zarr array whose codec this Python has not got: the refusal names the codec, the array and
the package that provides it (:func:`codec_refusal`), at open (:func:`require_codecs`).

zarr-python finds a codec by its name in a registry that packages fill when installed: numcodecs'
(``numcodecs.codecs`` entry points; a Zarr v2 ``compressor`` or ``filters`` ``id``) or zarr's
(``zarr.codecs`` entry points; a Zarr v3 ``codecs`` ``name``). A name no installed package
registered fails with an ``UnknownCodecError`` saying only ``codec not available: 'zfpy'``;
and a Zarr v3 ``numcodecs.*`` codec (zarr's adapter of a numcodecs codec, e.g.
``numcodecs.zfpy``) looks its numcodecs codec up only when a chunk is decoded, so the array
opened and every read failed.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import UnsupportedError

__all__ = ["codec_refusal", "install_hint", "require_codecs", "unknown_codec_name"]

#: Codec names (Zarr v2 ids; Zarr v3 names without ``numcodecs.``) by the package providing them.
_PROVIDERS = {
    "zfpy": "zfpy (numcodecs' ZFPY codec needs it: pip install zfpy)",
    "pcodec": "pcodec (numcodecs' PCodec needs it: pip install pcodec)",
}


def unknown_codec_name(exc: BaseException) -> str | None:
    """The codec name an ``UnknownCodecError`` (numcodecs' or zarr's) names, or None when
    ``exc`` is no such error."""
    if type(exc).__name__ != "UnknownCodecError":
        return None
    name = getattr(exc, "codec_id", None)  # (numcodecs')
    if not isinstance(name, str):  # (zarr's: "Unknown codec: 'name'")
        found = re.search(r"codec: '+([^']*)'+", str(exc))
        name = found.group(1) if found else str(exc)
    return name.strip("'\"")  # (zarr quotes the id it passes numcodecs: "'zfpy'")


def install_hint(name: str, numcodecs_registry: bool) -> str:
    """What to install so that zarr-python finds the codec ``name``; ``numcodecs_registry``:
    looked up in numcodecs' registry (a Zarr v2 codec, or a Zarr v3 ``numcodecs.*`` one), else
    in zarr's (Zarr v3)."""
    bare = name.removeprefix("numcodecs.")
    if bare.startswith("imagecodecs_"):
        points = "imagecodecs-numcodecs" if numcodecs_registry else "imagecodecs-zarr"
        what = "numcodecs entry points" if numcodecs_registry else "Zarr v3 codec entry points"
        have = [f"{d} {v}" for d in ("imagecodecs", points) if (v := _version(d)) is not None]
        if len(have) == 2:  # (installed: this version registers no such codec)
            return (
                f"{' and '.join(have)} are installed and register no codec of that name (a "
                f"newer imagecodecs may have it); upgrade both: pip install -U imagecodecs {points}"
            )
        return f"install imagecodecs and {points} (its {what})"
    if bare in _PROVIDERS:
        return f"install {_PROVIDERS[bare]}"
    registry = "numcodecs' registry" if numcodecs_registry else "zarr's codec registry"
    return (
        f"install the package that provides it (it must register the codec in {registry}), "
        "or write the array again with a codec zarr-python has (zstd, blosc, gzip)"
    )


def _version(dist: str) -> str | None:
    """The installed version of the distribution ``dist``, None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


#: imagecodecs' error for a codec its build left out ("imagecodecs.HEIF not available").
_NOT_BUILT = re.compile(r"imagecodecs\.(\w+) not available")


def codec_refusal(label: str, exc: BaseException) -> UnsupportedError | None:
    """The refusal of array ``label`` (store and array) for ``exc``, or None when ``exc`` is not
    a codec zarr-python lacks."""
    name = unknown_codec_name(exc)
    built = _NOT_BUILT.search(str(exc)) if isinstance(exc, ValueError) else None
    if built is not None:
        return UnsupportedError(
            f"{label}: its chunks are encoded with imagecodecs' {built.group(1)} codec, which the "
            f"installed imagecodecs {_version('imagecodecs')} was built without ({exc}); install "
            f"an imagecodecs build that has it (imagecodecs.{built.group(1)}.available is True)"
        )
    if name is None:
        return None
    numcodecs_registry = type(exc).__module__.startswith("numcodecs")
    return UnsupportedError(
        f"{label}: its chunks are encoded with the codec {name!r}, which is not installed "
        f"(zarr-python: {type(exc).__name__}); {install_hint(name, numcodecs_registry)}"
    )


def _codecs_of(codecs: Any) -> list[Any]:
    """``codecs`` and the codecs inside sharding codecs among them (their chunks' and index's)."""
    out: list[Any] = []
    for c in codecs or ():
        out.append(c)
        for inner in ("codecs", "index_codecs"):
            if type(c).__name__ == "ShardingCodec":
                out.extend(_codecs_of(getattr(c, inner, ())))
    return out


def require_codecs(arr: Any) -> None:
    """Look up now the numcodecs codecs of ``arr`` (an opened zarr array) that zarr-python looks
    up when a chunk is decoded (Zarr v3 ``numcodecs.*`` codecs): a missing one raises its
    ``UnknownCodecError`` at open."""
    meta = getattr(arr, "metadata", None)  # (a DirectArray, lazyvol's own layout, has none)
    for c in _codecs_of(getattr(meta, "codecs", ())):
        if str(getattr(c, "codec_name", "")).startswith("numcodecs."):
            c._codec  # noqa: B018  (zarr's cached lookup: numcodecs.get_codec)
