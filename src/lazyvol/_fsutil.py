"""Atomic publishing of files and directories: the one way lazyvol writes anything a reader may see.

A file is written under a temporary name in the destination's own directory (so the final rename
never crosses file systems), flushed and ``fsync``-ed, renamed into place, and the directory is
``fsync``-ed so the rename itself is durable. A reader sees the old file or the new one, never a
part. The directory variant (:func:`publish_dir`) does the same for a finished directory (a Zarr
store): it is renamed over an empty directory or, when allowed, swaps out an existing one.

Temporary names start with a dot and contain :data:`TMP_MARK` (files and directories being
written) or :data:`OLD_MARK` (directories moved aside to be deleted); cleaners recognise leftovers
of killed writers by these marks. A temporary directory or file made by :func:`make_temp_dir` or
:func:`make_temp_file` is locked while its writer lives, so :func:`sweep_leftovers` tells a
killed writer's leftovers from a live writer's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import uuid
from collections.abc import Callable, Collection, Iterator
from typing import IO, Any

from ._special_files import check_written_file
from .errors import WriteError

__all__ = [
    "OLD_MARK",
    "TMP_MARK",
    "atomic_file",
    "atomic_write_bytes",
    "fsync_dir",
    "HELD_LOCKS",
    "leftover_of",
    "link_or_rename",
    "lock_path",
    "make_temp_dir",
    "make_temp_file",
    "publish_dir",
    "publish_file",
    "release_temp_dir",
    "remove_tree_settled",
    "scratch_file",
    "sweep_folder",
    "sweep_leftovers",
    "temp_sibling",
]

#: Marks a file or directory being written (``.<name>.lazyvol-tmp-<random>``).
TMP_MARK = ".lazyvol-tmp-"
#: Marks a directory moved aside to be deleted (``.<name>.lazyvol-old-<random>``).
OLD_MARK = ".lazyvol-old-"


def temp_sibling(dest: str, mark: str = TMP_MARK) -> str:
    """A fresh hidden name next to ``dest``: ``<dir>/.<name><mark><random>``."""
    parent, base = os.path.split(dest)
    return os.path.join(parent, f".{base}{mark}{uuid.uuid4().hex[:12]}")


def fsync_dir(path: str) -> None:
    """``fsync`` a directory so renames and creations in it survive a power loss (best effort:
    file systems that cannot sync a directory are skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quiet(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def publish_file(tmp: str, dest: str, *, overwrite: bool, durable: bool = True) -> None:
    """Move the finished, synced file ``tmp`` to ``dest`` and sync the directory (``durable``).

    ``overwrite``: replace ``dest`` atomically. Otherwise publish without clobbering (a hard link,
    which fails if ``dest`` appeared meanwhile; a rename where links are not supported).

    Raises
    ------
    FileExistsError
        ``overwrite`` is false and ``dest`` exists (``tmp`` is left for the caller to remove).
    """
    if overwrite:
        check_written_file(dest, dest, follow=False)  # (a FIFO, socket or device: kept)
        os.replace(tmp, dest)
    elif link_or_rename(tmp, dest):
        os.unlink(tmp)
    if durable:
        fsync_dir(os.path.dirname(dest) or ".")


def link_or_rename(tmp: str, dest: str) -> bool:
    """Put ``tmp`` at ``dest``, which must not exist: a hard link (True: ``tmp`` is kept), or a
    rename where links are not supported (False).

    Raises
    ------
    FileExistsError
        ``dest`` exists.
    """
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise
    except OSError:
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "file exists", dest) from None
        os.rename(tmp, dest)
        return False
    return True


@contextlib.contextmanager
def atomic_file(
    dest: str, *, overwrite: bool = True, text: bool = False, durable: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``dest`` for writing; on a clean exit fsync and publish it.

    On any exception the temporary file is removed and ``dest`` is untouched. ``durable=False``
    skips both fsyncs (file and directory): still never half-written while the system runs, but a
    power loss may leave ``dest`` empty or torn, so only for a cache whose reader rejects any
    malformed content (a JSON document cut anywhere does not parse).

    Raises
    ------
    FileExistsError
        ``overwrite`` is false and ``dest`` exists when the file is published.
    """
    tmp, lock = make_temp_file(dest)  # locked while written: a sweep tells it from a leftover
    try:
        f: IO[Any] = open(tmp, "w", encoding="utf-8") if text else open(tmp, "wb")
        with f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        publish_file(tmp, dest, overwrite=overwrite, durable=durable)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    finally:
        release_temp_dir(lock)


@contextlib.contextmanager
def atomic_path(dest: str, *, overwrite: bool = True) -> Iterator[str]:
    """A temporary sibling path of ``dest`` for a writer that takes a file name (an engine
    exporting an index, say); on a clean exit the file is fsynced and published as ``dest``.

    The file exists (empty, locked: :func:`make_temp_file`) when the writer gets its name; the
    writer opens it by name and truncates it. On any exception the temporary file is removed and
    ``dest`` is untouched.
    """
    tmp, lock = make_temp_file(dest)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        publish_file(tmp, dest, overwrite=overwrite)
    except BaseException:
        _unlink_quiet(tmp)
        raise
    finally:
        release_temp_dir(lock)


@contextlib.contextmanager
def scratch_file(dest: str) -> Iterator[str]:
    """A hidden scratch file next to ``dest`` for a writer that takes a file name (an engine
    exporting its raw index before it is thinned), removed on exit. Made and locked as
    :func:`make_temp_file` makes a temporary file, so a killed writer's scratch file is swept
    (:func:`sweep_leftovers`, :func:`sweep_folder`) and a live one's never."""
    tmp, lock = make_temp_file(dest)
    try:
        yield tmp
    finally:
        _unlink_quiet(tmp)
        release_temp_dir(lock)


def unlink_quiet(path: str) -> None:
    """Remove ``path`` if it exists (errors ignored)."""
    _unlink_quiet(path)


def atomic_write_bytes(dest: str, data: bytes | str, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``dest`` atomically and durably (temp file, fsync, rename, fsync dir)."""
    with atomic_file(dest, overwrite=overwrite, text=isinstance(data, str)) as f:
        f.write(data)


def publish_dir(
    tmp: str, dest: str, *, overwrite: bool, check_replace: Callable[[str], None]
) -> None:
    """Rename the finished directory ``tmp`` to ``dest``, atomically replacing an old one.

    An empty directory at ``dest`` is replaced silently. With ``overwrite``, an existing directory
    is first passed to ``check_replace(dest)`` (which raises to refuse) and exchanged with the new
    one in one step where the platform can (Linux ``renameat2(RENAME_EXCHANGE)``), else moved
    aside before the new one is renamed in (a failure there puts it back; a writer killed between
    the two leaves it aside: :func:`sweep_leftovers` puts it back); the old one is then deleted. Readers see the old
    or the new directory, never a mix. The parent directory is synced after the rename.

    Raises
    ------
    WriteError
        ``dest`` appeared while writing and ``overwrite`` is false, or too many concurrent writers.
    """
    fsync_dir(tmp)
    parent = os.path.dirname(dest) or "."
    for _attempt in range(100):
        try:
            if os.path.isdir(dest) and not os.path.islink(dest) and not os.listdir(dest):
                os.rmdir(dest)
        except OSError:
            pass
        try:
            os.rename(tmp, dest)
            fsync_dir(parent)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
        if not overwrite:
            raise WriteError(
                f"{dest}: another writer created the destination while this one was written; "
                "pass overwrite=True to replace it (the other one is left untouched)"
            )
        check_replace(dest)
        try:
            swapped = _exchange(tmp, dest)  # one atomic step: no moment without a store at dest
        except FileNotFoundError:
            continue  # another writer moved it away first; try again
        if swapped:
            fsync_dir(parent)
            shutil.rmtree(tmp, ignore_errors=True)  # (now the old store; swept if killed here)
            return
        old = temp_sibling(dest, OLD_MARK)
        try:
            os.rename(dest, old)
        except FileNotFoundError:
            continue  # another writer moved it away first; try again
        try:
            os.rename(tmp, dest)
        except BaseException as exc:  # not published: the old store goes back to its name
            _settle_aside(old, dest, back=True)  # (deleted: another writer's store took its place)
            if isinstance(exc, OSError) and exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue
            raise
        fsync_dir(parent)
        _settle_aside(old, dest, back=False)
        return
    raise WriteError(f"{dest}: could not move the finished directory into place (too many writers)")


def _settle_aside(old: str, dest: str, *, back: bool) -> None:
    """The old store :func:`publish_dir` moved aside as ``old``: ``back`` (the new one not
    published), renamed to ``dest`` again; else, or where another store took ``dest``, deleted,
    renamed to a temporary name first: a writer killed while deleting it leaves a leftover the
    next write sweeps, never part of a store :func:`sweep_leftovers` would put back."""
    if back and _renamed(old, dest):
        return
    doomed = temp_sibling(dest)
    shutil.rmtree(doomed if _renamed(old, doomed) else old, ignore_errors=True)


def _renamed(a: str, b: str) -> bool:
    try:
        os.rename(a, b)
    except OSError:
        return False
    return True


#: ``renameat2`` flag swapping two names atomically (Linux 3.15+; not every file system).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _exchange(a: str, b: str) -> bool:
    """Swap the directories ``a`` and ``b`` atomically. False where the platform or the file
    system cannot (then nothing was changed); OSError when it can but failed (``b`` gone)."""
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
            except (AttributeError, OSError):  # (a C library before glibc 2.28)
                fn = None
            if fn is not None:
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
                fn.argtypes += [ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
    if not _renameat2:
        return False
    import ctypes

    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # not on this kernel or file system: the two renames
    raise OSError(err, os.strerror(err), b)


def remove_tree_settled(path: str, wait: float = 3.0) -> None:
    """Remove the directory ``path`` of an interrupted write, again while writers still running
    put files into it (a Ctrl-C stops the thread that waits, not the threads writing chunks: one
    ``rmtree`` left a temporary store behind in a third of the runs), for at most ``wait``
    seconds."""
    import time

    deadline = time.monotonic() + wait
    absent = 0
    while time.monotonic() < deadline and absent < 3:  # gone for three looks, 0.3 s
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.1)  # a writer mid-chunk puts its directory back within this
        absent = absent + 1 if not os.path.lexists(path) else 0
    shutil.rmtree(path, ignore_errors=True)


# -- leftovers of killed writers ---------------------------------------------------------------------

#: ``.<name><mark><tail>``: the tails lazyvol makes (temp_sibling; the cache's remove_entry).
_LEFTOVER = re.compile(
    rf"\.(.+)(?:{re.escape(TMP_MARK)}|{re.escape(OLD_MARK)})(?:[0-9a-f]{{12}}|[0-9]+-[0-9]+)"
)
#: (device, inode) of the temporary directories this process holds: never swept, even where a
#: lock taken twice by one process does not conflict with itself.
HELD_LOCKS: set[tuple[int, int]] = set()


def leftover_of(name: str) -> str | None:
    """The destination name whose temporary or moved-aside sibling ``name`` is (None: not one)."""
    m = _LEFTOVER.fullmatch(name)
    return m.group(1) if m else None


def lock_path(path: str, directory: bool = True) -> int | None:
    """Open the directory (or, ``directory=False``, the regular file) ``path`` (not a link) and
    take its exclusive lock without waiting.

    Returns the descriptor holding the lock, or None where directories cannot be locked (no
    ``fcntl``, a file system without locks).

    Raises
    ------
    OSError
        ``path`` is gone, is not a directory (a regular file), or is locked by a live writer
        (this process's own temporary directories and files count as locked).
    """
    try:
        import fcntl
    except ImportError:  # (Windows)
        return None
    kind = os.O_DIRECTORY if directory else os.O_NONBLOCK  # (a FIFO put there cannot block)
    fd = os.open(path, os.O_RDONLY | kind | getattr(os, "O_NOFOLLOW", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    except OSError:
        os.close(fd)
        return None
    own = os.fstat(fd)
    if not directory and not stat.S_ISREG(own.st_mode):
        os.close(fd)
        raise BlockingIOError(errno.EAGAIN, "not a regular file", path)
    try:
        now = os.lstat(path)
    except OSError:
        now = None
    if (
        now is None
        or (now.st_dev, now.st_ino) != (own.st_dev, own.st_ino)
        or ((own.st_dev, own.st_ino) in HELD_LOCKS)
    ):
        os.close(fd)
        raise BlockingIOError(errno.EAGAIN, "replaced, or held by this process", path)
    return fd


def make_temp_dir(dest: str) -> tuple[str, int | None]:
    """Create a fresh temporary directory next to ``dest`` (:func:`temp_sibling`) and lock it.

    The lock is held until :func:`release_temp_dir` (or the writer's death): while it is held,
    :func:`sweep_leftovers` leaves the directory alone. Returns the path and the lock's
    descriptor (None where directories cannot be locked; such a directory is never swept).

    Raises
    ------
    OSError
        The directory cannot be created.
    """
    return _make_locked(dest, directory=True)


def make_temp_file(dest: str) -> tuple[str, int | None]:
    """Create a fresh, empty temporary file next to ``dest`` (:func:`temp_sibling`) and lock it,
    as :func:`make_temp_dir` does a directory: :func:`sweep_leftovers` removes it only once its
    writer is gone. The writer opens it by name to write; the returned descriptor only holds the
    lock (until :func:`release_temp_dir`, after the file was published or removed).

    Raises
    ------
    OSError
        The file cannot be created.
    """
    return _make_locked(dest, directory=False)


def _make_locked(dest: str, directory: bool) -> tuple[str, int | None]:
    for _attempt in range(100):
        tmp = temp_sibling(dest)
        if directory:
            os.mkdir(tmp)
        else:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            fd = lock_path(tmp, directory)
        except (BlockingIOError, FileNotFoundError):
            continue  # a sweep took it between creation and lock (and removes it): another name
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(tmp) if directory else os.unlink(tmp)
            raise
        if fd is not None:
            st = os.fstat(fd)
            HELD_LOCKS.add((st.st_dev, st.st_ino))
        return tmp, fd
    kind = "directory" if directory else "file"
    raise WriteError(f"{dest}: could not lock a temporary {kind} (too many concurrent sweeps)")


def release_temp_dir(fd: int | None) -> None:
    """Release the lock :func:`make_temp_dir` or :func:`make_temp_file` took (after the directory
    or file was published or removed)."""
    if fd is None:
        return
    st = os.fstat(fd)
    HELD_LOCKS.discard((st.st_dev, st.st_ino))
    os.close(fd)


def sweep_leftovers(dest: str, *, writers_gone: bool = False) -> None:
    """Remove the leftovers of killed writers of ``dest``: its hidden temporary and moved-aside
    siblings (``.<name>.lazyvol-tmp-*``, ``.<name>.lazyvol-old-*``, with the tails lazyvol makes).

    A directory or file is removed only when its lock can be taken: no live writer holds it
    (:func:`make_temp_dir`, :func:`make_temp_file`); links are left. Where nothing can be locked,
    a file older than :data:`STALE_SECONDS` is a leftover; a directory is left. ``writers_gone``:
    the caller holds a lock that keeps every writer of ``dest`` out (the cache's entry lock), so
    every leftover goes, a link or a file unlinked, never followed. Nothing else is touched;
    errors are ignored.
    """
    parent, base = os.path.split(dest)
    if not writers_gone:
        _restore_moved_aside(dest)
    _sweep(parent, lambda name: leftover_of(name) == base, writers_gone)


#: A directory :func:`publish_dir` moved aside (``temp_sibling`` tail; the cache's deletions by
#: ``cache_admin.remove_entry`` have ``<pid>-<ns>`` tails and are never put back).
_MOVED_ASIDE = re.compile(rf"\.(.+){re.escape(OLD_MARK)}[0-9a-f]{{12}}")


def _restore_moved_aside(dest: str) -> None:
    """``dest`` missing, and a directory :func:`publish_dir` moved aside from it whose writer is
    gone: put the latest one back (a writer killed between its two renames left no store)."""
    if os.path.lexists(dest):
        return
    parent, base = os.path.split(dest)
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return
    aside: list[tuple[int, str]] = []
    for name in names:
        m = _MOVED_ASIDE.fullmatch(name)
        path = os.path.join(parent, name)
        if m is None or m.group(1) != base or os.path.islink(path) or not os.path.isdir(path):
            continue
        with contextlib.suppress(OSError):
            aside.append((os.stat(path).st_ctime_ns, path))  # (the rename aside set it)
    for _ctime, path in sorted(aside, reverse=True):
        try:
            fd = lock_path(path)
        except OSError:
            continue
        try:
            os.rename(path, dest)  # fails if a store appeared meanwhile: then left to the sweep
            fsync_dir(parent or ".")
        except OSError:
            pass
        finally:
            if fd is not None:
                os.close(fd)
        return


def sweep_folder(folder: str, names: Collection[str] | None = None) -> int:
    """Remove every leftover of a killed writer in ``folder`` (of any destination, or of the files
    ``names``: one listing for a file set), as :func:`sweep_leftovers` tells them (a live
    writer's are kept); returns how many went. For folders of many small files written by many
    processes (the cache's index folders), where the next write rarely has a killed one's name."""
    if names is None:
        return _sweep(folder, lambda name: leftover_of(name) is not None, False)
    return _sweep(folder, lambda name: leftover_of(name) in names, False)


#: Age (seconds) past which a temporary file that cannot be locked (a file system without locks)
#: counts as a killed writer's: lazyvol's temporary files are written within minutes.
STALE_SECONDS = 24 * 3600


def _sweep(parent: str, wanted: Callable[[str], bool], writers_gone: bool) -> int:
    try:
        names = os.listdir(parent or ".")
    except OSError:
        return 0
    removed = 0
    for name in names:
        if not wanted(name):
            continue
        path = os.path.join(parent, name)
        if writers_gone:
            _remove_leftover(path)
            removed += 1
            continue
        directory = os.path.isdir(path) and not os.path.islink(path)
        try:
            fd = lock_path(path, directory)
        except OSError:
            continue  # a live writer's, gone meanwhile, a link, or neither file nor directory
        if fd is None:
            if not directory and _stale_file(path):
                _unlink_quiet(path)
                removed += 1
            continue  # no locks here: only age tells a killed writer's from a live one's
        try:
            if directory:
                shutil.rmtree(path, ignore_errors=True)
            else:
                _unlink_quiet(path)
            removed += 1
        finally:
            os.close(fd)
    return removed


def _stale_file(path: str) -> bool:
    import time

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and time.time() - st.st_mtime > STALE_SECONDS


def _remove_leftover(path: str) -> None:
    """Delete a leftover directory; a link or a file is unlinked, not followed."""
    if os.path.islink(path) or not os.path.isdir(path):
        _unlink_quiet(path)
    else:
        shutil.rmtree(path, ignore_errors=True)
