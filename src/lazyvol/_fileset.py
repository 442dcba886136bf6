"""Replace a set of files (an image and its sidecars) as one, the old set kept aside meanwhile.

:func:`set_aside` links each old file to a hidden sibling (``.<name>.lazyvol-old-<random>``,
:data:`lazyvol._fsutil.OLD_MARK`) while it is still in place, locked as a temporary file is
(:func:`lazyvol._fsutil.make_temp_file`); the writer then removes the old files, links the new
ones in beside their temporary names (:func:`link_in`) and publishes the image last. A failure
puts the old set back (:func:`put_back`); success drops the aside files (:func:`drop`). A writer
killed mid-way leaves them for the next write of the name (:func:`recover_set`): the image not
published, the old set is put back and the new files recognised by their temporary twin are
removed; the image published, they are swept. Where hard links are not supported (FAT), the old
files are renamed aside instead: a failure still puts them back, but after a kill a new sidecar
is not told from an old one. Writers of one folder replace their sets one at a time
(:func:`publish_lock`), so two sets never interleave.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._fsutil import (
    HELD_LOCKS,
    OLD_MARK,
    TMP_MARK,
    fsync_dir,
    leftover_of,
    link_or_rename,
    lock_path,
    sweep_folder,
    temp_sibling,
)
from .errors import WriteError

__all__ = [
    "drop",
    "image_left",
    "link_in",
    "listed_names",
    "publish_lock",
    "put_back",
    "recover_set",
    "set_aside",
    "sweep",
]

#: One old file set aside: (its name, the hidden name, the lock's descriptor or None).
Aside = tuple[str, str, "int | None"]


def _lock(path: str) -> int | None:
    """The lock of the regular file ``path`` (None: a link, or no locks here), held as a
    temporary file's, so no sweep of a live writer's removes it."""
    try:
        fd = lock_path(path, directory=False)
    except OSError:
        return None
    if fd is not None:
        st = os.fstat(fd)
        HELD_LOCKS.add((st.st_dev, st.st_ino))
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        st = os.fstat(fd)
        HELD_LOCKS.discard((st.st_dev, st.st_ino))
        os.close(fd)


def set_aside(paths: Iterable[str]) -> list[Aside]:
    """Link each present file of ``paths`` to a hidden sibling, in order, leaving it in place
    (renamed aside where links are not supported). On any failure the links made are removed and
    the error raised: nothing changed."""
    done: list[Aside] = []
    try:
        for path in paths:
            if not os.path.lexists(path):
                continue
            fd = _lock(path)
            try:
                aside = temp_sibling(path, OLD_MARK)
                try:
                    os.link(path, aside, follow_symlinks=False)
                except FileExistsError:
                    raise
                except OSError as exc:
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                        raise
                    os.rename(path, aside)  # (no hard links here)
            except BaseException:
                _unlock(fd)
                raise
            done.append((path, aside, fd))
    except BaseException:
        put_back(done)
        raise
    return done


def put_back(asides: list[Aside]) -> None:
    """Move the old files back to their names (over what was published there); best effort: one
    that cannot be moved is left aside, for :func:`recover_set`."""
    for path, aside, fd in reversed(asides):
        try:
            os.replace(aside, path)
            with contextlib.suppress(OSError):
                os.unlink(aside)  # (still there when it was a link to the file in place)
        except OSError:
            pass
        finally:
            _unlock(fd)
    if asides:
        fsync_dir(os.path.dirname(asides[0][0]) or ".")


def drop(asides: list[Aside]) -> None:
    """Delete the old files set aside (the new set is in place)."""
    for _path, aside, fd in asides:
        with contextlib.suppress(OSError):
            os.unlink(aside)
        _unlock(fd)


def link_in(tmp: str, dest: str) -> None:
    """Publish the finished file ``tmp`` at ``dest`` as a hard link, keeping ``tmp`` (removed by
    the caller when done): a killed writer's new file is told by this twin. Renamed where links
    are not supported.

    Raises
    ------
    FileExistsError
        ``dest`` exists.
    """
    link_or_rename(tmp, dest)
    try:
        fsync_dir(os.path.dirname(dest) or ".")
    except BaseException:  # (an interrupt: the caller does not know it published this one)
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise


def listed_names(folder: str, listed: dict[str, list[str]]) -> list[str]:
    """The names in ``folder``, from ``listed`` (folder: names), which it is added to the first
    time (none when it cannot be listed): one listing of each folder for a whole write."""
    if folder not in listed:
        try:
            listed[folder] = os.listdir(folder or ".")
        except OSError:
            listed[folder] = []
    return listed[folder]


def _leftovers(path: str, mark: str, listed: dict[str, list[str]]) -> list[str]:
    """The hidden siblings of ``path`` marked ``mark``, from its folder's names in ``listed``
    (:func:`listed_names`)."""
    folder, base = os.path.split(path)
    names = listed_names(folder, listed)
    return [os.path.join(folder, n) for n in names if mark in n and leftover_of(n) == base]


def recover_set(
    image: str,
    names: Iterable[str],
    images: Iterable[str] = (),
    shared: Mapping[str, list[str]] | None = None,
    listed: dict[str, list[str]] | None = None,
) -> None:
    """Finish what a writer of ``image`` and its sidecars ``names`` killed mid-way left, unless a
    live writer holds it: an image of the set published (present), the leftovers are swept; else
    the old files set aside are put back and the new ones published (linked to a temporary twin)
    are removed, so the folder holds the old set again. ``images``: the other images whose
    sidecars are ``names`` too (``<name>.nii`` beside ``<name>.nii.gz``; the suffix in any case,
    as found in the folder, counts too): what a killed writer of one of them left is the same
    set's, so it is recovered by whether any image of the set is published, and an old image of
    theirs set aside is put back with its sidecars (recovered as a write of ``image``, a killed
    writer's published image lost its new sidecars to the old ones, and its unpublished one's old
    image stayed aside, to be put back later beside another image's sidecars). ``shared``: a
    sidecar of ``names`` that other images' sets hold too (``<name>_aslcontext.tsv``, also
    ``<name>_asl.nii``'s), with those images: it goes with the set whose image a killed writer
    left leftovers of (:func:`_shared_published`). Errors are ignored. Each folder is listed
    once to find the leftovers (``listed``: the folders' names listed just before, see
    :func:`listed_names`), and once to sweep them."""
    listed = {} if listed is None else listed
    pictures = list(dict.fromkeys([image, *images]))
    own = _published(pictures, listed)
    # (published, the image in place is whole with its set: a case variant's leftovers are swept
    # too, else they later say a killed writer of this set left something, which decides whose
    # a shared sidecar is: _shared_published. Listed with the images, before the sidecars: put
    # back last, so a kill while putting back leaves the set unpublished, to be finished)
    pictures += _left_by_case_variants(pictures, listed, [*pictures, *names])
    members = list(dict.fromkeys([*pictures, *names]))  # (a file locked twice: by another)
    others = shared or {}
    pending = [
        m
        for m in members
        if not (_shared_published(pictures, others[m], own, listed) if m in others else own)
    ]
    locks: list[int | None] = []
    try:
        asides: list[Aside] = []
        twins: list[str] = []
        for path in pending:
            found = sorted(
                _leftovers(path, OLD_MARK, listed), key=lambda p: os.lstat(p).st_ctime_ns
            )
            temps = _leftovers(path, TMP_MARK, listed)
            for part in (*found, *temps):
                try:
                    locks.append(lock_path(part, directory=False))
                except BlockingIOError:
                    return  # a live writer's
                except OSError:
                    pass  # (a link aside)
            if found:
                asides.append((path, found[-1], None))  # (the latest)
            elif _twinned(path, temps):
                twins.append(path)
        for path in twins:
            with contextlib.suppress(OSError):
                os.unlink(path)
        put_back(asides)
    except OSError:
        pass
    finally:
        for fd in locks:
            if fd is not None:
                os.close(fd)
    sweep(members)


def _shared_published(
    images: list[str], others: list[str], own: bool, listed: dict[str, list[str]]
) -> bool:
    """Whether a file of the sets of ``images`` (published: ``own``) and of ``others`` is the
    published set's: the state of the set whose image a killed writer left leftovers of (a
    killed writer of ``<name>_asl.nii`` leaves the old ``<name>_aslcontext.tsv`` aside, which a
    write of ``<name>.nii`` neither puts back beside the new image nor sweeps while that image
    is not published); where neither or both did, published when either is."""
    by_others, by_us = image_left(others, listed), image_left(images, listed)
    if by_others != by_us:
        return _published(others, listed) if by_others else own
    return own or _published(others, listed)


def image_left(images: list[str], listed: dict[str, list[str]]) -> bool:
    """A killed writer of one of ``images`` left a temporary or set-aside file of it (of the
    name with its suffix in any case too: ``x_asl.NII`` for ``x_asl.nii``)."""
    if any(_leftovers(i, OLD_MARK, listed) or _leftovers(i, TMP_MARK, listed) for i in images):
        return True
    return bool(_left_by_case_variants(images, listed, list(images)))


def _published(images: list[str], listed: dict[str, list[str]]) -> bool:
    """One of ``images`` is a file (a link to one: a link whose file is gone is none), or a name
    in its folder (:func:`listed_names`) differing from one only in case (the folder listed only
    where none is present by its own name)."""
    if any(os.path.exists(p) for p in images):
        return True
    for path in images:
        folder, base = os.path.split(path)
        found = (n for n in listed_names(folder, listed) if _suffix_case_variant(n, base))
        if any(os.path.exists(os.path.join(folder, n)) for n in found):
            return True
    return False


def _suffix_case_variant(name: str, base: str) -> bool:
    """``name`` is ``base`` with its extension (and a ``.gz`` after it) in another case or the
    same: ``x.NII.GZ`` for ``x.nii.gz``, not ``X.nii`` (another name, another set)."""

    def stem(n: str) -> str:
        root, ext = os.path.splitext(n)
        return os.path.splitext(root)[0] if ext.lower() == ".gz" else root

    return name.lower() == base.lower() and stem(name) == stem(base)


def _left_by_case_variants(
    images: list[str], listed: dict[str, list[str]], known: list[str]
) -> list[str]:
    """The names, not in ``known``, whose leftovers are in the folder of one of ``images`` and
    that differ from it only in case (a killed writer of ``x.NII`` for ``x.nii``)."""
    out: list[str] = []
    for path in images:
        folder, base = os.path.split(path)
        for name in listed_names(folder, listed):
            left = leftover_of(name)
            if left is None or not _suffix_case_variant(left, base):
                continue
            if (other := os.path.join(folder, left)) not in known + out:
                out.append(other)
    return out


def sweep(paths: Iterable[str]) -> None:
    """Remove what killed writers of the files ``paths`` left, listing each folder once
    (:func:`lazyvol._fsutil.sweep_folder`: a live writer's are kept)."""
    folders: dict[str, set[str]] = {}
    for path in paths:
        folder, base = os.path.split(path)
        folders.setdefault(folder, set()).add(base)
    for folder, bases in folders.items():
        sweep_folder(folder or ".", bases)


def _twinned(path: str, temps: list[str]) -> bool:
    """``path`` is the same file as one of a writer's temporary files ``temps``."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    for tmp in temps:
        with contextlib.suppress(OSError):
            other = os.lstat(tmp)
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                return True
    return False


#: How long :func:`publish_lock` waits for another writer's publication, in seconds.
PUBLISH_WAIT = 60.0


@contextlib.contextmanager
def publish_lock(*folders: str) -> Iterator[None]:
    """Hold the exclusive lock (``flock``) of each folder of ``folders`` while a set of files is
    replaced there, waiting up to :data:`PUBLISH_WAIT` seconds for another writer's replacement
    to finish. Two writers that replace the set of one name otherwise interleave: each removes
    the old files it found at its check, so the sidecars the other published meanwhile (a DWI's
    ``.bval``) stay beside its image. Each folder is opened first and locked once per opened
    directory, in the order of its (device, inode): a folder reached by two spellings (a
    symlinked folder) is not locked twice (a second ``flock`` would wait on the first), and two
    writers spelling the folders otherwise lock them in one order (no deadlock). A folder that
    cannot be locked (no ``fcntl``, a file system without locks, no read permission) is not.

    Raises
    ------
    WriteError
        The lock stayed held for :data:`PUBLISH_WAIT` seconds (a stopped writer).
    """
    try:
        import fcntl
    except ImportError:  # (Windows)
        yield
        return
    fds: list[int] = []
    try:
        opened: dict[tuple[int, int], tuple[int, str]] = {}
        for folder in dict.fromkeys(os.path.abspath(f or ".") for f in folders):
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                continue  # (a folder that cannot be read: written unlocked, as before)
            fds.append(fd)
            st = os.fstat(fd)
            opened.setdefault((st.st_dev, st.st_ino), (fd, folder))
        for _key, (fd, folder) in sorted(opened.items()):
            _wait_for_lock(fcntl, fd, folder)
        yield
    finally:
        for fd in fds:
            os.close(fd)


def _wait_for_lock(fcntl: Any, fd: int, folder: str) -> None:
    """Take the exclusive ``flock`` of the open folder ``fd``, waiting up to
    :data:`PUBLISH_WAIT` seconds (none where the file system has no locks)."""
    deadline = time.monotonic() + PUBLISH_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise WriteError(
                    f"{folder}: another writer has been replacing files here for "
                    f"{PUBLISH_WAIT:g} s (a stopped process?); nothing written: try "
                    "again when it has finished"
                ) from None
            time.sleep(0.005)
        except OSError:
            return  # (no locks on this file system)
