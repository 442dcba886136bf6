"""Where a writer writes a destination it is given: a local path (never a URL taken for a
relative folder), through a symbolic link as ``open()`` writes, never onto a FIFO, socket or
device (:func:`local_destination`, :func:`written_through`)."""

from __future__ import annotations

import errno
import os

from ._location import display_url, is_url, through_links
from ._special_files import check_written_file
from .sources import display_path

__all__ = ["local_destination", "written_through"]


def local_destination(dest: str | os.PathLike[str]) -> str:
    """The absolute local path a writer writes ``dest`` to; a URL is refused (``"s3://b/o.zarr"``
    was taken for the relative folder ``./s3:/b/o.zarr``, and written there when it existed); a
    leading ``~`` is the home folder, as ``nibabel.save`` takes it.

    Raises
    ------
    lazyvol.UnsupportedError
        ``dest`` is a URL: lazyvol writes local files only.
    """
    text = os.fspath(dest)
    if is_url(text) or ("::" in text and is_url(text.rsplit("::", 1)[-1])):  # fsspec chains too
        from .errors import UnsupportedError

        raise UnsupportedError(
            f"{display_url(text)}: lazyvol writes to local paths only; write the file or store "
            "locally, then upload it (e.g. with fsspec's put or your object store's client)"
        )
    if text.lower().startswith(("file://", "local://")):
        text = text.split("://", 1)[1]
        if text.lower().startswith("localhost/"):  # file://localhost/tmp/x: the host named
            text = text[len("localhost") :]
    return os.path.abspath(through_links(os.path.expanduser(text)))  # (``~`` as nibabel's save)


def written_through(dest: str) -> str:
    """Where a writer of ``dest`` (:func:`local_destination`) puts its temporary file and renames
    it to: the file or store a symbolic link ``dest`` names, as open() writes through a link (the
    writers' renames replaced the link itself, and a store's overwrite left the old link behind
    under a hidden name); the name given still decides the format, the sidecars' names and what
    the writer returns. A link to nothing yet names the file or store to create.

    Raises
    ------
    lazyvol.WriteError
        ``dest`` is a symbolic link in a loop, or to a path whose folder does not exist (nothing
        can be written through it; the messages said "file exists", then "no such file", or named
        the link's own folder); or it is, or names, a FIFO, socket or device.
    """
    where = _link_target(dest)
    check_written_file(where, dest)  # (a FIFO, socket or device: refused)
    return where


def _link_target(dest: str) -> str:
    if not os.path.islink(dest):
        return dest
    from .errors import WriteError

    try:
        return os.path.realpath(dest, strict=True)
    except FileNotFoundError:
        target = os.path.realpath(dest)
        folder = os.path.dirname(target)
        if os.path.isdir(folder):
            return target
        raise WriteError(
            f"{display_path(dest)}: is a symbolic link to {display_path(target)}, whose folder "
            "does not exist; create that folder, or remove the link or choose another name"
        ) from None
    except OSError as exc:
        why = "a loop of links" if exc.errno == errno.ELOOP else f"to {os.path.realpath(dest)}"
        raise WriteError(
            f"{display_path(dest)}: is a symbolic link that leads to no file or folder "
            f"({exc.strerror or exc}: {why}); remove the link or choose another name"
        ) from None
