"""Files a reader or writer must not treat as regular files: FIFOs, sockets, devices (opening a
FIFO blocks; renaming a finished file onto a device node replaces it)."""

from __future__ import annotations

import errno
import os
import stat as _stat

__all__ = ["check_written_file", "file_kind", "link_to_nothing", "unreadable_chunk"]


def _shown(path: str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_written_file(where: str, dest: str, *, follow: bool = True) -> None:
    """Refuse to write ``where`` (``dest``, or the path the link ``dest`` names) when it is an
    existing FIFO, socket or device: writers publish by renaming a finished temporary file onto
    their destination, which would put a regular file in the special file's place (a link
    ``out.nii -> /dev/null`` written with ``overwrite=True`` replaced /dev/null). ``follow``:
    through a link at ``where`` (false: a link is a name a rename replaces, whatever it names).

    Raises
    ------
    WriteError
        Naming the path, the link it was reached through and the kind of file.
    """
    mode = _mode(where, follow)
    if follow and where != dest and (mode is None or _stat.S_ISREG(mode)):
        # (a link the system follows to what has no path: /dev/stdout -> /proc/self/fd/1 ->
        # pipe:[N], which realpath names as a missing file in /proc/<pid>/fd)
        mode = _mode(dest, True) or mode
    if mode is None or _stat.S_ISREG(mode) or _stat.S_ISDIR(mode) or _stat.S_ISLNK(mode):
        return  # (nothing there yet, or the writer's own checks say why)
    from .errors import WriteError

    kind = file_kind(mode)
    via = f" (named by the link {_shown(dest)})" if where != dest else ""
    raise WriteError(
        f"{_shown(where)}{via}: is a {kind}, not a regular file or folder; lazyvol writes "
        f"a file by replacing what is there and does not replace a {kind} (nothing written): "
        "choose another name"
    )


def _mode(path: str, follow: bool) -> int | None:
    try:
        return (os.stat if follow else os.lstat)(path).st_mode
    except OSError:
        return None


def file_kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages (not a regular file)."""
    for test, name in (
        (_stat.S_ISDIR, "directory"),
        (_stat.S_ISFIFO, "FIFO (named pipe)"),
        (_stat.S_ISSOCK, "socket"),
        (_stat.S_ISCHR, "character device"),
        (_stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def link_to_nothing(path: str) -> str | None:
    """Words for ``path`` when it is a symbolic link that leads to no file (a git-annex / DataLad
    file whose content was not fetched), for a message about a file that is missing; None when
    ``path`` is no such link."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a symbolic link to {os.readlink(path)} in a loop of links (remove the loop)"
        return (
            f"a symbolic link to {os.readlink(path)}, which leads to no file (a git-annex / "
            "DataLad file not fetched: 'datalad get' it)"
        )
    return None


def unreadable_chunk(label: str, key: str, exc: OSError) -> str:
    """The message for a chunk file of the store ``label`` whose size cannot be read (``exc``): a
    link that leads to no file or a loop of links, named, never summed as -1 bytes."""
    return (
        f"{label}: chunk file {key} cannot be read ({exc.strerror or exc}: a link that leads to "
        "no file, such as a git-annex file not fetched, or a loop of links); get the file "
        "('datalad get' / 'git annex get') or write the store again"
    )
