"""Which gzip engine a handle uses and what it may spend: rapidgzip or indexed_gzip
(``LAZYVOL_GZIP_ENGINE``), rapidgzip's threads (``LAZYVOL_GZIP_THREADS``) from the usable cores and
the memory budget (``LAZYVOL_GZIP_MEMORY``), and its chunk size. Used by :mod:`lazyvol.gzaccess`.
"""

from __future__ import annotations

import os

__all__ = [
    "bgzf_chain_broken",
    "engine",
    "first_pass_engine",
    "forced_engine_hint",
    "gzip_memory",
    "gzip_threads",
    "index_engine",
    "memory_limit",
    "zlib_can_retry",
]

ENGINE_ENV = "LAZYVOL_GZIP_ENGINE"
THREADS_ENV = "LAZYVOL_GZIP_THREADS"
MEMORY_ENV = "LAZYVOL_GZIP_MEMORY"

#: rapidgzip's unit of parallel work (compressed bytes). Its cache holds a few decompressed
#: chunks per thread: 1 MiB keeps a thread's share near 60 MiB (4 MiB: ~150 MiB).
RG_CHUNK = 2**20
#: The chunk of a first pass on rapidgzip's sequential decoder (one thread). Measured on a quiet
#: 2-core machine, 512 MiB int16 phantom: 1 MiB chunks inflate at 1.72 s and 66 MiB peak, 2 MiB at
#: 1.27-1.49 s and 102 MiB, 4 MiB at 1.24-1.40 s and 162 MiB (RSS of the bare reader): 2 MiB
#: keeps lazyvol's whole first-pass mean under 256 MiB.
RG_SEQUENTIAL_CHUNK = 2 * 2**20
#: Measured peak memory of one rapidgzip thread with :data:`RG_CHUNK` chunks (rounded up).
RG_BYTES_PER_THREAD = 64 * 2**20
#: Memory the decompression of one file may take by default (``LAZYVOL_GZIP_MEMORY``).
DEFAULT_GZIP_MEMORY = 128 * 2**20


def _forced() -> str:
    """The engine ``LAZYVOL_GZIP_ENGINE`` forces ("" for none); another value is an
    :class:`~lazyvol.errors.OptionError` (it was ignored)."""
    value = os.environ.get(ENGINE_ENV, "")
    forced = value.strip().lower().replace("-", "_")
    forced = "indexed_gzip" if forced == "igzip" else forced
    if forced not in ("", "rapidgzip", "indexed_gzip"):
        from .errors import OptionError

        raise OptionError(
            f"{ENGINE_ENV}={value!r} is not a gzip engine: give rapidgzip or indexed_gzip, or "
            "unset it to choose by what is installed"
        )
    return forced


def engine() -> str:
    """Engine of a first pass (no seek index yet): ``"rapidgzip"`` when installed (or forced by
    ``LAZYVOL_GZIP_ENGINE``), else ``"indexed_gzip"``; ``"indexed_gzip"`` too, unless forced,
    in a process whose memory is limited (:func:`memory_limit`)."""
    forced = _forced()
    if forced == "indexed_gzip" or (forced == "" and memory_limit()):
        return "indexed_gzip"
    try:
        import rapidgzip  # noqa: F401
    except ImportError:
        if forced == "rapidgzip":
            from .errors import OptionError

            raise OptionError(
                f"{ENGINE_ENV}=rapidgzip but rapidgzip is not installed: install it "
                "(`pip install rapidgzip`), or unset the setting to read with indexed_gzip"
            ) from None
        return "indexed_gzip"
    return "rapidgzip"


#: The BGZF end-of-file marker block (SAMv1 specification, 4.1.2): with a BGZF member header
#: first, what makes rapidgzip take a file for BGZF and follow its block sizes.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
#: A BGZF member's header: gzip magic, deflate, FEXTRA, XLEN 6, subfield "BC" of 2 bytes (BSIZE).
_BGZF_HEAD = 18


