"""The reader interface: what every format implements (built in or third-party).

A reader is any object with the attributes and methods of :class:`Reader` (a structural
``typing.Protocol``: no base class to inherit). :mod:`lazyvol.formats.registry` keeps the table
of readers and picks the one for a source; third-party packages add readers through the
``lazyvol.readers`` entry-point group.

A source is a path today (a file, or a folder for DICOM series and Zarr stores); it will also be an
fsspec URL once remote sources land, so readers take it as ``str`` and never assume ``os.stat``
works on it outside their own code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:  # the registry must stay importable without dask (import cost)
    from ..volume import Volume

__all__ = ["Reader", "Source"]

#: A source: a local path now; a URL (``s3://``, ``https://``...) once remote sources land.
Source: TypeAlias = str


@runtime_checkable
class Reader(Protocol):
    """One format's reader.

    Attributes
    ----------
    name : str
        Short unique name (``"nifti"``, ``"dicom"``, ``"zarr"``, ``"mgh"``); the registry's key and
        what error messages and ``lazyvol info`` show.

    Notes
    -----
    Contract (checked by the conformance kit, ``lazyvol.testing``, once it exists):

    - :meth:`can_open` is cheap: a stat, a file name, at most a few hundred bytes of header. It
      returns ``False`` (never raises) for a source of another format, so the registry can ask
      every reader in turn.
    - :meth:`open` reads headers only; pixel bytes are read inside dask tasks. Bad input raises a
      :class:`lazyvol.errors.LazyvolError` subclass naming the file, the field and the fix.
    - :meth:`source_files` lists exactly the files whose bytes :meth:`open` would read, so the
      cache key (the files' stamps) changes whenever the data can.
    """

    name: str

    def can_open(self, source: Source) -> bool:
        """Whether this reader recognises ``source`` (a cheap sniff; never raises for other formats)."""
        ...

    def open(self, source: Source, **options: Any) -> Volume:
        """Open ``source`` lazily as a :class:`lazyvol.Volume` (headers read, pixels not)."""
        ...

    def source_files(self, source: Source, **options: Any) -> list[str]:
        """The files (absolute paths) whose bytes the volume opened with ``options`` comes from.

        A NIfTI pair lists ``.hdr`` and ``.img``; a DICOM folder the files of the chosen series; a
        Zarr store its directory. These key the cache.
        """
        ...

    def describe(self, source: Source) -> dict[str, Any]:
        """A JSON-serialisable summary of ``source`` for ``lazyvol info`` (headers only)."""
        ...
