"""The reader interface: what every format implements (built in or third-party).

A reader is any object with the attributes and methods of :class:`Reader` (a structural
``typing.Protocol``: no base class to inherit). :mod:`lazyvol.formats.registry` keeps the table
of readers and picks the one for a source; third-party packages add readers through the
``lazyvol.readers`` entry-point group.

A source is a :class:`~lazyvol._location.Location` (re-exported here as :data:`Source`): a local
path (a file, or a folder for DICOM series and Zarr stores) or an fsspec URL (``s3://``, ``gs://``,
``http(s)://``, ...) with its ``storage_options``. The registry and ``lazyvol.open`` turn what the
user passed into one (``Location.of(source, storage_options)``) before asking any reader, so every
method below receives a ``Location``:

- ``source.name`` is the last path component (sniff by suffix with it);
- ``source.is_remote`` tells a URL from a path; a local location is path-like
  (``open(source, "rb")``, ``os.path.isfile(source)``, ``os.fspath(source)`` work), a URL is not;
- read bytes through the byte layer, which works for both: ``lazyvol._io.read(source, offset,
  n)``, ``read_into``, ``read_ranges``, ``stamp`` (size/ETag/mtime), ``list_objects`` (a prefix);
- ``str(source)`` / ``source.display`` is the source for messages (never any credential) and
  ``source.identity`` the source for keys and tokens; never print ``source.url`` or
  ``source.options``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from .._location import Location

if TYPE_CHECKING:  # the registry must stay importable without dask (import cost)
    from ..volume import Volume

__all__ = ["Reader", "Source"]

#: A source as readers receive it: a local path or a URL, with its storage options.
Source: TypeAlias = Location


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

    - :meth:`can_open` is cheap: a stat, a file name, at most a few hundred bytes of header (one
      ranged request for a URL). It returns ``False`` (never raises) for a source of another
      format, so the registry can ask every reader in turn.
    - :meth:`open` reads headers only; pixel bytes are read inside dask tasks. Bad input raises a
      :class:`lazyvol.errors.LazyvolError` subclass naming the file, the field and the fix.
    - :meth:`source_files` lists exactly the files (objects) whose bytes :meth:`open` would read,
      so the cache key (their stamps) changes whenever the data can.
    - Read plans carry the ``Location`` (it pickles with its options and holds no open handle),
      so graphs run on threads, processes and ``dask.distributed`` workers.
    """

    name: str

    def can_open(self, source: Source) -> bool:
        """Whether this reader recognises ``source`` (a cheap sniff; never raises for other formats)."""
        ...

    def open(self, source: Source, **options: Any) -> Volume:
        """Open ``source`` lazily as a :class:`lazyvol.Volume` (headers read, pixels not)."""
        ...

    def source_files(self, source: Source, **options: Any) -> list[str]:
        """The files whose bytes the volume opened with ``options`` comes from: absolute paths
        for a local source, URLs (read with ``source.options``) for a remote one.

        A NIfTI pair lists ``.hdr`` and ``.img``; a DICOM folder the files of the chosen series; a
        Zarr store its directory. These key the cache.
        """
        ...

    def describe(self, source: Source) -> dict[str, Any]:
        """A JSON-serialisable summary of ``source`` for ``lazyvol info`` (headers only)."""
        ...