def _bgzf_bsize(head: bytes) -> int | None:
    """BSIZE (the member's size - 1) of an 18-byte BGZF member header, else None."""
    if (
        len(head) == _BGZF_HEAD
        and head[:3] == b"\x1f\x8b\x08"
        and head[3] & 4
        and head[10:16] == b"\x06\x00BC\x02\x00"
    ):
        return int.from_bytes(head[16:18], "little")
    return None


def bgzf_chain_broken(path: str, size: int) -> bool:
    """True for a file rapidgzip takes for BGZF (a BGZF member header first, the BGZF end
    marker last) whose block sizes do not lead from one BGZF member header to the next up to
    the file's end: valid gzip (gzip, zlib, nibabel read it; rapidgzip too) on which rapidgzip's
    block finder prints "Ignoring all junk data after invalid block offset ..." / "Failed to get
    Bgzf metadata!" / "Got partial header!" to the process's stderr (C++ ``std::cerr``, which no
    Python code can catch). One ``pread`` of 18 bytes per member (64 KiB of compressed data at
    most each), only for a file that looks BGZF; False when the file cannot be read."""
    if size < _BGZF_HEAD + len(BGZF_EOF):
        return False
    try:
        with open(path, "rb", buffering=0) as f:
            fd = f.fileno()
            first = os.pread(fd, _BGZF_HEAD, 0)
            if _bgzf_bsize(first) is None or os.pread(fd, 28, size - 28) != BGZF_EOF:
                return False
            at = 0
            while at < size:
                bsize = _bgzf_bsize(os.pread(fd, _BGZF_HEAD, at))
                if bsize is None:
                    return True
                at += bsize + 1
    except OSError:
        return False
    return False


def first_pass_engine(path: str, size: int) -> str:
    """Engine of a first pass over the local gzip file ``path`` (``size`` bytes): :func:`engine`,
    but indexed_gzip (when installed) for a file rapidgzip would read with its block finder's
    complaints on stderr (:func:`bgzf_chain_broken`), unless rapidgzip is forced."""
    kind = engine()
    if kind == "rapidgzip" and zlib_can_retry(kind) and bgzf_chain_broken(path, size):
        return "indexed_gzip"
    return kind


def memory_limit() -> str:
    """The limit the process runs under that rapidgzip's reservations count against: ``"ulimit
    -v"`` (``RLIMIT_AS``) or ``"ulimit -d"`` (``RLIMIT_DATA``, which Linux applies to private
    writable mappings since 4.7: a reservation counts there too), as batch schedulers set them;
    ``""`` without one.

    rapidgzip 0.16 reserves ~520 MiB of address space per open file (almost none of it resident)
    and, when a reservation fails on a handle's own thread, ends the process with SIGSEGV rather
    than raising: under a 2 GiB limit the third open ``.nii.gz`` crashed, under 4 GiB the sixth.
    indexed_gzip's handles take about a MiB and fail with an exception.
    """
    try:
        import resource
    except ImportError:  # (not on Windows, which has no such limit)
        return ""
    for name, shown in (("RLIMIT_AS", "ulimit -v"), ("RLIMIT_DATA", "ulimit -d")):
        which = getattr(resource, name, None)
        if which is not None and resource.getrlimit(which)[0] != resource.RLIM_INFINITY:
            return shown
    return ""


def index_engine() -> str:
    """Engine of the handles that read through a saved seek index: indexed_gzip when installed
    (or the engine ``LAZYVOL_GZIP_ENGINE`` forces).

    Its memory is the index plus one inflate window, whatever the file's size. rapidgzip's
    prefetcher caches dozens of decoded chunks per handle, and with an imported index a chunk is
    the distance between two seek points (up to 16 MiB for a 4 GiB file): a whole-volume mean
    through the saved index measured 369 MiB peak at 1 GiB and 845 MiB at 4 GiB with rapidgzip,
    168 and 194 MiB with indexed_gzip (which took 1.25x and 1.3x the time; quiet 2-core machine).
    """
    forced = _forced()
    if forced in ("indexed_gzip", "rapidgzip"):
        return engine()
    try:
        import indexed_gzip  # noqa: F401
    except ImportError:
        return engine()
    return "indexed_gzip"


