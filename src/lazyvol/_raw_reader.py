"""The read-only, seekable raw file lazyvol's file-likes build on (:class:`PositionedReader`):
pydicom, gzip engines and zlib read through them from objects, ranged requests and inflated
streams."""

from __future__ import annotations

import io

__all__ = ["PositionedReader"]


class PositionedReader(io.RawIOBase):
    """A read-only, seekable raw file that reads from :attr:`pos`: a subclass gives
    :meth:`end` (where ``SEEK_END`` counts from) and ``readinto``, which moves :attr:`pos`."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def end(self) -> int:
        """The size ``SEEK_END`` counts from (asked only for ``SEEK_END``)."""
        raise NotImplementedError

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: lambda: 0, io.SEEK_CUR: self.tell, io.SEEK_END: self.end}[whence]()
        self.pos = max(0, base + int(offset))
        return self.pos
