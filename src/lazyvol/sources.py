"""The one identity of a source file: :class:`SourceStamp`.

A stamp is what lazyvol knows about a file when it was opened or scanned: its path, size,
modification time, inode and status-change time. The same stamp

- names dask keys (:func:`fingerprint`), so equal sources share keys and a changed one does not;
- keys the Zarr cache and every saved index (scan index, gzip seek index);
- is checked again when a task reads (:meth:`SourceStamp.verify`), so a file rewritten, replaced or
  moved after open raises :class:`~lazyvol.errors.SourceChangedError` instead of returning bytes
  from the wrong offset.

Paths are bytes to the operating system: every hash goes through :func:`os.fsencode`, so file names
that are not valid UTF-8 (surrogate-escaped by Python) work like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as _stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._special_files import file_kind as _file_kind
from .errors import FormatError, SourceChangedError, SourceNotFoundError

__all__ = [
    "HEADER_FILES_KEY",
    "SourceStamp",
    "content_sample",
    "display_path",
    "fingerprint",
    "header_files_token",
    "path_bytes",
    "stat_regular",
]


def path_bytes(path: str | os.PathLike[str]) -> bytes:
    """The absolute path as the bytes the OS sees (safe for hashing any file name).

    A URL (``scheme://...``, as stamped by ``lazyvol._io``, already without credentials) is
    kept as it is.
    """
    text = os.fspath(path)
    if isinstance(text, str) and _is_url(text):
        return text.encode("utf-8", "surrogateescape")
    return os.fsencode(os.path.abspath(text))


def _is_url(text: str) -> bool:
    head, sep, _ = text.partition("://")
    return (
        bool(sep)
        and head.replace("+", "").replace(".", "").replace("-", "").isalnum()
        and (head.lower() not in ("file", "local"))
    )


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: undecodable bytes shown as ``\\xNN`` escapes."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def stat_regular(path: str | os.PathLike[str], *, what: str = "file") -> os.stat_result:
    """``os.stat(path)``, requiring a regular file (never opens it, so a FIFO cannot block).

    Raises
    ------
    SourceNotFoundError
        ``path`` does not exist.
    FormatError
        ``path`` is a FIFO, socket, device or directory where a regular file is needed.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SourceNotFoundError(f"{display_path(path)}: no such {what}") from None
    except OSError as exc:
        raise FormatError(f"{display_path(path)}: cannot stat ({exc.strerror})") from None
    if not _stat.S_ISREG(st.st_mode):
        kind = _file_kind(st.st_mode)
        raise FormatError(
            f"{display_path(path)}: is a {kind}, not a regular file; lazyvol reads regular files "
            "(copy the data to a file first)"
        )
    return st


@dataclass(frozen=True, slots=True)
class SourceStamp:
    """Identity of one source file: path, size, mtime, inode and ctime (or, for a URL, its ETag).

    Picklable with the standard library and small: read plans carry it so that every read can
    check the file is still the one that was opened.

    A remote object's stamp (made by ``lazyvol._io.stamp``) has the URL without credentials
    as ``path``, the object's size, its last-modified time as ``mtime_ns`` (0 when unknown),
    ``inode = ctime_ns = 0`` and the ETag (plus version id/generation when the store has one) as
    ``etag``. Local stamps have ``etag == ""`` and hash exactly as before the field existed.
    """

    path: str
    size: int
    mtime_ns: int
    inode: int = 0
    ctime_ns: int = 0
    etag: str = ""

    @property
    def is_url(self) -> bool:
        """True for the stamp of a remote object (``path`` is a URL)."""
        return _is_url(self.path)

    @classmethod
    def from_stat(cls, path: str | os.PathLike[str], st: os.stat_result) -> SourceStamp:
        """Stamp of ``path`` from a stat result already at hand."""
        return cls(
            os.path.abspath(os.fspath(path)),
            int(st.st_size),
            int(st.st_mtime_ns),
            int(st.st_ino),
            int(st.st_ctime_ns),
        )

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> SourceStamp:
        """Stamp of the regular file ``path`` now (see :func:`stat_regular` for the errors)."""
        return cls.from_stat(path, stat_regular(path))

    def matches(self, st: os.stat_result) -> bool:
        """Whether ``st`` describes the same file content as this stamp (size, mtime, inode, ctime).

        An inode or ctime of 0 in the stamp (unknown) is not compared.
        """
        return (
            int(st.st_size) == self.size
            and int(st.st_mtime_ns) == self.mtime_ns
            and (not self.inode or int(st.st_ino) == self.inode)
            and (not self.ctime_ns or int(st.st_ctime_ns) == self.ctime_ns)
        )

    def verify(self, fd: int | None = None) -> None:
        """Raise :class:`SourceChangedError` unless the file (or open ``fd``) is still this one.

        With ``fd`` (a descriptor already opened on the path) this is one ``fstat``: no extra open.
        A remote stamp is checked by ``lazyvol._io.verify``, which knows the storage options.
        """
        if self.is_url:
            raise TypeError(
                f"{self.path}: a remote stamp is verified with lazyvol._io.verify(location, stamp)"
            )
        try:
            st = os.fstat(fd) if fd is not None else os.stat(self.path)
        except FileNotFoundError:
            raise SourceChangedError(
                f"{display_path(self.path)}: the file was removed or moved after it was opened; "
                "open the source again"
            ) from None
        if not self.matches(st):
            raise SourceChangedError(
                f"{display_path(self.path)}: the file changed after it was opened (size "
                f"{self.size} -> {st.st_size}, mtime_ns {self.mtime_ns} -> {st.st_mtime_ns}, "
                f"inode {self.inode} -> {st.st_ino}, ctime_ns {self.ctime_ns} -> {st.st_ctime_ns}); "
                "its data may have moved. Open the source "
                "again"
            )

    def key_bytes(self) -> bytes:
        """The stamp as bytes, for hashing into tokens and cache/index keys."""
        return b"\0".join(
            [
                path_bytes(self.path),
                str(self.size).encode(),
                str(self.mtime_ns).encode(),
                str(self.inode).encode(),
                str(self.ctime_ns).encode(),
            ]
            + ([b"etag=" + self.etag.encode("utf-8", "surrogateescape")] if self.etag else [])
        )

    def key(self) -> str:
        """A short hex digest of :meth:`key_bytes` (file names for saved indexes)."""
        return hashlib.sha256(self.key_bytes()).hexdigest()[:32]


def fingerprint(
    sources: Iterable[SourceStamp] | Sequence[str | os.PathLike[str]], **options: Any
) -> str:
    """Token naming a source: every file's stamp plus the read options that change the data.

    Accepts stamps or paths (paths are stamped now). The same token names dask keys and keys the
    Zarr cache: a change of size, mtime, inode or ctime, or of an option, gives a new token.
    """
    h = hashlib.sha256()
    for s in sources:
        stamp = s if isinstance(s, SourceStamp) else SourceStamp.of(s)
        h.update(stamp.key_bytes())
        h.update(b"\n")
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


#: The key, in the meta of a volume a lazyvol Zarr store holds, of :func:`header_files_token` at
#: the store's writing: the store shows its source files' headers only while they are those files.
HEADER_FILES_KEY = "header_files_token"


def header_paths(meta: dict[str, Any]) -> list[str]:
    """The local files whose headers describe a volume (its ``meta``): each DICOM image
    (``meta["files"]``), else the NIfTI or Analyze file (``meta["path"]``, with its pair); sorted
    absolute paths; none for a remote source or a volume made in memory."""
    files = meta.get("files")
    if isinstance(files, list) and files:
        paths = [str(f) for f in files if f]
    elif meta.get("path"):
        path = str(meta["path"])
        stem, gz = (path[:-3], path[-3:]) if path.lower().endswith(".gz") else (path, "")
        stem, ext = os.path.splitext(stem)
        pair = {".img": ".hdr", ".hdr": ".img", ".IMG": ".HDR", ".HDR": ".IMG"}.get(ext)
        other = stem + pair + gz if pair else ""  # (a pair's other file: p.hdr.gz for p.img.gz)
        paths = [path, *([other] if other and os.path.exists(other) else [])]
    else:
        return []
    if any(_is_url(p) for p in paths):
        return []
    return sorted({os.path.abspath(p) for p in paths})


def header_files_token(meta: dict[str, Any]) -> str | None:
    """A token of the files :func:`header_paths` names, as they are now (their stamps: size,
    mtime, inode, ctime); None when there are none or one is gone."""
    paths = header_paths(meta)
    if not paths:
        return None
    try:
        return fingerprint(paths)
    except (OSError, SourceNotFoundError, FormatError):
        return None


#: Bytes :func:`content_sample` takes at a quarter, a half and three quarters of a file.
SPOT_BYTES = 32
#: Flags of its open: never blocks on a FIFO put in a file's place; no descriptor leaks to children.
_SAMPLE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def content_sample(path: str, size: int, head: int = 0) -> bytes:
    """A few bytes of the local file ``path`` (``size`` bytes) that tell it from another file of
    the same path, size, times and inode (rewritten in place within the file system's timestamp
    granularity, a cache directory copied from elsewhere): its first ``head`` bytes, the 32
    bytes (``SPOT_BYTES``) at a quarter, a half and three quarters (in a compressed stream an
    edit shifts every byte after it) and its last 8 (a gzip stream's trailer: the CRC-32 of its
    content); one open and a few ``pread`` calls. ``b""`` when the file cannot be read (the
    source's own reads then fail, typed). A sample, not a hash: an edit of a few bytes outside
    the places sampled is not seen. Part of a gzip seek index's name (``gzaccess``) and of a
    Zarr cache entry's key (``cache_keys``)."""
    at = [*((0,) if head else ()), *(size * q // 4 for q in (1, 2, 3)), max(0, size - 8)]
    lengths = [*((head,) if head else ()), SPOT_BYTES, SPOT_BYTES, SPOT_BYTES, 8]
    try:
        fd = os.open(path, _SAMPLE_FLAGS)
    except OSError:
        return b""
    try:
        return b"".join(os.pread(fd, n, p) for n, p in zip(lengths, at, strict=True))
    except OSError:
        return b""
    finally:
        os.close(fd)