def _cores() -> int:
    from .config import usable_cores

    return usable_cores()


#: Fewest decompression threads worth running in parallel (fewer: rapidgzip's sequential decoder).
#: Measured on a quiet 2-core machine (512 MiB int16 phantom, "inflate scaling with cores" rows,
#: cold): lazyvol's first-pass mean ran at 234 MB/s with 1 gzip thread against 186 MB/s with 2
#: (an earlier run), and at 438 against 321 MB/s in benchmarks/results/cold-targets, where
#: rapidgzip's bare inflate gained nothing from a second thread (319 against 324 MB/s): parallel
#: decoding costs about twice the CPU of the sequential decoder, and on 2 cores the mean's
#: reduction needs the other core. So parallel decoding starts at 4 usable threads.
PARALLEL_MIN_THREADS = 4


def gzip_threads() -> int:
    """Decompression threads of one streaming rapidgzip handle.

    ``LAZYVOL_GZIP_THREADS``; else the usable cores capped by the memory budget
    (``LAZYVOL_GZIP_MEMORY``, default 128 MiB, over ~64 MiB per thread: rapidgzip's memory grows
    with its threads, and a streaming mean must stay within a flat, small footprint), or 1 when
    that is fewer than :data:`PARALLEL_MIN_THREADS` (rapidgzip's sequential decoder). On a
    many-core machine, ``LAZYVOL_GZIP_MEMORY=1GiB`` lets a first pass use up to 16 threads.
    """
    env = os.environ.get(THREADS_ENV)
    if env:
        from .config import setting_count

        return max(1, setting_count(env, THREADS_ENV, minimum=0))  # (0: one, as before)
    threads = min(_cores(), gzip_memory() // RG_BYTES_PER_THREAD)
    return threads if threads >= PARALLEL_MIN_THREADS else 1


def gzip_memory() -> int:
    """Memory one file's decompression may take: ``LAZYVOL_GZIP_MEMORY``, default 128 MiB."""
    budget = os.environ.get(MEMORY_ENV)
    if budget:
        from .config import setting_bytes

        return setting_bytes(budget, MEMORY_ENV, minimum=0)
    return DEFAULT_GZIP_MEMORY


def _chunk_size(threads: int, indexed: bool) -> int:
    """rapidgzip's chunk for a handle: :data:`RG_SEQUENTIAL_CHUNK` for a first pass on the
    sequential decoder when the memory budget allows its ~100 MiB (else ~60 MiB with
    :data:`RG_CHUNK`), :data:`RG_CHUNK` otherwise."""
    if threads == 1 and not indexed and gzip_memory() >= DEFAULT_GZIP_MEMORY:
        return RG_SEQUENTIAL_CHUNK
    return RG_CHUNK


def forced_engine_hint(kind: str) -> str:
    """What a failed first pass's message adds when rapidgzip was forced: bytes after the last
    member, which it refuses (gzip, zlib and nibabel accept them), are one possible cause."""
    if kind != "rapidgzip" or _forced() != "rapidgzip":
        return ""
    return (
        "; if the file has bytes after its last gzip member (zero padding, trailing data), which "
        "gzip and nibabel accept, unset LAZYVOL_GZIP_ENGINE=rapidgzip: rapidgzip refuses them"
    )


def zlib_can_retry(kind: str) -> bool:
    """Whether a first pass that engine ``kind`` failed is done again with indexed_gzip (zlib):
    after rapidgzip, when indexed_gzip is installed and rapidgzip is not forced. rapidgzip
    refuses bytes after the last gzip member (zero padding, trailing data) that gzip, zlib and
    nibabel accept; a stream that is really corrupt fails there too, with the same typed error."""
    if kind != "rapidgzip" or _forced() == "rapidgzip":
        return False
    try:
        import indexed_gzip  # noqa: F401
    except ImportError:
        return False
    return True
